"""Version rows that tell every worker process when what it keeps in memory changed.

Any process that changes cases, volunteers or police stations bumps the matching version in
the same transaction; each worker compares the versions on its next tick and rebuilds only
what changed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.db.base import Base

CASES_VERSION = "cases"
VOLUNTEERS_VERSION = "volunteers"
STATIONS_VERSION = "stations"


class IndexVersion(Base):
    """Bumped whenever what the workers keep in memory changes (cases, volunteers,
    stations), so every worker process rebuilds its indexes."""

    __tablename__ = "index_versions"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)


def bump_version(session: Session, name: str) -> int:
    """Tell every worker that what it keeps in memory for `name` changed."""
    row = session.get(IndexVersion, name, with_for_update=True)
    if row is None:
        row = IndexVersion(name=name, version=0)
        session.add(row)
    row.version += 1
    return row.version


def current_versions(session: Session) -> dict[str, int]:
    return {r.name: r.version for r in session.execute(select(IndexVersion)).scalars()}
