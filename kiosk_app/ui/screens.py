"""Screen classes: they hold Kivy properties and forward touches to the app's presenters.
Layout lives in ``kv/<screen>.kv``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty
from kivy.uix.screenmanager import Screen

from kiosk_app.i18n import tr
from kiosk_app.presenters.inbox import RESPONSE_TEXT, describe_alert
from kiosk_app.presenters.report_flow import AGE_CHOICES, COLOUR_CHOICES, SEX_CHOICES
from kiosk_app.ui.widgets import AlertCard, Chip, FactRow, NoticeCard, ResponseButton, Swatch
from protocol import ResponseKind

if TYPE_CHECKING:
    from kiosk_app.ui.app import SightingApp

COLOUR_RGBA = {
    "black": (0.1, 0.1, 0.1, 1),
    "white": (0.95, 0.95, 0.95, 1),
    "grey": (0.55, 0.55, 0.55, 1),
    "red": (0.85, 0.15, 0.15, 1),
    "orange": (0.95, 0.55, 0.1, 1),
    "yellow": (0.95, 0.85, 0.15, 1),
    "green": (0.2, 0.65, 0.3, 1),
    "blue": (0.2, 0.4, 0.85, 1),
    "purple": (0.55, 0.3, 0.75, 1),
    "pink": (0.95, 0.55, 0.7, 1),
    "brown": (0.5, 0.33, 0.2, 1),
}


class HomeScreen(Screen):
    def setup(self, app: SightingApp) -> None:
        self.app = app
        app.bind(notice_list=self.refresh_notices, lang=self.refresh_notices)

    def refresh_notices(self, *args: Any) -> None:
        box = self.ids.notices_box
        box.clear_widgets()
        app = self.app
        for notice in app.notice_list:
            card = NoticeCard()
            card.title = notice.title
            card.description = notice.description
            card.contact = f"{tr('Volunteer relay contact', app.lang)}: {notice.relay_contact}"
            card.since = f"{tr('Missing since', app.lang)} {notice.since:%Y-%m-%d}"
            card.photo = app.notice_photo(notice)
            box.add_widget(card)


class WhatScreen(Screen):
    def setup(self, app: SightingApp) -> None:
        pass


class ChildScreen(Screen):
    """Age band, sex and clothing colours as pickers; toggles mirror the draft."""

    selected_age = StringProperty("")
    selected_sex = StringProperty("")
    selected_colours = ListProperty([])

    def setup(self, app: SightingApp) -> None:
        for age in AGE_CHOICES:
            chip = Chip(value=age.value, label_id=age.value)
            chip.bind(on_release=lambda c: app.pick_age(c.value))
            chip.name = f"age_{age.value}"
            self.ids.age_box.add_widget(chip)
        for sex in SEX_CHOICES:
            chip = Chip(value=sex.value, label_id=sex.value)
            chip.bind(on_release=lambda c: app.pick_sex(c.value))
            chip.name = f"sex_{sex.value}"
            self.ids.sex_box.add_widget(chip)
        for colour in COLOUR_CHOICES:
            swatch = Swatch(value=colour.value, swatch=COLOUR_RGBA[colour.value])
            swatch.bind(on_release=lambda c: app.pick_colour(c.value))
            swatch.name = f"colour_{colour.value}"
            self.ids.colour_box.add_widget(swatch)

    def sync(self, age: str, sex: str, colours: list[str]) -> None:
        self.selected_age, self.selected_sex, self.selected_colours = age, sex, list(colours)
        for chip in self.ids.age_box.children:
            chip.selected = chip.value == age
        for chip in self.ids.sex_box.children:
            chip.selected = chip.value == sex
        for swatch in self.ids.colour_box.children:
            swatch.selected = swatch.value in colours


class DetailsScreen(Screen):
    photo_attached = BooleanProperty(False)
    selected_direction = StringProperty("")

    def setup(self, app: SightingApp) -> None:
        for direction in app.settings.directions:
            chip = Chip(value=direction, label_id="")
            chip.bind(on_release=lambda c: app.pick_direction(c.value))
            chip.name = f"direction_{direction}"
            self.ids.direction_box.add_widget(chip)

    def sync(self, direction: str, photo: bool, note: str, contact: str) -> None:
        self.selected_direction = direction
        self.photo_attached = photo
        for chip in self.ids.direction_box.children:
            chip.selected = chip.value == direction
        if self.ids.note.text != note:
            self.ids.note.text = note
        if self.ids.contact.text != contact:
            self.ids.contact.text = contact


class ConfirmScreen(Screen):
    reference = StringProperty("")
    delivery = StringProperty("")  # a presenters.delivery.Delivery value
    receipt = ObjectProperty(None, allownone=True)  # the latest receipt of this report


class PinScreen(Screen):
    entered = StringProperty("")
    message = StringProperty("")


class OperatorScreen(Screen):
    facts = ListProperty([])

    def on_facts(self, *args: Any) -> None:
        box = self.ids.facts_box
        box.clear_widgets()
        for name, value in self.facts:
            row = FactRow()
            row.name = name
            row.value = value
            box.add_widget(row)


class VolunteerScreen(Screen):
    banner = StringProperty("")
    items = ObjectProperty([], rebind=True)

    def setup(self, app: SightingApp) -> None:
        self.app = app
        app.bind(lang=lambda *a: self.refresh())

    def refresh(self) -> None:
        app = self.app
        box = self.ids.inbox_box
        box.clear_widgets()
        for item in app.inbox.items():
            texts = describe_alert(item.alert, app.lang)
            card = AlertCard()
            card.alert_id = item.alert.alert_id
            card.title = texts["title"]
            card.description = texts["description"]
            card.why = f"{tr('Why you get this', app.lang)}: {texts['why']}"
            card.facts = texts["facts"]
            card.answered = (
                f"{tr('Your answer', app.lang)}: {tr(RESPONSE_TEXT[item.response], app.lang)}"
                if item.response
                else ""
            )
            for kind in ResponseKind:
                button = ResponseButton(text=tr(RESPONSE_TEXT[kind], app.lang))
                button.kind = kind.value
                button.alert_id = item.alert.alert_id
                button.bind(on_release=lambda b: app.respond(b.alert_id, b.kind))
                card.ids.responses.add_widget(button)
            box.add_widget(card)
