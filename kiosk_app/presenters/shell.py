"""What every screen shows: the language, which screen is current, the connection and the
outbox, the position, and whether the help line must stand out. Kivy properties, no
widgets: screens bind to them, tests read them without a window or a broker."""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, NumericProperty, StringProperty

from kiosk_app.i18n import N_, tr
from kiosk_app.presenters import delivery
from kiosk_app.presenters.status import connection_text, waiting_text
from protocol import Receipt

LANGUAGES = ("zh", "en")

HELP_LINE = N_("In danger now? Call 110 · tell station staff · use the help intercom")
HELP_LINE_PHONE = N_("In danger now? Call 110 · tell station staff")


def initial_language(
    mode: str, configured: str, explicit: bool, saved: str | None, system: str | None
) -> str:
    """The language a session starts in: the one chosen on this device before (saved);
    else a phone follows its system language unless the configuration names one; a kiosk
    starts in its configured language."""
    if saved in LANGUAGES:
        return saved  # type: ignore[return-value]
    if mode != "kiosk" and not explicit and system in LANGUAGES:
        return system  # type: ignore[return-value]
    return configured


class Shell(EventDispatcher):
    mode = StringProperty("kiosk")
    lang = StringProperty("zh")
    default_lang = StringProperty("zh")
    screen = StringProperty("home")
    connection = StringProperty("connecting")
    waiting = NumericProperty(0)
    rejected_count = NumericProperty(0)
    location_text = StringProperty("")  # coordinates, accuracy, source: what a report says
    place_text = StringProperty("")  # the nearest station and the accuracy: for the home screen
    help_urgent = BooleanProperty(False)  # a report waits or was refused

    def __init__(self, mode: str = "kiosk", lang: str = "zh", **kwargs: object) -> None:
        super().__init__(**kwargs)
        if lang not in LANGUAGES:
            raise ValueError(f"language {lang!r} is not one of {LANGUAGES}")
        self.mode = mode
        self.default_lang = lang
        self.lang = lang

    @property
    def bilingual(self) -> bool:
        """A kiosk speaks to anyone: its main elements carry Chinese above English."""
        return self.mode == "kiosk"

    # texts (kv calls these with ``root.shell.lang`` so they re-evaluate on a switch)
    def tr(self, msgid: str, lang: str) -> str:
        return tr(msgid, lang)

    def tr_main(self, msgid: str, lang: str) -> str:
        """The first line of a main element: Chinese on a kiosk, else the chosen language."""
        return tr(msgid, "zh" if self.bilingual else lang)

    def tr_sub(self, msgid: str, lang: str) -> str:
        """The second line of a main element: English on a kiosk, nothing on a phone."""
        return tr(msgid, "en") if self.bilingual else ""

    def help_text(self, lang: str) -> str:
        line = HELP_LINE if self.mode == "kiosk" else HELP_LINE_PHONE
        if self.bilingual:
            return f"{tr(line, 'zh')}\n{tr(line, 'en')}"
        return tr(line, lang)

    def connection_text(self, state: str, lang: str) -> str:
        return connection_text(state, lang)

    def waiting_text(self, pending: int, lang: str) -> str:
        return waiting_text(pending, lang)

    def headline(self, state: str, lang: str) -> str:
        return delivery.headline(state, lang)

    def delivery_text(self, state: str, lang: str) -> str:
        return delivery.delivery_text(state, lang)

    def receipt_detail(self, receipt: Receipt | None, lang: str, state: str = "") -> str:
        return delivery.receipt_detail(receipt, lang, state)

    def rejection_message(self, receipt: Receipt | None, lang: str) -> str:
        return delivery.rejection_message(receipt, lang)

    # actions
    def go(self, name: str) -> None:
        self.screen = name

    def toggle_language(self) -> str:
        self.lang = LANGUAGES[(LANGUAGES.index(self.lang) + 1) % len(LANGUAGES)]
        return self.lang

    def reset_language(self) -> None:
        self.lang = self.default_lang
