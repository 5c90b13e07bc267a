"""Readiness and metrics of one worker process, served over HTTP for supervisors and Prometheus.

``GET /readyz``: 200 when connected to the broker, subscribed and the database answered the
last time it was asked; 503 otherwise; the body says which. ``GET /healthz``: 200 while the
processing loop is alive (it beats at least every few seconds, even when idle).
``GET /metrics``: the Prometheus exposition (``prometheus_client``) of this worker's registry:
message counters, queue gauges, latency histograms and the process's own metrics.

Each :class:`Health` has its own ``CollectorRegistry``: tests run several workers in one
process, and their figures must not mix.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

log = logging.getLogger(__name__)

STALL_AFTER_S = 30.0  # a processing loop silent this long is stuck
MESSAGES = "sr_worker_messages_total"  # counter of handled messages, by kind and outcome
ALERTS_PUBLISHED = "sr_worker_alerts_published_total"
ALERT_REFUSALS = "sr_worker_alert_refusals_total"
INBOX_DEPTH = "sr_worker_inbox_depth"
POSITIONS_PENDING = "sr_worker_positions_pending"
UP = "sr_worker_up"
RECEIPT_SECONDS = "sr_worker_receipt_seconds"
BATCH_SECONDS = "sr_worker_batch_seconds"
ALERT_DELIVERY_SECONDS = "sr_worker_alert_delivery_seconds"
# Seconds batches spent waiting to acquire the incidents' cell locks (compare with the sum of
# BATCH_SECONDS: the share of batch time lost to other workers' batches nearby).
CELL_LOCK_WAIT = "sr_worker_cell_lock_wait_seconds_total"

FLAGS = ("connected", "subscribed", "database")
# From a few milliseconds (one report, an idle worker) to a minute (a backlog, a database
# that came back): the buckets an operator needs to see both.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    MESSAGES: ("Messages handled, by topic kind and outcome.", ("kind", "outcome")),
    ALERTS_PUBLISHED: ("Alert revisions handed to the delivery channels.", ()),
    ALERT_REFUSALS: ("Alert revisions a delivery channel refused, by channel.", ("channel",)),
    CELL_LOCK_WAIT: ("Seconds batches spent waiting to acquire the incidents' cell locks.", ()),
}
_GAUGES: dict[str, str] = {
    INBOX_DEPTH: "Messages received and waiting for a batch.",
    POSITIONS_PENDING: "Volunteers whose newest position waits to be applied.",
}


class Health:
    """Thread-safe readiness flags, and this worker's Prometheus metrics."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.connected = False
        self.subscribed = False
        self.database = False
        self._beat = clock()
        self.became_ready = threading.Event()
        self.registry = CollectorRegistry()
        registry = self.registry
        self._counters = {
            name: Counter(name, text, labels, registry=registry)
            for name, (text, labels) in _COUNTERS.items()
        }
        self._gauges = {name: Gauge(name, t, registry=registry) for name, t in _GAUGES.items()}
        self._up = Gauge(
            UP,
            "1 while this dependency is available: the broker connection, the subscriptions, "
            "the database.",
            ("dependency",),
            registry=registry,
        )
        for flag in FLAGS:
            self._up.labels(dependency=flag).set(0)
        self.receipt_seconds = Histogram(
            RECEIPT_SECONDS,
            "From a message's arrival at this worker to the broker's acknowledgement of its "
            "last answer (receipts), when the message itself is acknowledged.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_seconds = Histogram(
            BATCH_SECONDS,
            "One batch handled and committed (the policy's run, one transaction).",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.alert_delivery_seconds = Histogram(
            ALERT_DELIVERY_SECONDS,
            "From an alert revision handed to the MQTT channel to the broker's acknowledgement.",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)

    def set(self, **flags: bool) -> None:
        with self._lock:
            for name, value in flags.items():
                if name not in FLAGS:
                    raise AttributeError(f"unknown readiness flag {name!r}")
                setattr(self, name, value)
                self._up.labels(dependency=name).set(int(value))
            if self.connected and self.subscribed and self.database:
                self.became_ready.set()

    def beat(self) -> None:
        with self._lock:
            self._beat = self._clock()

    def count(self, name: str, n: float = 1, **labels: str) -> None:
        """Add ``n`` to one of the declared counters (``MESSAGES``, ...)."""
        metric = self._counters[name]
        (metric.labels(**labels) if labels else metric).inc(n)

    # What alert delivery tells (``alerts.delivery.Counters``).
    def handed_out(self) -> None:
        self.count(ALERTS_PUBLISHED)

    def refused(self, channel: str) -> None:
        self.count(ALERT_REFUSALS, channel=channel)

    def delivered_after(self, seconds: float) -> None:
        self.alert_delivery_seconds.observe(seconds)

    def gauge(self, name: str, value: float) -> None:
        self._gauges[name].set(value)

    def counter(self, name: str, **labels: str) -> int:
        """A counter's value (0 before its first count)."""
        value = self.registry.get_sample_value(name, labels)
        return int(value) if value is not None else 0

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

    def exposition(self) -> bytes:
        """The Prometheus text format (version 0.0.4) of this worker's registry."""
        return generate_latest(self.registry)


class HealthServer:
    """A tiny HTTP server on its own thread; port 0 picks a free one (see ``port``)."""

    def __init__(self, health: Health, host: str = "127.0.0.1", port: int = 0) -> None:
        self.health = health

        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._answer(self)

            def log_message(self, format: str, *args: object) -> None:
                pass  # probes and scrapes every few seconds: not worth a line each

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
            self._send(request, 200 if state["ready"] else 503, _json(state), "application/json")
        elif path == "/healthz":
            alive = self.health.alive()
            self._send(request, 200 if alive else 503, _json({"alive": alive}), "application/json")
        elif path == "/metrics":
            self._send(request, 200, self.health.exposition(), CONTENT_TYPE_PLAIN_0_0_4)
        else:
            body = _json({"detail": "try /readyz, /healthz or /metrics"})
            self._send(request, 404, body, "application/json")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
        request.send_response(status)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        request.wfile.write(data)


def _json(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode("utf-8")
