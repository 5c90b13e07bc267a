"""Configuration from environment variables (prefix ``SR_``), built on demand, never at import."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from backend.secret_env import enforce as enforce_secrets


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SR_", extra="ignore")

    # SQLAlchemy URL of the database: `postgresql+psycopg://user:password@host/db` in
    # production (PostGIS), SQLite + SpatiaLite by default.
    database_url: str = "sqlite:///var/sightings.db"
    # The broker this process connects to (8883 with TLS in production).
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = 1883
    # This worker's broker account (kind `worker`, one per worker: its username is its
    # client id); unset on a broker without accounts.
    mqtt_username: str | None = None
    mqtt_password: str | None = None
    # TLS: the CA certificate that signed the broker's certificate (SR_MQTT_CA_FILE); set it
    # with the broker's TLS port (SR_MQTT_PORT=8883). Unset: plain MQTT.
    mqtt_ca_file: str | None = None
    # Shared-subscription group: every worker in it gets a share of the messages.
    share_group: str = "backend"
    # A stable client id per worker keeps its persistent session (and unacked messages)
    # across a crash; set it per process (backend-worker-1, -2, ...).
    worker_client_id: str = "backend-worker-1"
    # How long the broker keeps this worker's session (and what it has not acknowledged)
    # while it is away.
    session_expiry_s: int = 3600
    # Flow control: at most this many unacknowledged QoS 1 messages from the broker (MQTT 5
    # Receive Maximum); the rest of a backlog waits at the broker. Keep it several times
    # SR_BATCH_MAX: a batch's messages stay unacknowledged until their receipts are
    # acknowledged, so with a window of one batch the next batch only starts to arrive after
    # the commit and the worker idles (or takes a few messages) meanwhile.
    receive_maximum: int = 2000
    # Messages handled in one transaction, at most. A batch is what has arrived: one message
    # when they trickle in (its receipt leaves after one commit), up to this many when a
    # backlog waits (each commit's fixed cost is shared).
    batch_max: int = 500
    inbox_size: int = 20_000  # QoS 0 locations are bounded only by this (then TCP pushes back)
    # Decode, check and store volunteer positions in a child process of the worker
    # (backend.messaging.position_process), off the reports' interpreter lock; false: in the
    # worker's own positions thread.
    positions_process: bool = True
    # Readiness and metrics over HTTP (GET /readyz, /healthz, /metrics); unset = none.
    worker_health_port: int | None = None
    # Address of the worker's health and metrics server (0.0.0.0 where Prometheus scrapes
    # it from another host).
    worker_health_host: str = "127.0.0.1"
    # On-duty volunteers nearest to a sighting (within their own alert radius) alerted per
    # incident.
    proximity_k: int = 5
    # Case matches kept per report (the best by score, and any case the reporter named).
    matches_per_report: int = Field(default=10, ge=1)
    # An alert expires this long after it was sent.
    alert_ttl_s: float = 7_200.0
    # Seconds without acknowledgement before escalating from level 0, 1 and 2.
    escalation_timeouts_s: str = "180,300,600"
    # How often kiosk notice boards are recomputed (case areas grow with time).
    notice_refresh_s: float = 30.0
    # A kiosk report located farther than this from the kiosk's station is stored at the
    # station's position, its claim kept for audit (backend/sightings/placement.py).
    kiosk_location_tolerance_m: float = Field(default=300.0, gt=0)
    # Per-device report limits; "off" only for benchmarks (devices.ratelimit.UNLIMITED).
    rate_limits: bool = True
    # Delivery channels of alerts, comma-separated (backend.alerts.channels.FACTORIES).
    alert_channels: str = "mqtt"
    # The worker's ticker period: alert sweeps, due escalations, changes of cases.
    tick_s: float = 0.5


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    enforce_secrets()  # *_FILE secrets read; a change-me or missing one stops the process
    return Settings()
