"""Which cases the kiosks ahead of a pursuit show (``backend.pursuit.notices.cases_ahead``),
from trails written to a real PostGIS: only open trails that name a case, only stops that
were alerted, only until a stop's window has ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backend.pursuit.models import PursuitTrail
from backend.pursuit.notices import cases_ahead


def stop(station_id: str, latest: datetime, alerted: bool = True) -> dict[str, Any]:
    return {"station_id": station_id, "latest": latest.isoformat(), "alerted": alerted}


def trail(
    trail_id: str,
    case_id: str | None,
    stops: list[dict[str, Any]],
    now: datetime,
    state: str = "open",
) -> PursuitTrail:
    latest = max(datetime.fromisoformat(s["latest"]) for s in stops)
    return PursuitTrail(
        trail_id=trail_id,
        anchor_incident_id=None,
        case_id=case_id,
        opened_at=now,
        last_seen_at=now,
        sightings=2,
        stations=2,
        state=state,
        on_metro=True,
        predicted_at=now,
        prediction={"stops": stops},
        expires_at=latest,
    )


def test_open_trails_that_name_a_case_show_it_at_alerted_stations_until_their_window_ends(
    sessions,
) -> None:
    now = datetime.now(UTC)
    soon, past = now + timedelta(minutes=3), now - timedelta(seconds=1)
    with sessions.begin() as session:
        session.add_all(
            [
                trail(
                    "t1",
                    "case-a",
                    [
                        stop("SH-041", soon),
                        stop("SH-042", soon, alerted=False),
                        stop("SH-040", past),
                    ],
                    now,
                ),
                trail("t2", "case-b", [stop("SH-041", soon)], now),
                trail("t3", None, [stop("SH-050", soon)], now),  # names no case
                trail("t4", "case-c", [stop("SH-060", soon)], now, state="withdrawn"),
                trail("t5", "case-d", [stop("SH-070", past)], now),  # every window over
            ]
        )
    with sessions() as session:
        shown = cases_ahead(session, now)
        later = cases_ahead(session, soon + timedelta(seconds=1))
    assert shown == {"SH-041": frozenset({"case-a", "case-b"})}
    assert later == {}
