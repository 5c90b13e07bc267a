"""Scoring a sighting against a case: fixed examples worked out by hand, then properties."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.cases.scoring import (
    AgeFit,
    CaseDescription,
    ScoringError,
    ScoringModel,
    age_fit,
    format_distance,
    format_elapsed,
    score_sighting,
)
from protocol.payloads import AgeBand, ChildDescription, Colour, Sex

ZERO = timedelta(0)
GIRL_3_5_RED = CaseDescription(
    age_band=AgeBand.PRESCHOOL,
    sex=Sex.FEMALE,
    clothing_colours=(Colour.RED, Colour.WHITE),
    height_band="90-100 cm",
)


def test_full_agreement_at_the_last_seen_point():
    # prior 0.5 -> odds 1; ratios 2 (sex) * 2.5 (age) * 1.5 (colours) = 7.5 -> 7.5 / 8.5
    reported = ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,))
    result = score_sighting(distance_m=0.0, elapsed=ZERO, reported=reported, case=GIRL_3_5_RED)
    assert result.score == pytest.approx(7.5 / 8.5)
    assert "sex agrees (female)" in result.reasons
    assert "age band agrees (3-5)" in result.reasons
    assert "clothing colours agree (red)" in result.reasons
    assert "0 m from last seen" in result.reasons


def test_wrong_sex_lowers_strongly_but_does_not_exclude():
    # odds 1 * 0.1 * 2.5 * 1.5 = 0.375 -> 0.375 / 1.375
    reported = ChildDescription(AgeBand.PRESCHOOL, Sex.MALE, (Colour.RED,))
    result = score_sighting(distance_m=0.0, elapsed=ZERO, reported=reported, case=GIRL_3_5_RED)
    assert result.score == pytest.approx(0.375 / 1.375)
    assert result.score > 0.0
    assert "sex contradicts case (reported male, case female)" in result.reasons


def test_nothing_described_scores_the_prior():
    result = score_sighting(
        distance_m=0.0, elapsed=ZERO, reported=ChildDescription(), case=GIRL_3_5_RED
    )
    assert result.score == pytest.approx(0.5)
    assert "sex not reported" in result.reasons
    assert "age band not reported" in result.reasons
    assert "clothing colours not reported" in result.reasons


def test_at_the_edge_of_the_area_radius_plausibility_halves():
    # plausibility 1/(1+1) = 0.5 -> prior 0.25 -> odds 1/3 -> score 0.25
    result = score_sighting(
        distance_m=5_000.0,
        elapsed=ZERO,
        reported=ChildDescription(),
        case=CaseDescription(),
        area_radius_m=5_000.0,
    )
    assert result.score == pytest.approx(0.25)
    assert "5.0 km from last seen" in result.reasons
    assert "inside the case area (5.0 km radius)" in result.reasons


def test_without_area_the_reach_grows_with_travel_speed():
    # one hour at 30 km/h: reach 30 km; at 30 km the prior is 0.5 * 0.5 * staleness(1 h)
    model = ScoringModel()
    hour = timedelta(hours=1)
    staleness = 0.5 + 0.5 * 2.0 ** (-1.0 / 72.0)
    prior = 0.25 * staleness
    result = score_sighting(
        distance_m=30_000.0, elapsed=hour, reported=ChildDescription(), case=CaseDescription()
    )
    assert result.score == pytest.approx(prior, rel=1e-9)
    assert model.travel_speed_mps * 3600 == pytest.approx(30_000.0)
    assert "1 h since the child was last seen" in result.reasons


def test_far_outside_the_area_is_unlikely_but_possible():
    result = score_sighting(
        distance_m=50_000.0,
        elapsed=ZERO,
        reported=ChildDescription(),
        case=CaseDescription(),
        area_radius_m=1_000.0,
    )
    assert 0.0 < result.score < 0.01
    assert "outside the case area (1.0 km radius)" in result.reasons


def test_sighting_before_the_child_went_missing_scores_zero():
    result = score_sighting(
        distance_m=10.0,
        elapsed=-timedelta(hours=2),
        reported=ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE),
        case=GIRL_3_5_RED,
    )
    assert result.score == 0.0
    assert any("before the child was last seen" in r for r in result.reasons)


def test_small_clock_difference_is_tolerated():
    result = score_sighting(
        distance_m=10.0,
        elapsed=-timedelta(minutes=3),
        reported=ChildDescription(),
        case=CaseDescription(),
    )
    assert result.score > 0.4


def test_old_case_clothing_no_longer_counts():
    # after 30 days the colour ratios are within 2**-30 of 1
    old = timedelta(days=30)
    differ = score_sighting(
        distance_m=0.0,
        elapsed=old,
        reported=ChildDescription(clothing_colours=(Colour.GREEN,)),
        case=GIRL_3_5_RED,
    )
    unknown = score_sighting(
        distance_m=0.0, elapsed=old, reported=ChildDescription(), case=GIRL_3_5_RED
    )
    assert differ.score == pytest.approx(unknown.score, rel=1e-6)
    assert "clothing colours differ (reported green, case red, white)" in differ.reasons


def test_distinguishing_marks_are_hinted_never_quoted():
    case = CaseDescription(distinguishing_marks="scar above left eyebrow")
    result = score_sighting(distance_m=0.0, elapsed=ZERO, reported=ChildDescription(), case=case)
    assert "case lists distinguishing marks: ask the reporter" in result.reasons
    assert not any("scar" in r for r in result.reasons)


@pytest.mark.parametrize(
    ("reported", "case", "elapsed", "expected"),
    [
        (AgeBand.PRESCHOOL, AgeBand.PRESCHOOL, ZERO, AgeFit.AGREES),
        (AgeBand.CHILD, AgeBand.PRESCHOOL, ZERO, AgeFit.CLOSE),  # adjacent bands
        (AgeBand.INFANT, AgeBand.PRESCHOOL, ZERO, AgeFit.CLOSE),
        (AgeBand.CHILD, AgeBand.INFANT, ZERO, AgeFit.CONTRADICTS),  # gap 6 - 3 = 3 years
        (AgeBand.TEEN, AgeBand.CHILD, ZERO, AgeFit.CONTRADICTS),
        (AgeBand.UNKNOWN, AgeBand.CHILD, ZERO, AgeFit.UNKNOWN),
        (AgeBand.CHILD, AgeBand.UNKNOWN, ZERO, AgeFit.UNKNOWN),
        # a 0-2 case three years on is 3-5 years old: [3, 6) overlaps [3, 6)
        (AgeBand.PRESCHOOL, AgeBand.INFANT, timedelta(days=3 * 366), AgeFit.AGREES),
        # five years on the 0-2 child is 5-8: reported 0-2 [0, 3) is 2 years short
        (AgeBand.INFANT, AgeBand.INFANT, timedelta(days=5 * 366), AgeFit.CONTRADICTS),
    ],
)
def test_age_fit(reported, case, elapsed, expected):
    assert age_fit(reported, case, elapsed) is expected


def test_age_contradiction_reason():
    result = score_sighting(
        distance_m=0.0,
        elapsed=ZERO,
        reported=ChildDescription(age_band=AgeBand.TEEN),
        case=GIRL_3_5_RED,
    )
    assert "age band contradicts case (reported 14-17, case 3-5 when last seen)" in result.reasons


@pytest.mark.parametrize(
    ("metres", "text"), [(0.0, "0 m"), (350.4, "350 m"), (999.0, "999 m"), (1_249.0, "1.2 km")]
)
def test_format_distance(metres, text):
    assert format_distance(metres) == text


@pytest.mark.parametrize(
    ("elapsed", "text"),
    [
        (timedelta(minutes=40), "40 min"),
        (timedelta(hours=3, minutes=20), "3 h 20 min"),
        (timedelta(days=2, hours=4, minutes=5), "2 days 4 h"),
        (timedelta(days=1), "1 day"),
    ],
)
def test_format_elapsed(elapsed, text):
    assert format_elapsed(elapsed) == text


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_bad_distance_is_refused(bad):
    with pytest.raises(ScoringError, match="distance_m"):
        score_sighting(
            distance_m=bad, elapsed=ZERO, reported=ChildDescription(), case=CaseDescription()
        )


def test_bad_model_is_refused():
    with pytest.raises(ScoringError, match="sex_contradict_ratio"):
        ScoringModel(sex_contradict_ratio=1.5)
    assert issubclass(ScoringError, ValueError)


# --------------------------------------------------------------------------- properties

ages = st.sampled_from(list(AgeBand))
sexes = st.sampled_from(list(Sex))
colour_sets = st.lists(st.sampled_from(list(Colour)), max_size=3, unique=True).map(tuple)
reports = st.builds(ChildDescription, age_band=ages, sex=sexes, clothing_colours=colour_sets)
cases = st.builds(
    CaseDescription,
    age_band=ages,
    sex=sexes,
    clothing_colours=colour_sets,
    distinguishing_marks=st.none() | st.just("birthmark"),
)
distances = st.floats(min_value=0.0, max_value=2e7, allow_nan=False)
elapseds = st.timedeltas(min_value=timedelta(minutes=-5), max_value=timedelta(days=4000))
radii = st.none() | st.floats(min_value=0.0, max_value=1e6, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(reports, cases, distances, elapseds, radii)
def test_score_is_in_unit_interval(reported, case, distance, elapsed, radius):
    result = score_sighting(
        distance_m=distance, elapsed=elapsed, reported=reported, case=case, area_radius_m=radius
    )
    assert 0.0 <= result.score <= 1.0
    assert result.reasons


@settings(max_examples=300, deadline=None)
@given(reports, cases, distances, distances, elapseds, radii)
def test_closer_never_scores_lower(reported, case, d1, d2, elapsed, radius):
    near, far = sorted((d1, d2))
    kwargs = {"elapsed": elapsed, "reported": reported, "case": case, "area_radius_m": radius}
    assert (
        score_sighting(distance_m=near, **kwargs).score
        >= score_sighting(distance_m=far, **kwargs).score
    )


def _with(report: ChildDescription, **changes) -> ChildDescription:
    fields = {
        "age_band": report.age_band,
        "sex": report.sex,
        "clothing_colours": report.clothing_colours,
    }
    fields.update(changes)
    return ChildDescription(**fields)


@settings(max_examples=300, deadline=None)
@given(reports, cases, distances, elapseds, radii)
def test_each_field_contradiction_le_unknown_le_agreement(
    reported, case, distance, elapsed, radius
):
    def score(r: ChildDescription) -> float:
        return score_sighting(
            distance_m=distance, elapsed=elapsed, reported=r, case=case, area_radius_m=radius
        ).score

    # sex
    if case.sex is not Sex.UNKNOWN:
        other = Sex.MALE if case.sex is Sex.FEMALE else Sex.FEMALE
        unknown = score(_with(reported, sex=Sex.UNKNOWN))
        assert score(_with(reported, sex=other)) <= unknown <= score(_with(reported, sex=case.sex))
    # age band: every known band is either agreeing, close (= unknown) or contradicting
    unknown_age = score(_with(reported, age_band=AgeBand.UNKNOWN))
    for band in AgeBand:
        fit = age_fit(band, case.age_band, elapsed)
        s = score(_with(reported, age_band=band))
        if fit is AgeFit.CONTRADICTS:
            assert s <= unknown_age
        elif fit is AgeFit.AGREES:
            assert s >= unknown_age
        else:
            assert s == pytest.approx(unknown_age)
    # clothing colours
    if case.clothing_colours:
        unknown = score(_with(reported, clothing_colours=()))
        agree = score(_with(reported, clothing_colours=case.clothing_colours[:1]))
        missing = tuple(c for c in Colour if c not in case.clothing_colours)[:1]
        differ = score(_with(reported, clothing_colours=missing))
        assert differ <= unknown <= agree


@settings(max_examples=100, deadline=None)
@given(cases, distances, elapseds)
def test_known_contradiction_is_reported_in_reasons(case, distance, elapsed):
    if case.sex is Sex.UNKNOWN:
        return
    other = Sex.MALE if case.sex is Sex.FEMALE else Sex.FEMALE
    result = score_sighting(
        distance_m=distance, elapsed=elapsed, reported=ChildDescription(sex=other), case=case
    )
    expected = f"sex contradicts case (reported {other.value}, case {case.sex.value})"
    assert expected in result.reasons
