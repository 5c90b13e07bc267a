"""Escalation as sequences of (time, event) -> decisions, driven like the backend would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backend.alerts.escalation_policy import (
    DEFAULT_POLICY,
    Escalate,
    EscalationError,
    EscalationPolicy,
    EscalationState,
    Level,
    Response,
    Step,
    Stop,
    StopReason,
    Wait,
    decide,
    escalated,
    next_step,
    start,
    with_response,
)
from protocol.messages import ResponseKind

T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
ACK, DECLINE, ON_MY_WAY = ResponseKind.ACK, ResponseKind.DECLINE, ResponseKind.ON_MY_WAY


def minutes(m: float) -> datetime:
    return T0 + timedelta(minutes=m)


def run(state, events, recipients_per_level, policy=DEFAULT_POLICY):
    """Drive the policy like the backend: on each event record it, then ask decide();
    on Escalate, "send" the level's alerts and store the escalated state."""
    out = []
    for at, event in events:
        if isinstance(event, Response):
            state = with_response(state, event)
        decision = decide(state, at, policy)
        out.append(decision)
        if isinstance(decision, Escalate):
            state = escalated(state, at=at, recipients=recipients_per_level[decision.to_level])
    return out, state


def kinds(decisions):
    out = []
    for d in decisions:
        if isinstance(d, Wait):
            out.append(("wait", d.until))
        elif isinstance(d, Escalate):
            out.append(("escalate", d.to_level))
        else:
            out.append(("stop", d.reason))
    return out


def matched(expires=None):
    return start(T0, expires or minutes(60), has_assigned_volunteer=True)


def test_nobody_answers_climbs_every_level_then_stops():
    # timeouts 3, 5, 10 min: level 0 until 3, level 1 (entered at 3) until 8, desk until 18
    decisions, state = run(
        matched(),
        [
            (minutes(1), "tick"),
            (minutes(3), "tick"),
            (minutes(5), "tick"),
            (minutes(8), "tick"),
            (minutes(17.9), "tick"),
            (minutes(18), "tick"),
        ],
        {Level.NEAREST_VOLUNTEERS: 3, Level.POLICE_DUTY_DESK: 1},
    )
    assert kinds(decisions) == [
        ("wait", minutes(3)),
        ("escalate", Level.NEAREST_VOLUNTEERS),
        ("wait", minutes(8)),
        ("escalate", Level.POLICE_DUTY_DESK),
        ("wait", minutes(18)),
        ("stop", StopReason.UNANSWERED),
    ]
    assert state.level is Level.POLICE_DUTY_DESK
    assert "not acknowledged within 3 min" in decisions[1].reason


def test_ack_before_the_timeout_stops_escalation():
    decisions, _ = run(
        matched(),
        [
            (minutes(2), Response("vol-a", ACK, minutes(2), Level.ASSIGNED_VOLUNTEER)),
            (minutes(3), "tick"),
            (minutes(30), "tick"),
        ],
        {},
    )
    assert kinds(decisions) == [("stop", StopReason.ACKNOWLEDGED)] * 3


def test_on_my_way_counts_as_acknowledgement():
    state = with_response(matched(), Response("v", ON_MY_WAY, minutes(1), Level(0)))
    assert decide(state, minutes(10)) == Stop(StopReason.ACKNOWLEDGED, "v answered on_my_way")


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        (ResponseKind.RESOLVED, StopReason.RESOLVED),
        (ResponseKind.FALSE_ALARM, StopReason.FALSE_ALARM),
    ],
)
def test_resolution_ends_it(kind, reason):
    state = with_response(matched(), Response("v", kind, minutes(1), Level(0)))
    assert decide(state, minutes(1)).reason is reason
    assert next_step(state).due_at == minutes(1)


def test_assigned_volunteer_declines_escalates_at_once():
    decisions, state = run(
        matched(),
        [
            (minutes(1), Response("vol-a", DECLINE, minutes(1), Level.ASSIGNED_VOLUNTEER)),
            (minutes(2), "tick"),
        ],
        {Level.NEAREST_VOLUNTEERS: 2, Level.POLICE_DUTY_DESK: 1},
    )
    # escalated at 1 min; level 1 has 5 min -> due at 6 min
    assert kinds(decisions) == [("escalate", Level.NEAREST_VOLUNTEERS), ("wait", minutes(6))]
    assert "all 1 recipient(s) declined" in decisions[0].reason
    assert state.level_since == minutes(1)


