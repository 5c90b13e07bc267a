"""`make run`'s stack, end to end: the README's mosquitto_pub commands, then Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from devstack.config import port_is_free
from protocol import NoticeBoard
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


@pytest.fixture
def devstack(tmp_path, request):
    env, mqtt_port, http_port = stack_env(
        tmp_path, SR_DEV_BROKER=getattr(request, "param", "mosquitto")
    )
    out = tmp_path / "devstack.out"
    proc = start_stack([sys.executable, "-m", "devstack"], env, out)
    yield proc, out.read_text(), mqtt_port, http_port, tmp_path / "var"
    stop_stack(proc)


def banner_commands(banner: str) -> list[str]:
    return [line.strip() for line in banner.splitlines() if line.strip().startswith("mosquitto_")]


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


# --- `make run` as a service manager ---------------------------------------------------------


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


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_a_signal_to_make_alone_stops_the_whole_stack(tmp_path, sig) -> None:
    """`kill -INT <make>` (make forwards nothing and would wait for ever) and `kill -TERM
    <make>` (make exits): make deletes its target, the supervisor's pid file, and the
    supervisor stops the API, the worker and the broker."""
    env, _mqtt, http_port = stack_env(tmp_path)
    out = tmp_path / "make.out"
    # a session of its own: the signal reaches make alone, as `kill <pid>` from elsewhere
    # (and SIGINT as a terminal gives it, even where this test runs with SIGINT ignored)
    make = start_stack(
        ["make", "--no-print-directory", "run"],
        env,
        out,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        pidfile = tmp_path / "var" / "run" / "stack.pid"
        supervisor = int(pidfile.read_text())
        children = [
            int(p)
            for p in subprocess.run(
                ["pgrep", "-P", str(supervisor)], capture_output=True, text=True
            ).stdout.split()
        ]
        assert len(children) == 3, "broker, worker and API run under the supervisor"
        assert int(Path(f"/proc/{supervisor}/stat").read_text().split()[3]) == make.pid
        make.send_signal(sig)
        make.wait(40)
        for pid in [supervisor, *children]:
            wait_until(lambda pid=pid: is_gone(pid), 20, f"process {pid} to stop")
        assert not pidfile.exists()
        assert port_is_free(http_port)
        said = out.read_text()
        assert "stopped api, worker, broker" in said
        if sig == signal.SIGINT:  # make forwards no SIGINT: the pid file's removal told us
            assert "stack.pid was removed (make was interrupted)" in said
    finally:
        if make.poll() is None:
            make.kill()


def test_a_failed_start_exits_non_zero_and_names_the_process_and_its_log(tmp_path) -> None:
    # a setting the worker cannot read: it exits while starting
    env, _mqtt, http_port = stack_env(tmp_path, SR_PROXIMITY_K="not-a-number")
    result = subprocess.run(
        ["make", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode != 0
    log = tmp_path / "var" / "logs" / "worker.log"
    reason = [line for line in result.stderr.splitlines() if line.startswith("make run: ")]
    assert len(reason) == 1, result.stderr
    assert re.fullmatch(
        rf"make run: could not start the stack: the worker exited with status \d+ while "
        rf"starting; see {re.escape(str(log))}",
        reason[0],
    ), reason
    assert "not-a-number" in log.read_text()  # the worker's own words are in its log
    assert BANNER_UP not in result.stdout
    assert port_is_free(http_port), "nothing is left running"
    for pid in started_pids(tmp_path / "var", "broker") + started_pids(tmp_path / "var", "worker"):
        wait_until(lambda pid=pid: is_gone(pid), 20, f"process {pid} to stop")


def test_a_port_in_use_is_refused_with_the_variable_to_change(tmp_path) -> None:
    env, mqtt_port, _http = stack_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", mqtt_port))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "devstack"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"port {mqtt_port} on 127.0.0.1 is in use" in result.stderr
    assert "SR_DEV_MQTT_PORT=<port> make run" in result.stderr


def test_a_stuck_or_dead_worker_or_api_is_restarted_and_works_again(tmp_path) -> None:
    """A frozen worker (SIGSTOP: its /readyz stops answering) is replaced; so is a killed
    one, and a killed API. After each, a report gets its receipt, or the API answers."""
    env, mqtt_port, http_port = stack_env(tmp_path, SR_DEV_UNANSWERED_RESTART_S="3")
    var = tmp_path / "var"
    out = tmp_path / "devstack.out"
    proc = start_stack([sys.executable, "-m", "devstack"], env, out)
    try:
        assert receipt_round_trip(mqtt_port)["status"] == "accepted"
        (first,) = started_pids(var, "worker")
        os.kill(first, signal.SIGSTOP)
        second = wait_until(
            lambda: next((p for p in ready_pids(var, "worker") if p != first), None),
            60,
            "a new worker, ready",
        )
        wait_until(lambda: is_gone(first), 20, "the frozen worker to be stopped")
        assert f"worker (pid {first}) health endpoint silent for 3 s" in out.read_text()
        assert receipt_round_trip(mqtt_port)["status"] == "accepted"

        os.kill(second, signal.SIGKILL)
        third = wait_until(
            lambda: next((p for p in ready_pids(var, "worker") if p not in (first, second)), None),
            60,
            "a worker started after the kill, ready",
        )
        assert f"worker (pid {second}) exited with status -9" in out.read_text()
        assert receipt_round_trip(mqtt_port)["status"] == "accepted"
        journal = (var / "logs" / "supervisor.log").read_text()
        assert f"worker started: pid {third}" in journal

        (api,) = started_pids(var, "api")
        os.kill(api, signal.SIGKILL)
        wait_until(lambda: len(ready_pids(var, "api")) == 2, 60, "a new API, ready")
        assert f"api (pid {api}) exited with status -9" in out.read_text()
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health", timeout=5) as resp:
            assert json.loads(resp.read()) == {"status": "ok"}
        assert proc.poll() is None, "the stack kept running"
    finally:
        stop_stack(proc)


def test_the_broker_exiting_stops_the_stack_with_a_reason(tmp_path) -> None:
    env, _mqtt, http_port = stack_env(tmp_path)
    var = tmp_path / "var"
    out = tmp_path / "devstack.out"
    proc = start_stack([sys.executable, "-m", "devstack"], env, out)
    try:
        (broker,) = started_pids(var, "broker")
        os.kill(broker, signal.SIGKILL)
        assert proc.wait(60) == 1
        said = out.read_text()
        assert (
            f"make run: stopping: the broker exited with status -9; see {var}/logs/broker.log"
        ) in said
        assert "stopped api, worker, broker" in said
        assert port_is_free(http_port)
    finally:
        stop_stack(proc)


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


def test_a_process_answering_not_ready_too_long_is_restarted_with_backoff(tmp_path) -> None:
    """The supervisor's rule on its own, with a stand-in process and probe: "not ready" for
    longer than unready_restart_s restarts it, and restarts in a row wait longer."""
    from devstack.config import DevStackConfig
    from devstack.supervisor import Probe, Service, Supervisor

    cfg = DevStackConfig(var=tmp_path / "var", mqtt_port=1, http_port=1, unready_restart_s=5)
    stack = Supervisor(cfg)
    answers = [Probe(True, True, "ready"), Probe(True, False, "database unreachable")]
    svc = stack.add(Service("fake", ["sleep", "60"], stack.logs / "fake.log", lambda s: answers[0]))
    stack.env = dict(os.environ)
    try:
        stack.spawn(svc, first=True)
        stack.tend(svc)
        assert svc.ready_once and svc.restart_at is None
        answers.pop(0)
        first = svc.pid
        stack.tend(svc)  # not ready, but for less than 5 s: kept
        assert svc.restart_at is None
        svc.last_ready -= 6  # as if 6 s had passed since it last said ready
        stack.tend(svc)
        assert svc.restart_at is not None and svc.proc.poll() is not None
        journal = (stack.logs / "supervisor.log").read_text()
        assert (
            f"fake (pid {first}) not ready for 5 s (database unreachable); "
            "starting it again in 1 s" in journal
        )
        svc.restart_at = time.monotonic()  # the backoff is over
        stack.tend(svc)
        assert svc.pid != first and svc.proc.poll() is None
        os.kill(svc.pid, signal.SIGKILL)
        svc.proc.wait(5)
        stack.tend(svc)  # exited soon after its start: the next wait doubles
        assert (
            "exited with status -9; starting it again in 2 s"
            in (stack.logs / "supervisor.log").read_text()
        )
    finally:
        stack.stop_all()
