"""What the fault tests seed and check in the database, and how they start workers."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.stations.metro import load_metro
from backend.stations.service import replace_police_stations
from backend.volunteers.service import register_volunteer
from devstack.seed import kiosk_id, seed_demo_devices
from protocol import AgeBand, Colour, Sex
from protocol.example import PEOPLES_SQUARE_LAT, PEOPLES_SQUARE_LON
from tests.support.services import Mosquitto, free_port
from tests.support.stack import WorkerProcess, start_worker
from tests.system.faults.fleet import Fleet
from tests.system.faults.health import HEALTH_PORT_ENV


def seed_kiosks(db_url: str, count: int) -> list[str]:
    """Provision ``count`` metro kiosks (kiosk rate limits: a burst of 6 reports each)."""
    stations = load_metro()[0][:count]
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            seed_demo_devices(session, stations, [], datetime.now(UTC))
    finally:
        engine.dispose()
    return [kiosk_id(s) for s in stations]


def seed_case_world(db_url: str) -> None:
    """Police stations, volunteers and one open case at People's Square (where the example
    report is), so accepted reports match and alert."""
    now = datetime.now(UTC)
    stations = load_metro()[0]
    police = [(f"PS-{s.station_id}", f"station {s.name}", s.lon, s.lat) for s in stations[::12]]
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            replace_police_stations(session, police)
            register_volunteer(session, "vol-assigned", "Assigned", max_alert_radius_m=50_000)
            for vid in ("vol-a", "vol-b", "vol-c"):
                register_volunteer(session, vid, vid, max_alert_radius_m=5_000)
            open_case(
                session,
                case_id="case-faults",
                title="Missing girl, 2, red and white",
                public_description="Last seen at People's Square.",
                relay_contact="400-800-1234",
                family_contact="13900000000",
                last_seen_lon=PEOPLES_SQUARE_LON,
                last_seen_lat=PEOPLES_SQUARE_LAT,
                last_seen_at=now - timedelta(minutes=20),
                last_seen_station_id="SH-013",
                assigned_volunteer_id="vol-assigned",
                description=CaseDescription(AgeBand.INFANT, Sex.FEMALE, (Colour.RED,)),
                radius_schedule=[(3600.0, 2_000.0), (math.inf, 3_000.0)],
                now=now,
            )
    finally:
        engine.dispose()


def start_health_worker(
    broker: Mosquitto,
    db_url: str,
    client_id: str,
    logdir: Path,
    health_port: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> tuple[WorkerProcess, int]:
    """The real worker with its health server on a free port; returns (worker, port)."""
    port = health_port or free_port()
    env = {HEALTH_PORT_ENV: str(port), **(extra_env or {})}
    return start_worker(broker, db_url, client_id=client_id, logdir=logdir, extra_env=env), port


def stored_reports(db_url: str) -> dict[str, int]:
    """report id -> how many rows hold it (the primary key makes 1 the only possible answer,
    so this also proves no report went into the table under a mangled id)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT report_id, count(*) FROM reports GROUP BY 1"))
            return {r[0]: r[1] for r in rows}
    finally:
        engine.dispose()


def dead_letters(db_url: str) -> list[tuple[str, str]]:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT topic, CAST(reasons AS TEXT) FROM dead_letters"))
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def assert_every_report_stored_once_and_receipted(db_url: str, fleet: Fleet) -> None:
    sent = fleet.sent()
    stored = stored_reports(db_url)
    missing = sorted(set(sent) - set(stored))
    extra = sorted(set(stored) - set(sent))
    assert not missing, f"{len(missing)} of {len(sent)} reports never stored, e.g. {missing[:3]}"
    assert not extra, f"{len(extra)} stored reports nobody sent, e.g. {extra[:3]}"
    assert all(n == 1 for n in stored.values())
    letters = dead_letters(db_url)
    assert not letters, f"{len(letters)} dead letters for valid reports, e.g. {letters[:2]}"
    problems = fleet.receipt_problems()
    assert not problems, f"{len(problems)} receipt problems, e.g. {problems[:5]}"


@contextlib.contextmanager
def logs_on_failure(workers: Callable[[], list[WorkerProcess]]) -> Iterator[None]:
    """Re-raise any failure inside with the end of every worker's log attached."""
    try:
        yield
    except Exception as exc:
        tails = "\n".join(
            f"--- {w.log_path.name} (exit {w.proc.poll()}):\n" + _log_tail(w.log())
            for w in workers()
        )
        raise AssertionError(f"{exc}\n\nworker logs:\n{tails}") from exc


def _log_tail(log: str, lines: int = 40) -> str:
    """The end of a worker log without the per-report routing chatter."""
    kept = [line for line in log.splitlines() if "in no police jurisdiction" not in line]
    return "\n".join(line[:300] for line in kept[-lines:])