def test_level_escalates_early_only_when_every_recipient_declined():
    state = escalated(matched(), at=minutes(3), recipients=3)
    lvl = Level.NEAREST_VOLUNTEERS
    decisions, _ = run(
        state,
        [
            (minutes(4), Response("v1", DECLINE, minutes(4), lvl)),
            (minutes(4.5), Response("v2", DECLINE, minutes(4.5), lvl)),
            (minutes(4.6), Response("v2", DECLINE, minutes(4.6), lvl)),  # same person twice
            (minutes(5), Response("v3", DECLINE, minutes(5), lvl)),
        ],
        {Level.POLICE_DUTY_DESK: 1},
    )
    assert kinds(decisions) == [
        ("wait", minutes(8)),
        ("wait", minutes(8)),
        ("wait", minutes(8)),
        ("escalate", Level.POLICE_DUTY_DESK),
    ]


def test_late_ack_from_an_earlier_level_still_stops():
    state = escalated(matched(), at=minutes(3), recipients=2)
    state = with_response(state, Response("assigned", ACK, minutes(4), Level.ASSIGNED_VOLUNTEER))
    assert isinstance(decide(state, minutes(4)), Stop)


def test_decline_from_an_earlier_level_does_not_count_at_the_next():
    state = with_response(matched(), Response("a", DECLINE, minutes(1), Level(0)))
    state = escalated(state, at=minutes(1), recipients=1)
    assert decide(state, minutes(2)) == Wait(minutes(6))


def test_expiry_wins_over_a_later_escalation():
    decisions, _ = run(
        matched(expires=minutes(4)),
        [(minutes(3), "tick"), (minutes(3.5), "tick"), (minutes(4), "tick")],
        {Level.NEAREST_VOLUNTEERS: 2},
    )
    assert kinds(decisions) == [
        ("escalate", Level.NEAREST_VOLUNTEERS),
        ("wait", minutes(4)),
        ("stop", StopReason.EXPIRED),
    ]


def test_unmatched_incident_starts_at_nearest_volunteers():
    state = start(T0, minutes(60), has_assigned_volunteer=False, recipients=2)
    assert state.level is Level.NEAREST_VOLUNTEERS
    assert next_step(state) == Step(
        minutes(5),
        Escalate(Level.POLICE_DUTY_DESK, "nearest_volunteers not acknowledged within 5 min"),
    )


def test_a_level_with_nobody_is_passed_at_once():
    state = start(T0, minutes(60), has_assigned_volunteer=False, recipients=0)
    decision = decide(state, T0)
    assert decision == Escalate(
        Level.POLICE_DUTY_DESK, "nearest_volunteers nobody could be alerted at this level"
    )


def test_next_step_is_a_storable_timer():
    state = matched()
    step = next_step(state)
    assert step == Step(minutes(3), Escalate(Level.NEAREST_VOLUNTEERS, step.action.reason))
    # the same state asked again (after a restart) gives the same row
    assert (
        next_step(
            EscalationState(**{f: getattr(state, f) for f in EscalationState.__dataclass_fields__})
        )
        == step
    )


def test_configurable_delays():
    policy = EscalationPolicy((timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2)))
    assert decide(matched(), T0, policy) == Wait(T0 + timedelta(seconds=30))
    assert "30 s" in next_step(matched(), policy).action.reason


def test_invalid_inputs_are_refused():
    with pytest.raises(EscalationError, match="one per level"):
        EscalationPolicy((timedelta(minutes=1),))
    with pytest.raises(EscalationError, match="> 0"):
        EscalationPolicy((timedelta(0), timedelta(1), timedelta(1)))
    with pytest.raises(EscalationError, match="timezone-aware"):
        start(datetime(2026, 1, 1), datetime(2026, 1, 2), has_assigned_volunteer=True)
    with pytest.raises(EscalationError, match="expires_at"):
        start(T0, T0, has_assigned_volunteer=True)
    desk = escalated(escalated(matched(), at=T0, recipients=1), at=T0, recipients=1)
    with pytest.raises(EscalationError, match="no higher level"):
        escalated(desk, at=T0, recipients=1)
    with pytest.raises(EscalationError, match="now"):
        decide(matched(), datetime(2026, 11, 28))
    assert issubclass(EscalationError, ValueError)
