"""Run the real backend processes against test services."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.services import REPO, Mosquitto


@dataclass
class WorkerProcess:
    proc: subprocess.Popen[bytes]
    log_path: Path
    ready_text: str = "subscribed to"  # what the process logs once it is ready

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.ready_text in self.log():
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"backend worker exited early:\n{self.log()}")
            time.sleep(0.05)
        raise TimeoutError(
            f"backend process not ready ({self.ready_text!r}) after {timeout_s} s:\n{self.log()}"
        )

    def kill(self) -> None:
        """SIGKILL: no cleanup, no disconnect, in-flight messages left unacknowledged."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def terminate(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def start_worker(
    broker: Mosquitto,
    db_url: str,
    *,
    client_id: str = "backend-worker-1",
    username: str | None = None,
    password: str | None = None,
    logdir: Path | None = None,
    extra_env: dict[str, str] | None = None,
    module: str = "backend.worker",
    ready_text: str = "subscribed to",
) -> WorkerProcess:
    logdir = logdir or Path(tempfile.mkdtemp(prefix="sr-worker-"))
    log_path = logdir / f"{client_id}.log"
    env = dict(os.environ)
    env.update(
        {
            "SR_DATABASE_URL": db_url,
            "SR_MQTT_HOST": "127.0.0.1",
            "SR_MQTT_PORT": str(broker.port),
            "SR_WORKER_CLIENT_ID": client_id,
            "PYTHONUNBUFFERED": "1",
        }
    )
    if username is not None:
        env["SR_MQTT_USERNAME"] = username
        env["SR_MQTT_PASSWORD"] = password or ""
    env.update(extra_env or {})
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the child process
    proc = subprocess.Popen(
        [sys.executable, "-m", module], cwd=REPO, env=env, stdout=log, stderr=log
    )
    worker = WorkerProcess(proc, log_path, ready_text)
    worker.wait_ready()
    return worker


@contextlib.contextmanager
def backend_worker(broker: Mosquitto, db_url: str, **kwargs: object) -> Iterator[WorkerProcess]:
    """The real ingest worker (``python -m backend.worker``) as a subprocess."""
    worker = start_worker(broker, db_url, **kwargs)  # type: ignore[arg-type]
    try:
        yield worker
    finally:
        worker.terminate()
