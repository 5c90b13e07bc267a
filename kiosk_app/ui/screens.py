"""Screen classes: they hold references to presenters (Kivy properties the kv layouts bind
to) and the ``actions`` object the App hands them. Layout lives in ``kv/<screen>.kv``.
No import of the App: screens know presenters and a protocol of actions only."""

from __future__ import annotations

from typing import Any, Protocol

from kivy.properties import BooleanProperty, ObjectProperty
from kivy.uix.screenmanager import Screen

from kiosk_app.presenters.report_flow import (
    AGE_CHOICES,
    COLOUR_CHOICES,
    NOTE_CHOICES,
    SEX_CHOICES,
)
from kiosk_app.ui import theme
from kiosk_app.ui.minimap import SightingMap  # noqa: F401 (in the Factory before alert.kv)
from kiosk_app.ui.widgets import (
    AlertCard,
    Chip,
    DirectionChip,
    FactRow,
    NoticeCard,
    PlainButton,
    ResponseButton,
    Swatch,
    texture_of,
)
from kiosk_app.ui.wrap import keep_all_together

COLOUR_RGBA = {
    "black": (0.1, 0.1, 0.1, 1),
    "white": (0.97, 0.97, 0.97, 1),
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


class Actions(Protocol):
    """What a screen may ask of the App (the parts that need the link, camera, clock)."""

    def send(self) -> Any: ...
    def open_operator(self) -> None: ...
    def take_photo(self) -> None: ...
    def reset_to_home(self) -> None: ...
    def toggle_language(self) -> None: ...
    def set_default_language(self, lang: str) -> None: ...
    def send_test_report(self) -> Any: ...
    def dismiss_rejected(self) -> None: ...
    def toggle_duty(self) -> None: ...
    def respond(self, alert_id: str, kind: str) -> None: ...
    def navigate(self, uri: str) -> None: ...
    def check_status(self) -> None: ...
    def add_photo(self) -> None: ...


class AppScreen(Screen):
    shell = ObjectProperty(None)
    actions = ObjectProperty(None)
    settings = ObjectProperty(None)
    report = ObjectProperty(None)
    help = ObjectProperty(None, allownone=True)  # HelpPresenter: the help bar's button
    follow = ObjectProperty(None, allownone=True)  # FollowUpPresenter: state and addendum
    short = BooleanProperty(False)  # set in kv where a short screen scrolls what a tall one fits

    def setup(self) -> None:
        """Called once after construction, with every property set."""

    def on_pre_enter(self, *_: Any) -> None:
        """Every screen opens at its top: a new report never starts scrolled down to where
        the last person left off (age and sex hidden above)."""
        from kivy.uix.scrollview import ScrollView

        for widget in self.walk(restrict=True):
            if isinstance(widget, ScrollView):
                widget.scroll_y = 1

    def on_parent(self, *_: Any) -> None:
        """Shown (added to the manager): line breaks of its texts, also of widgets made since."""
        if self.parent is not None:
            keep_all_together(self)


def _chip(cls: type[Chip], shell: Any, name: str, on_release: Any, **kwargs: Any) -> Chip:
    chip = cls(lang=shell.lang, **kwargs)
    shell.bind(lang=chip.setter("lang"))
    chip.name = name
    chip.bind(on_release=on_release)
    return chip


class HomeScreen(AppScreen):
    notices = ObjectProperty(None, allownone=True)  # NoticePresenter (kiosk)

    def setup(self) -> None:
        if self.notices is not None:
            self.notices.bind(notices=self.refresh_notices, photos=self.refresh_notices)

    def refresh_notices(self, *_: Any) -> None:
        box = self.ids.notices_box
        box.clear_widgets()
        for view in self.notices.notices:
            card = NoticeCard(
                case_id=view.case_id,
                title=view.title,
                who=view.who,
                contact=view.contact,
                since=view.since,
                photo=texture_of(self.notices.photos.get(view.case_id)),
            )
            card.bind(on_release=lambda c: self.notices.open(c.case_id))
            box.add_widget(card)
        keep_all_together(box)


class WhatScreen(AppScreen):
    pass


class ChildScreen(AppScreen):
    """Age band, sex and clothing colours as pickers; they mirror the presenter's draft."""

    def setup(self) -> None:
        r, s = self.report, self.shell
        for age in AGE_CHOICES:
            chip = _chip(Chip, s, f"age_{age.value}", lambda c: r.pick_age(c.value))
            chip.value, chip.label_id = age.value, age.value
            self.ids.age_box.add_widget(chip)
        for sex in SEX_CHOICES:
            chip = _chip(Chip, s, f"sex_{sex.value}", lambda c: r.pick_sex(c.value))
            chip.value, chip.label_id = sex.value, sex.value
            self.ids.sex_box.add_widget(chip)
        for colour in COLOUR_CHOICES:
            swatch = _chip(
                Swatch,
                s,
                f"colour_{colour.value}",
                lambda c: r.pick_colour(c.value),
                swatch=COLOUR_RGBA[colour.value],
            )
            swatch.value = colour.value
            self.ids.colour_box.add_widget(swatch)
        r.bind(age=self.sync, sex=self.sync, colours=self.sync)

    def sync(self, *_: Any) -> None:
        r = self.report
        for chip in self.ids.age_box.children:
            chip.selected = chip.value == r.age
        for chip in self.ids.sex_box.children:
            chip.selected = chip.value == r.sex
        for swatch in self.ids.colour_box.children:
            swatch.selected = swatch.value in r.colours


class DetailsScreen(AppScreen):
    """Direction and observations as pickers (a kiosk never needs a keyboard); a phone also
    has its own keyboard's text fields."""

    def setup(self) -> None:
        r, s = self.report, self.shell
        for direction in self.settings.directions:
            chip = _chip(
                DirectionChip, s, f"direction_{direction}", lambda c: r.pick_direction(c.value)
            )
            chip.value = direction
            self.ids.direction_box.add_widget(chip)
        for key, msgid in NOTE_CHOICES.items():
            chip = _chip(Chip, s, f"note_{key}", lambda c: r.toggle_note(c.value))
            chip.value, chip.label_id = key, msgid
            self.ids.notes_box.add_widget(chip)
        if s.mode == "phone":
            self._add_text_fields()
        r.bind(direction=self.sync, notes=self.sync, note_text=self.sync, contact=self.sync)

    def _add_text_fields(self) -> None:
        """A phone types with its own keyboard (any language): the optional contact and a
        note. Created only on a phone, so a kiosk never has a field to open a keyboard."""
        from kivy.metrics import dp
        from kivy.uix.label import Label
        from kivy.uix.textinput import TextInput

        r, form = self.report, self.ids.form
        contact = TextInput(multiline=False, font_size="20sp", size_hint_y=None, height=dp(52))
        contact.bind(text=lambda w, text: r.set_contact(text))
        form.add_widget(contact, index=len(form.children) - 1)  # under its label
        label = Label(
            text=self.shell.tr("Anything else? (optional)", self.shell.lang),
            font_size="20sp",
            size_hint_y=None,
            height=dp(32),
            halign="left",
        )
        label.bind(size=lambda w, size: setattr(w, "text_size", size))
        self.shell.bind(
            lang=lambda *_: setattr(
                label, "text", self.shell.tr("Anything else? (optional)", self.shell.lang)
            )
        )
        note = TextInput(font_size="20sp", size_hint_y=None, height=dp(96))
        note.bind(text=lambda w, text: r.set_note_text(text))
        form.add_widget(label)
        form.add_widget(note)
        self.ids["contact"], self.ids["note"] = contact, note

    def sync(self, *_: Any) -> None:
        r = self.report
        for chip in self.ids.direction_box.children:
            chip.selected = chip.value == r.direction
        for chip in self.ids.notes_box.children:
            chip.selected = chip.value in r.notes
        for field, text in (("note", r.note_text), ("contact", r.contact)):
            widget = self.ids.get(field)
            if widget is not None and widget.text != text:
                widget.text = text


class ConfirmScreen(AppScreen):
    """The reference, what happens next, the report's state (asked of the backend) and, on a
    phone, a note or a photo added to the sent report."""

    def setup(self) -> None:
        if self.shell.mode == "phone":
            self._add_addendum()

    def _add_addendum(self) -> None:
        """Created only on a phone: a kiosk never has a text field (no keyboard for Chinese)."""
        from kivy.factory import Factory
        from kivy.metrics import dp
        from kivy.uix.boxlayout import BoxLayout
        from kivy.uix.label import Label

        shell, follow, body = self.shell, self.follow, self.ids.body
        box = BoxLayout(orientation="vertical", size_hint_y=None, spacing=dp(6))
        box.bind(minimum_height=box.setter("height"))
        title = Label(font_size="20sp", bold=True, size_hint_y=None, halign="left")
        note = Factory.EdgedTextInput(font_size="20sp", size_hint_y=None, height=dp(96))
        row = BoxLayout(size_hint_y=None, height=dp(64), spacing=dp(8))
        send = PlainButton()
        photo = PlainButton()
        result = Label(font_size="20sp", color=theme.OK_TEXT, size_hint_y=None, halign="left")
        for label in (title, result):
            label.bind(
                width=lambda w, width: setattr(w, "text_size", (width, None)),
                texture_size=lambda w, ts: setattr(w, "height", ts[1] + dp(4) if w.text else 0),
            )
        send.bind(on_release=lambda *_: self._send_note())
        photo.bind(on_release=lambda *_: self.actions.add_photo())
        row.add_widget(send)
        row.add_widget(photo)
        for widget in (title, note, row, result):
            box.add_widget(widget)
        body.add_widget(box, index=1)  # above the safety advice

        def texts(*_: Any) -> None:
            lang = shell.lang
            title.text = shell.tr("Add to your report (optional)", lang)
            send.text = shell.tr("Send this note", lang)
            photo.text = shell.tr("Add a photo", lang)
            result.text = follow.addendum_text

        def shown(*_: Any) -> None:
            on = follow.can_add and self.report.delivery != "rejected"
            box.opacity, box.disabled = (1, False) if on else (0, True)
            box.size_hint_y = None
            if not on:
                box.height = 0
            else:
                box.height = box.minimum_height

        shell.bind(lang=texts)
        follow.bind(addendum_text=texts, can_add=shown)
        self.report.bind(delivery=shown)
        texts()
        shown()
        self.ids["addendum_box"], self.ids["addendum_note"] = box, note
        self.ids["addendum_send"], self.ids["addendum_photo"] = send, photo

    def _send_note(self) -> None:
        note = self.ids.addendum_note
        if self.follow.add(note=note.text):
            note.text = ""


class NoticeScreen(AppScreen):
    notices = ObjectProperty(None)
    photo = ObjectProperty(None, allownone=True)

    def setup(self) -> None:
        self.notices.bind(selected=self._photo, photos=self._photo)

    def _photo(self, *_: Any) -> None:
        view = self.notices.selected
        self.photo = texture_of(self.notices.photos.get(view.case_id)) if view else None


class PinScreen(AppScreen):
    op = ObjectProperty(None)


class OperatorScreen(AppScreen):
    op = ObjectProperty(None)

    def setup(self) -> None:
        self.op.bind(facts=self.show_facts)

    def show_facts(self, *_: Any) -> None:
        box = self.ids.facts_box
        box.clear_widgets()
        for name, value in self.op.facts:
            box.add_widget(FactRow(name=name, value=value))


def _responses(box: Any, view: Any, actions: Any) -> None:
    for response in view.responses:
        button = ResponseButton(
            text=("✓ " if response.chosen else "") + response.label,
            kind=response.kind,
            alert_id=view.alert_id,
            primary=response.primary,
            chosen=response.chosen,
        )
        button.bind(on_release=lambda b: actions.respond(b.alert_id, b.kind))
        box.add_widget(button)


class VolunteerScreen(AppScreen):
    vol = ObjectProperty(None)

    def setup(self) -> None:
        self.vol.bind(cards=self.refresh)

    def refresh(self, *_: Any) -> None:
        box = self.ids.inbox_box
        box.clear_widgets()
        for view in self.vol.cards:
            card = AlertCard(
                alert_id=view.alert_id,
                title=view.headline,
                where=f"{view.where} · {view.place}",
                description=view.description,
                why=view.why,
                facts=view.facts,
                answered=view.answered,
            )
            _responses(card.ids.responses, view, self.actions)
            show = PlainButton(text=self.shell.tr("Show in full", self.shell.lang))
            show.alert_id = view.alert_id
            show.bind(on_release=lambda b: self.vol.open(b.alert_id))
            card.ids.responses.add_widget(show)
            box.add_widget(card)


class AlertScreen(AppScreen):
    """One alert on the whole screen: where (distance and direction), what, why, navigate,
    and the answers with the primary one highlighted."""

    vol = ObjectProperty(None)
    photo = ObjectProperty(None, allownone=True)  # the case's photo, a Kivy texture

    def setup(self) -> None:
        self.vol.bind(focus=self.refresh, photos=self._photo)

    def _photo(self, *_: Any) -> None:
        focus = self.vol.focus
        self.photo = texture_of(self.vol.photos.get(focus.case_id)) if focus else None

    def refresh(self, *_: Any) -> None:
        self._photo()
        box = self.ids.responses
        box.clear_widgets()
        if self.vol.focus is not None:
            _responses(box, self.vol.focus, self.actions)
