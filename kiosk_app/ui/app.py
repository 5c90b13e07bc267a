"""The App: wires configuration, outbox, MQTT link, presenters and screens. Screens own their
layout; presenters own the decisions; this class only connects them."""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import time
from pathlib import Path
from typing import Any

from kivy.app import App
from kivy.clock import Clock
from kivy.core.image import Image as CoreImage
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.screenmanager import NoTransition, ScreenManager

from kiosk_app.config import LANGUAGES, AppConfig, Mode
from kiosk_app.i18n import tr
from kiosk_app.link import LinkState, MqttLink
from kiosk_app.outbox import Outbox, OutboxEntry, OutboxStats
from kiosk_app.photos import PhotoError, prepare_photo
from kiosk_app.platform.camera import Camera, camera_for
from kiosk_app.platform.location import LocationProvider, provider_for
from kiosk_app.platform.notify import Notifier, notifier_for
from kiosk_app.presenters.delivery import (
    delivery_after_send,
    delivery_of,
    delivery_text,
    receipt_detail,
    rejection_message,
)
from kiosk_app.presenters.idle import IdleTimer
from kiosk_app.presenters.inbox import KIND_TEXT, AlertInbox, Duty, Upsert, distance_text
from kiosk_app.presenters.position import location_text
from kiosk_app.presenters.report_flow import ReportFlow
from kiosk_app.presenters.status import (
    OperatorFacts,
    PinGate,
    connection_text,
    waiting_text,
)
from kiosk_app.ui.fonts import install_default_font
from kiosk_app.ui.screens import (
    ChildScreen,
    ConfirmScreen,
    DetailsScreen,
    HomeScreen,
    OperatorScreen,
    PinScreen,
    VolunteerScreen,
    WhatScreen,
)
from protocol import (
    Alert,
    Location,
    LocationSource,
    Notice,
    NoticeBoard,
    Receipt,
    ResponseKind,
    SightingReport,
    WhatSeen,
    new_report_id,
)
from protocol.payloads import utc_now

log = logging.getLogger(__name__)
KV_DIR = Path(__file__).with_name("kv")
TEST_REPORT_TEXT = "[TEST] operator test report, please ignore"


