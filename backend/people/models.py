"""Tables of people who log in to the desk console or call the API: accounts, the stations a
police account serves, open sessions and API tokens (only a hash of each token is stored)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from backend.db.base import Base, UTCDateTime


class Person(Base):
    """A person's account. ``role`` is ``coordinator``, ``police`` or ``operator``;
    the password is kept only as an Argon2id hash."""

    __tablename__ = "people"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PersonStation(Base):
    """A police station a police account serves (its jurisdiction is what the desk shows)."""

    __tablename__ = "people_stations"

    username: Mapped[str] = mapped_column(ForeignKey("people.username"), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), primary_key=True)


class PersonSession(Base):
    """A logged-in session: the SHA-256 of its token, never the token itself."""

    __tablename__ = "people_sessions"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(ForeignKey("people.username"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class PersonApiToken(Base):
    """A person's API token for scripts: it reads exactly what its person may, until it is
    revoked (or expires, when created with an expiry). Only the SHA-256 of the secret is
    stored; ``token_id`` names it in lists and revocations."""

    __tablename__ = "people_api_tokens"

    token_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    username: Mapped[str] = mapped_column(ForeignKey("people.username"), index=True)
    label: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
