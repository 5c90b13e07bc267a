"""Starting and stopping `make run`'s stack in the devstack tests, and reading its
supervisor's journal."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.support.services import REPO, free_port

BANNER_UP = "Ctrl-C stops it"


def stack_env(tmp_path, **extra: str) -> tuple[dict[str, str], int, int]:
    mqtt_port, http_port = free_port(), free_port()
    env = dict(
        os.environ,
        SR_DEV_VAR=str(tmp_path / "var"),
        SR_DEV_MQTT_PORT=str(mqtt_port),
        SR_DEV_HTTP_PORT=str(http_port),
        **extra,
    )
    return env, mqtt_port, http_port


def start_stack(cmd: list[str], env: dict[str, str], out, **popen) -> subprocess.Popen[bytes]:
    """Start ``cmd`` and wait for the banner (the stack is up) or its exit."""
    with open(out, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=log, **popen)
    deadline = time.monotonic() + 120  # `make run` may have to install first
    while BANNER_UP not in out.read_text(errors="replace"):
        assert proc.poll() is None, out.read_text()
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)
    return proc


def stop_stack(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:  # as a person would: Ctrl-C, which stops the children too
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def banner_commands(banner: str) -> list[str]:
    return [line.strip() for line in banner.splitlines() if line.strip().startswith("mosquitto_")]


def is_gone(pid: int) -> bool:
    """Exited (a zombie waiting to be reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def wait_until(cond, timeout_s: float, what: str):
    """For a final, stable state only (a process gone, a line written to a log)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def started_pids(var: Path, name: str) -> list[int]:
    """Every pid the supervisor started ``name`` with, in order (var/logs/supervisor.log)."""
    journal = var / "logs" / "supervisor.log"
    text = journal.read_text() if journal.exists() else ""
    return [int(p) for p in re.findall(rf"\b{name} started: pid (\d+)", text)]


def ready_pids(var: Path, name: str) -> list[int]:
    journal = var / "logs" / "supervisor.log"
    text = journal.read_text() if journal.exists() else ""
    return [int(p) for p in re.findall(rf"\b{name} ready: pid (\d+)", text)]


def receipt_round_trip(mqtt_port: int) -> dict:
    """The demo kiosk sends the example report; the worker's receipt comes back."""
    from devstack.config import DEMO_KIOSK, KIOSK_PASSWORD
    from tests.support.mqtt_client import TestClient

    kiosk = TestClient(mqtt_port, f"{DEMO_KIOSK}-check", DEMO_KIOSK, KIOSK_PASSWORD)
    try:
        kiosk.subscribe(f"sr/v1/devices/{DEMO_KIOSK}/receipts")
        report = subprocess.run(
            [sys.executable, "-m", "protocol.example", DEMO_KIOSK],
            capture_output=True,
            check=True,
            cwd=REPO,
        ).stdout
        kiosk.publish(f"sr/v1/devices/{DEMO_KIOSK}/reports", report)
        report_id = json.loads(report)["report_id"]
        got = kiosk.wait_for(
            lambda ms: any(json.loads(m.payload).get("report_id") == report_id for m in ms), 20
        )
        return next(
            r for r in map(lambda m: json.loads(m.payload), got) if r["report_id"] == report_id
        )
    finally:
        kiosk.close()
