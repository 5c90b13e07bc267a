"""People's accounts: creating them, checking a password, opening and closing sessions. The
subject (who, which role, which stations) a token stands for is backend.auth.subject's."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from argon2 import PasswordHasher
from sqlalchemy import delete
from sqlalchemy.orm import Session

from backend.auth.subject import Role, token_digest
from backend.auth.subject import subject_of as subject_of  # the login answer (people.router)
from backend.people.hashing import check_password, run_inline
from backend.people.models import Person, PersonSession, PersonStation

SESSION_TTL: Final = timedelta(hours=12)
_HASHER: Final = PasswordHasher()  # Argon2id with the library's current parameters


class PeopleError(ValueError):
    """An account request that cannot be carried out; the message says what to change."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def create_person(
    session: Session,
    *,
    username: str,
    password: str,
    role: Role,
    now: datetime,
    display_name: str | None = None,
    station_ids: tuple[str, ...] = (),
) -> Person:
    """Add an account. Police accounts must serve at least one station; others none."""
    if session.get(Person, username) is not None:
        raise PeopleError(f"username {username!r} is taken; choose another")
    if len(password) < 8:
        raise PeopleError(f"the password of {username!r} is too short: use at least 8 characters")
    if role is Role.POLICE and not station_ids:
        raise PeopleError(f"police account {username!r} needs the station(s) it serves")
    if role is not Role.POLICE and station_ids:
        raise PeopleError(f"only police accounts serve stations; {username!r} is {role.value}")
    person = Person(
        username=username,
        display_name=display_name or username,
        role=role.value,
        password_hash=hash_password(password),
        disabled=False,
        created_at=now,
    )
    session.add(person)
    session.flush()
    for station_id in sorted(set(station_ids)):
        session.add(PersonStation(username=username, station_id=station_id))
    return person


def authenticate(
    session: Session,
    username: str,
    password: str,
    run: Callable[[Callable[[], tuple[bool, str | None]]], tuple[bool, str | None]] = run_inline,
) -> Person | None:
    """The account if the password is right and the account enabled, else None (the same
    answer for an unknown user and a wrong password). ``run`` carries out the Argon2 work,
    e.g. ``HashingPool.run`` (backend.people.hashing); by default in this thread."""
    person = session.get(Person, username)
    stored = person.password_hash if person is not None else None
    matches, rehashed = run(lambda: check_password(stored, password))
    if person is None or not matches or person.disabled:
        return None
    if rehashed is not None:
        person.password_hash = rehashed
    return person


def open_session(session: Session, person: Person, now: datetime) -> tuple[str, datetime]:
    """A new session token (shown once to the client) and when it expires."""
    token = secrets.token_urlsafe(32)
    expires_at = now + SESSION_TTL
    session.add(
        PersonSession(
            token_sha256=token_digest(token),
            username=person.username,
            created_at=now,
            expires_at=expires_at,
        )
    )
    session.execute(delete(PersonSession).where(PersonSession.expires_at < now))
    return token, expires_at


def close_session(session: Session, token: str) -> bool:
    found = session.get(PersonSession, token_digest(token))
    if found is None:
        return False
    session.delete(found)
    return True
