"""The state of an incident as the desk shows it, computed in this one place from the rows.

- ``closed``: someone ended it: a volunteer answered ``resolved`` or ``false_alarm``, or a
  duty desk decided ``false_report`` (stored as a ``false_alarm`` response);
- ``acknowledged``: someone took it (a volunteer's ``ack``/``on_my_way``, a duty desk's
  ``dispatched``/``no_action``), by whom and when (the first who did);
- ``expired``: nobody took it and its alerts (and its escalation) ran out of time;
- ``escalating``: an escalation timer runs (or ran to its last level unanswered): at level
  0 the case's assigned volunteer, 1 the nearest volunteers, 2 the police duty desk;
- ``new``: none of the above: a sighting nobody has taken yet and that never had an
  escalation timer (a station sighting matching no case).

The first rule that holds wins, in that order. A duty desk's username is named; a volunteer
is only said to be one (the desk does not show volunteers' ids to the police).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.alerts.models import AlertResponseRow, AlertRow, EscalationTimer
from backend.desk.models import DeskAcknowledgement


class StateCode(StrEnum):
    NEW = "new"
    ESCALATING = "escalating"
    ACKNOWLEDGED = "acknowledged"
    EXPIRED = "expired"
    CLOSED = "closed"


_ACKNOWLEDGING: Final = frozenset({"ack", "on_my_way"})
_ENDING: Final = frozenset({"resolved", "false_alarm"})
DESK_RESPONDER: Final = "desk:"  # AlertResponseRow.volunteer_id of a duty desk's decision


@dataclass(frozen=True, slots=True)
class IncidentState:
    """``level``: the escalation level (escalating only). ``by``: the duty desk's username
    (None for a volunteer, whose kind ``by_kind`` says). ``at``: when it was acknowledged,
    closed or expired, or when the current escalation level began. ``decision``: the desk's
    decision or the volunteer's response. ``due_at``: when the next level is due."""

    code: StateCode
    level: int | None = None
    by: str | None = None
    by_kind: str | None = None  # "desk" | "volunteer"
    at: datetime | None = None
    decision: str | None = None
    note: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IncidentRows:
    """Everything the state depends on, for one incident."""

    timer: EscalationTimer | None
    alerts: tuple[AlertRow, ...]
    responses: tuple[AlertResponseRow, ...]
    acknowledgements: tuple[DeskAcknowledgement, ...]


def _by(response: AlertResponseRow) -> tuple[str | None, str]:
    if response.volunteer_id.startswith(DESK_RESPONDER):
        return response.volunteer_id[len(DESK_RESPONDER) :], "desk"
    return None, "volunteer"


def _desk_ack_for(
    response: AlertResponseRow, acks: Iterable[DeskAcknowledgement]
) -> DeskAcknowledgement | None:
    for ack in acks:
        if ack.alert_id == response.alert_id and ack.at == response.at:
            return ack
    return None


def incident_state(rows: IncidentRows, now: datetime) -> IncidentState:
    """The one state function: what the desk shows for an incident with these rows at
    ``now``."""
    responses = sorted(rows.responses, key=lambda r: r.at)
    for kinds, code in ((_ENDING, StateCode.CLOSED), (_ACKNOWLEDGING, StateCode.ACKNOWLEDGED)):
        first = next((r for r in responses if r.response in kinds), None)
        if first is None and code is StateCode.ACKNOWLEDGED and rows.acknowledgements:
            ack = min(rows.acknowledgements, key=lambda a: a.at)
            return IncidentState(
                code,
                by=ack.username,
                by_kind="desk",
                at=ack.at,
                decision=ack.decision,
                note=ack.note,
            )
        if first is not None:
            by, kind = _by(first)
            ack = _desk_ack_for(first, rows.acknowledgements) if kind == "desk" else None
            return IncidentState(
                code,
                by=by,
                by_kind=kind,
                at=first.at,
                decision=ack.decision if ack else first.response,
                note=ack.note if ack else None,
            )
    timer = rows.timer
    ends = [a.expires_at for a in rows.alerts]
    if timer is not None:
        ends.append(timer.expires_at)
    if timer is not None and timer.done and (timer.outcome or "").startswith("expired"):
        return IncidentState(StateCode.EXPIRED, at=timer.expires_at)
    if ends and max(ends) <= now:
        return IncidentState(StateCode.EXPIRED, at=max(ends))
    if timer is not None:
        return IncidentState(
            StateCode.ESCALATING,
            level=timer.level,
            at=timer.level_since,
            due_at=None if timer.done else timer.due_at,
        )
    return IncidentState(StateCode.NEW)


def load_rows(session: Session, incident_ids: Collection[str]) -> dict[str, IncidentRows]:
    """The rows of these incidents' states, four queries whatever their number. The callers
    pass incidents they read through ``readable``: an incident's state is part of it."""
    ids = sorted(set(incident_ids))
    if not ids:
        return {}
    timers = {
        t.incident_id: t
        for t in session.execute(
            select(EscalationTimer).where(EscalationTimer.incident_id.in_(ids))
        ).scalars()
    }
    alerts: dict[str, list[AlertRow]] = defaultdict(list)
    for a in session.execute(select(AlertRow).where(AlertRow.incident_id.in_(ids))).scalars():
        alerts[a.incident_id].append(a)
    responses: dict[str, list[AlertResponseRow]] = defaultdict(list)
    for r in session.execute(
        select(AlertResponseRow).where(AlertResponseRow.incident_id.in_(ids))
    ).scalars():
        responses[r.incident_id].append(r)
    acks: dict[str, list[DeskAcknowledgement]] = defaultdict(list)
    for k in session.execute(
        select(DeskAcknowledgement).where(DeskAcknowledgement.incident_id.in_(ids))
    ).scalars():
        acks[k.incident_id].append(k)
    return {
        i: IncidentRows(timers.get(i), tuple(alerts[i]), tuple(responses[i]), tuple(acks[i]))
        for i in ids
    }


def incident_states(
    session: Session, incident_ids: Collection[str], now: datetime
) -> dict[str, IncidentState]:
    """The state of each of these incidents at ``now``."""
    return {i: incident_state(rows, now) for i, rows in load_rows(session, incident_ids).items()}
