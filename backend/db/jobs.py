"""The last run of each scheduled job (retention today), stored so that every process's
``/metrics`` shows the same figures: when it last ran, how often, what it did.

A job records its run in the transaction of its work (:func:`record_run`): a run that rolled
back left no trace, a recorded run is one that happened.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from backend.db.base import Base, UTCDateTime

RETENTION_JOB = "retention"


class JobRun(Base):
    """One row per scheduled job: its last run and the counts of what it did."""

    __tablename__ = "job_runs"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    runs: Mapped[int] = mapped_column(Integer)
    last_counts: Mapped[dict[str, int]] = mapped_column(JSON)  # of the last run
    total_counts: Mapped[dict[str, int]] = mapped_column(JSON)  # of every run so far


@dataclass(frozen=True, slots=True)
class JobStatus:
    last_run_at: datetime
    runs: int
    last_counts: dict[str, int] = field(default_factory=dict)
    total_counts: dict[str, int] = field(default_factory=dict)


def record_run(session: Session, name: str, at: datetime, counts: Mapping[str, int]) -> None:
    """Record one run of job `name` at `at` that did `counts` (in the caller's transaction;
    the row is locked, so two processes running the same job count both runs)."""
    row = session.get(JobRun, name, with_for_update=True)
    if row is None:
        row = JobRun(name=name, runs=0, last_counts={}, total_counts={})
        session.add(row)
    totals = dict(row.total_counts or {})
    for key, n in counts.items():
        totals[key] = totals.get(key, 0) + int(n)
    row.last_run_at = at
    row.runs += 1
    row.last_counts = {key: int(n) for key, n in counts.items()}
    row.total_counts = totals


def job_status(session: Session, name: str) -> JobStatus | None:
    """The last run of job `name`, or None if it never ran."""
    row = session.execute(select(JobRun).where(JobRun.name == name)).scalar_one_or_none()
    if row is None:
        return None
    return JobStatus(
        row.last_run_at, row.runs, dict(row.last_counts or {}), dict(row.total_counts or {})
    )
