"""Escalation policy of one incident's alerting, as pure functions of state and time.

Levels: 0 the case's assigned volunteer, 1 the next nearest on-duty volunteers, 2 the police
duty desk. An unmatched incident (no assigned volunteer) starts at level 1; a level with no
recipient is passed at once.

The backend keeps one timer row per escalating incident (``due_at`` plus what to do then):

    step = next_step(state, policy)      # -> Step(due_at, action)
    store step.due_at and step.action    # the timer row; survives a restart

and, when the row is due (or a response arrives), reloads the state and asks again:

    decision = decide(state, now, policy)
    Wait(until)           -> keep/update the row's due_at
    Escalate(level, ...)  -> send alerts of that level (routing picks the recipients), then
                             state = escalated(state, at=now, recipients=n) and store next_step
    Stop(reason)          -> delete the row

Responses update the state with :func:`with_response`. ``ack`` and ``on_my_way`` are an
acknowledgement (nothing more is escalated); ``resolved`` and ``false_alarm`` end it; a
``decline`` by every recipient of the current level escalates at once, without waiting for
the timeout. A response from an earlier level still counts (the assigned volunteer who
answers late stops the escalation too). Past ``expires_at`` nothing escalates. When the
last level times out, the policy stops with ``unanswered``: the duty desk's dashboard keeps
the incident visible; there is no one further to page.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Final

from protocol.messages import ResponseKind

__all__ = [
    "DEFAULT_POLICY",
    "Decision",
    "Escalate",
    "EscalationError",
    "EscalationPolicy",
    "EscalationState",
    "Level",
    "Response",
    "Step",
    "Stop",
    "StopReason",
    "Wait",
    "decide",
    "escalated",
    "next_step",
    "start",
    "with_response",
]


class EscalationError(ValueError):
    """An escalation input is inconsistent (the message says which and what to pass)."""


class Level(IntEnum):
    ASSIGNED_VOLUNTEER = 0
    NEAREST_VOLUNTEERS = 1
    POLICE_DUTY_DESK = 2


class StopReason(StrEnum):
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    FALSE_ALARM = "false_alarm"
    EXPIRED = "expired"
    UNANSWERED = "unanswered"  # the last level timed out


_ACKNOWLEDGING: Final = frozenset({ResponseKind.ACK, ResponseKind.ON_MY_WAY})
_BY_RESPONSE: Final = frozenset(
    {StopReason.ACKNOWLEDGED, StopReason.RESOLVED, StopReason.FALSE_ALARM}
)
_ENDING: Final = {
    ResponseKind.RESOLVED: StopReason.RESOLVED,
    ResponseKind.FALSE_ALARM: StopReason.FALSE_ALARM,
}


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    """``ack_timeouts[n]``: how long level ``n`` has to acknowledge before level ``n + 1``."""

    ack_timeouts: tuple[timedelta, ...] = (
        timedelta(minutes=3),
        timedelta(minutes=5),
        timedelta(minutes=10),
    )

    def __post_init__(self) -> None:
        if len(self.ack_timeouts) != len(Level):
            raise EscalationError(
                f"ack_timeouts has {len(self.ack_timeouts)} entries; give one per level "
                f"({', '.join(level.name.lower() for level in Level)})"
            )
        for level, timeout in zip(Level, self.ack_timeouts, strict=True):
            if timeout <= timedelta(0):
                raise EscalationError(f"ack timeout of level {level.name.lower()} must be > 0")

    def timeout(self, level: Level) -> timedelta:
        return self.ack_timeouts[level]


DEFAULT_POLICY: Final = EscalationPolicy()


@dataclass(frozen=True, slots=True)
class Response:
    recipient_id: str
    kind: ResponseKind
    at: datetime
    level: Level


@dataclass(frozen=True, slots=True)
class EscalationState:
    """What the backend stores for one incident's alerting (rows: incident + responses)."""

    created_at: datetime
    expires_at: datetime
    level: Level
    level_since: datetime  # when the alerts of the current level went out
    recipients_at_level: int  # how many were alerted at the current level
    responses: tuple[Response, ...] = ()

    def __post_init__(self) -> None:
        for name in ("created_at", "expires_at", "level_since"):
            value = getattr(self, name)
            if value.tzinfo is None or value.utcoffset() is None:
                raise EscalationError(f"{name}={value!r} must be timezone-aware")
        if self.recipients_at_level < 0:
            raise EscalationError(f"recipients_at_level={self.recipients_at_level} must be >= 0")


