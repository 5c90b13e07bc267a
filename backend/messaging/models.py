"""The worker's own table: how often a redelivered message has been tried."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class MessageAttempt(Base):
    """A message the broker redelivered (MQTT DUP flag), keyed by a digest of topic and
    payload. A message that keeps coming back (it crashed or wedged the worker that took it)
    is quarantined after a few attempts, so it can never block the messages behind it, across
    restarts too. Fresh messages never touch this table."""

    __tablename__ = "message_attempts"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    topic: Mapped[str] = mapped_column(String(512))
    attempts: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
