"""Liveness, readiness and metrics, read from the database so that every API process and
every worker agree: the figures are the stored truth, not one process's counters.

Nothing here returns personal data: counts only, and dead-letter problem codes (a fixed
vocabulary, see ``protocol/errors.py``), never payloads, ids or contacts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine, and_, func, not_, or_, select, text
from sqlalchemy.orm import Session, aliased

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
    # Incidents escalated (an unexpired escalation alert) that nobody has acknowledged yet.
    escalations_unacknowledged: int = 0


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
        escalations_unacknowledged=_escalations_unacknowledged(session, now),
    )


def _escalations_unacknowledged(session: Session, now: datetime) -> int:
    """Incidents with an unexpired escalation alert and no alert answered ack or on_my_way."""
    answered = aliased(AlertRow)
    acknowledged = (
        select(answered.alert_id)
        .where(answered.incident_id == AlertRow.incident_id)
        .where(answered.response.in_(ACKNOWLEDGING))
        .exists()
    )
    stmt = select(func.count(func.distinct(AlertRow.incident_id))).where(
        AlertRow.kind == ESCALATION_KIND, AlertRow.expires_at > now, not_(acknowledged)
    )
    return _scalar(session, stmt)
