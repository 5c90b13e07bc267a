"""Public notices of open cases on a kiosk: the backend's retained ``NoticeBoard`` and, per
case, a retained photo. Large text in both languages, built from the case's structured
description (so it reads in Chinese and in English whatever language the coordinator wrote
the title in); "I have seen this child" starts a report that names the case."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

from kivy.event import EventDispatcher
from kivy.properties import DictProperty, ListProperty, ObjectProperty

from kiosk_app.i18n import tr
from kiosk_app.presenters.reporting import ReportPresenter
from kiosk_app.presenters.shell import Shell
from kiosk_app.presenters.words import LANGUAGES_ON_SIGNS
from protocol import AgeBand, ChildDescription, Notice, NoticeBoard, Sex

log = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 400_000  # what the backend may publish on a case's photo topic
MAX_PHOTO_SIDE_PX = 4096


@dataclass(frozen=True, slots=True)
class NoticeView:
    case_id: str
    title: str  # the coordinator's words: Chinese above English where the case has both
    description: str  # likewise
    who: str  # "Missing child: age 3-5 · boy · clothing yellow", Chinese line above English
    since: str
    contact: str
    child: ChildDescription = field(default_factory=ChildDescription)  # prefills a report


def in_both_languages(notice: Notice, name: str) -> str:
    """``title`` or ``description`` in Chinese above English where the notice carries both
    (``title_zh`` and ``title_en``...), else as the coordinator wrote it; with only one of
    them, the coordinator's own words stand in for the other."""
    plain = str(getattr(notice, name)).strip()
    found = [getattr(notice, f"{name}_{lang}", None) for lang in LANGUAGES_ON_SIGNS]
    given = [t.strip() if isinstance(t, str) and t.strip() else "" for t in found]
    if not any(given):
        return plain
    texts = [t or plain for t in given]
    return "\n".join(dict.fromkeys(t for t in texts if t))  # one line when both say the same


def _who(notice: Notice, lang: str) -> str:
    child = notice.child
    parts = [tr("Missing child", lang)]
    if child.age_band is not AgeBand.UNKNOWN:
        parts.append(f"{tr('Age', lang)} {tr(child.age_band.value, lang)}")
    if child.sex is not Sex.UNKNOWN:
        parts.append(tr(child.sex.value, lang))
    if child.clothing_colours:
        colours = ", ".join(tr(c.value, lang) for c in child.clothing_colours)
        parts.append(f"{tr('Clothing', lang)}: {colours}")
    return " · ".join(parts)


def notice_view(notice: Notice) -> NoticeView:
    langs = LANGUAGES_ON_SIGNS
    return NoticeView(
        case_id=notice.case_id,
        title=in_both_languages(notice, "title"),
        description=in_both_languages(notice, "description"),
        who="\n".join(_who(notice, lang) for lang in langs),
        since="\n".join(f"{tr('Missing since', lang)} {notice.since:%Y-%m-%d}" for lang in langs),
        contact="\n".join(
            f"{tr('Volunteer relay contact', lang)}: {notice.relay_contact}" for lang in langs
        ),
        child=notice.child,
    )


def checked_photo(payload: bytes) -> bytes | None:
    """The photo if it is a JPEG or PNG of sane size, else None (an empty payload clears)."""
    if not payload or len(payload) > MAX_PHOTO_BYTES:
        return None
    from PIL import Image  # only when a photo arrives: keeps start-up fast

    try:
        with Image.open(io.BytesIO(payload)) as image:
            if image.format not in ("JPEG", "PNG") or max(image.size) > MAX_PHOTO_SIDE_PX:
                return None
            image.verify()
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return payload


class NoticePresenter(EventDispatcher):
    notices = ListProperty([])  # NoticeView
    photos = DictProperty({})  # case id -> image bytes
    selected = ObjectProperty(None, allownone=True)  # NoticeView on the notice screen

    def __init__(self, shell: Shell, report: ReportPresenter, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.shell = shell
        self.report = report

    def board_arrived(self, board: NoticeBoard) -> None:
        self.notices = [notice_view(n) for n in board.notices]
        open_ids = {n.case_id for n in board.notices}
        if self.selected is not None and self.selected.case_id not in open_ids:
            self.selected = None  # the case ended while its notice was on screen
            if self.shell.screen == "notice":
                self.shell.go("home")

    def photo_arrived(self, case_id: str, payload: bytes) -> bool:
        """A case photo arrived (retained); an empty or unusable one removes it."""
        photo = checked_photo(payload)
        photos = dict(self.photos)
        if photo is None:
            if payload:
                log.warning("case %s: photo not usable (%d bytes)", case_id, len(payload))
            photos.pop(case_id, None)
        else:
            photos[case_id] = photo
        self.photos = photos
        return photo is not None

    def open(self, case_id: str) -> None:
        self.selected = next((n for n in self.notices if n.case_id == case_id), None)
        if self.selected is not None:
            self.shell.go("notice")

    def seen_this_child(self) -> None:
        if self.selected is not None:
            view = self.selected
            self.report.start(case_id=view.case_id, case_title=view.title, child=view.child)
