"""``make run``: start broker, worker and API, print how to reach them, and keep them running
like a small service manager.

- A failed start exits non-zero with one line naming the process and its log file.
- The worker gets a free health port (``SR_WORKER_HEALTH_PORT``); the start waits for its
  ``/readyz`` and then for the API's. Afterwards both are probed: one whose endpoint does not
  answer for ``unanswered_restart_s``, or that answers "not ready" for ``unready_restart_s``,
  is restarted, and so is one that exited (with backoff). Each restart is logged in
  ``var/logs/supervisor.log`` and on stdout. The broker exiting stops everything.
- Ctrl-C or SIGTERM stops the API, the worker and the broker, in that order. Under ``make
  run`` a signal sent to make alone also stops them (see ``Supervisor.write_pidfile``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from backend.db.engine import make_engine, make_sessionmaker
from backend.db.migrate import upgrade
from backend.stations.metro import load_metro
from devstack.banner import banner
from devstack.broker import (
    WORKER_ACCOUNT,
    choose_broker,
    demo_accounts,
    write_broker_config,
    write_embedded_broker_config,
)
from devstack.config import (
    REPO,
    DevStackConfig,
    free_port,
    port_is_free,
    role_token,
)
from devstack.seed import kiosk_id, seed_demo_world, write_app_configs


def prepare(cfg: DevStackConfig, broker_kind: str = "mosquitto") -> dict[str, str]:
    """Everything but the processes: files, database, demo data. Returns the broker users."""
    cfg.var.mkdir(parents=True, exist_ok=True)
    upgrade(cfg.database_url)
    stations, routes = load_metro()
    engine = make_engine(cfg.database_url)
    with make_sessionmaker(engine).begin() as session:
        seed_demo_world(session, stations, routes)
    engine.dispose()
    accounts = demo_accounts(cfg, [kiosk_id(s) for s in stations])
    if broker_kind == "mosquitto":
        write_broker_config(cfg, accounts)
    else:
        (cfg.var / "broker").mkdir(parents=True, exist_ok=True)
    write_app_configs(cfg)
    return {a.username: a.password for a in accounts}


PROBE_TIMEOUT_S = 2.0  # a health endpoint slower than this has not answered
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a process that ran this long restarts without backoff


class StartFailedError(Exception):
    """The stack did not come up; the message is the one line the user is shown."""


class StackFailedError(Exception):
    """Something the stack cannot run without (the broker) went away."""


class StopRequest(Exception):  # noqa: N818 - a request, not an error
    """A signal, or make removed the pid file: stop everything, exit 0."""


def _die_with_parent() -> None:
    """Ask Linux to send us SIGTERM when our parent dies (PR_SET_PDEATHSIG). Used in each
    child before exec, and by the supervisor on itself: when make (or whoever started us)
    is killed, nobody else is left to stop the stack."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


@dataclass(frozen=True)
class Probe:
    answered: bool
    ready: bool
    reason: str


