"""People with API tokens of known secrets, written straight to a database, for tests that
call the HTTP API as a person would (``Authorization: Bearer <secret>``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from backend.auth.subject import Role, token_digest
from backend.db.engine import make_engine, make_sessionmaker
from backend.people.models import PersonApiToken
from backend.people.service import create_person


@dataclass(frozen=True)
class Caller:
    """A person and the secret of one API token of theirs."""

    username: str
    role: Role
    secret: str
    station_ids: tuple[str, ...] = ()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}"}


def add_callers(session: Session, callers: Iterable[Caller], now: datetime | None = None) -> None:
    now = now or datetime.now(UTC)
    for c in callers:
        create_person(
            session,
            username=c.username,
            password=f"{c.username}-password",
            role=c.role,
            now=now,
            station_ids=c.station_ids,
        )
        session.add(
            PersonApiToken(
                token_id=f"tok-{c.username}",
                token_sha256=token_digest(c.secret),
                username=c.username,
                label="tests",
                created_at=now,
            )
        )


def seed_callers(database_url: str, callers: Iterable[Caller]) -> None:
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            add_callers(session, callers)
    finally:
        engine.dispose()
