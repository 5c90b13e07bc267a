"""A person's API tokens: created (the secret is shown once), listed and revoked. A token
reads exactly what its person may (backend.auth.subject looks it up at every request); only
the SHA-256 of the secret is stored. Revoked tokens stay listed, with when."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.auth.subject import API_TOKEN_PREFIX, token_digest
from backend.people.models import Person, PersonApiToken
from backend.people.service import PeopleError

MAX_LABEL = 100


class NoSuchTokenError(PeopleError):
    """No API token of that id (for that person)."""


def create_api_token(
    session: Session,
    username: str,
    label: str,
    now: datetime,
    valid_for: timedelta | None = None,
) -> tuple[PersonApiToken, str]:
    """A new API token of `username` and its secret (shown once; only its hash is kept).
    ``valid_for`` None: valid until revoked."""
    person = session.get(Person, username)
    if person is None:
        raise PeopleError(f"no person {username!r}; the token must belong to an existing account")
    if person.disabled:
        raise PeopleError(f"the account {username!r} is disabled; enable it first")
    label = label.strip()
    if not label or len(label) > MAX_LABEL:
        raise PeopleError(
            f"a token's label says what it is for, in 1-{MAX_LABEL} characters "
            f"(e.g. 'nightly export'); got {len(label)}"
        )
    if valid_for is not None and valid_for <= timedelta(0):
        raise PeopleError(f"a token's validity must be positive, not {valid_for}")
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = PersonApiToken(
        token_id=f"tok-{secrets.token_hex(6)}",
        token_sha256=token_digest(secret),
        username=username,
        label=label,
        created_at=now,
        expires_at=now + valid_for if valid_for is not None else None,
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    return row, secret


def list_api_tokens(session: Session, username: str) -> list[PersonApiToken]:
    """The person's tokens, newest first (revoked ones too)."""
    return list(
        session.execute(
            select(PersonApiToken)
            .where(PersonApiToken.username == username)
            .order_by(PersonApiToken.created_at.desc(), PersonApiToken.token_id)
        ).scalars()
    )


def revoke_api_token(
    session: Session, token_id: str, now: datetime, owner: str | None = None
) -> PersonApiToken:
    """Revoke a token from now on (again: a no-op). With ``owner``, only that person's token
    is found: another's is as unknown as a token that never was."""
    row = session.get(PersonApiToken, token_id)
    if row is None or (owner is not None and row.username != owner):
        whose = f" of {owner}" if owner is not None else ""
        raise NoSuchTokenError(
            f"no API token {token_id!r}{whose}; list them with "
            + ("GET /api/v1/desk/tokens" if owner else "python -m backend.people token list USER")
        )
    if row.revoked_at is None:
        row.revoked_at = now
    return row
