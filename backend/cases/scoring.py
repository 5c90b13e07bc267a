"""How well one sighting fits one open case: a score in [0, 1] with reasons a person can read.

Pure: no database, no clock, no geometry. The caller measures the distance (``geo``) and the
time since the child was last seen, and passes both descriptions.

The model
---------
The score is a probability-like number built in two steps, so that each piece of evidence
moves it in a predictable direction:

1. **Where and when (prior).** How plausible is it that the child is at this distance from
   the last-seen point, this long after disappearing? The plausible reach ``R`` is the
   case area's current radius when there is one (the Tuanyuan-style schedule: it already
   grows with time), otherwise ``travel_speed_mps * elapsed``; never less than
   ``min_reach_m`` (a child seen next to the last-seen point one minute later is plausible).
   Location plausibility is ``1 / (1 + (d / R)^2)``: 1 at the point, 1/2 at the edge of the
   reach, falling off quadratically beyond (a sighting far outside the area is unlikely but
   never impossible: areas are estimates). Trails also go cold: a staleness factor falls from
   1 towards 1/2 with a half-life of ``cold_half_life`` (old cases still match, a little less
   eagerly). ``prior = base_prior * plausibility * staleness``.

2. **What was seen (likelihood ratios).** Each described field multiplies the prior odds:
   agreement by a ratio > 1, contradiction by a ratio < 1, unknown/unreported by exactly 1,
   so a vague report never excludes a case and never beats a matching one. Sex and age band
   are strong evidence; an age band is compared after ageing the case's band by the time
   elapsed, with one year of slack for a witness's guess (adjacent bands are "close", not a
   contradiction). Clothing colours are weak evidence, and fade to no evidence as clothes
   get changed (half-life ``clothing_half_life``).

``score = odds / (1 + odds)`` with ``odds = prior / (1 - prior) * product(ratios)``.
With the defaults a report at the last-seen point that agrees on sex, age and colours scores
about 0.88; the same report with the wrong sex about 0.27; a report there with nothing
described scores ``base_prior * staleness``.

Guarantees (tested as properties): the score is in [0, 1]; it never rises with distance;
a contradicted field never scores higher than the same field unknown, and an agreeing field
never lower.

The case's height band and distinguishing marks are carried but not compared: a report has
no height, and marks are free text a passenger cannot state at a kiosk. When the case has
marks, a reason says so, so the volunteer knows to ask; the marks themselves never appear
in reasons (reasons travel in alerts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Final

from protocol.payloads import AgeBand, ChildDescription, Colour, Sex

__all__ = [
    "DEFAULT_MODEL",
    "AgeFit",
    "CaseDescription",
    "MatchScore",
    "ScoringError",
    "ScoringModel",
    "age_fit",
    "format_distance",
    "format_elapsed",
    "score_sighting",
]

# Ages in whole years covered by each band, as half-open intervals [lo, hi).
_AGE_YEARS: Final[dict[AgeBand, tuple[float, float]]] = {
    AgeBand.INFANT: (0.0, 3.0),
    AgeBand.PRESCHOOL: (3.0, 6.0),
    AgeBand.CHILD: (6.0, 10.0),
    AgeBand.PRETEEN: (10.0, 14.0),
    AgeBand.TEEN: (14.0, 18.0),
}
_SECONDS_PER_YEAR: Final = 365.25 * 24 * 3600
# A sighting this much before the last-seen time is a clock difference, not a contradiction.
_CLOCK_SLACK: Final = timedelta(minutes=10)


class ScoringError(ValueError):
    """An input to scoring is out of its domain (the message says which and what to pass)."""


class AgeFit(StrEnum):
    UNKNOWN = "unknown"  # either side does not know the band
    AGREES = "agrees"  # the reported band overlaps the case's band (aged by elapsed time)
    CLOSE = "close"  # within the slack of a witness's guess: neither for nor against
    CONTRADICTS = "contradicts"


@dataclass(frozen=True, slots=True)
class CaseDescription:
    """The child as the case records them at disappearance. No contact data belongs here."""

    age_band: AgeBand = AgeBand.UNKNOWN
    sex: Sex = Sex.UNKNOWN
    clothing_colours: tuple[Colour, ...] = ()
    height_band: str | None = None
    distinguishing_marks: str | None = None


@dataclass(frozen=True, slots=True)
class MatchScore:
    score: float  # in [0, 1]
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoringModel:
    """The tunable constants of the model (see the module docstring)."""

    base_prior: float = 0.5
    min_reach_m: float = 1_000.0
    travel_speed_mps: float = 30_000.0 / 3600.0  # metro and car: about 30 km/h door to door
    cold_half_life: timedelta = timedelta(days=3)
    clothing_half_life: timedelta = timedelta(hours=24)
    age_slack_years: float = 1.0
    sex_agree_ratio: float = 2.0
    sex_contradict_ratio: float = 0.1
    age_agree_ratio: float = 2.5
    age_contradict_ratio: float = 0.15
    colour_agree_ratio: float = 1.5  # at the moment of disappearance; fades to 1
    colour_differ_ratio: float = 0.7  # likewise fades to 1

    def __post_init__(self) -> None:
        if not 0.0 < self.base_prior < 1.0:
            raise ScoringError(f"base_prior={self.base_prior} must be strictly between 0 and 1")
        for name in ("min_reach_m", "travel_speed_mps", "age_slack_years"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ScoringError(f"{name}={value} must be a positive finite number")
        for name in ("cold_half_life", "clothing_half_life"):
            if getattr(self, name) <= timedelta(0):
                raise ScoringError(f"{name} must be a positive duration")
        for name in ("sex_agree_ratio", "age_agree_ratio", "colour_agree_ratio"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 1.0):
                raise ScoringError(f"{name}={value} must be >= 1 (agreement never lowers)")
        for name in ("sex_contradict_ratio", "age_contradict_ratio", "colour_differ_ratio"):
            value = getattr(self, name)
            if not (math.isfinite(value) and 0.0 < value <= 1.0):
                raise ScoringError(f"{name}={value} must be in (0, 1] (contradiction never raises)")


DEFAULT_MODEL: Final = ScoringModel()


def format_distance(distance_m: float) -> str:
    """``350 m`` below a kilometre, ``1.2 km`` above."""
    if distance_m < 999.5:
        return f"{distance_m:.0f} m"
    return f"{distance_m / 1000.0:.1f} km"


def format_elapsed(elapsed: timedelta) -> str:
    """``40 min``, ``3 h 20 min``, ``2 days 4 h``."""
    minutes = max(0, int(elapsed.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        unit = "day" if days == 1 else "days"
        return f"{days} {unit} {hours} h" if hours else f"{days} {unit}"
    if hours:
        return f"{hours} h {mins} min" if mins else f"{hours} h"
    return f"{mins} min"


def age_fit(
    reported: AgeBand, case: AgeBand, elapsed: timedelta, slack_years: float = 1.0
) -> AgeFit:
    """Compare a reported band with the case's band aged by ``elapsed``."""
    if reported is AgeBand.UNKNOWN or case is AgeBand.UNKNOWN:
        return AgeFit.UNKNOWN
    aged = max(0.0, elapsed.total_seconds()) / _SECONDS_PER_YEAR
    case_lo, case_hi = _AGE_YEARS[case]
    case_lo, case_hi = case_lo + aged, case_hi + aged
    rep_lo, rep_hi = _AGE_YEARS[reported]
    gap = max(rep_lo - case_hi, case_lo - rep_hi)  # < 0: overlap, 0: touching bands
    if gap < 0.0:
        return AgeFit.AGREES
    if gap <= slack_years:
        return AgeFit.CLOSE
    return AgeFit.CONTRADICTS


