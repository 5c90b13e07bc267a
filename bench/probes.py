"""What the bench reads from the running stack and the machine: stored reports and dead
letters in PostgreSQL, messages from the workers' /metrics, versions and the commit."""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from tests.support.services import REPO
from tests.system.faults.health import metrics


def count(url: str, sql: str) -> int:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]


def dead_letter_reasons(url: str) -> dict[str, int]:
    """The most frequent dead-letter reasons (valid reports should have none)."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT left(CAST(reasons AS TEXT), 300), count(*) FROM dead_letters "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
        ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def position_of(location_json: str) -> tuple[float, float]:
    """(lon, lat) of a VolunteerLocation payload."""
    data = json.loads(location_json)
    return float(data["lon"]), float(data["lat"])


def worker_messages(port: int) -> int:
    """Messages of any kind a worker has handled, from its /metrics."""
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics(port).splitlines()
        if line.startswith("sr_worker_messages_total")
    )


def has_taken(port: int, positions: int) -> Callable[[], bool]:
    return lambda: location_messages(port) >= positions


def location_messages(port: int, outcome: str | None = None) -> int:
    """Location messages a worker has handled (with this outcome: ``superseded`` are the
    ones a newer fix of the same volunteer replaced before they were applied), from its
    /metrics."""
    total = 0
    for line in metrics(port).splitlines():
        if (
            line.startswith("sr_worker_messages_total")
            and 'kind="volunteer_location"' in line
            and (outcome is None or f'outcome="{outcome}"' in line)
        ):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


LOCK_WAIT_SECONDS = "sr_worker_cell_lock_wait_seconds_total"
BATCH_SECONDS = "sr_worker_batch_seconds"


def batch_counters(port: int) -> dict[str, float]:
    """A worker's cumulative batch time, batch count and time spent waiting for cell locks
    (0 when the worker does not report it: a baseline without the metric), from /metrics."""
    out = {"batch_seconds": 0.0, "batches": 0.0, "lock_wait_seconds": 0.0}
    for line in metrics(port).splitlines():
        if line.startswith(f"{BATCH_SECONDS}_sum"):
            out["batch_seconds"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith(f"{BATCH_SECONDS}_count"):
            out["batches"] += float(line.rsplit(" ", 1)[1])
        elif line.startswith(LOCK_WAIT_SECONDS):
            out["lock_wait_seconds"] += float(line.rsplit(" ", 1)[1])
    return out


def lock_waits(
    before: list[dict[str, float]], after: list[dict[str, float]]
) -> dict[str, float | None]:
    """Over every worker between two samples: the share of batch time spent waiting for
    another batch's cell locks, and the mean wait per batch in ms."""
    pairs = list(zip(before, after, strict=True))
    batch_s = sum(a["batch_seconds"] - b["batch_seconds"] for b, a in pairs)
    batches = sum(a["batches"] - b["batches"] for b, a in pairs)
    waited = sum(a["lock_wait_seconds"] - b["lock_wait_seconds"] for b, a in pairs)
    return {
        "lock_wait_share": round(waited / batch_s, 4) if batch_s > 0 else None,
        "lock_wait_per_batch_ms": round(1000 * waited / batches, 3) if batches else None,
        "batches": int(batches),
    }


def position_lines(port: int) -> list[str]:
    """A worker's /metrics lines about volunteer positions (outcomes, pending)."""
    return [
        line
        for line in metrics(port).splitlines()
        if "volunteer_location" in line or line.startswith("sr_worker_positions_pending")
    ]


def wait_until(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.2)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mosquitto = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "mosquitto": (mosquitto.splitlines() or ["?"])[0],
        "postgresql": _pg_version(),
    }


def checkout_commit() -> str:
    """The measured code: HEAD of the checkout, ``+changes`` when files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _pg_version() -> str:
    from tests.support.services import pg_bindir

    try:
        return subprocess.run(
            [str(pg_bindir() / "postgres"), "--version"], capture_output=True, text=True
        ).stdout.strip()
    except (RuntimeError, OSError):
        return "?"


def final_stored(
    url: str,
    published: int,
    handled: Callable[[], int],
    limit_s: float,
    idle_s: float = 120.0,
) -> int:
    """Stored reports once the count reaches what was published, or nothing moved (neither
    the count nor the messages the workers handled, e.g. a backlog of positions ahead of
    the last reports) for ``idle_s``, or after ``limit_s`` in all."""
    last: tuple[int, int] = (-1, -1)
    started = last_change = time.monotonic()
    while True:
        stored = count(url, "SELECT count(*) FROM reports")
        if stored >= published or time.monotonic() - started > limit_s:
            return stored
        state = (stored, handled())
        if state != last:
            last, last_change = state, time.monotonic()
        elif time.monotonic() - last_change > idle_s:
            return stored
        time.sleep(0.5)
