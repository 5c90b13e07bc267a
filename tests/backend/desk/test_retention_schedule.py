"""Issue 18: retention runs on a schedule (its own supervised process in `make run` and in
docker-compose.yml) and its last run shows in /metrics. The schedule is observed through
the injected clock and wait (no sleeping), and the real CLI through its log line."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import update

from backend.db.engine import make_engine, make_sessionmaker
from backend.db.jobs import RETENTION_JOB, job_status
from backend.desk.retention import Erased, run
from backend.tables import Case
from devstack.config import DevStackConfig
from devstack.run import stack_services
from tests.backend.desk.world import World

REPO = Path(__file__).resolve().parents[3]
KEEP = timedelta(days=30)


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} missing from /metrics:\n{text}"
    return float(found.group(1))


def test_each_scheduled_pass_is_recorded_and_metrics_show_the_last(
    desk_sessions, world: World, http
):
    before = http.get("/metrics").text
    assert metric(before, "sr_retention_last_run_timestamp_seconds") == 0
    assert metric(before, "sr_retention_runs_total") == 0

    with desk_sessions.begin() as session:
        session.execute(
            update(Case)
            .where(Case.case_id == world.case_id)
            .values(status="found", ended_at=world.now)
        )
    first, second = world.now + timedelta(days=1), world.now + KEEP + timedelta(minutes=1)
    times = iter([first, second])
    waits: list[float] = []
    passes: list[Erased] = []

    def wait(seconds: float) -> bool:
        """The schedule's wait: the second one is told to stop."""
        waits.append(seconds)
        return len(waits) == 2

    last = run(
        desk_sessions, lambda: next(times), KEEP, every_s=3600.0, sleep=wait, on_pass=passes.append
    )

    assert passes == [Erased(0, 0, 0), Erased(1, 1, 1)] and last == Erased(1, 1, 1)
    assert waits == [3600.0, 3600.0]
    with desk_sessions() as session:
        status = job_status(session, RETENTION_JOB)
    assert status is not None and status.runs == 2 and status.last_run_at == second
    text = http.get("/metrics").text
    assert metric(text, "sr_retention_last_run_timestamp_seconds") == second.timestamp()
    assert metric(text, "sr_retention_runs_total") == 2
    assert metric(text, 'sr_retention_last_erased{what="cases"}') == 1
    assert metric(text, 'sr_retention_erased_total{what="report_contacts"}') == 1
    assert metric(text, 'sr_retention_erased_total{what="report_photos"}') == 1


def test_a_pass_that_fails_on_the_database_does_not_end_the_schedule(tmp_path: Path):
    """A database without the tables: the pass fails, is logged, and the schedule goes on to
    its next wait; run once, the failure is raised."""
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    sessions = make_sessionmaker(engine)
    waits: list[float] = []
    passes: list[Erased] = []
    try:

        def wait(seconds: float) -> bool:
            waits.append(seconds)
            return len(waits) == 2

        def clock() -> datetime:
            return datetime.now(UTC)

        run(sessions, clock, KEEP, every_s=60.0, sleep=wait, on_pass=passes.append)
        assert waits == [60.0, 60.0] and passes == []
        with pytest.raises(Exception, match="no such table"):
            run(sessions, clock, KEEP, every_s=None)
    finally:
        engine.dispose()


def test_make_run_and_compose_schedule_retention(tmp_path: Path):
    cfg = DevStackConfig(var=tmp_path, mqtt_port=1, http_port=2)
    services = {s.name: s for s in stack_services(cfg, tmp_path, ["mosquitto"])}
    retention = services["retention"]
    assert retention.args[1:] == ["-m", "backend.desk.retention", "--every"]
    assert retention.restartable
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    assert compose["retention"]["command"] == ["python", "-m", "backend.desk.retention", "--every"]
    assert compose["retention"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )
    # the owner's URL, from the compose secret (get_settings() reads *_FILE variables)
    assert compose["retention"]["environment"]["SR_DATABASE_URL_FILE"] == "/run/secrets/database_url"
    assert "database_url" in compose["retention"]["secrets"]


@pytest.mark.timeout(60)
def test_the_scheduled_cli_passes_at_once_and_stops_on_sigterm(db_url: str):
    """`python -m backend.desk.retention --every` (what make run and compose start): a pass
    at start, recorded, then it waits SR_DESK_RETENTION_EVERY_S and leaves cleanly on SIGTERM."""
    env = dict(os.environ, SR_DESK_RETENTION_EVERY_S="86400", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "backend.desk.retention", "--database-url", db_url, "--every"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    seen: list[str] = []
    try:
        for line in proc.stdout:  # blocks until the process writes: no polling
            seen.append(line)
            if "retention pass: erased" in line:
                break
        assert any("a pass every 86400 s" in line for line in seen), seen
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "".join(seen) + rest
    assert "erased: 0 case(s)" in rest
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            status = job_status(session, RETENTION_JOB)
    finally:
        engine.dispose()
    assert status is not None and status.runs == 1
