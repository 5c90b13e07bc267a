"""The report form: at most three taps (Report, what was seen, Send) plus optional details."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

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
    free_text: str = ""
    contact: str = ""
    photo: bytes | None = None  # prepared JPEG (downscaled, EXIF stripped)
    observed_at: datetime | None = None  # when the person started the report

    @property
    def is_empty(self) -> bool:
        return self == ReportDraft()


class ReportFlow:
    """One report from start to send. ``clear()`` wipes everything (idle reset, cancel)."""

    def __init__(self) -> None:
        self.draft = ReportDraft()
        self.step = Step.WHAT

    def start(self, now: datetime | None = None) -> None:
        self.clear()
        self.draft.observed_at = now or utc_now()

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
            free_text=d.free_text.strip() or None,
            has_photo=d.photo is not None,
            contact=d.contact.strip() or None,
            app_version=app_version,
        )
        self.step = Step.DONE
        return report
