"""The vectorised ranking is the scalar model's mirror: the same score for every pair (within
rounding), and the same best few per report."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.cases.ranking import CaseTable, best_pairs, epoch_us, pair_scores
from backend.cases.scoring import CaseDescription, score_sighting
from backend.cases.service import OpenCase
from geo import RadiusSchedule
from protocol import AgeBand, ChildDescription, Colour, Sex

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

sexes = st.sampled_from(list(Sex))
ages = st.sampled_from(list(AgeBand))
colour_sets = st.lists(st.sampled_from(list(Colour)), max_size=3, unique=True).map(tuple)
children = st.builds(ChildDescription, age_band=ages, sex=sexes, clothing_colours=colour_sets)
schedules = st.none() | st.lists(
    st.tuples(
        st.floats(min_value=60.0, max_value=1e7), st.floats(min_value=0.0, max_value=2e5)
    ),
    min_size=1,
    max_size=4,
    unique_by=lambda s: s[0],
).map(lambda steps: RadiusSchedule(tuple(sorted(steps))))
cases = st.builds(
    lambda i, sex, age, colours, ago_s, schedule: OpenCase(
        case_id=f"case-{i:03d}",
        description=CaseDescription(age, sex, colours),
        assigned_volunteer_id=None,
        last_seen_at=NOW - timedelta(seconds=ago_s),
        last_seen_lon=121.47,
        last_seen_lat=31.23,
        schedule=schedule,
        notice=None,  # type: ignore[arg-type]  # not read by scoring
    ),
    st.integers(0, 999),
    sexes,
    ages,
    colour_sets,
    # from a little after the sighting (a clock difference, or beyond it) to years before
    st.floats(min_value=-3_600.0, max_value=3e8),
    schedules,
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(cases, min_size=1, max_size=12, unique_by=lambda c: c.case_id),
    st.lists(children, min_size=1, max_size=4),
    st.data(),
)
def test_every_pair_scores_as_the_scalar_model(case_list, reported, data):
    table = CaseTable({c.case_id: c for c in case_list})
    n = data.draw(st.integers(1, 30))
    picks = data.draw(st.lists(st.integers(0, len(case_list) - 1), min_size=n, max_size=n))
    whose = data.draw(st.lists(st.integers(0, len(reported) - 1), min_size=n, max_size=n))
    dists = data.draw(
        st.lists(st.floats(min_value=0.0, max_value=5e5), min_size=n, max_size=n)
    )
    pos = np.array([table.position[case_list[p].case_id] for p in picks], dtype=np.int64)
    got = pair_scores(
        table,
        pos,
        np.array(dists),
        np.full(n, epoch_us(NOW), dtype=np.int64),
        reported,
        np.array(whose, dtype=np.int64),
    )
    for k in range(n):
        case = case_list[picks[k]]
        elapsed = NOW - case.last_seen_at
        want = score_sighting(
            distance_m=dists[k],
            elapsed=elapsed,
            reported=reported[whose[k]],
            case=case.description,
            area_radius_m=case.radius_after(elapsed),
        ).score
        assert got[k] == pytest.approx(want, rel=1e-12, abs=1e-15)


def _world(seed: int, n: int) -> dict[str, OpenCase]:
    rng = random.Random(seed)
    out = {}
    for i in range(n):
        out[f"c{i:03d}"] = OpenCase(
            case_id=f"c{i:03d}",
            description=CaseDescription(
                rng.choice(list(AgeBand)), rng.choice(list(Sex)), (rng.choice(list(Colour)),)
            ),
            assigned_volunteer_id=None,
            last_seen_at=NOW - timedelta(minutes=rng.uniform(1, 6000)),
            last_seen_lon=121.47,
            last_seen_lat=31.23,
            schedule=None
            if i % 5 == 0
            else RadiusSchedule(((3600.0, 1_000.0), (math.inf, 3_000.0))),
            notice=None,  # type: ignore[arg-type]
        )
    return out


@pytest.mark.parametrize("seed", range(4))
def test_the_best_of_each_report_are_the_scalar_models_best(seed):
    rng = random.Random(seed)
    world = _world(seed, 60)
    table = CaseTable(world)
    reports = [
        (
            NOW - timedelta(seconds=rng.uniform(0, 60)),
            ChildDescription(
                rng.choice(list(AgeBand)), rng.choice(list(Sex)), (rng.choice(list(Colour)),)
            ),
        )
        for _ in range(5)
    ]
    hits = [
        [(cid, rng.uniform(0, 3_000)) for cid in rng.sample(sorted(world), 40)] for _ in reports
    ]
    best = best_pairs(table, reports, hits, keep=6)
    for (at, child), report_hits, kept in zip(reports, hits, best, strict=True):
        exact = {
            cid: score_sighting(
                distance_m=d,
                elapsed=at - world[cid].last_seen_at,
                reported=child,
                case=world[cid].description,
                area_radius_m=world[cid].radius_after(at - world[cid].last_seen_at),
            ).score
            for cid, d in report_hits
        }
        by_hand = sorted(report_hits, key=lambda h: (-exact[h[0]], h[1], h[0]))[:6]
        assert kept == by_hand


def test_hits_of_unknown_cases_are_dropped_and_empty_reports_stay_empty():
    world = _world(1, 3)
    table = CaseTable(world)
    child = ChildDescription(AgeBand.INFANT, Sex.FEMALE, ())
    best = best_pairs(
        table, [(NOW, child), (NOW, child)], [[("gone", 5.0), ("c001", 9.0)], []], keep=3
    )
    assert best == [[("c001", 9.0)], []]
