"""Tables of alerting: the alert outbox, responses and escalation timers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class AlertRow(Base):
    """The alert outbox: written in the matching transaction, published with QoS 1 after the
    commit, ``delivered_revision`` set when the broker acknowledged that revision."""

    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("incident_id", "recipient_kind", "recipient_id", "kind"),)

    alert_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))  # volunteer | station
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    topic: Mapped[str] = mapped_column(String(256))
    payload: Mapped[str] = mapped_column(Text)  # the Alert JSON of the current revision
    revision: Mapped[int] = mapped_column(Integer)
    escalation_level: Mapped[int] = mapped_column(Integer)
    case_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_revision: Mapped[int] = mapped_column(Integer, index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response: Mapped[str | None] = mapped_column(String(16))
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AlertResponseRow(Base):
    __tablename__ = "alert_responses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.alert_id"), index=True)
    incident_id: Mapped[str] = mapped_column(String(36), index=True)
    volunteer_id: Mapped[str] = mapped_column(String(64))
    response: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    note: Mapped[str | None] = mapped_column(Text)


class EscalationTimer(Base):
    """One escalating incident: a row, not a sleeping coroutine, so it survives restarts."""

    __tablename__ = "escalations"

    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.incident_id"), primary_key=True)
    level: Mapped[int] = mapped_column(Integer)
    level_since: Mapped[datetime] = mapped_column(UTCDateTime())
    recipients_at_level: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    done: Mapped[bool] = mapped_column(Boolean, index=True)
    outcome: Mapped[str | None] = mapped_column(String(200))
