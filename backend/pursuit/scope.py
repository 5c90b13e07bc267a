"""What a subject may read of the pursuits: ``backend.desk.scope``'s rule for the trails,
kept here because the pursuit tables sit above the desk (pyproject.toml's layers).
Coordinators and police read trails, operators none (403, NotReadableError); police only
the trails seen in their jurisdiction or alerting their stations."""

from __future__ import annotations

from typing import Final

from sqlalchemy import Select, select

from backend.auth.subject import Role, Subject
from backend.desk.scope import check_readers
from backend.pursuit.models import PursuitAlert, PursuitSighting, PursuitTrail

READERS: Final = frozenset({Role.COORDINATOR, Role.POLICE})


def readable_trails(subject: Subject) -> Select[PursuitTrail]:
    """``select(PursuitTrail)`` narrowed to what `subject` may see; raises NotReadableError
    when the role may see none of it. Callers add their own filters and order."""
    check_readers(subject, PursuitTrail, READERS)
    stmt: Select[PursuitTrail] = select(PursuitTrail)
    if subject.role is not Role.POLICE:
        return stmt
    stations = sorted(subject.station_ids)
    # a pursuit touching their stations: seen in their jurisdiction, or alerting them
    seen_here = select(PursuitSighting.trail_id).where(
        PursuitSighting.police_station_id.in_(stations)
    )
    told = select(PursuitAlert.trail_id).where(
        PursuitAlert.recipient_kind == "station", PursuitAlert.recipient_id.in_(stations)
    )
    return stmt.where(PursuitTrail.trail_id.in_(seen_here) | PursuitTrail.trail_id.in_(told))
