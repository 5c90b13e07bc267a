"""`make run`'s stack, end to end: the README's mosquitto_pub commands, then Ctrl-C."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from protocol import NoticeBoard
from tests.support.services import REPO, free_port


@pytest.fixture
def devstack(tmp_path, request):
    mqtt_port, http_port = free_port(), free_port()
    env = dict(
        os.environ,
        SR_DEV_BROKER=getattr(request, "param", "mosquitto"),
        SR_DEV_VAR=str(tmp_path / "var"),
        SR_DEV_MQTT_PORT=str(mqtt_port),
        SR_DEV_HTTP_PORT=str(http_port),
    )
    out = tmp_path / "devstack.out"
    with open(out, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack"], cwd=REPO, env=env, stdout=log, stderr=log
        )
    deadline = time.monotonic() + 60
    while "Ctrl-C stops it" not in out.read_text(errors="replace"):
        assert proc.poll() is None, out.read_text()
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)
    yield proc, out.read_text(), mqtt_port, http_port, tmp_path / "var"
    if proc.poll() is None:  # as a person would: Ctrl-C, which stops the children too
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def banner_commands(banner: str) -> list[str]:
    return [line.strip() for line in banner.splitlines() if line.strip().startswith("mosquitto_")]


@pytest.mark.parametrize("devstack", ["mosquitto", "embedded"], indirect=True)
def test_readme_commands_give_receipts_rows_and_dead_letters(devstack) -> None:
    """With Mosquitto, and with the pip-installed embedded broker used where Mosquitto is
    missing (no ACLs there: the ACL test below is Mosquitto's)."""
    proc, banner, mqtt_port, http_port, devstack_var = devstack
    sub_cmd, good_cmd, bad_cmd = banner_commands(banner)
    readme = (REPO / "README.md").read_text()
    for cmd in (sub_cmd, good_cmd, bad_cmd):  # the README shows exactly these commands
        assert cmd.replace(str(mqtt_port), "11883") in readme, cmd
    sub = subprocess.Popen(
        [*shlex.split(sub_cmd.rstrip("&").replace(" -v", "")), "-C", "2", "-W", "10"],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    started = time.monotonic()
    subprocess.run(good_cmd, shell=True, check=True, cwd=REPO)
    subprocess.run(bad_cmd, shell=True, check=True, cwd=REPO)
    out, _ = sub.communicate(timeout=15)
    elapsed = time.monotonic() - started
    receipts = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [r["status"] for r in receipts] == ["accepted", "rejected"]
    assert elapsed < 2.0
    assert {p["code"] for p in receipts[1]["problems"]} >= {"format", "range", "missing"}

    def get(path: str, role: str | None = "operator"):
        request = urllib.request.Request(f"http://127.0.0.1:{http_port}{path}")
        if role is not None:
            token = (devstack_var / f"{role}.token").read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())

    assert get("/api/counts") == {"reports": 1, "dead_letters": 1}
    assert get(f"/api/reports/{receipts[0]['report_id']}")["device_id"] == "kiosk-SH-013"
    assert "contact" not in get("/api/reports")[0]
    assert get("/api/reports", role="police")[0]["report_id"] == receipts[0]["report_id"]
    # reading needs a role, and roles see only what is theirs
    for path, role, status in (
        ("/api/reports", None, 401),
        ("/api/dead-letters", "police", 403),
        ("/api/devices", "police", 403),
    ):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(path, role=role)
        assert err.value.code == status, path
    assert get("/health", role=None) == {"status": "ok"}

    children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True)
    pids = [int(p) for p in children.stdout.split()]
    assert len(pids) == 3, "broker, worker and API run as children"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(20) == 0
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), f"process {pid} outlived Ctrl-C"


def test_acl_keeps_devices_in_their_own_topics(devstack) -> None:
    from tests.support.mqtt_client import TestClient

    _proc, _banner, mqtt_port, _, _var = devstack
    kiosk = TestClient(mqtt_port, "kiosk-SH-013", "kiosk-SH-013", "kiosk-demo")
    other = TestClient(mqtt_port, "kiosk-SH-001", "kiosk-SH-001", "kiosk-demo")
    try:
        other.subscribe("sr/v1/devices/kiosk-SH-013/receipts")  # granted, receives nothing
        other.subscribe("sr/v1/devices/kiosk-SH-013/notices")  # likewise
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
