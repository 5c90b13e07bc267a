"""Talk to a worker's health server (``127.0.0.1:$SR_WORKER_HEALTH_PORT``) and read its memory."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any

from tests.support.mqtt_client import wait_until

HEALTH_PORT_ENV = "SR_WORKER_HEALTH_PORT"


@dataclass(frozen=True)
class HealthAnswer:
    status: int  # HTTP status; 0 when nothing answered
    body: dict[str, Any] | str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


def probe(port: int, path: str = "/readyz", timeout_s: float = 2.0) -> HealthAnswer:
    """One GET on the worker's health server; a refused or timed-out call is status 0."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        raw = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return HealthAnswer(0, "", f"GET {path} on 127.0.0.1:{port} failed: {exc!r}")
    finally:
        conn.close()
    text = raw.decode("utf-8", "replace")
    try:
        body: dict[str, Any] | str = json.loads(text)
    except ValueError:
        body = text
    return HealthAnswer(response.status, body)


def wait_for_readiness(port: int, ready: bool, timeout_s: float, what: str) -> HealthAnswer:
    """Wait until /readyz settles in the wanted state (200 or 503): a stable state, reached
    with a deadline. Returns the answer that showed it."""
    wanted = 200 if ready else 503
    seen: list[HealthAnswer] = []

    def reached() -> bool:
        answer = probe(port)
        seen.append(answer)
        return answer.status == wanted

    try:
        wait_until(reached, timeout_s, what)
    except TimeoutError:
        last = seen[-1] if seen else None
        raise AssertionError(
            f"{what}: /readyz on port {port} never answered {wanted} in {timeout_s} s; "
            f"last answer: {last}"
        ) from None
    return seen[-1]


def metrics(port: int) -> str:
    answer = probe(port, "/metrics")
    return answer.body if isinstance(answer.body, str) else json.dumps(answer.body)


def rss_kib(pid: int) -> int | None:
    """Resident memory of a process in KiB (None when it is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None
