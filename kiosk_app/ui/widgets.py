"""Small reusable widgets; their look is in ``kv/common.kv``."""

from __future__ import annotations

from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.button import Button


class BigButton(Button):
    pass


class Chip(Button):
    """A picker choice: tap to select, tap again to unselect."""

    value = StringProperty("")
    label_id = StringProperty("")  # msgid of the visible text; empty: show the value itself
    selected = BooleanProperty(False)
    # Colours by state; kv rules of subclasses set these, never background_color itself,
    # so two rules never fight over one property.
    normal_bg = ListProperty([0.85, 0.88, 0.92, 1])
    selected_bg = ListProperty([0.1, 0.45, 0.8, 1])
    normal_fg = ListProperty([0.1, 0.12, 0.15, 1])
    selected_fg = ListProperty([1, 1, 1, 1])


class Swatch(Chip):
    """A colour choice: it keeps its colour when selected (a selected red must not turn
    blue); the selection shows as a frame and a tick."""

    swatch = ListProperty([1, 1, 1, 1])


class ResponseButton(Button):
    kind = StringProperty("")
    alert_id = StringProperty("")


class NoticeCard(BoxLayout):
    title = StringProperty("")
    description = StringProperty("")
    contact = StringProperty("")
    since = StringProperty("")
    photo = ObjectProperty(None, allownone=True)  # a Kivy Texture, or None


class AlertCard(BoxLayout):
    alert_id = StringProperty("")
    title = StringProperty("")
    description = StringProperty("")
    why = StringProperty("")
    facts = StringProperty("")
    answered = StringProperty("")


class FactRow(BoxLayout):
    name = StringProperty("")
    value = StringProperty("")
