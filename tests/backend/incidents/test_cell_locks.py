"""Two workers' batches and the incidents' cell locks, on a real PostGIS.

Worker A has clustered a report and not yet committed; worker B gets a report 20 m away.
With the cell locks, B waits for A's commit and joins A's incident: one incident. Without
them (the lock step replaced by nothing), B cannot see A's uncommitted incident and opens a
second one for the same person: the test below shows that it would fail. A report 10 km
away shares no cell with A's and never waits for it.

Each worker is a transaction around the real spine (``pipeline.run_batch``); "B waits" is
observed in PostgreSQL (``pg_stat_activity``: a backend waiting on an advisory lock), a
state that lasts until A commits, so no poll can miss it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from backend import pipeline
from backend.alerts.config import AlertingConfig
from backend.db.engine import make_engine, make_sessionmaker
from backend.incidents import service as incidents_service
from backend.incidents.models import Incident, IncidentReport
from backend.sightings.service import ReportMessage
from backend.world import World
from tests.backend.alerts.e2e_helpers import offset
from tests.backend.helpers import PEOPLES_SQUARE, report_dict

WAIT_S = 60.0  # an upper bound only: each wait below ends on an event, not on a timer


@dataclass
class Worker:
    """A batch of one report run by the spine on its own connection, in a thread."""

    sessions: sessionmaker[Session]
    message: ReportMessage
    done: threading.Event
    error: list[BaseException]

    def run(self, now: datetime) -> None:
        try:
            with self.sessions.begin() as session:
                settled = pipeline.run_batch(
                    session, [self.message], world(session), AlertingConfig(), now, None
                )
                assert [a.label for a in settled.answers] == ["accepted"]
        except BaseException as exc:  # handed to the test's thread
            self.error.append(exc)
        finally:
            self.done.set()


def world(session: Session) -> World:
    w = World()
    w.refresh(session)
    return w


def message(device: str, lon: float, lat: float) -> ReportMessage:
    data: dict[str, Any] = report_dict(
        device, location={"lat": lat, "lon": lon, "source": "gps"}, station_id=None
    )
    topic = f"sr/v1/devices/{device}/reports"
    return ReportMessage(device, topic, json.dumps(data).encode())


@pytest.fixture
def sessions(postgis_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(postgis_url, pool_size=4)
    yield make_sessionmaker(engine)
    engine.dispose()


def waiting_on_advisory_lock(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return int(
            s.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND wait_event = 'advisory'"
                )
            ).scalar_one()
        )


def incidents_and_reports(sessions: sessionmaker[Session]) -> dict[str, set[str]]:
    with sessions() as s:
        out: dict[str, set[str]] = {}
        for incident_id, device_id in s.execute(
            select(Incident.incident_id, IncidentReport.device_id).join(
                IncidentReport, IncidentReport.incident_id == Incident.incident_id
            )
        ):
            out.setdefault(incident_id, set()).add(device_id)
        return out


def two_workers(
    sessions: sessionmaker[Session], b_at: tuple[float, float], b_waits: bool
) -> dict[str, set[str]]:
    """A runs and holds its transaction open; B runs. If `b_waits`, B must be seen blocked
    on an advisory lock before A commits; otherwise B must finish while A is still open."""
    now = datetime.now(UTC)
    a_msg = message("phone-a", *PEOPLES_SQUARE)
    b = Worker(sessions, message("phone-b", *b_at), threading.Event(), [])
    a_session = sessions()
    a_session.begin()
    try:
        settled = pipeline.run_batch(
            a_session, [a_msg], world(a_session), AlertingConfig(), now, None
        )
        assert [x.label for x in settled.answers] == ["accepted"]
        thread = threading.Thread(target=b.run, args=(now,), daemon=True)
        thread.start()
        if b_waits:
            blocked = threading.Event()

            def watch() -> None:
                # B's backend waiting on the lock lasts until A commits: a state, not a moment.
                while not b.done.is_set() and not blocked.is_set():
                    if waiting_on_advisory_lock(sessions) >= 1:
                        blocked.set()
                    else:
                        b.done.wait(0.05)

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            watcher.join(WAIT_S)
            assert blocked.is_set(), "B never waited for A's cell lock"
            assert not b.done.is_set(), "B finished while A held the lock"
        else:
            assert b.done.wait(WAIT_S), "B waited for A although they share no cell"
        a_session.commit()
    finally:
        a_session.close()
    assert b.done.wait(WAIT_S)
    thread.join(WAIT_S)
    if b.error:
        raise b.error[0]
    return incidents_and_reports(sessions)


def test_a_report_next_to_an_uncommitted_one_waits_and_joins_its_incident(
    sessions: sessionmaker[Session],
) -> None:
    near = offset(*PEOPLES_SQUARE, 90, 20)
    found = two_workers(sessions, near, b_waits=True)
    assert list(found.values()) == [{"phone-a", "phone-b"}], found


def test_without_the_cell_locks_the_same_two_reports_make_two_incidents(
    sessions: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The test above could fail: with the lock step removed, the race it guards happens."""
    monkeypatch.setattr(incidents_service, "advisory_xact_locks", lambda session, keys: None)
    near = offset(*PEOPLES_SQUARE, 90, 20)
    found = two_workers(sessions, near, b_waits=False)
    assert sorted(map(sorted, found.values())) == [["phone-a"], ["phone-b"]], found


def test_a_report_far_away_never_waits_for_another_workers_cells(
    sessions: sessionmaker[Session],
) -> None:
    far = offset(*PEOPLES_SQUARE, 90, 10_000)
    found = two_workers(sessions, far, b_waits=False)
    assert sorted(map(sorted, found.values())) == [["phone-a"], ["phone-b"]], found
