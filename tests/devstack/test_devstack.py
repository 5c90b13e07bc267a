"""`make run`'s stack, end to end: the README's mosquitto_pub commands, then Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from protocol import NoticeBoard
from tests.devstack.helpers import (
    banner_commands,
    started_pids,
)
from tests.support.services import REPO, free_port


@pytest.mark.parametrize("devstack", ["mosquitto", "embedded"], indirect=True)
def test_readme_commands_give_receipts_rows_and_dead_letters(devstack) -> None:
    """With Mosquitto, and with the pip-installed embedded broker used where Mosquitto is
    missing (no ACLs there: the ACL test below is Mosquitto's)."""
    proc, banner, mqtt_port, http_port, devstack_var = devstack
    console_cmd, good_cmd, bad_cmd = banner_commands(banner)
    readme = (REPO / "README.md").read_text()
    for cmd in (console_cmd, good_cmd, bad_cmd):  # the README shows exactly these commands
        assert cmd.replace(str(mqtt_port), "11883") in readme, cmd
    # the police console of the demo kiosk's station; -d prints its SUBACK, so the test
    # knows when it listens (payload lines are the JSON ones)
    # (stdbuf: line-buffered, or the SUBACK line would wait in a pipe buffer until exit)
    console = subprocess.Popen(
        ["stdbuf", "-oL", *shlex.split(console_cmd.rstrip("&")), "-d", "-C", "1", "-W", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert console.stdout is not None
    for line in console.stdout:
        if "received SUBACK" in line:
            break
    started = time.monotonic()
    good = subprocess.run(good_cmd, shell=True, check=True, cwd=REPO, capture_output=True)
    elapsed = time.monotonic() - started
    bad = subprocess.run(bad_cmd, shell=True, check=True, cwd=REPO, capture_output=True)
    receipts = [json.loads(good.stdout), json.loads(bad.stdout)]  # mosquitto_rr prints them
    assert [r["status"] for r in receipts] == ["accepted", "rejected"]
    assert elapsed < 2.0
    assert {p["code"] for p in receipts[1]["problems"]} >= {"format", "range", "missing"}
    out, _ = console.communicate(timeout=25)
    alerts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [a["recipient_id"] for a in alerts] == ["PS-SH-013"], out

    def get(path: str, role: str | None = "coordinator"):
        request = urllib.request.Request(f"http://127.0.0.1:{http_port}{path}")
        if role is not None:  # the demo account of that role, by its API token
            token = (devstack_var / f"{role}.api-token").read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())

    assert get("/api/counts") == {"reports": 1, "dead_letters": 1}
    assert get("/api/counts", role="operator") == {"reports": None, "dead_letters": 1}
    assert get(f"/api/reports/{receipts[0]['report_id']}")["device_id"] == "kiosk-SH-013"
    assert "contact" not in get("/api/reports")[0]
    # the demo police account serves the first two police stations, PS-SH-013 among them
    # (the database says so): the report is theirs
    db = sqlite3.connect(devstack_var / "sightings.db")
    try:
        served = {r[0] for r in db.execute("SELECT station_id FROM people_stations")}
    finally:
        db.close()
    assert "PS-SH-013" in served
    assert [r["report_id"] for r in get("/api/reports", role="police")] == [
        receipts[0]["report_id"]
    ]
    # a police desk of another station, made as an operator would, reads nothing of it
    env = {**os.environ, "SR_DATABASE_URL": f"sqlite:///{devstack_var / 'sightings.db'}"}
    people = [sys.executable, "-m", "backend.people"]
    subprocess.run(
        [*people, "person", "create", "desk-025", "--role", "police", "--station", "PS-SH-025",
         "--password-env", "PW"],
        env={**env, "PW": "desk-025-password"}, check=True, capture_output=True,
    )
    made = subprocess.run(
        [*people, "token", "create", "desk-025", "--label", "test"],
        env=env, check=True, capture_output=True, text=True,
    )
    (devstack_var / "desk-025.api-token").write_text(made.stdout.split()[-1])
    assert get("/api/reports", role="desk-025") == []
    # reading needs a person, and each sees only what is theirs
    for path, role, status in (
        ("/api/reports", None, 401),
        (f"/api/reports/{receipts[0]['report_id']}", "desk-025", 404),
        ("/api/reports", "operator", 403),
        ("/api/dead-letters", "police", 403),
        ("/api/devices", "police", 403),
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(path, role=role)
        assert err.value.code == status, path
    assert get("/health", role=None) == {"status": "ok"}

    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    pids = [int(p) for p in children.stdout.split()]
    assert len(pids) == 5, "broker, worker, API, retention and pursuit run as children"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), f"process {pid} outlived Ctrl-C"


def test_acl_keeps_devices_in_their_own_topics(devstack) -> None:
    from tests.support.mqtt_client import TestClient, suback_codes

    _proc, _banner, mqtt_port, _, _var = devstack
    kiosk = TestClient(mqtt_port, "kiosk-SH-013", "kiosk-SH-013", "kiosk-demo")
    other = TestClient(mqtt_port, "kiosk-SH-001", "kiosk-SH-001", "kiosk-demo")
    try:
        for refused in (  # another device's topics, the workers' group, a police desk's alerts
            "sr/v1/devices/kiosk-SH-013/receipts",
            "sr/v1/devices/kiosk-SH-013/notices",
            "$share/backend/sr/v1/devices/+/reports",
            "sr/v1/stations/PS-SH-001/alerts",
        ):
            assert suback_codes(other.client, refused) == [0x87], refused
        kiosk.subscribe("sr/v1/devices/kiosk-SH-013/notices")  # its own: the retained board
        got = kiosk.wait_for(lambda ms: any(m.topic.endswith("/notices") for m in ms), 15)
        board = NoticeBoard.from_json(next(m for m in got if m.topic.endswith("/notices")).payload)
        assert [n.case_id for n in board.notices] == ["demo-1"]
        own = kiosk.publish("sr/v1/devices/kiosk-SH-013/status", b'{"x":1}')
        forged = kiosk.publish("sr/v1/devices/kiosk-SH-001/reports", b"{}")
        alerts = kiosk.publish("sr/v1/volunteers/vol-1/alerts", b"{}")
        assert kiosk.puback_reasons[own] < 0x80  # 0 or 0x10 "no matching subscribers"
        assert kiosk.puback_reasons[forged] == 0x87  # Not authorized
        assert kiosk.puback_reasons[alerts] == 0x87
        good = kiosk.publish(
            "sr/v1/devices/kiosk-SH-013/reports",
            subprocess.run(
                [sys.executable, "-m", "protocol.example"],
                capture_output=True,
                check=True,
                cwd=REPO,
            ).stdout,
        )
        assert kiosk.puback_reasons[good] < 0x80
        time.sleep(1.0)
        assert not other.received, "another kiosk's receipts and notices must not leak"
    finally:
        kiosk.close()
        other.close()
    with pytest.raises(TimeoutError):
        TestClient(mqtt_port, "kiosk-SH-013b", "kiosk-SH-013", "wrong-password")


def test_the_compose_healthchecks_ask_readyz(devstack) -> None:
    """docker-compose.yml's worker and API healthchecks, run against this stack's processes
    (their ports swapped in): they pass on a ready process and fail where none answers."""
    import yaml

    _proc, _banner, _mqtt, http_port, var = devstack
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    (worker,) = started_pids(var, "worker")
    worker_env = dict(
        item.split("=", 1)
        for item in Path(f"/proc/{worker}/environ").read_text().split("\0")
        if "=" in item
    )
    health_port = int(worker_env["SR_WORKER_HEALTH_PORT"])
    assert services["worker-1"]["environment"]["SR_WORKER_HEALTH_PORT"] == "8081"

    def check(service: str, container_port: str, port: int) -> int:
        cmd = services[service]["healthcheck"]["test"]
        assert cmd[:2] == ["CMD", "python"] and "/readyz" in cmd[-1], cmd
        argv = [sys.executable, *cmd[2:-1], cmd[-1].replace(f":{container_port}/", f":{port}/")]
        return subprocess.run(argv, capture_output=True, timeout=10).returncode

    assert check("worker-1", "8081", health_port) == 0
    assert check("worker-2", "8081", health_port) == 0
    assert check("api", "8000", http_port) == 0
    assert check("worker-1", "8081", free_port()) != 0  # nothing there: unhealthy