class SightingApp(App):
    lang = StringProperty("zh")
    default_lang = StringProperty("zh")
    connection = StringProperty(LinkState.CONNECTING.value)
    waiting = NumericProperty(0)
    rejected_count = NumericProperty(0)
    notice_list = ListProperty([])
    location_text = StringProperty("")
    duty_active = BooleanProperty(False)
    rejected_receipt = ObjectProperty(None, allownone=True)  # phone: the last refusal
    last_receipt = ObjectProperty(None, allownone=True)

    def __init__(
        self,
        settings: AppConfig,
        *,
        camera: Camera | None = None,
        location: LocationProvider | None = None,
        notifier: Notifier | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.mode = settings.mode
        self.title = f"Sighting report — {settings.mode.value}"
        self.camera = camera or camera_for(settings.camera_image)
        self.location = location or provider_for(
            settings.mode.value, settings.lat, settings.lon, settings.accuracy_m
        )
        self.notifier = notifier or notifier_for()
        self.flow = ReportFlow()
        self.idle = IdleTimer(settings.idle_timeout_s)
        self.pin = PinGate(settings.operator_pin)
        self.inbox = AlertInbox()
        self.duty = Duty(settings.location_interval_s)
        self.outbox: Outbox | None = None
        self.link: MqttLink | None = None
        self._events: list[Any] = []
        self._state_path = settings.data_dir / "state.json"
        self.default_lang = self._load_state().get("language", settings.language)
        self.lang = self.default_lang
        self.last_error = ""

    # ------------------------------------------------------------------ wiring

    def tr(self, msgid: str, lang: str) -> str:
        """For kv: ``app.tr("Text", app.lang)`` re-evaluates when the language changes."""
        return tr(msgid, lang)

    def build(self) -> ScreenManager:
        install_default_font(self.settings.font_path)
        Window.clearcolor = (0.96, 0.97, 0.98, 1)
        Builder.load_file(str(KV_DIR / "common.kv"))
        manager = ScreenManager(transition=NoTransition())
        if self.mode is Mode.VOLUNTEER:
            screens: list[tuple[str, type]] = [("volunteer", VolunteerScreen)]
        else:
            screens = [
                ("home", HomeScreen),
                ("what", WhatScreen),
                ("child", ChildScreen),
                ("details", DetailsScreen),
                ("confirm", ConfirmScreen),
                ("pin", PinScreen),
                ("operator", OperatorScreen),
            ]
        for name, cls in screens:
            Builder.load_file(str(KV_DIR / f"{name}.kv"))
            screen = cls(name=name)
            if hasattr(screen, "setup"):
                screen.setup(self)
            manager.add_widget(screen)
        return manager

    def on_start(self) -> None:
        self.outbox = Outbox(
            self.settings.data_dir / "outbox.sqlite3",
            retry_min_s=self.settings.retry_min_s,
            retry_max_s=self.settings.retry_max_s,
        )
        self.link = MqttLink(self.settings, self.outbox, self, post=self._post)
        self.link.start()
        self.location.start()
        self._update_location_text()
        Window.bind(on_touch_down=self._on_any_touch)
        self._events.append(Clock.schedule_interval(self._tick_idle, 1.0))
        if self.mode is not Mode.KIOSK:  # GPS fixes arrive on their own thread: poll them
            self._events.append(Clock.schedule_interval(self._tick_location, 1.0))
        if self.mode is Mode.VOLUNTEER:
            self._events.append(Clock.schedule_interval(self._tick_duty, 1.0))

    def _tick_idle(self, dt: float) -> None:
        self.check_idle()

    def _tick_location(self, dt: float) -> None:
        self._update_location_text()

    def _tick_duty(self, dt: float) -> None:
        self.duty_tick()

    def on_stop(self) -> None:
        Window.unbind(on_touch_down=self._on_any_touch)
        for event in self._events:
            event.cancel()
        self._events.clear()
        self.location.stop()
        self.shutdown_link()

    def shutdown_link(self) -> None:
        """Close the connection and the outbox (what quitting the app does to them)."""
        if self.link is not None:
            self.link.stop()
            self.link = None
        if self.outbox is not None:
            self.outbox.close()
            self.outbox = None

    def _post(self, fn: Any) -> None:
        Clock.schedule_once(lambda dt: fn(), 0)

    def _load_state(self) -> dict[str, Any]:
        try:
            data = json.loads(self._state_path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def _save_state(self, **changes: Any) -> None:
        state = self._load_state() | changes
        self._state_path.parent.mkdir(parents=True, exist_ok=True)
        self._state_path.write_text(json.dumps(state), encoding="utf-8")

    @property
    def screens(self) -> ScreenManager:
        return self.root  # type: ignore[no-any-return]

    def go(self, name: str) -> None:
        self.screens.current = name

    # ------------------------------------------------------------------ link listener

    def on_link_state(self, state: LinkState, detail: str) -> None:
        self.connection = state.value
        self._refresh_operator()

    def on_outbox(self, stats: OutboxStats) -> None:
        self.waiting = stats.pending
        self.rejected_count = stats.rejected
        self._refresh_operator()

    def on_receipt(self, receipt: Receipt, entry: OutboxEntry | None) -> None:
        self.last_receipt = receipt
        if self.mode is not Mode.VOLUNTEER:
            confirm = self.screens.get_screen("confirm")
            if receipt.reference and receipt.reference == confirm.reference:
                confirm.delivery = delivery_of(receipt).value
                confirm.receipt = receipt
        if self.mode is Mode.PHONE and rejection_message(receipt, self.lang):
            self.rejected_receipt = receipt
        self._refresh_operator()

    def on_notices(self, board: NoticeBoard) -> None:
        self.notice_list = list(board.notices)

    def on_alert(self, alert: Alert) -> None:
        result = self.inbox.upsert(alert)
        if result is Upsert.STALE:
            return
        self._banner_alert = (alert, result is Upsert.NEW)
        self._show_alert_banner()
        title = tr("New alert" if result is Upsert.NEW else "Alert updated", self.lang)
        self.notifier.notify(title, alert.reason)
        self.screens.get_screen("volunteer").refresh()

    def on_publish_error(self, topic: str, reason: str) -> None:
        self.last_error = f"{topic}: {reason}"
        self._refresh_operator()

    # ------------------------------------------------------------------ idle and language

    def _on_any_touch(self, window: Any, touch: Any) -> None:
        self.idle.touch()

    def check_idle(self, now: float | None = None) -> bool:
        """Wipe a half-filled form and return home after the idle timeout. True if it did.
        Only a kiosk is shared with the next person: a phone keeps its owner's form."""
        if self.mode is not Mode.KIOSK or not self.idle.expired(now):
            return False
        at_rest = self.screens.current == "home" and self.flow.draft.is_empty
        if at_rest and self.lang == self.default_lang:
            return False
        self.reset_to_home()
        return True

    def reset_to_home(self) -> None:
        self.flow.clear()
        self.pin.clear()
        self._sync_form()
        self.screens.get_screen("pin").entered = ""
        self.lang = self.default_lang
        self.go("home")
        self.idle.touch()

    def toggle_language(self) -> None:
        self.lang = LANGUAGES[(LANGUAGES.index(self.lang) + 1) % len(LANGUAGES)]
        if self.mode is not Mode.KIOSK:  # one's own phone keeps the language one chose
            self.set_default_language(self.lang)
        self._refresh_operator()

    def on_lang(self, *args: Any) -> None:
        self._update_location_text()
        self._refresh_operator()
        self._show_alert_banner()

    # ------------------------------------------------------------------ report flow

    def start_report(self) -> None:
        self.rejected_receipt = None  # seen: the home screen kept it until a new report
        self.flow.start()
        self._sync_form()
        self.go("what")

    def choose_what(self, what: str) -> None:
        self.flow.choose_what(WhatSeen(what))
        self.go("child")

    def pick_age(self, value: str) -> None:
        from protocol import AgeBand

        self.flow.set_age(AgeBand(value))
        self._sync_form()

    def pick_sex(self, value: str) -> None:
        from protocol import Sex

        self.flow.set_sex(Sex(value))
        self._sync_form()

    def pick_colour(self, value: str) -> None:
        from protocol import Colour

        self.flow.toggle_colour(Colour(value))
        self._sync_form()

    def pick_direction(self, value: str) -> None:
        self.flow.set_direction(value)
        self._sync_form()

    def set_note(self, text: str) -> None:
        self.flow.set_free_text(text)

    def set_contact(self, text: str) -> None:
        self.flow.set_contact(text)

    def take_photo(self) -> None:
        def done(raw: bytes | None) -> None:
            def apply() -> None:
                if raw is None:
                    return
                try:
                    jpeg = prepare_photo(
                        raw,
                        max_side_px=self.settings.photo_max_side_px,
                        max_bytes=self.settings.photo_max_bytes,
                    )
                except PhotoError as exc:
                    log.warning("photo not usable: %s", exc)
                    return
                self.flow.attach_photo(jpeg)
                self._sync_form()

            self._post(apply)

        self.camera.take(done)

    def remove_photo(self) -> None:
        self.flow.attach_photo(None)
        self._sync_form()

    def more_details(self) -> None:
        self.flow.more_details()
        self.go("details")

    def back(self) -> None:
        self.go(self.flow.back().value)

    def cancel(self) -> None:
        self.reset_to_home()

    def current_location(self) -> Location:
        found = self.location.current()
        if found is not None:
            return found
        return Location(self.settings.lat, self.settings.lon, None, LocationSource.MANUAL)

    def report_location(self) -> Location | None:
        """A phone reports where its GPS (or the placed point) says, never a made-up point:
        None until there is a fix. A kiosk always has its configured position."""
        if self.mode is Mode.PHONE:
            return self.location.current()
        return self.current_location()

    def send(self) -> SightingReport | None:
        location = self.report_location()
        if not self.flow.can_send or self.link is None or location is None:
            self._update_location_text()
            return None
        photo = self.flow.draft.photo
        report = self.flow.build(
            device_id=self.settings.device_id,
            location=location,
            station_id=self.settings.station_id if self.mode is Mode.KIOSK else None,
            app_version=self.settings.app_version,
        )
        self.link.submit(report, photo)
        self.flow.clear()  # nothing of the form stays on screen for the next person
        self._sync_form()
        confirm = self.screens.get_screen("confirm")
        confirm.reference = report.reference
        confirm.delivery = delivery_after_send(self.connection == "online").value
        confirm.receipt = None
        self.go("confirm")
        return report

    def _sync_form(self) -> None:
        if self.mode is Mode.VOLUNTEER:
            return
        d = self.flow.draft
        age = d.age_band.value if d.age_band.value != "unknown" else ""
        sex = d.sex.value if d.sex.value != "unknown" else ""
        self.screens.get_screen("child").sync(age, sex, [c.value for c in d.colours])
        self.screens.get_screen("details").sync(
            d.direction or "", d.photo is not None, d.free_text, d.contact
        )

    def _update_location_text(self) -> None:
        self.location_text = location_text(self.location.current(), self.lang)

    # ------------------------------------------------------------------ notices

    def notice_photo(self, notice: Notice) -> Any:
        """A texture for the notice photo: an inline ``data:image/...;base64,`` or a local
        file. The kiosk never fetches from the network for a notice."""
        ref = notice.photo_ref
        if not ref:
            return None
        try:
            if ref.startswith("data:image/") and ";base64," in ref:
                raw = base64.b64decode(ref.split(";base64,", 1)[1], validate=True)
                ext = ref[len("data:image/") : ref.index(";")]
                return CoreImage(io.BytesIO(raw), ext=ext).texture
            path = Path(ref)
            if path.is_file():
                return CoreImage(str(path)).texture
        except (binascii.Error, ValueError, OSError, Exception):  # a bad photo: show none
            log.warning("notice %s: photo not usable", notice.case_id)
        return None

    # ------------------------------------------------------------------ operator panel

    def open_operator(self) -> None:
        self.pin.clear()
        pin = self.screens.get_screen("pin")
        pin.entered = ""
        pin.message = ""
        self.go("pin")

    def pin_press(self, digit: str) -> None:
        self.pin.press(digit)
        self.screens.get_screen("pin").entered = "•" * len(self.pin.entered)

    def pin_erase(self) -> None:
        self.pin.erase()
        self.screens.get_screen("pin").entered = "•" * len(self.pin.entered)

    def pin_submit(self) -> bool:
        pin = self.screens.get_screen("pin")
        ok = self.pin.submit()
        pin.entered = ""
        if ok:
            self._refresh_operator(force=True)
            self.go("operator")
            return True
        pin.message = tr("Locked: try again later" if self.pin.locked else "Wrong PIN", self.lang)
        return False

    def operator_facts(self) -> OperatorFacts:
        outbox = self.outbox
        stats = outbox.stats() if outbox else OutboxStats(0, None, 0)
        rejected = tuple(
            f"{e.reference}: " + "; ".join(e.problems)
            for e in (outbox.rejected() if outbox else [])
        )
        broker = f"{self.settings.broker.host}:{self.settings.broker.port}"
        return OperatorFacts(
            self.settings.device_id, broker, self.connection, stats, self.last_receipt, rejected
        )

    def _refresh_operator(self, force: bool = False) -> None:
        if self.mode is Mode.VOLUNTEER or self.root is None:
            return
        if force or self.screens.current == "operator":
            lines = self.operator_facts().lines(self.lang)
            if self.last_error:
                lines.append((tr("Last error", self.lang), self.last_error))
            self.screens.get_screen("operator").facts = lines

    def send_test_report(self) -> SightingReport | None:
        """A report marked as a test in its text (the protocol has no test flag)."""
        if self.link is None:
            return None
        report = SightingReport(
            report_id=new_report_id(),
            device_id=self.settings.device_id,
            observed_at=utc_now(),
            location=self.current_location(),
            what_seen=WhatSeen.OTHER,
            station_id=self.settings.station_id,
            free_text=TEST_REPORT_TEXT,
            app_version=self.settings.app_version,
            test=True,  # stored and receipted, never matched or alerted on
        )
        self.link.submit(report)
        return report

    def set_default_language(self, lang: str) -> None:
        self.default_lang = lang
        self._save_state(language=lang)
        self._refresh_operator()

    def dismiss_rejected(self) -> None:
        if self.outbox is not None:
            for entry in self.outbox.rejected():
                self.outbox.dismiss_rejected(entry.report_id)
            self.on_outbox(self.outbox.stats())

    def close_operator(self) -> None:
        self.go("home")

    # ------------------------------------------------------------------ volunteer

    def toggle_duty(self) -> None:
        self.duty_active = self.duty.toggle()
        if not self.duty_active and self.link is not None:
            loc = self.current_location()  # one last message: off duty, stop routing to me
            self.link.publish_location(self.duty.location(loc.lat, loc.lon, loc.accuracy_m))
        self.duty_tick()

    def duty_tick(self, now_s: float | None = None) -> bool:
        """Share the location when due. True if a location was published."""
        moment = time.monotonic() if now_s is None else now_s
        if self.link is None or not self.duty.due(moment):
            return False
        loc = self.location.current()
        if loc is None:
            return False
        self.link.publish_location(self.duty.location(loc.lat, loc.lon, loc.accuracy_m))
        self.duty.sent(moment)
        self._update_location_text()
        return True

    def respond(self, alert_id: str, kind: str) -> None:
        response = self.inbox.respond(alert_id, ResponseKind(kind))
        if self.link is not None:
            self.link.publish_response(response)
        self.screens.get_screen("volunteer").refresh()

    def _show_alert_banner(self, *_: object) -> None:
        """The banner of the latest alert, in the current language (re-rendered on toggle)."""
        latest = getattr(self, "_banner_alert", None)
        if latest is None:
            return
        alert, new = latest
        title = tr("New alert" if new else "Alert updated", self.lang)
        self.banner(
            f"{title}: {tr(KIND_TEXT[alert.kind], self.lang)} · {distance_text(alert.distance_m)}"
        )

    def banner(self, text: str) -> None:
        self.screens.get_screen("volunteer").banner = text

    # texts used by several kv files
    def connection_text(self, state: str, lang: str) -> str:
        return connection_text(state, lang)

    def waiting_text(self, pending: int, lang: str) -> str:
        return waiting_text(pending, lang)

    def delivery_text(self, delivery: str, lang: str) -> str:
        return delivery_text(delivery, lang)

    def receipt_detail(self, receipt: Receipt | None, lang: str) -> str:
        return receipt_detail(receipt, lang)

    def rejection_message(self, receipt: Receipt | None, lang: str) -> str:
        return rejection_message(receipt, lang) if receipt is not None else ""
