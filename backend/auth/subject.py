"""The subject of a request: a person's role and stations, from a bearer token that is either
a desk session (``POST /api/v1/desk/login``) or a per-person API token (created with
``python -m backend.people token create`` or ``POST /api/v1/desk/tokens``). Only the SHA-256
of either kind of token is stored; a token is scoped exactly like its person, at every
request (a person's stations or a disabled account take effect at once)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.people.models import Person, PersonApiToken, PersonSession, PersonStation

API_TOKEN_PREFIX: Final = "srp_"  # "sighting-report person": recognisable by secret scanners


class Role(StrEnum):
    """What a person does: coordinators file cases and read everything; police duty desks
    read their stations' items; operators run the fleet."""

    COORDINATOR = "coordinator"
    POLICE = "police"
    OPERATOR = "operator"


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking. Every read is filtered for a subject (``backend.desk.scope.readable``).
    ``token_id`` is the id of the API token the request came with, None for a session."""

    username: str
    role: Role
    station_ids: frozenset[str] = frozenset()
    token_id: str | None = None


class TokenRefusedError(Exception):
    """A bearer token that stands for nobody; the message says why and what to do."""


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a session or API token is stored."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def subject_of(session: Session, person: Person, token_id: str | None = None) -> Subject:
    stations = session.execute(
        select(PersonStation.station_id).where(PersonStation.username == person.username)
    ).scalars()
    return Subject(person.username, Role(person.role), frozenset(stations), token_id)


def _live_person(session: Session, username: str) -> Person:
    person = session.get(Person, username)
    if person is None or person.disabled:
        raise TokenRefusedError(
            f"the account {username!r} of this token is disabled or gone; ask a coordinator"
        )
    return person


def subject_for_token(session: Session, token: str, now: datetime) -> Subject:
    """The subject a session or API token stands for; TokenRefusedError when it is unknown,
    expired, revoked, or its account is disabled."""
    digest = token_digest(token)
    live_session = session.get(PersonSession, digest)
    if live_session is not None:
        if live_session.expires_at <= now:
            raise TokenRefusedError(
                "this desk session expired; log in again: POST /api/v1/desk/login"
            )
        return subject_of(session, _live_person(session, live_session.username))
    api_token = session.execute(
        select(PersonApiToken).where(PersonApiToken.token_sha256 == digest)
    ).scalar_one_or_none()
    if api_token is None:
        raise TokenRefusedError(
            "unknown token: send an API token (python -m backend.people token create USERNAME, "
            "or POST /api/v1/desk/tokens) or a desk session token (POST /api/v1/desk/login)"
        )
    if api_token.revoked_at is not None:
        raise TokenRefusedError(
            f"API token {api_token.token_id} was revoked at {api_token.revoked_at.isoformat()}; "
            "create a new one"
        )
    if api_token.expires_at is not None and api_token.expires_at <= now:
        raise TokenRefusedError(
            f"API token {api_token.token_id} expired at {api_token.expires_at.isoformat()}; "
            "create a new one"
        )
    person = _live_person(session, api_token.username)
    return subject_of(session, person, api_token.token_id)