def probe_http(url: str, timeout_s: float = PROBE_TIMEOUT_S) -> Probe:
    """GET a readiness URL: 2xx is ready; another status is an answer saying why not."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s):
            return Probe(True, True, "ready")
    except urllib.error.HTTPError as exc:
        body = exc.read(4000).decode("utf-8", errors="replace")
        return Probe(True, False, f"{url} answered {exc.code}: {_why(body)}")
    except (OSError, ValueError) as exc:  # refused, timed out, reset
        return Probe(False, False, f"{url} did not answer ({getattr(exc, 'reason', exc)})")


def _why(body: str) -> str:
    """The reason in a /readyz body (any of the usual keys), else the body itself, short."""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200] or "no reason given"
    if isinstance(data, dict):
        for key in ("reason", "reasons", "detail", "checks"):
            if key in data:
                return json.dumps(data[key], ensure_ascii=False)[:200]
    return json.dumps(data, ensure_ascii=False)[:200]


@dataclass
class Service:
    """One supervised process and what the supervisor knows about it."""

    name: str
    args: list[str]
    log_path: Path
    probe: Callable[[Service], Probe]
    restartable: bool = True
    proc: subprocess.Popen[bytes] | None = None
    health_port: int | None = None  # the worker's, given to it as SR_WORKER_HEALTH_PORT
    started_at: float = 0.0
    last_answer: float = 0.0
    last_ready: float = 0.0
    ready_once: bool = False
    reason: str = "starting"
    restarts: int = 0  # in a row, for the backoff
    restart_at: float | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


class Supervisor:
    """Starts the services in order, watches them, restarts the worker and the API, and
    stops everything in reverse order."""

    def __init__(self, cfg: DevStackConfig, pidfile: Path | None = None) -> None:
        self.cfg = cfg
        self.logs = cfg.var / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.pidfile = pidfile
        self.services: dict[str, Service] = {}
        self.env: dict[str, str] = {}
        self.stop_reason: str | None = None
        self._journal = open(self.logs / "supervisor.log", "a", encoding="utf-8")  # noqa: SIM115

    # ------------------------------------------------------------------ telling

    def say(self, line: str, *, to: TextIO | None = sys.stdout) -> None:
        """One line to var/logs/supervisor.log and (unless ``to`` is None) to stdout."""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._journal.write(f"{stamp} {line}\n")
        self._journal.flush()
        if to is not None:
            print(line, file=to, flush=True)

    # ------------------------------------------------------------------ stopping

    def request_stop(self, reason: str) -> None:
        """From a signal handler: the loops notice it within a probe interval."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def write_pidfile(self) -> None:
        """Under make, the pid file is make's target: make deletes it when it gets SIGINT,
        SIGTERM or SIGHUP (its target changed while the recipe ran), which is how we learn
        that make was interrupted, as make itself forwards no signal to its child."""
        if self.pidfile is None:
            return
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        other = _live_supervisor(self.pidfile)
        if other is not None:
            raise StartFailedError(
                f"another `make run` (pid {other}) is running with {self.cfg.var}; stop it "
                f"first, or give this one its own directory: SR_DEV_VAR=<dir> make run"
            )
        tmp = self.pidfile.with_name(self.pidfile.name + ".tmp")
        tmp.write_text(f"{os.getpid()}\n")
        tmp.replace(self.pidfile)

    def _pidfile_is_ours(self) -> bool:
        assert self.pidfile is not None
        try:
            return self.pidfile.read_text().strip() == str(os.getpid())
        except OSError:
            return False

    def remove_pidfile(self) -> None:
        if self.pidfile is not None and self._pidfile_is_ours():
            self.pidfile.unlink(missing_ok=True)

    def check_stop(self) -> None:
        if self.stop_reason is None and self.pidfile is not None and not self._pidfile_is_ours():
            self.stop_reason = f"{self.pidfile} was removed (make was interrupted)"
        if self.stop_reason is not None:
            raise StopRequest(self.stop_reason)

    def pause(self, seconds: float) -> None:
        self.check_stop()
        time.sleep(seconds)
        self.check_stop()

    def terminate(self, svc: Service) -> None:
        proc = svc.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        with contextlib.suppress(ProcessLookupError):  # a frozen (SIGSTOPped) process
            os.kill(proc.pid, signal.SIGCONT)  # handles SIGTERM only once continued
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def stop_all(self) -> None:
        for svc in reversed(list(self.services.values())):
            self.terminate(svc)
        if self.services:
            self.say(f"stopped {', '.join(reversed(self.services))}.")

    # ------------------------------------------------------------------ starting

    def add(self, svc: Service) -> Service:
        self.services[svc.name] = svc
        return svc

    def spawn(self, svc: Service, *, first: bool) -> None:
        env = dict(self.env, **svc.extra_env)
        if svc.name == "worker":
            svc.health_port = free_port()
            env["SR_WORKER_HEALTH_PORT"] = str(svc.health_port)
        with open(svc.log_path, "wb" if first else "ab") as log:
            if not first:
                log.write(f"\n--- started again by the supervisor, {time.ctime()} ---\n".encode())
                log.flush()
            # A new session: Ctrl-C reaches only us, and we stop the children in order. If
            # we die without cleaning up (SIGKILL), the kernel stops them (parent-death
            # signal).
            svc.proc = subprocess.Popen(
                svc.args,
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        now = time.monotonic()
        svc.started_at = svc.last_answer = svc.last_ready = now
        svc.ready_once = False
        svc.reason = "starting"
        self.say(f"{svc.name} started: pid {svc.proc.pid}, log {svc.log_path}")

    def observe(self, svc: Service) -> None:
        """Probe once and remember what it said."""
        result = svc.probe(svc)
        now = time.monotonic()
        svc.reason = result.reason
        if result.answered:
            svc.last_answer = now
        if result.ready:
            svc.last_ready = now
            if not svc.ready_once:
                svc.ready_once = True
                self.say(f"{svc.name} ready: pid {svc.pid}")

    def wait_ready(self, svc: Service, timeout_s: float) -> None:
        """At start: ready within the time, or the start fails with the reason."""
        assert svc.proc is not None
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_stop()
            code = svc.proc.poll()
            if code is not None:
                raise StartFailedError(
                    f"the {svc.name} exited with status {code} while starting; see {svc.log_path}"
                )
            self.observe(svc)
            if svc.ready_once:
                return
            if time.monotonic() > deadline:
                raise StartFailedError(
                    f"the {svc.name} was not ready after {timeout_s:g} s ({svc.reason}); "
                    f"see {svc.log_path}"
                )
            self.pause(0.1)

    # ------------------------------------------------------------------ watching

    def watch(self) -> None:
        """Until stopped: the broker must live; the worker and the API are kept alive."""
        while True:
            self.check_stop()
            for svc in self.services.values():
                if svc.restartable:
                    self.tend(svc)
                else:
                    assert svc.proc is not None
                    code = svc.proc.poll()
                    if code is not None:
                        raise StackFailedError(
                            f"the {svc.name} exited with status {code}; see {svc.log_path}"
                        )
            self.pause(self.cfg.probe_interval_s)

    def tend(self, svc: Service) -> None:
        assert svc.proc is not None
        now = time.monotonic()
        if svc.restart_at is not None:
            if now >= svc.restart_at:
                svc.restart_at = None
                self.spawn(svc, first=False)
            return
        code = svc.proc.poll()
        if code is not None:
            self.restart(svc, f"exited with status {code}")
            return
        self.observe(svc)
        now = time.monotonic()
        cfg = self.cfg
        if not svc.ready_once:
            if now - svc.started_at > cfg.ready_timeout_s:
                self.restart(svc, f"not ready {cfg.ready_timeout_s:g} s after start ({svc.reason})")
        elif now - svc.last_answer > cfg.unanswered_restart_s:
            self.restart(svc, f"health endpoint silent for {cfg.unanswered_restart_s:g} s")
        elif now - svc.last_ready > cfg.unready_restart_s:
            self.restart(svc, f"not ready for {cfg.unready_restart_s:g} s ({svc.reason})")

    def restart(self, svc: Service, why: str) -> None:
        """Stop it (if it still runs) and start it again after a backoff."""
        now = time.monotonic()
        if now - svc.started_at > STABLE_AFTER_S:
            svc.restarts = 0
        delay = min(BACKOFF_MAX_S, 2.0**svc.restarts)
        svc.restarts += 1
        self.say(
            f"{svc.name} (pid {svc.pid}) {why}; starting it again in {delay:g} s "
            f"(see {svc.log_path})"
        )
        self.terminate(svc)
        svc.restart_at = time.monotonic() + delay


def _live_supervisor(pidfile: Path) -> int | None:
    """The pid in a pid file, if that process is another running devstack."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return None
    return pid if pid != os.getpid() and b"devstack" in cmdline else None


def _worker_probe(svc: Service) -> Probe:
    return probe_http(f"http://127.0.0.1:{svc.health_port}/readyz")


def _api_probe(port: int) -> Callable[[Service], Probe]:
    def probe(svc: Service) -> Probe:
        return probe_http(f"http://127.0.0.1:{port}/readyz")

    return probe


def _broker_probe(port: int) -> Callable[[Service], Probe]:
    def probe(svc: Service) -> Probe:
        listening = not port_is_free(port)
        return Probe(True, listening, "listening" if listening else f"not listening on {port}")

    return probe


BANNER_NOTE = (
    "Supervised: a worker or API that exits, stops answering or stays not ready is started "
    "again (see {logs}/supervisor.log); if the broker exits, everything stops."
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument(
        "--pidfile",
        type=Path,
        help="write our pid here and stop everything when it is removed (make's target)",
    )
    args = parser.parse_args(argv)
    parent = os.getppid()
    _die_with_parent()
    cfg = DevStackConfig.from_env()
    for port, what in ((cfg.mqtt_port, "SR_DEV_MQTT_PORT"), (cfg.http_port, "SR_DEV_HTTP_PORT")):
        if not port_is_free(port):
            sys.exit(
                f"make run: port {port} on 127.0.0.1 is in use (another `make run`?). "
                f"Stop that, or choose another port: {what}=<port> make run"
            )
    stack = Supervisor(cfg, args.pidfile)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: stack.request_stop(signal.strsignal(signum)))
    if os.getppid() != parent:  # our parent died before the parent-death signal was set
        stack.request_stop("the process that started us is gone")
    failure = ""
    try:
        stack.write_pidfile()
        broker_kind = choose_broker()
        users = prepare(cfg, broker_kind)
        logs = stack.logs
        env = dict(
            os.environ,
            SR_DATABASE_URL=cfg.database_url,
            SR_MQTT_HOST="127.0.0.1",
            SR_MQTT_PORT=str(cfg.mqtt_port),
            SR_MQTT_USERNAME=WORKER_ACCOUNT,
            SR_MQTT_PASSWORD=users[WORKER_ACCOUNT],
            SR_COORDINATOR_TOKEN=role_token(cfg.var, "coordinator"),
            SR_OPERATOR_TOKEN=role_token(cfg.var, "operator"),
            SR_POLICE_TOKEN=role_token(cfg.var, "police"),
            PYTHONUNBUFFERED="1",
        )
        stack.env = env
        if broker_kind == "mosquitto":
            broker_args = ["mosquitto", "-c", str(cfg.var / "broker" / "mosquitto.conf")]
        else:
            broker_args = [
                sys.executable,
                "-m",
                "iotcore",
                "--config",
                str(write_embedded_broker_config(cfg)),
            ]
        api_args = [
            sys.executable,
            "-m",
            "uvicorn",
            "backend.api:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(cfg.http_port),
        ]
        services = (
            Service(
                "broker",
                broker_args,
                logs / "broker.log",
                _broker_probe(cfg.mqtt_port),
                restartable=False,
            ),
            Service(
                "worker",
                [sys.executable, "-m", "backend.worker"],
                logs / "worker.log",
                _worker_probe,
            ),
            Service("api", api_args, logs / "api.log", _api_probe(cfg.http_port)),
        )
        for svc in services:
            stack.add(svc)
            stack.spawn(svc, first=True)
            stack.wait_ready(svc, 10.0 if svc.name == "broker" else cfg.ready_timeout_s)
        print(banner(cfg, broker_kind), flush=True)
        print(BANNER_NOTE.format(logs=logs), flush=True)
        stack.watch()
    except StopRequest as stop:
        stack.say(f"stopping: {stop}")
    except (StartFailedError, StackFailedError) as exc:
        what = "could not start the stack" if isinstance(exc, StartFailedError) else "stopping"
        failure = f"make run: {what}: {exc}"
        stack.say(failure, to=None)
    finally:
        stack.stop_all()
        stack.remove_pidfile()
    if failure:  # the last line on the terminal, on stderr, and a non-zero exit
        sys.exit(failure)


if __name__ == "__main__":
    main()
