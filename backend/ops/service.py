"""Liveness, readiness and metrics, read from the database so that every API process and
every worker agree: the figures are the stored truth, not one process's counters.

Nothing here returns personal data: counts only, and dead-letter problem codes (a fixed
vocabulary, see ``protocol/errors.py``), never payloads, ids or contacts.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, and_, func, not_, or_, select, text
from sqlalchemy.orm import Session

from backend.alerts.models import AlertRow
from backend.db.dialect import is_postgres
from backend.db.jobs import RETENTION_JOB, JobStatus, job_status
from backend.sightings.models import DeadLetter, Report

QUARANTINED = "quarantined"  # the problem code of a message set aside after repeated failure
REPORTS_TOPIC_LIKE = "sr/v1/devices/%/reports"
ACKNOWLEDGING = ("ack", "on_my_way")  # responses that stop an escalation
ESCALATION_KIND = "escalation"
_MAX_CODE_LEN = 64


def database_answers(engine: Engine) -> None:
    """Raise (an SQLAlchemy or OS error) unless the database answers ``SELECT 1``."""
    with engine.connect() as conn:
        conn.execute(text("SELECT 1")).scalar_one()


@dataclass(frozen=True)
class Metrics:
    reports_received: int
    reports_accepted: int
    reports_test: int
    reports_rejected: int
    quarantined: int
    dead_letters: int
    dead_letters_by_code: dict[str, int] = field(default_factory=dict)
    alerts_sent: int = 0
    alerts_acknowledged: int = 0
    alerts_escalated: int = 0
    alert_outbox_depth: int = 0
    # Kiosk reports stored at the kiosk's station instead of the place they claimed.
    reports_placed_at_station: int = 0
    retention: JobStatus | None = None  # None: retention never ran against this database


def _dead_letters_by_code(session: Session) -> dict[str, int]:
    """Dead letters per problem code; a letter with several codes counts once under each."""
    if is_postgres(session):
        sql = text(
            "SELECT e.value ->> 'code' AS code, count(DISTINCT d.id) "
            "FROM dead_letters d "
            "CROSS JOIN LATERAL json_array_elements("
            "  CASE WHEN json_typeof(d.reasons) = 'array' THEN d.reasons ELSE '[]'::json END"
            ") AS e(value) "
            "WHERE json_typeof(e.value) = 'object' GROUP BY 1"
        )
    else:
        sql = text(
            "SELECT json_extract(e.value, '$.code') AS code, count(DISTINCT d.id) "
            "FROM dead_letters d, json_each(CASE WHEN json_type(d.reasons) = 'array' "
            "THEN d.reasons ELSE '[]' END) AS e "
            "WHERE e.type = 'object' GROUP BY 1"
        )
    counts: dict[str, int] = {}
    for code, n in session.execute(sql):
        if isinstance(code, str) and code:
            counts[code[:_MAX_CODE_LEN]] = counts.get(code[:_MAX_CODE_LEN], 0) + int(n)
    return counts


def _quarantined(session: Session, topic_like: str | None = None) -> int:
    """Dead letters carrying the problem code ``quarantined`` (on matching topics only)."""
    if is_postgres(session):
        has_code = (
            "json_typeof(d.reasons) = 'array' AND EXISTS (SELECT 1 FROM "
            "json_array_elements(d.reasons) e WHERE json_typeof(e) = 'object' "
            "AND e ->> 'code' = :code)"
        )
    else:
        has_code = (
            "json_type(d.reasons) = 'array' AND EXISTS (SELECT 1 FROM json_each(d.reasons) e "
            "WHERE e.type = 'object' AND json_extract(e.value, '$.code') = :code)"
        )
    on_topic = " AND d.topic LIKE :topic" if topic_like is not None else ""
    sql = text(f"SELECT count(*) FROM dead_letters d WHERE {has_code}{on_topic}")
    return int(session.execute(sql, {"code": QUARANTINED, "topic": topic_like}).scalar_one())


def _scalar(session: Session, stmt: object) -> int:
    return int(session.execute(stmt).scalar_one())  # type: ignore[call-overload]


def read_metrics(session: Session, now: datetime) -> Metrics:
    """Every figure of ``/metrics``, from the tables (a consistent-enough snapshot: one
    session, read-only)."""
    reports = select(func.count()).select_from(Report)
    accepted = _scalar(session, reports.where(not_(Report.is_test)))
    test = _scalar(session, reports.where(Report.is_test))
    on_reports_topic = DeadLetter.topic.like(REPORTS_TOPIC_LIKE)
    dead_on_reports = _scalar(
        session, select(func.count()).select_from(DeadLetter).where(on_reports_topic)
    )
    quarantined_reports = _quarantined(session, REPORTS_TOPIC_LIKE)
    alerts = select(func.count()).select_from(AlertRow)
    placed = reports.where(
        or_(Report.claimed_lon.is_not(None), Report.claimed_station_id.is_not(None))
    )
    return Metrics(
        reports_received=accepted + test + dead_on_reports,
        reports_accepted=accepted,
        reports_test=test,
        reports_rejected=dead_on_reports - quarantined_reports,
        quarantined=_quarantined(session),
        dead_letters=_scalar(session, select(func.count()).select_from(DeadLetter)),
        dead_letters_by_code=_dead_letters_by_code(session),
        alerts_sent=_scalar(session, alerts.where(AlertRow.delivered_revision > 0)),
        alerts_acknowledged=_scalar(session, alerts.where(AlertRow.response.in_(ACKNOWLEDGING))),
        alerts_escalated=_scalar(session, alerts.where(AlertRow.kind == ESCALATION_KIND)),
        alert_outbox_depth=_scalar(
            session,
            alerts.where(
                and_(AlertRow.revision > AlertRow.delivered_revision, AlertRow.expires_at > now)
            ),
        ),
        reports_placed_at_station=_scalar(session, placed),
        retention=job_status(session, RETENTION_JOB),
    )


# --------------------------------------------------------------------------- exposition


def _label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    rendered = (
        "{" + ",".join(f'{k}="{_label_value(v)}"' for k, v in sorted(labels.items())) + "}"
        if labels
        else ""
    )
    number = (
        "NaN" if math.isnan(value) else repr(int(value)) if value == int(value) else repr(value)
    )
    return f"{name}{rendered} {number}"


def _family(
    name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str] | None, float]]
) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [_sample(name, value, labels) for labels, value in samples]
    return lines


def render_prometheus(m: Metrics) -> str:
    """The Prometheus text exposition format (version 0.0.4)."""
    lines: list[str] = []

    def counter(name: str, help_text: str, value: int) -> None:
        lines.extend(_family(name, "counter", help_text, [(None, value)]))

    counter(
        "sr_reports_received_total",
        "Messages on report topics that were stored or dead-lettered.",
        m.reports_received,
    )
    counter(
        "sr_reports_accepted_total",
        "Reports stored (operator test reports excluded).",
        m.reports_accepted,
    )
    counter("sr_reports_test_total", "Operator test reports stored.", m.reports_test)
    counter(
        "sr_reports_rejected_total",
        "Messages on report topics refused and dead-lettered (quarantined ones excluded).",
        m.reports_rejected,
    )
    counter(
        "sr_quarantined_total",
        "Messages set aside after repeated failed processing (problem code quarantined).",
        m.quarantined,
    )
    counter("sr_dead_letters_total", "Dead letters on all topics.", m.dead_letters)
    lines.extend(
        _family(
            "sr_dead_letters_by_code_total",
            "counter",
            "Dead letters per problem code (a letter with several codes counts under each).",
            [({"code": code}, n) for code, n in sorted(m.dead_letters_by_code.items())],
        )
    )
    counter(
        "sr_alerts_sent_total",
        "Alerts the broker acknowledged at least once (delivered_revision > 0).",
        m.alerts_sent,
    )
    counter(
        "sr_alerts_acknowledged_total",
        "Alerts whose recipient answered ack or on_my_way.",
        m.alerts_acknowledged,
    )
    counter("sr_alerts_escalated_total", "Alerts sent by escalation.", m.alerts_escalated)
    lines.extend(
        _family(
            "sr_alert_outbox_depth",
            "gauge",
            "Alert revisions committed but not yet delivered, and not expired.",
            [(None, m.alert_outbox_depth)],
        )
    )
    counter(
        "sr_reports_placed_at_station_total",
        "Kiosk reports stored at the kiosk's station, not at the place they claimed "
        "(farther than SR_KIOSK_LOCATION_TOLERANCE_M, or another station).",
        m.reports_placed_at_station,
    )
    lines.extend(_retention_families(m.retention))
    return "\n".join(lines) + "\n"


RETENTION_ERASED = ("cases", "report_contacts", "report_photos")


def _retention_families(run: JobStatus | None) -> list[str]:
    """When the retention job last ran (0: never) and what it erased."""
    last = run.last_counts if run is not None else {}
    total = run.total_counts if run is not None else {}
    return [
        *_family(
            "sr_retention_last_run_timestamp_seconds",
            "gauge",
            "Unix time of the last retention pass that committed (0: never ran).",
            [(None, run.last_run_at.timestamp() if run is not None else 0)],
        ),
        *_family(
            "sr_retention_runs_total",
            "counter",
            "Retention passes that committed.",
            [(None, run.runs if run is not None else 0)],
        ),
        *_family(
            "sr_retention_last_erased",
            "gauge",
            "What the last retention pass erased: cases' personal data, reporters' contacts "
            "and photos.",
            [({"what": what}, last.get(what, 0)) for what in RETENTION_ERASED],
        ),
        *_family(
            "sr_retention_erased_total",
            "counter",
            "What every retention pass erased, summed.",
            [({"what": what}, total.get(what, 0)) for what in RETENTION_ERASED],
        ),
    ]
