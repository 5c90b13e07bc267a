"""Ranking every (report, case) pair of a batch at once: the scoring model of
:mod:`backend.cases.scoring`, vectorised with NumPy.

A point in a dense city lies in about a hundred case areas, so a batch of 500 reports is
about 44,000 pairs to rank; scored one by one in Python that is half a second of the
worker's time (11 µs a pair), in one NumPy pass a few milliseconds. Only the best few pairs
of each report are kept, and those are scored again by :func:`scoring.score_sighting`, which
also writes the reasons: the scalar function stays the one definition of the model, this
module its fast mirror for ranking. Both compute the same arithmetic in the same order; the
tests hold them equal to within rounding over random inputs.

:class:`CaseTable` holds what scoring needs of every open case as arrays (built when the
worker's open cases are reloaded, about 20 ms for 10,000 cases).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

import numpy as np
import numpy.typing as npt

from backend.cases.scoring import (
    _AGE_YEARS,
    _CLOCK_SLACK,
    _SECONDS_PER_YEAR,
    DEFAULT_MODEL,
    ScoringModel,
)
from backend.cases.service import OpenCase
from protocol.payloads import AgeBand, ChildDescription, Colour, Sex

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_SEX_CODE: Final = {Sex.UNKNOWN: 0, Sex.FEMALE: 1, Sex.MALE: 2}
_COLOUR_BIT: Final = {c: 1 << i for i, c in enumerate(Colour)}
_CLOCK_SLACK_S: Final = _CLOCK_SLACK.total_seconds()


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


def epoch_us(at: datetime) -> int:
    """``at`` in whole microseconds since the epoch: exact, so that a difference of two is
    the ``timedelta`` the scalar model sees (float epoch seconds lose 0.2 µs today)."""
    return (at - _EPOCH) // _MICROSECOND


def _age_bounds(band: AgeBand) -> tuple[float, float]:
    return _AGE_YEARS.get(band, (math.nan, math.nan))


def _colour_mask(colours: Sequence[Colour]) -> int:
    mask = 0
    for c in colours:
        mask |= _COLOUR_BIT[c]
    return mask


class CaseTable:
    """What the model reads of each open case, one array entry per case (position ``i`` is
    ``case_ids[i]``, in case id order so that a position breaks ties as the id would)."""

    def __init__(self, cases: Mapping[str, OpenCase]) -> None:
        ids = sorted(cases)
        self.case_ids: tuple[str, ...] = tuple(ids)
        self.position: dict[str, int] = {cid: i for i, cid in enumerate(ids)}
        n = len(ids)
        ordered = [cases[cid] for cid in ids]
        self.last_seen_us: IntArray = np.array(
            [epoch_us(c.last_seen_at) for c in ordered], dtype=np.int64
        )
        self.sex = np.array([_SEX_CODE[c.description.sex] for c in ordered], dtype=np.int64)
        bounds = [_age_bounds(c.description.age_band) for c in ordered]
        self.age_lo: FloatArray = np.array([b[0] for b in bounds], dtype=np.float64)
        self.age_hi: FloatArray = np.array([b[1] for b in bounds], dtype=np.float64)
        self.colours = np.array(
            [_colour_mask(c.description.clothing_colours) for c in ordered], dtype=np.int64
        )
        # Radius schedules, padded with (inf, last radius): the first step whose bound is not
        # below the elapsed time is then radius_m_at's.
        # (One column more than the longest: past every bound, the last radius holds.)
        width = 1 + max((len(c.schedule.steps) for c in ordered if c.schedule), default=0)
        self.has_schedule = np.array([c.schedule is not None for c in ordered], dtype=bool)
        within = np.full((n, width), math.inf)
        radius = np.zeros((n, width))
        for i, c in enumerate(ordered):
            if c.schedule is None:
                continue
            steps = c.schedule.steps
            within[i, : len(steps)] = [w for w, _ in steps]
            radius[i, : len(steps)] = [r for _, r in steps]
            radius[i, len(steps) :] = steps[-1][1]
        self.within_s: FloatArray = within
        self.radius_m: FloatArray = radius

    def __len__(self) -> int:
        return len(self.case_ids)


def pair_scores(
    table: CaseTable,
    case_pos: IntArray,
    distance_m: FloatArray,
    observed_us: IntArray,
    children: Sequence[ChildDescription],
    child_of_pair: IntArray,
    model: ScoringModel = DEFAULT_MODEL,
) -> FloatArray:
    """The score of each pair: case ``case_pos[k]`` at ``distance_m[k]`` from its last-seen
    point, seen at ``observed_us[k]`` (:func:`epoch_us`) as ``children[child_of_pair[k]]``.
    Equal to ``score_sighting(...).score`` of the same pair within rounding."""
    rep_sex = np.array([_SEX_CODE[c.sex] for c in children], dtype=np.int64)[child_of_pair]
    rep_bounds = [_age_bounds(c.age_band) for c in children]
    rep_lo = np.array([b[0] for b in rep_bounds], dtype=np.float64)[child_of_pair]
    rep_hi = np.array([b[1] for b in rep_bounds], dtype=np.float64)[child_of_pair]
    rep_colours = np.array(
        [_colour_mask(c.clothing_colours) for c in children], dtype=np.int64
    )[child_of_pair]

    raw = (observed_us - table.last_seen_us[case_pos]) / 1e6  # as timedelta.total_seconds
    elapsed = np.maximum(raw, 0.0)

    # 1. where and when
    steps = elapsed[:, None] <= table.within_s[case_pos]
    radius = table.radius_m[case_pos, np.argmax(steps, axis=1)]
    reach = np.where(
        table.has_schedule[case_pos],
        np.maximum(model.min_reach_m, radius),
        np.maximum(model.min_reach_m, model.travel_speed_mps * elapsed),
    )
    plausibility = 1.0 / (1.0 + (distance_m / reach) ** 2)
    staleness = 0.5 + 0.5 * 2.0 ** (-elapsed / model.cold_half_life.total_seconds())
    prior = np.maximum(model.base_prior * plausibility * staleness, 1e-12)
    odds = prior / (1.0 - prior)

    # 2. what was seen
    case_sex = table.sex[case_pos]
    known = (rep_sex != 0) & (case_sex != 0)
    odds = odds * np.where(
        known,
        np.where(rep_sex == case_sex, model.sex_agree_ratio, model.sex_contradict_ratio),
        1.0,
    )

    aged = elapsed / _SECONDS_PER_YEAR
    case_lo = table.age_lo[case_pos] + aged
    case_hi = table.age_hi[case_pos] + aged
    gap = np.maximum(rep_lo - case_hi, case_lo - rep_hi)  # nan where either is unknown
    with np.errstate(invalid="ignore"):
        age_ratio = np.where(
            gap < 0.0,
            model.age_agree_ratio,
            np.where(gap <= model.age_slack_years, 1.0, model.age_contradict_ratio),
        )
    odds = odds * np.where(np.isnan(gap), 1.0, age_ratio)

    case_colours = table.colours[case_pos]
    weight = 2.0 ** (-elapsed / model.clothing_half_life.total_seconds())
    colour_ratio = np.where(
        (rep_colours & case_colours) != 0,
        1.0 + (model.colour_agree_ratio - 1.0) * weight,
        1.0 - (1.0 - model.colour_differ_ratio) * weight,
    )
    odds = odds * np.where((rep_colours != 0) & (case_colours != 0), colour_ratio, 1.0)

    score = np.clip(1.0 - 1.0 / (1.0 + odds), 0.0, 1.0)
    return np.where(raw < -_CLOCK_SLACK_S, 0.0, score)


def best_pairs(
    table: CaseTable,
    reports: Sequence[tuple[datetime, ChildDescription]],
    hits: Sequence[Sequence[tuple[str, float]]],
    keep: int,
    model: ScoringModel = DEFAULT_MODEL,
) -> list[list[tuple[str, float]]]:
    """For each report (observed at, child) and its hits ``[(case_id, distance_m)]``, the
    ``keep`` best hits by score, best first (ties: nearer, then lower case id). Hits of
    cases not in the table are dropped."""
    positions: list[int] = []
    distances: list[float] = []
    reports_of: list[int] = []
    position = table.position
    for r, report_hits in enumerate(hits):
        for case_id, d in report_hits:
            pos = position.get(case_id)
            if pos is not None:
                positions.append(pos)
                distances.append(d)
                reports_of.append(r)
    case_pos = np.array(positions, dtype=np.int64)
    distance = np.array(distances, dtype=np.float64)
    report_of = np.array(reports_of, dtype=np.int64)
    out: list[list[tuple[str, float]]] = [[] for _ in hits]
    if len(case_pos) == 0 or len(table) == 0:
        return out
    observed = np.array([epoch_us(at) for at, _ in reports], dtype=np.int64)
    scores = pair_scores(
        table,
        case_pos,
        distance,
        observed[report_of],
        [child for _, child in reports],
        report_of,
        model,
    )
    # by report, then best score, nearer, lower case id: the first ``keep`` of each report
    order = np.lexsort((case_pos, distance, -scores, report_of))
    ranked_report = report_of[order]
    starts = np.searchsorted(ranked_report, np.arange(len(hits)))
    ends = np.searchsorted(ranked_report, np.arange(len(hits)), side="right")
    ids = table.case_ids
    for r in range(len(hits)):
        chosen = order[starts[r] : min(ends[r], starts[r] + keep)]
        out[r] = [(ids[case_pos[j]], float(distance[j])) for j in chosen.tolist()]
    return out
