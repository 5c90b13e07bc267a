"""Readiness and counters of one worker process, served over HTTP for supervisors.

``GET /readyz``: 200 when connected to the broker, subscribed and the database answered the
last time it was asked; 503 otherwise; the body says which. ``GET /healthz``: 200 while the
processing loop is alive (it beats at least every few seconds, even when idle).
``GET /metrics``: Prometheus text exposition of the counters.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

STALL_AFTER_S = 30.0  # a processing loop silent this long is stuck
MESSAGES = "sr_worker_messages_total"  # counter of handled messages, by kind and outcome


class Health:
    """Thread-safe readiness flags and monotonic counters."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.connected = False
        self.subscribed = False
        self.database = False
        self._beat = clock()
        self._counters: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
        self._gauges: dict[str, float] = {}
        self.became_ready = threading.Event()

    def set(self, **flags: bool) -> None:
        with self._lock:
            for name, value in flags.items():
                if name not in ("connected", "subscribed", "database"):
                    raise AttributeError(f"unknown readiness flag {name!r}")
                setattr(self, name, value)
            if self.connected and self.subscribed and self.database:
                self.became_ready.set()

    def beat(self) -> None:
        with self._lock:
            self._beat = self._clock()

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        with self._lock:
            self._counters[(name, tuple(sorted(labels.items())))] += n

    def gauge(self, name: str, value: float) -> None:
        with self._lock:
            self._gauges[name] = value

    def counter(self, name: str, **labels: str) -> int:
        with self._lock:
            return self._counters[(name, tuple(sorted(labels.items())))]

    def readiness(self) -> dict[str, object]:
        with self._lock:
            alive = self._clock() - self._beat < STALL_AFTER_S
            state: dict[str, object] = {
                "connected": self.connected,
                "subscribed": self.subscribed,
                "database": self.database,
                "processing": alive,
            }
        state["ready"] = all(state.values())
        return state

    def alive(self) -> bool:
        with self._lock:
            return self._clock() - self._beat < STALL_AFTER_S

    def exposition(self) -> str:
        """Prometheus text format (version 0.0.4)."""
        with self._lock:
            counters = sorted(self._counters.items())
            gauges = sorted(self._gauges.items())
            flags = {"connected": self.connected, "subscribed": self.subscribed}
            flags["database"] = self.database
        lines: list[str] = []
        seen: set[str] = set()
        for (name, labels), value in counters:
            if name not in seen:
                lines.append(f"# TYPE {name} counter")
                seen.add(name)
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
            lines.append(f"{name}{{{label_text}}} {value}" if labels else f"{name} {value}")
        for name, gauge in gauges:
            lines += [f"# TYPE {name} gauge", f"{name} {gauge}"]
        lines.append("# TYPE sr_worker_up gauge")
        for flag, value in sorted(flags.items()):
            lines.append(f'sr_worker_up{{dependency="{flag}"}} {int(value)}')
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class HealthServer:
    """A tiny HTTP server on its own thread; port 0 picks a free one (see ``port``)."""

    def __init__(self, health: Health, host: str = "127.0.0.1", port: int = 0) -> None:
        self.health = health

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                log.debug("health: " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="health-http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, request: BaseHTTPRequestHandler) -> None:
        path = request.path.split("?", 1)[0]
        if path == "/readyz":
            state = self.health.readiness()
            self._send(request, 200 if state["ready"] else 503, json.dumps(state), "json")
        elif path == "/healthz":
            alive = self.health.alive()
            self._send(request, 200 if alive else 503, json.dumps({"alive": alive}), "json")
        elif path == "/metrics":
            self._send(request, 200, self.health.exposition(), "prometheus")
        else:
            self._send(
                request, 404, json.dumps({"detail": "try /readyz, /healthz or /metrics"}), "json"
            )

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: str, kind: str) -> None:
        data = body.encode("utf-8")
        content_type = (
            "application/json" if kind == "json" else "text/plain; version=0.0.4; charset=utf-8"
        )
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)