@dataclass(frozen=True, slots=True)
class Wait:
    until: datetime


@dataclass(frozen=True, slots=True)
class Escalate:
    to_level: Level
    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    reason: StopReason
    detail: str = ""


Decision = Wait | Escalate | Stop


@dataclass(frozen=True, slots=True)
class Step:
    """The timer row: at ``due_at`` do ``action`` (due at once when ``due_at`` has passed)."""

    due_at: datetime
    action: Escalate | Stop


def start(
    created_at: datetime,
    expires_at: datetime,
    *,
    has_assigned_volunteer: bool,
    recipients: int = 1,
) -> EscalationState:
    """The state right after the first alerts went out at ``created_at``."""
    level = Level.ASSIGNED_VOLUNTEER if has_assigned_volunteer else Level.NEAREST_VOLUNTEERS
    if expires_at <= created_at:
        raise EscalationError("expires_at must be after created_at; check the alert expiry")
    return EscalationState(
        created_at=created_at,
        expires_at=expires_at,
        level=level,
        level_since=created_at,
        recipients_at_level=recipients,
    )


def with_response(state: EscalationState, response: Response) -> EscalationState:
    """Record a response (from any level, any time)."""
    if response.at.tzinfo is None or response.at.utcoffset() is None:
        raise EscalationError(f"response time {response.at!r} must be timezone-aware")
    return replace(state, responses=(*state.responses, response))


def escalated(state: EscalationState, *, at: datetime, recipients: int) -> EscalationState:
    """The state after the next level's alerts went out at ``at`` to ``recipients`` people."""
    if state.level is Level.POLICE_DUTY_DESK:
        raise EscalationError("already at the police duty desk; there is no higher level")
    return replace(
        state,
        level=Level(state.level + 1),
        level_since=at,
        recipients_at_level=recipients,
    )


def _terminal(state: EscalationState) -> Step | None:
    """The earliest response that ends escalation, if any."""
    for response in sorted(state.responses, key=lambda r: r.at):
        if response.kind in _ACKNOWLEDGING:
            detail = f"{response.recipient_id} answered {response.kind.value}"
            return Step(response.at, Stop(StopReason.ACKNOWLEDGED, detail))
        if response.kind in _ENDING:
            detail = f"{response.recipient_id} answered {response.kind.value}"
            return Step(response.at, Stop(_ENDING[response.kind], detail))
    return None


def next_step(state: EscalationState, policy: EscalationPolicy = DEFAULT_POLICY) -> Step:
    """When the next thing happens and what it is, if no further response arrives."""
    ended = _terminal(state)
    if ended is not None:
        return ended

    decliners = {
        r.recipient_id
        for r in state.responses
        if r.kind is ResponseKind.DECLINE and r.level is state.level and r.at >= state.level_since
    }
    if len(decliners) >= state.recipients_at_level:
        if state.recipients_at_level == 0:
            due, why = state.level_since, "nobody could be alerted at this level"
        else:
            due = max(
                r.at
                for r in state.responses
                if r.kind is ResponseKind.DECLINE and r.recipient_id in decliners
            )
            due = max(due, state.level_since)
            why = f"all {state.recipients_at_level} recipient(s) declined"
    else:
        due = state.level_since + policy.timeout(state.level)
        why = f"not acknowledged within {_minutes(policy.timeout(state.level))}"

    if due >= state.expires_at:
        return Step(state.expires_at, Stop(StopReason.EXPIRED, "the alert expired"))
    if state.level is Level.POLICE_DUTY_DESK:
        return Step(due, Stop(StopReason.UNANSWERED, f"duty desk {why}"))
    to_level = Level(state.level + 1)
    return Step(due, Escalate(to_level, f"{state.level.name.lower()} {why}"))


def decide(
    state: EscalationState, now: datetime, policy: EscalationPolicy = DEFAULT_POLICY
) -> Decision:
    """What to do at ``now``: wait until a time, escalate to a level, or stop."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise EscalationError(f"now={now!r} must be timezone-aware")
    step = next_step(state, policy)
    if isinstance(step.action, Stop) and step.action.reason in _BY_RESPONSE:
        # A response that ends escalation counts once it is recorded, whatever its time.
        return step.action
    if now < step.due_at:
        return Wait(step.due_at)
    return step.action


def _minutes(value: timedelta) -> str:
    seconds = value.total_seconds()
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
