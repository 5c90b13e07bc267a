"""Small reusable widgets; their look is in ``kv/common.kv``, their colours in ``theme``.

Every coloured area is a ``Panel`` with ``bg_color``: the contrast test reads a text's
background from the nearest panel (or button) under it, so nothing is drawn behind a text
that the test cannot see."""

from __future__ import annotations

import io
from typing import Any

from kivy.core.image import Image as CoreImage
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button

from kiosk_app.i18n import tr
from kiosk_app.presenters.words import direction_text
from kiosk_app.ui import theme


def texture_of(data: bytes | None) -> Any:
    """A Kivy texture of JPEG or PNG bytes (already checked by the presenter), or None."""
    if not data:
        return None
    ext = "png" if data[:4] == b"\x89PNG" else "jpg"
    try:
        return CoreImage(io.BytesIO(data), ext=ext).texture
    except Exception:  # a photo Kivy cannot decode is shown as no photo
        return None


class Panel(BoxLayout):
    bg_color = ListProperty(list(theme.BG))


class BigButton(Button):
    """A main action. On a kiosk ``text`` is the Chinese line and ``subtext`` the English
    line under it (Chinese above English, as on the metro's signs)."""

    subtext = StringProperty("")


class PlainButton(Button):
    """A secondary action: dark text on light grey."""


class Chip(Button):
    """A picker choice: tap to select, tap again to unselect. Text and colours are set here,
    in one place, so no two kv rules of subclasses fight over one property."""

    value = StringProperty("")
    label_id = StringProperty("")  # msgid of the visible text; empty: show the value itself
    lang = StringProperty("zh")
    selected = BooleanProperty(False)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(value=self._update, label_id=self._update, lang=self._update)
        self.bind(selected=self._update)
        self._update()

    def label(self) -> str:
        return tr(self.label_id, self.lang) if self.label_id else self.value

    def colours(self) -> tuple[theme.RGBA, theme.RGBA]:
        """(background, text)"""
        if self.selected:
            return theme.PRIMARY, theme.WHITE
        return theme.SECONDARY, theme.TEXT

    def _update(self, *_: object) -> None:
        self.text = self.label() + ("  ✓" if self.selected else "")
        self.bold = self.selected
        bg, fg = self.colours()
        self.background_color, self.color = list(bg), list(fg)


class DirectionChip(Chip):
    """A direction inside the station ("exit 2"), in words of the current language."""

    def label(self) -> str:
        return direction_text(self.value, self.lang)


class Swatch(Chip):
    """A colour choice: it keeps its colour when selected (a selected red must not turn
    blue); the selection shows as a thick frame, a tick and bold text."""

    swatch = ListProperty([1, 1, 1, 1])

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bind(swatch=self._update)
        self._update()

    def label(self) -> str:
        return tr(self.value, self.lang)

    def colours(self) -> tuple[theme.RGBA, theme.RGBA]:
        return tuple(self.swatch), theme.readable_on(self.swatch)  # type: ignore[return-value]


class HelpBar(Panel):
    """Call 110 / tell station staff / the help intercom: on every passenger screen, in red
    while a report waits or was refused. Its button dials 110 (phone) or calls the station's
    staff (kiosk) through ``helper`` (a HelpPresenter); its note says whether a report is
    still waiting on the device and what came of a call for staff."""

    text = StringProperty("")
    urgent = BooleanProperty(False)
    helper = ObjectProperty(None, allownone=True, rebind=True)  # kv follows its properties
    # the button under the text, full width: a two-line button (a kiosk's, in both
    # languages) beside the text leaves it a column too narrow on a small screen
    stacked = BooleanProperty(False)


class ResponseButton(Button):
    kind = StringProperty("")
    alert_id = StringProperty("")
    primary = BooleanProperty(False)
    chosen = BooleanProperty(False)


class NoticeCard(ButtonBehavior, Panel):
    """A case notice on the home screen; a tap opens it in large."""

    case_id = StringProperty("")
    title = StringProperty("")
    who = StringProperty("")
    contact = StringProperty("")
    since = StringProperty("")
    photo = ObjectProperty(None, allownone=True)  # a Kivy Texture, or None


class AlertCard(Panel):
    alert_id = StringProperty("")
    title = StringProperty("")
    where = StringProperty("")
    description = StringProperty("")
    why = StringProperty("")
    facts = StringProperty("")
    answered = StringProperty("")


class FactRow(BoxLayout):
    name = StringProperty("")
    value = StringProperty("")
