"""The report as the screens see it: the draft's choices, the confirmation, and the receipt,
as Kivy properties. Wraps the pure ``ReportFlow``; navigates through the ``Shell``."""

from __future__ import annotations

from kivy.event import EventDispatcher
from kivy.properties import BooleanProperty, ListProperty, ObjectProperty, StringProperty

from kiosk_app.presenters.delivery import Delivery, delivery_after_send, delivery_of, urgent
from kiosk_app.presenters.report_flow import ReportFlow
from kiosk_app.presenters.shell import Shell
from protocol import (
    AgeBand,
    ChildDescription,
    Colour,
    Location,
    Receipt,
    Sex,
    SightingReport,
    WhatSeen,
)


class ReportPresenter(EventDispatcher):
    what = StringProperty("")
    age = StringProperty("")
    sex = StringProperty("")
    colours = ListProperty([])
    direction = StringProperty("")
    notes = ListProperty([])
    photo_attached = BooleanProperty(False)
    note_text = StringProperty("")
    contact = StringProperty("")
    case_id = StringProperty("")  # the case notice this report answers
    case_title = StringProperty("")
    sent_case_title = StringProperty("")  # the confirmation names the case it answered
    sent_report_id = StringProperty("")  # the report on the confirmation (status, addendum)
    # the confirmation
    reference = StringProperty("")
    delivery = StringProperty("")  # a Delivery value
    receipt = ObjectProperty(None, allownone=True)  # the latest receipt of that report
    rejected_receipt = ObjectProperty(None, allownone=True)  # phone: shown until a new report

    def __init__(self, shell: Shell, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.shell = shell
        self.flow = ReportFlow()
        self.bind(delivery=self._help, rejected_receipt=self._help)
        shell.bind(screen=self._help, waiting=self._help)

    def _help(self, *_: object) -> None:
        """The help line stands out while this report is not with the response team, while
        any report waits on the device, and while a refusal is shown."""
        self.shell.help_urgent = (
            (self.shell.screen == "confirm" and urgent(self.delivery))
            or self.shell.waiting > 0
            or self.rejected_receipt is not None
        )

    def _sync(self) -> None:
        d = self.flow.draft
        self.what = d.what_seen.value if d.what_seen else ""
        self.age = d.age_band.value if d.age_band is not AgeBand.UNKNOWN else ""
        self.sex = d.sex.value if d.sex is not Sex.UNKNOWN else ""
        self.colours = [c.value for c in d.colours]
        self.direction = d.direction or ""
        self.notes = list(d.notes)
        self.photo_attached = d.photo is not None
        self.note_text = d.free_text
        self.contact = d.contact
        self.case_id = d.case_id or ""

    # ------------------------------------------------------------------ the form

    def start(
        self, case_id: str = "", case_title: str = "", child: ChildDescription | None = None
    ) -> None:
        """A new report; from a case notice it names the case and starts with what the case
        knows of the child (age, sex, colours), which the passenger can change."""
        self.rejected_receipt = None  # seen: the home screen kept it until a new report
        self.flow.start(case_id=case_id or None)
        self.case_title = case_title if case_id else ""
        if case_id and child is not None:
            self.flow.prefill(child)
        self._sync()
        self.shell.go("what")

    def choose_what(self, what: str) -> None:
        self.flow.choose_what(WhatSeen(what))
        self._sync()
        self.shell.go("child")

    def pick_age(self, value: str) -> None:
        self.flow.set_age(AgeBand(value))
        self._sync()

    def pick_sex(self, value: str) -> None:
        self.flow.set_sex(Sex(value))
        self._sync()

    def pick_colour(self, value: str) -> bool:
        ok = self.flow.toggle_colour(Colour(value))
        self._sync()
        return ok

    def pick_direction(self, value: str) -> None:
        self.flow.set_direction(value)
        self._sync()

    def toggle_note(self, key: str) -> None:
        self.flow.toggle_note(key)
        self._sync()

    def set_note_text(self, text: str) -> None:
        self.flow.set_free_text(text)
        self.note_text = self.flow.draft.free_text

    def set_contact(self, text: str) -> None:
        self.flow.set_contact(text)
        self.contact = self.flow.draft.contact

    def attach_photo(self, jpeg: bytes | None) -> None:
        self.flow.attach_photo(jpeg)
        self._sync()

    def more_details(self) -> None:
        self.flow.more_details()
        self.shell.go("details")

    def back(self) -> None:
        self.shell.go(self.flow.back().value)

    def clear(self) -> None:
        self.flow.clear()
        self.case_title = ""
        self._sync()

    def forget_confirmation(self) -> None:
        """The confirmation is done with: no reference or receipt is left on screen."""
        self.reference = ""
        self.sent_case_title = ""
        self.sent_report_id = ""
        self.delivery = ""
        self.receipt = None

    @property
    def can_send(self) -> bool:
        return self.flow.can_send

    @property
    def photo(self) -> bytes | None:
        return self.flow.draft.photo

    # ------------------------------------------------------------------ sending

    def build(
        self, *, device_id: str, location: Location, station_id: str | None, app_version: str
    ) -> SightingReport:
        return self.flow.build(
            device_id=device_id, location=location, station_id=station_id, app_version=app_version
        )

    def sent(self, report: SightingReport, online: bool) -> None:
        """The report is in the outbox: wipe the form, show the confirmation."""
        self.sent_case_title = self.case_title if report.case_id else ""
        self.sent_report_id = report.report_id
        self.clear()
        self.receipt = None
        self.reference = report.reference
        self.delivery = delivery_after_send(online).value
        self.shell.go("confirm")

    def receipt_arrived(self, receipt: Receipt) -> None:
        if receipt.reference and receipt.reference == self.reference:
            self.receipt = receipt
            self.delivery = delivery_of(receipt).value
        if self.shell.mode == "phone" and delivery_of(receipt) is Delivery.REJECTED:
            self.rejected_receipt = receipt
