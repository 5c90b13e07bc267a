"""Which cases the kiosks ahead of a pursuit should show: a trail that names a case (a
passenger recognised the child from its notice) and expects it at a station shows that
case's notice on the station's kiosks until the stop's window has passed.

Read by the worker when it refreshes the kiosks' notice boards
(``backend.cases.notices.refresh_notice_boards``'s ``ahead``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.pursuit.models import PursuitTrail
from backend.pursuit.trails import OPEN


def cases_ahead(session: Session, now: datetime) -> dict[str, frozenset[str]]:
    """Metro station id -> ids of the cases expected there now: open trails that name a
    case, each stop that was alerted and whose window has not ended."""
    found: dict[str, set[str]] = {}
    rows = session.execute(
        select(PursuitTrail.case_id, PursuitTrail.prediction).where(
            PursuitTrail.state == OPEN,
            PursuitTrail.case_id.is_not(None),
            PursuitTrail.expires_at >= now,
        )
    )
    for case_id, prediction in rows:
        for stop in (prediction or {}).get("stops", ()):
            if stop.get("alerted") and datetime.fromisoformat(stop["latest"]) >= now:
                found.setdefault(stop["station_id"], set()).add(case_id)
    return {station: frozenset(ids) for station, ids in found.items()}