def _fade(elapsed_s: float, half_life: timedelta) -> float:
    """1 at the moment of disappearance, halving every ``half_life``."""
    return float(2.0 ** (-elapsed_s / half_life.total_seconds()))


def _colour_names(colours: tuple[Colour, ...]) -> str:
    return ", ".join(c.value for c in colours)


# What the descriptions alone decide (no distance, no time) is the same for every report
# with the same child against the same case: worked out once. A report is scored against
# every case whose area contains it (about a hundred in a dense city), so this is hot.
@lru_cache(maxsize=1024)
def _sex_terms(reported: Sex, case: Sex, model: ScoringModel) -> tuple[float, str]:
    """The odds ratio of the sexes and its reason."""
    if reported is Sex.UNKNOWN or case is Sex.UNKNOWN:
        side = "not reported" if reported is Sex.UNKNOWN else "not recorded in the case"
        return 1.0, f"sex {side}"
    if reported is case:
        return model.sex_agree_ratio, f"sex agrees ({case.value})"
    return (
        model.sex_contradict_ratio,
        f"sex contradicts case (reported {reported.value}, case {case.value})",
    )


@lru_cache(maxsize=4096)
def _colour_terms(
    reported: tuple[Colour, ...], case: tuple[Colour, ...]
) -> tuple[bool | None, str]:
    """Whether the colours agree (None: one side has none) and the reason."""
    if not reported or not case:
        return None, f"clothing colours {'not reported' if not reported else 'not in the case'}"
    common = tuple(c for c in reported if c in case)
    if common:
        return True, f"clothing colours agree ({_colour_names(common)})"
    return False, (
        f"clothing colours differ (reported {_colour_names(reported)}, "
        f"case {_colour_names(case)})"
    )


