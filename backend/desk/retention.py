"""Retention: a case's personal data is erased a configurable time after the case ended.

Erased: the family contact, the case photo and distinguishing marks, and of every report
matched to the case the reporter's contact and photo. Kept, for statistics: the case's
status, times, age band, sex, place, and the reports' times, places and descriptions.

Run once (``python -m backend.desk.retention``) or on a schedule (``--every [SECONDS]``,
default ``SR_DESK_RETENTION_EVERY_S``): ``make run`` and docker-compose.yml run it scheduled,
as its own supervised process. Each pass records itself (``backend.db.jobs``, in the pass's
transaction), so ``/metrics`` shows ``sr_retention_last_run_timestamp_seconds`` and what was
erased. The clock and the wait between passes are injected so tests need not wait 30 days.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from backend.cases.models import Case, CaseMatchRow, CasePhoto
from backend.db.engine import make_engine, make_sessionmaker
from backend.db.jobs import RETENTION_JOB, record_run
from backend.desk.settings import get_desk_settings
from backend.logs import configure as configure_logging
from backend.settings import get_settings
from backend.sightings.models import Report, ReportPhoto

log = logging.getLogger(__name__)
ENDED = ("found", "closed", "false_report")


@dataclass(frozen=True, slots=True)
class Erased:
    cases: int
    report_contacts: int
    report_photos: int


def erase_expired_personal_data(session: Session, now: datetime, keep_for: timedelta) -> Erased:
    """Erase the personal data of every case that ended at least ``keep_for`` before
    ``now`` and still holds some. Idempotent: a second run erases nothing more."""
    cutoff = now - keep_for
    case_ids = list(
        session.execute(
            select(Case.case_id).where(
                Case.status.in_(ENDED),
                Case.ended_at.is_not(None),
                Case.ended_at <= cutoff,
            )
        ).scalars()
    )
    if not case_ids:
        return Erased(0, 0, 0)
    cases = session.execute(
        update(Case)
        .where(
            Case.case_id.in_(case_ids),
            or_(
                Case.family_contact.is_not(None),
                Case.photo_ref.is_not(None),
                Case.distinguishing_marks.is_not(None),
            ),
        )
        .values(family_contact=None, photo_ref=None, distinguishing_marks=None)
    ).rowcount
    # The child's photo goes with the rest (its kiosks were told when the case ended).
    session.execute(delete(CasePhoto).where(CasePhoto.case_id.in_(case_ids)))
    # A report also matched to a case that is open, or ended more recently, keeps its data
    # until that case's time has come too.
    matched = set(
        session.execute(
            select(CaseMatchRow.report_id).where(CaseMatchRow.case_id.in_(case_ids))
        ).scalars()
    )
    still_needed = set(
        session.execute(
            select(CaseMatchRow.report_id)
            .join(Case, Case.case_id == CaseMatchRow.case_id)
            .where(
                CaseMatchRow.report_id.in_(matched),
                or_(Case.status.not_in(ENDED), Case.ended_at.is_(None), Case.ended_at > cutoff),
            )
        ).scalars()
    )
    reports = sorted(matched - still_needed)
    contacts = session.execute(
        update(Report)
        .where(Report.report_id.in_(reports), Report.contact.is_not(None))
        .values(contact=None)
    ).rowcount
    photos = session.execute(delete(ReportPhoto).where(ReportPhoto.report_id.in_(reports))).rowcount
    erased = Erased(cases, contacts, photos)
    if cases or contacts or photos:
        log.info("retention: erased %s", erased)
    return erased


def run_pass(sessions: sessionmaker[Session], now: datetime, keep_for: timedelta) -> Erased:
    """One pass, recorded as a run of the retention job in the same transaction."""
    with sessions.begin() as session:
        erased = erase_expired_personal_data(session, now, keep_for)
        record_run(session, RETENTION_JOB, now, dataclasses.asdict(erased))
    return erased


def run(
    sessions: sessionmaker[Session],
    clock: Callable[[], datetime],
    keep_for: timedelta,
    every_s: float | None,
    sleep: Callable[[float], bool | None] = time.sleep,
    on_pass: Callable[[Erased], None] | None = None,
) -> Erased:
    """One pass, or a pass every ``every_s`` seconds until ``sleep`` returns True (e.g.
    ``threading.Event.wait``: a stop was asked for); returns the last pass. ``on_pass`` is
    told of each pass that committed.

    Scheduled, a pass that fails on the database (unreachable, locked) is logged and the next
    one comes at its time: the schedule outlives an outage. Once, the failure is raised."""
    erased = Erased(0, 0, 0)
    while True:
        try:
            erased = run_pass(sessions, clock(), keep_for)
        except SQLAlchemyError as exc:
            if every_s is None:
                raise
            log.warning(
                "retention pass failed (%s); the next pass is in %g s",
                str(exc).splitlines()[0],
                every_s,
            )
        else:
            if on_pass is not None:
                on_pass(erased)
        if every_s is None or sleep(every_s):
            return erased


def main(argv: list[str] | None = None) -> int:
    settings = get_desk_settings()
    parser = argparse.ArgumentParser(
        prog="python -m backend.desk.retention",
        description="Erase the personal data of cases that ended long enough ago.",
    )
    parser.add_argument("--database-url", default=get_settings().database_url)
    parser.add_argument(
        "--days",
        type=float,
        default=settings.retention_days,
        help="erase this many days after the case ended (SR_DESK_RETENTION_DAYS)",
    )
    parser.add_argument(
        "--every",
        type=_positive_seconds,
        nargs="?",
        const=settings.retention_every_s,
        default=None,
        metavar="SECONDS",
        help="a pass now and then every SECONDS until SIGTERM or SIGINT; without a value "
        f"SR_DESK_RETENTION_EVERY_S ({settings.retention_every_s:g})",
    )
    args = parser.parse_args(argv)
    configure_logging("retention")
    stop = threading.Event()
    if args.every is not None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        log.info(
            "retention scheduled: a pass every %g s, erasing %g days after a case ended",
            args.every,
            args.days,
        )
    engine = make_engine(args.database_url)
    try:
        erased = run(
            make_sessionmaker(engine),
            lambda: datetime.now(UTC),
            timedelta(days=args.days),
            args.every,
            sleep=stop.wait,
            on_pass=_log_pass if args.every is not None else None,
        )
    finally:
        engine.dispose()
    print(
        f"erased: {erased.cases} case(s), {erased.report_contacts} reporter contact(s), "
        f"{erased.report_photos} photo(s)"
    )
    return 0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0, e.g. 3600")
    return value


def _log_pass(erased: Erased) -> None:
    log.info(
        "retention pass: erased %d case(s), %d reporter contact(s), %d photo(s)",
        erased.cases,
        erased.report_contacts,
        erased.report_photos,
    )


if __name__ == "__main__":
    raise SystemExit(main())
