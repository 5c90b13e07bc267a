"""Recipient selection: one test (or more) per rule of the issue."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from backend.alerts.routing import (
    CaseMatch,
    IncidentView,
    Recipient,
    RecipientKind,
    RoutingError,
    RoutingPolicy,
    VolunteerCandidate,
    escalation_recipients,
    escalation_station_recipient,
    route,
)
from backend.volunteers.preferences import PreferenceError, QuietHours
from protocol.messages import AlertKind

# 10:00 UTC = 18:00 in Shanghai
NOW = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
STATION = "st-xujiahui"
VOL, STA = RecipientKind.VOLUNTEER, RecipientKind.STATION


def vol(vid, distance, *, on_duty=True, age=60.0, radius=5_000.0, quiet=None, alerted=False):
    return VolunteerCandidate(vid, distance, on_duty, age, radius, quiet, alerted)


def incident(reporters=1, matches=(), alerted=frozenset()):
    return IncidentView("inc-1", 31.19, 121.43, reporters, tuple(matches), frozenset(alerted))


CASE = CaseMatch("case-7", 0.82, "vol-assigned", 1_200.0)


def ids(recipients, kind=None):
    return [r.recipient_id for r in recipients if kind is None or r.alert_kind is kind]


def test_station_always_gets_an_accepted_sighting_even_unmatched_single():
    out = route(incident(), [vol("v1", 100.0)], STATION, NOW)
    assert out == (
        Recipient(
            kind=STA,
            recipient_id=STATION,
            alert_kind=AlertKind.STATION_SIGHTING,
            reason="Accepted sighting in your jurisdiction; no open case matched; 1 reporter.",
        ),
    )


def test_unmatched_uncorroborated_single_report_alerts_no_volunteer():
    out = route(incident(reporters=1), [vol("v1", 10.0), vol("v2", 20.0)], STATION, NOW)
    assert [r.kind for r in out] == [STA]


def test_station_alert_is_flagged_with_the_case_match():
    second = CaseMatch("case-3", 0.4, "vol-other", None)
    out = route(incident(matches=[second, CASE]), [], STATION, NOW)
    station = out[0]
    assert station.kind is STA
    assert station.case_id == "case-7"
    assert station.score == 0.82
    assert station.other_case_ids == ("case-3",)
    assert station.reason == (
        "Accepted sighting in your jurisdiction; matches case case-7 (score 0.82, 1.2 km from "
        "last seen); case case-3 (score 0.40); 1 reporter."
    )


def test_no_station_when_no_jurisdiction_contains_the_point():
    assert route(incident(), [], None, NOW) == ()


def test_matched_case_alerts_its_assigned_volunteer():
    out = route(incident(matches=[CASE]), [], STATION, NOW)
    assigned = [r for r in out if r.alert_kind is AlertKind.ASSIGNED_CASE]
    assert assigned == [
        Recipient(
            kind=VOL,
            recipient_id="vol-assigned",
            alert_kind=AlertKind.ASSIGNED_CASE,
            reason="Sighting matches your case case-7 (score 0.82, 1.2 km from last seen); "
            "1 reporter.",
            distance_m=1_200.0,
            case_id="case-7",
            score=0.82,
        )
    ]


def test_a_volunteer_assigned_to_two_matched_cases_gets_one_alert_for_the_best():
    other = CaseMatch("case-9", 0.9, "vol-assigned", 300.0)
    out = route(incident(matches=[CASE, other]), [], STATION, NOW)
    assigned = [r for r in out if r.alert_kind is AlertKind.ASSIGNED_CASE]
    assert [(r.recipient_id, r.case_id) for r in assigned] == [("vol-assigned", "case-9")]


def test_proximity_takes_the_k_nearest_eligible_within_their_own_radius():
    candidates = [
        vol("far-but-wide", 8_000.0, radius=10_000.0),
        vol("near-narrow", 900.0, radius=500.0),  # outside their own radius
        vol("c", 300.0),
        vol("a", 100.0),
        vol("off", 50.0, on_duty=False),
        vol("stale", 60.0, age=3_600.0),  # location an hour old
        vol("b", 200.0),
    ]
    out = route(incident(reporters=2), candidates, STATION, NOW, RoutingPolicy(k=3))
    assert ids(out, AlertKind.PROXIMITY) == ["a", "b", "c"]
    wide = route(incident(reporters=2), candidates, STATION, NOW, RoutingPolicy(k=10))
    assert ids(wide, AlertKind.PROXIMITY) == ["a", "b", "c", "far-but-wide"]
    first = next(r for r in out if r.recipient_id == "a")
    assert first.distance_m == 100.0
    assert first.reason == (
        "You are on duty 100 m from a sighting with no case match; 2 independent reporters."
    )


def test_corroborated_means_two_distinct_devices():
    candidates = [vol("a", 100.0)]
    assert ids(route(incident(reporters=1), candidates, STATION, NOW), AlertKind.PROXIMITY) == []
    assert ids(route(incident(reporters=2), candidates, STATION, NOW), AlertKind.PROXIMITY) == ["a"]


def test_matched_single_report_reaches_proximity_volunteers():
    out = route(incident(matches=[CASE]), [vol("a", 100.0)], STATION, NOW)
    proximity = [r for r in out if r.alert_kind is AlertKind.PROXIMITY]
    assert [r.recipient_id for r in proximity] == ["a"]
    assert proximity[0].case_id == "case-7"
    assert "matching case case-7 (score 0.82" in proximity[0].reason


def test_assigned_volunteer_is_not_alerted_twice_via_proximity():
    out = route(incident(matches=[CASE]), [vol("vol-assigned", 50.0)], STATION, NOW)
    assert [(r.recipient_id, r.alert_kind) for r in out if r.kind is VOL] == [
        ("vol-assigned", AlertKind.ASSIGNED_CASE)
    ]


def test_already_alerted_get_updates_not_new_alerts():
    alerted = {(STA, STATION), (VOL, "vol-assigned")}
    candidates = [vol("a", 100.0, alerted=True), vol("b", 200.0)]
    out = route(incident(reporters=3, matches=[CASE], alerted=alerted), candidates, STATION, NOW)
    by_id = {r.recipient_id: r for r in out}
    assert by_id[STATION].is_update and by_id[STATION].reason.startswith("Update: ")
    assert by_id["vol-assigned"].is_update
    assert by_id["a"].is_update
    assert not by_id["b"].is_update
    assert len(out) == 4  # nobody twice


def test_k_counts_volunteers_already_alerted_for_the_incident():
    # a flood of updates must not widen the circle: k=2, one already alerted -> one new
    candidates = [vol("a", 500.0, alerted=True), vol("b", 100.0), vol("c", 200.0)]
    out = route(incident(reporters=5), candidates, STATION, NOW, RoutingPolicy(k=2))
    assert [(r.recipient_id, r.is_update) for r in out if r.kind is VOL] == [
        ("b", False),
        ("a", True),
    ]


def test_quiet_hours_suppress_proximity_but_not_the_assigned_volunteer():
    # 18:00 in Shanghai is inside 17:00-08:00 (wraps midnight)
    quiet = QuietHours(time(17, 0), time(8, 0), "Asia/Shanghai")
    candidates = [vol("vol-assigned", 50.0, quiet=quiet), vol("q", 60.0, quiet=quiet)]
    out = route(incident(reporters=2, matches=[CASE]), candidates, STATION, NOW)
    assert [(r.recipient_id, r.alert_kind) for r in out if r.kind is VOL] == [
        ("vol-assigned", AlertKind.ASSIGNED_CASE)
    ]


@pytest.mark.parametrize(
    ("start", "end", "zone", "quiet"),
    [
        (time(17), time(8), "Asia/Shanghai", True),  # 18:00 local, wrapping window
        (time(19), time(8), "Asia/Shanghai", False),
        (time(9), time(11), "UTC", True),  # 10:00 UTC
        (time(10), time(11), "UTC", True),  # start inclusive
        (time(9), time(10), "UTC", False),  # end exclusive
        (time(10), time(10), "UTC", False),  # empty window
    ],
)
def test_quiet_hours_window(start, end, zone, quiet):
    assert QuietHours(start, end, zone).contains(NOW) is quiet


def test_low_scores_can_be_made_not_to_count_as_matches():
    weak = CaseMatch("case-1", 0.05, "vol-assigned", 10.0)
    policy = RoutingPolicy(min_case_score=0.1)
    out = route(incident(matches=[weak]), [vol("a", 10.0)], STATION, NOW, policy)
    assert [r.kind for r in out] == [STA]
    assert out[0].case_id == "case-1"  # police still see the flag


def test_escalation_level_1_picks_the_next_nearest_not_yet_alerted():
    candidates = [vol("a", 100.0), vol("b", 200.0), vol("c", 300.0), vol("d", 400.0)]
    out = escalation_recipients(
        incident(matches=[CASE], alerted={(VOL, "a")}),
        candidates,
        exclude={"vol-assigned", "b"},
        n=2,
        now=NOW,
    )
    assert [r.recipient_id for r in out] == ["c", "d"]
    assert all(r.alert_kind is AlertKind.ESCALATION and r.escalation_level == 1 for r in out)
    assert out[0].reason.startswith("Nobody has acknowledged yet: you are on duty 300 m")


def test_escalation_level_2_goes_to_the_duty_desk():
    r = escalation_station_recipient(incident(reporters=2), STATION)
    assert (r.kind, r.recipient_id, r.alert_kind, r.escalation_level) == (
        STA,
        STATION,
        AlertKind.ESCALATION,
        2,
    )
    assert r.reason == (
        "Escalated: no volunteer acknowledged a sighting with no case match; "
        "2 independent reporters."
    )


def test_invalid_inputs():
    with pytest.raises(PreferenceError, match="IANA"):
        QuietHours(time(1), time(2), "Mars/Olympus")
    with pytest.raises(RoutingError, match="timezone-aware"):
        route(incident(), [], STATION, datetime(2026, 11, 28, 10))
    with pytest.raises(RoutingError, match="at least one"):
        route(incident(reporters=0), [], STATION, NOW)
    with pytest.raises(RoutingError, match="score"):
        route(incident(matches=[CaseMatch("c", 1.5, None)]), [], STATION, NOW)
    assert issubclass(RoutingError, ValueError)
