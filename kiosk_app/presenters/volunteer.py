"""The volunteer's alerts as the screens show them: a full-screen alert (distance and compass
direction from the volunteer to the sighting, station and exit, the child, why, a navigate
link, one highlighted primary action, the chosen answer) and the inbox. Words, never scores."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from kivy.event import EventDispatcher
from kivy.properties import (
    BooleanProperty,
    DictProperty,
    ListProperty,
    ObjectProperty,
    StringProperty,
)

from kiosk_app.i18n import N_, ntr, tr
from kiosk_app.presenters.inbox import KIND_TEXT, RESPONSE_TEXT, AlertInbox, InboxItem, Upsert
from kiosk_app.presenters.minimap import MapModel, sighting_map
from kiosk_app.presenters.notices import checked_photo
from kiosk_app.presenters.shell import Shell
from kiosk_app.presenters.words import (
    bearing_deg,
    compass_text,
    direction_text,
    distance_m,
    distance_text,
    station_name,
)
from protocol import Alert, AlertKind, ChildDescription, Location, ResponseKind, VolunteerResponse

PRIMARY = ResponseKind.ON_MY_WAY  # what an unanswered alert asks for first
RESPONSE_ORDER = (
    ResponseKind.ON_MY_WAY,
    ResponseKind.ACK,
    ResponseKind.RESOLVED,
    ResponseKind.FALSE_ALARM,
    ResponseKind.DECLINE,
)
WHY_TEXT = {
    AlertKind.ASSIGNED_CASE: N_("You are the volunteer assigned to this case"),
    AlertKind.STATION_SIGHTING: N_("A sighting at a station you cover"),
    AlertKind.ESCALATION: N_("Nobody has answered yet, so the alert was passed to you"),
}
WHY_NEAR_ON_DUTY = N_("You are on duty, %(d)s from this sighting")
WHY_NEAR_OFF_DUTY = N_("You were on duty, %(d)s from this sighting, when it was reported")
NEAR_M = 50.0  # closer than this, a distance and a compass point say nothing useful
HERE_TEXT = N_("Here: less than 50 m from you")
NEAR_WORDS = N_("less than 50 m")


def match_words(score: float | None) -> str:
    """A case match in words (the number means nothing to a person on the move)."""
    if score is None:
        return ""
    if score >= 0.7:
        return N_("Strong match with the case")
    if score >= 0.4:
        return N_("Possible match with the case")
    return N_("Weak match with the case")


def geo_uri(lat: float, lon: float, label: str) -> str:
    """A ``geo:`` URI (RFC 5870 with the Android ``q`` query) that map apps navigate to."""
    return f"geo:{lat:.6f},{lon:.6f}?q={lat:.6f},{lon:.6f}({quote(label)})"


@dataclass(frozen=True, slots=True)
class ResponseView:
    kind: str
    label: str
    primary: bool  # the one highlighted action
    chosen: bool  # the answer already given


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: str
    headline: str  # "Your case · Girl, 4, red coat" / "Sighting near you"
    distance: str  # "450 m", or "less than 50 m"
    direction: str  # "north-east" (from the volunteer), or "" without a position or when near
    where: str  # "450 m north-east of you" / "Here: less than 50 m from you"
    place: str  # station and exit
    case_id: str  # "" without a matched case
    case_title: str  # the case's title, as the coordinator wrote it
    case_child: str  # the child of the case, from the case (never from a report)
    description: str  # what the latest report saw (labelled as such when there is a case)
    why: str
    facts: str
    geo_uri: str
    answered: str
    responses: tuple[ResponseView, ...]
    map: MapModel | None = None


def child_words(child: ChildDescription, lang: str) -> str:
    colours = ", ".join(tr(c.value, lang) for c in child.clothing_colours) or "-"
    return " · ".join(
        [
            f"{tr('Age', lang)} {tr(child.age_band.value, lang)}",
            tr(child.sex.value, lang),
            f"{tr('Clothing', lang)}: {colours}",
        ]
    )


def describe_child(alert: Alert, lang: str) -> str:
    """What the latest report saw: the situation and the child as the reporter picked it."""
    return f"{tr(alert.what_seen.value, lang)} · {child_words(alert.child, lang)}"


def in_language(alert: Alert, name: str, lang: str) -> object:
    """The case's ``case_title`` or ``case_description`` in ``lang`` where the alert carries
    it (``case_title_zh``...), else as its coordinator wrote it."""
    translated = getattr(alert, f"{name}_{lang}", None)
    if isinstance(translated, str) and translated.strip():
        return translated
    return getattr(alert, name, None)


def case_child_text(alert: Alert, lang: str) -> str:
    """The child of the case, from the case: ``Alert.case_description`` (a description in
    words, or the case's structured child). Empty when the alert does not carry it: the
    report's child is never passed off as the case's."""
    described = in_language(alert, "case_description", lang)
    if isinstance(described, ChildDescription):
        return child_words(described, lang)
    child = getattr(alert, "case_child", None)
    words = child_words(child, lang) if isinstance(child, ChildDescription) else ""
    text = described.strip() if isinstance(described, str) else ""
    return "\n".join(t for t in (words, text) if t)


def sighting_point(alert: Alert) -> tuple[float, float]:
    """Where the child was seen: ``Alert.sighting_lat/lon`` when the alert carries them
    apart from its own point, else the alert's point (the latest sighting of the incident)."""
    lat, lon = getattr(alert, "sighting_lat", None), getattr(alert, "sighting_lon", None)
    if isinstance(lat, float) and isinstance(lon, float):
        return lat, lon
    return alert.lat, alert.lon


def alert_view(item: InboxItem, here: Location | None, on_duty: bool, lang: str) -> AlertView:
    alert = item.alert
    seen_lat, seen_lon = sighting_point(alert)
    if here is not None:  # from the volunteer's own fix to the sighting
        meters: float | None = distance_m(here.lat, here.lon, seen_lat, seen_lon)
        direction = compass_text(bearing_deg(here.lat, here.lon, seen_lat, seen_lon), lang)
    else:
        meters, direction = alert.distance_m, ""
    near = meters is not None and meters < NEAR_M
    distance = tr(NEAR_WORDS, lang) if near else distance_text(meters)
    if near and here is not None:
        direction, where = "", tr(HERE_TEXT, lang)
    elif direction:
        where = tr("%(d)s %(dir)s of you", lang) % {"d": distance, "dir": direction}
    else:
        where = tr("%(d)s away", lang) % {"d": distance}
    place_parts = [station_name(alert.station_id, lang)]
    if alert.direction:
        place_parts.append(direction_text(alert.direction, lang))
    place = " · ".join(p for p in place_parts if p) or tr("Not in a station", lang)
    if alert.kind is AlertKind.PROXIMITY:
        why_id = WHY_NEAR_ON_DUTY if on_duty else WHY_NEAR_OFF_DUTY
        sent_m = alert.distance_m  # when it was sent, from the position the backend had
        far = sent_m is None or sent_m >= NEAR_M
        why = tr(why_id, lang) % {"d": distance_text(sent_m) if far else tr(NEAR_WORDS, lang)}
    else:
        why = tr(WHY_TEXT[alert.kind], lang)
    match = match_words(alert.score) if alert.case_id else ""
    if match:
        why += f" · {tr(match, lang)}"
    facts = " · ".join(
        [
            ntr("Seen by %(n)d person", "Seen by %(n)d people", alert.reporters, lang)
            % {"n": alert.reporters},
            f"{tr('Seen at', lang)} {alert.observed_at.astimezone():%H:%M}",
            f"{tr('Expires', lang)} {alert.expires_at.astimezone():%H:%M}",
        ]
    )
    title = (in_language(alert, "case_title", lang) or "").strip()
    headline = tr(KIND_TEXT[alert.kind], lang)
    if alert.case_id:
        headline += f" · {title or tr('Case', lang) + ' ' + alert.case_id}"
    case_child = case_child_text(alert, lang) if alert.case_id else ""
    description = describe_child(alert, lang)
    if alert.case_id:  # two children on one screen: say whose description is whose
        description = f"{tr('The latest report saw', lang)}: {description}"
    chosen = item.response
    responses = tuple(
        ResponseView(
            kind.value,
            tr(RESPONSE_TEXT[kind], lang),
            primary=chosen is None and kind is PRIMARY,
            chosen=kind is chosen,
        )
        for kind in RESPONSE_ORDER
    )
    answered = f"{tr('Your answer', lang)}: {tr(RESPONSE_TEXT[chosen], lang)}" if chosen else ""
    return AlertView(
        alert_id=alert.alert_id,
        headline=headline,
        distance=distance,
        direction=direction,
        where=where,
        place=place,
        case_id=alert.case_id or "",
        case_title=title,
        case_child=case_child,
        description=description,
        why=f"{tr('Why you get this', lang)}: {why}",
        facts=facts,
        geo_uri=geo_uri(seen_lat, seen_lon, station_name(alert.station_id, "zh") or "sighting"),
        answered=answered,
        responses=responses,
        map=sighting_map(
            (seen_lat, seen_lon), (here.lat, here.lon) if here is not None else None, lang
        ),
    )


class VolunteerPresenter(EventDispatcher):
    duty_active = BooleanProperty(False)
    banner = StringProperty("")
    cards = ListProperty([])  # AlertView, open alerts first
    focus = ObjectProperty(None, allownone=True)  # the AlertView shown full screen
    photos = DictProperty({})  # case id -> the case's photo (JPEG or PNG bytes)

    def __init__(
        self, shell: Shell, position: Callable[[], Location | None], **kwargs: object
    ) -> None:
        super().__init__(**kwargs)
        self.shell = shell
        self.position = position
        self.inbox = AlertInbox()
        self._focus_id: str | None = None
        self._latest: tuple[Alert, bool] | None = None
        shell.bind(lang=lambda *_: self.render())

    def receive(self, alert: Alert) -> Upsert:
        """A new alert or a higher revision takes the whole screen."""
        result = self.inbox.upsert(alert)
        if result is Upsert.STALE:
            return result
        self._latest = (alert, result is Upsert.NEW)
        self._focus_id = alert.alert_id
        self.render()
        self.shell.go("alert")
        return result

    def receive_missed(self, alerts: list[Alert]) -> int:
        """Alerts missed while offline (a catch-up on connecting): all go to the inbox, the
        newest open one takes the screen. Returns how many were new or updated."""
        shown = 0
        for alert in sorted(alerts, key=lambda a: a.sent_at):
            if self.receive(alert) is not Upsert.STALE:
                shown += 1
        return shown

    def photo_arrived(self, case_id: str, payload: bytes) -> bool:
        """The case's photo (retained); an empty or unusable one removes it."""
        photo = checked_photo(payload)
        photos = dict(self.photos)
        if photo is None:
            photos.pop(case_id, None)
        else:
            photos[case_id] = photo
        self.photos = photos
        return photo is not None

    def respond(self, alert_id: str, kind: str) -> VolunteerResponse:
        response = self.inbox.respond(alert_id, ResponseKind(kind))
        self.render()
        return response

    def open(self, alert_id: str) -> None:
        self._focus_id = alert_id
        self.render()
        self.shell.go("alert")

    def dismiss(self) -> None:
        self.shell.go("volunteer")

    def render(self) -> None:
        lang, here = self.shell.lang, self.position()
        views = [alert_view(i, here, self.duty_active, lang) for i in self.inbox.items()]
        self.cards = views
        self.focus = next((v for v in views if v.alert_id == self._focus_id), None)
        if self._latest is not None:
            alert, new = self._latest
            title = tr("New alert" if new else "Alert updated", lang)
            view = next(v for v in views if v.alert_id == alert.alert_id)
            self.banner = f"{title}: {tr(KIND_TEXT[alert.kind], lang)} · {view.where}"

    def notification(self) -> tuple[str, str]:
        """Title and text of the system notification for the latest alert."""
        if self._latest is None or self.focus is None:
            return "", ""
        view = self.focus
        return self.banner, f"{view.where} · {view.place} · {view.description}"
