"""The report form: at most three taps (Report, what was seen, Send) plus optional details.

Every detail can be given by pickers (age, sex, colours, direction, and the observations in
``NOTE_CHOICES``), so nobody has to type: a kiosk has no keyboard for Chinese. Picked
observations are written into ``free_text`` in both languages, so whoever reads the report
reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from kiosk_app.i18n import N_, tr
from protocol import (
    AgeBand,
    ChildDescription,
    Colour,
    Location,
    Sex,
    SightingReport,
    WhatSeen,
    new_report_id,
)
from protocol.payloads import MAX_COLOURS, MAX_CONTACT_CHARS, MAX_FREE_TEXT_CHARS, utc_now

# What the passenger picks; OTHER is kept for the operator's test report.
WHAT_CHOICES = (
    WhatSeen.CARRIED_BY_BEGGAR,
    WhatSeen.CHILD_ALONE,
    WhatSeen.WITH_ADULT_DISTRESSED,
)
AGE_CHOICES = (AgeBand.INFANT, AgeBand.PRESCHOOL, AgeBand.CHILD, AgeBand.PRETEEN, AgeBand.TEEN)
SEX_CHOICES = (Sex.FEMALE, Sex.MALE)
COLOUR_CHOICES = tuple(Colour)
# Observations a passenger taps instead of typing (key -> English msgid).
NOTE_CHOICES = {
    "adult_man": N_("With a man"),
    "adult_woman": N_("With a woman"),
    "adults_group": N_("With several adults"),
    "child_crying": N_("The child is crying"),
    "child_asleep": N_("The child seems asleep or drugged"),
    "child_hurt": N_("The child looks hurt"),
    "child_begging": N_("The child is made to beg"),
    "boarded_train": N_("They got on a train"),
    "left_station": N_("They left the station"),
}


def notes_text(notes: list[str]) -> str:
    """Picked observations in Chinese and English, one per line part."""
    return "; ".join(f"{tr(NOTE_CHOICES[n], 'zh')} / {tr(NOTE_CHOICES[n], 'en')}" for n in notes)


class Step(StrEnum):
    WHAT = "what"
    CHILD = "child"
    DETAILS = "details"
    DONE = "done"


@dataclass
class ReportDraft:
    what_seen: WhatSeen | None = None
    age_band: AgeBand = AgeBand.UNKNOWN
    sex: Sex = Sex.UNKNOWN
    colours: list[Colour] = field(default_factory=list)
    direction: str | None = None
    notes: list[str] = field(default_factory=list)  # keys of NOTE_CHOICES
    free_text: str = ""  # typed (phones, whose own keyboard types any language)
    contact: str = ""
    photo: bytes | None = None  # prepared JPEG (downscaled, EXIF stripped)
    observed_at: datetime | None = None  # when the person started the report
    case_id: str | None = None  # "I have seen this child" on a case notice

    @property
    def is_empty(self) -> bool:
        return self == ReportDraft()


class ReportFlow:
    """One report from start to send. ``clear()`` wipes everything (idle reset, cancel)."""

    def __init__(self) -> None:
        self.draft = ReportDraft()
        self.step = Step.WHAT

    def start(self, now: datetime | None = None, case_id: str | None = None) -> None:
        self.clear()
        self.draft.observed_at = now or utc_now()
        self.draft.case_id = case_id or None

    def prefill(self, child: ChildDescription) -> None:
        """Start from what a case knows of the child (the passenger can change each)."""
        self.draft.age_band = AgeBand(child.age_band)
        self.draft.sex = Sex(child.sex)
        self.draft.colours = list(child.clothing_colours[:MAX_COLOURS])

    def clear(self) -> None:
        self.draft = ReportDraft()
        self.step = Step.WHAT

    def choose_what(self, what: WhatSeen) -> Step:
        self.draft.what_seen = WhatSeen(what)
        if self.draft.observed_at is None:
            self.draft.observed_at = utc_now()
        self.step = Step.CHILD
        return self.step

    def set_age(self, age: AgeBand) -> None:
        self.draft.age_band = AgeBand.UNKNOWN if self.draft.age_band == age else AgeBand(age)

    def set_sex(self, sex: Sex) -> None:
        self.draft.sex = Sex.UNKNOWN if self.draft.sex == sex else Sex(sex)

    def toggle_colour(self, colour: Colour) -> bool:
        """Select or unselect; False when the limit of colours is reached."""
        colour = Colour(colour)
        if colour in self.draft.colours:
            self.draft.colours.remove(colour)
            return True
        if len(self.draft.colours) >= MAX_COLOURS:
            return False
        self.draft.colours.append(colour)
        return True

    def set_direction(self, direction: str | None) -> None:
        self.draft.direction = None if direction == self.draft.direction else direction

    def toggle_note(self, key: str) -> None:
        if key not in NOTE_CHOICES:
            raise ValueError(f"unknown observation {key!r}; choose one of {sorted(NOTE_CHOICES)}")
        notes = self.draft.notes
        notes.remove(key) if key in notes else notes.append(key)

    def set_free_text(self, text: str) -> None:
        self.draft.free_text = text[:MAX_FREE_TEXT_CHARS]

    def set_contact(self, text: str) -> None:
        self.draft.contact = text[:MAX_CONTACT_CHARS]

    def attach_photo(self, jpeg: bytes | None) -> None:
        self.draft.photo = jpeg

    def more_details(self) -> Step:
        self.step = Step.DETAILS
        return self.step

    def back(self) -> Step:
        self.step = {Step.DETAILS: Step.CHILD, Step.CHILD: Step.WHAT}.get(self.step, Step.WHAT)
        return self.step

    @property
    def can_send(self) -> bool:
        return self.draft.what_seen is not None

    def build(
        self,
        *,
        device_id: str,
        location: Location,
        station_id: str | None,
        app_version: str,
        now: datetime | None = None,
    ) -> SightingReport:
        if self.draft.what_seen is None:
            raise ValueError("choose what was seen before sending")
        d = self.draft
        text = "\n".join(t for t in (notes_text(d.notes), d.free_text.strip()) if t)
        extra = {"case_id": d.case_id} if d.case_id else {}
        report = SightingReport(
            report_id=new_report_id(),
            device_id=device_id,
            observed_at=d.observed_at or now or utc_now(),
            location=location,
            what_seen=d.what_seen,
            child=ChildDescription(
                age_band=d.age_band, sex=d.sex, clothing_colours=tuple(d.colours)
            ),
            station_id=station_id,
            direction=d.direction,
            free_text=text[:MAX_FREE_TEXT_CHARS] or None,
            has_photo=d.photo is not None,
            contact=d.contact.strip() or None,
            app_version=app_version,
            **extra,  # names the case (SightingReport.case_id)
        )
        self.step = Step.DONE
        return report
