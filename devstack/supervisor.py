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

from devstack.config import (
    REPO,
    DevStackConfig,
    free_port,
)

PROBE_TIMEOUT_S = 2.0  # a health endpoint slower than this has not answered
BACKOFF_MAX_S = 30.0
STABLE_AFTER_S = 60.0  # a process that ran this long restarts without backoff


class StartFailedError(Exception):
    """The stack did not come up; the message is the one line the user is shown."""


class StackFailedError(Exception):
    """Something the stack cannot run without (the broker) went away."""


class StopRequest(Exception):  # noqa: N818 - a request, not an error
    """A signal, or make removed the pid file: stop everything, exit 0."""


def die_with_parent() -> None:
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
                preexec_fn=die_with_parent,
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
