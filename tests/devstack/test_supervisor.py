"""`make run` as a service manager: signals, failed starts, busy ports, restarts of stuck
or dead processes and the broker exiting."""

from __future__ import annotations

import json
import os
import re
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
from tests.devstack.helpers import (
    BANNER_UP,
    is_gone,
    ready_pids,
    receipt_round_trip,
    stack_env,
    start_stack,
    started_pids,
    stop_stack,
    wait_until,
)
from tests.support.services import REPO


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.parametrize(
    "sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_a_signal_to_make_alone_stops_the_whole_stack(tmp_path, sig) -> None:
    """`kill -INT <make>` (make forwards nothing and would wait for ever) and `kill -TERM
    <make>` (make exits): make deletes its target, the supervisor's pid file, and the
    supervisor stops the pursuit process, the retention job, the API, the worker and the
    broker."""
    env, _mqtt, http_port = stack_env(tmp_path)
    out = tmp_path / "make.out"
    # a session of its own: the signal reaches make alone, as `kill <pid>` from elsewhere
    # (with the default action of each, even where this test runs with signals ignored:
    # under nohup, make would inherit an ignored SIGHUP and never exit)
    make = start_stack(
        ["make", "--no-print-directory", "run"],
        env,
        out,
        start_new_session=True,
        preexec_fn=_default_signals,
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
        assert len(children) == 5, (
            "broker, worker, API, retention and pursuit run under the supervisor"
        )
        assert int(Path(f"/proc/{supervisor}/stat").read_text().split()[3]) == make.pid
        make.send_signal(sig)
        make.wait(40)
        for pid in [supervisor, *children]:
            wait_until(lambda pid=pid: is_gone(pid), 20, f"process {pid} to stop")
        assert not pidfile.exists()
        assert port_is_free(http_port)
        said = out.read_text()
        assert "stopped pursuit, retention, api, worker, broker" in said
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
        assert "stopped pursuit, retention, api, worker, broker" in said
        assert port_is_free(http_port)
    finally:
        stop_stack(proc)


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