def score_sighting(
    *,
    distance_m: float,
    elapsed: timedelta,
    reported: ChildDescription,
    case: CaseDescription,
    area_radius_m: float | None = None,
    model: ScoringModel = DEFAULT_MODEL,
) -> MatchScore:
    """Score a sighting against a case.

    ``distance_m``: from the case's last-seen point to the sighting, metres (>= 0).
    ``elapsed``: sighting time minus the time the child was last seen. A sighting more than
    ten minutes *before* that cannot be of the missing child: score 0 with a reason.
    ``area_radius_m``: the case area's current radius, if the case has a growing circle.
    """
    if not (math.isfinite(distance_m) and distance_m >= 0.0):
        raise ScoringError(f"distance_m={distance_m!r} must be a finite number of metres >= 0")
    if area_radius_m is not None and not (math.isfinite(area_radius_m) and area_radius_m >= 0.0):
        raise ScoringError(f"area_radius_m={area_radius_m!r} must be finite and >= 0, or None")

    reasons: list[str] = [f"{format_distance(distance_m)} from last seen"]
    if elapsed < -_CLOCK_SLACK:
        reasons.append(
            f"observed {format_elapsed(-elapsed)} before the child was last seen: "
            "cannot be this child"
        )
        return MatchScore(0.0, tuple(reasons))
    elapsed_s = max(0.0, elapsed.total_seconds())
    reasons.append(f"{format_elapsed(elapsed)} since the child was last seen")

    # 1. where and when
    if area_radius_m is not None:
        reach_m = max(model.min_reach_m, area_radius_m)
        inside = "inside" if distance_m <= area_radius_m else "outside"
        reasons.append(f"{inside} the case area ({format_distance(area_radius_m)} radius)")
    else:
        reach_m = max(model.min_reach_m, model.travel_speed_mps * elapsed_s)
    plausibility = 1.0 / (1.0 + (distance_m / reach_m) ** 2)
    staleness = 0.5 + 0.5 * _fade(elapsed_s, model.cold_half_life)
    prior = max(model.base_prior * plausibility * staleness, 1e-12)
    odds = prior / (1.0 - prior)

    # 2. what was seen
    ratio, reason = _sex_terms(reported.sex, case.sex, model)
    odds *= ratio
    reasons.append(reason)

    fit = age_fit(reported.age_band, case.age_band, elapsed, model.age_slack_years)
    if fit is AgeFit.UNKNOWN:
        side = "not reported" if reported.age_band is AgeBand.UNKNOWN else "not in the case"
        reasons.append(f"age band {side}")
    elif fit is AgeFit.AGREES:
        odds *= model.age_agree_ratio
        reasons.append(f"age band agrees ({reported.age_band.value})")
    elif fit is AgeFit.CLOSE:
        reasons.append(
            f"age band close to case (reported {reported.age_band.value}, "
            f"case {case.age_band.value})"
        )
    else:
        odds *= model.age_contradict_ratio
        reasons.append(
            f"age band contradicts case (reported {reported.age_band.value}, "
            f"case {case.age_band.value} when last seen)"
        )

    agree, reason = _colour_terms(reported.clothing_colours, case.clothing_colours)
    if agree is not None:
        weight = _fade(elapsed_s, model.clothing_half_life)
        if agree:
            odds *= 1.0 + (model.colour_agree_ratio - 1.0) * weight
        else:
            odds *= 1.0 - (1.0 - model.colour_differ_ratio) * weight
    reasons.append(reason)

    if case.distinguishing_marks:
        reasons.append("case lists distinguishing marks: ask the reporter")

    # 1 - 1/(1+x) is monotone under rounding, unlike x/(1+x) computed naively.
    score = 1.0 - 1.0 / (1.0 + odds)
    return MatchScore(min(1.0, max(0.0, score)), tuple(reasons))
