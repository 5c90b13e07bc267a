"""The retention job with an injected clock: a case's personal data (family contact, photo,
its reporters' contacts and photos) is erased once the configured time after the case ended
has passed, not before; what statistics need stays; a second pass erases nothing more."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from backend.desk.retention import Erased, erase_expired_personal_data, run
from backend.tables import Case, Report, ReportPhoto
from tests.backend.desk.world import FAMILY, REPORTER, World

KEEP = timedelta(days=30)


def end_case(desk_sessions, world: World, at) -> None:
    with desk_sessions.begin() as session:
        session.execute(
            update(Case).where(Case.case_id == world.case_id).values(status="found", ended_at=at)
        )


def test_personal_data_is_erased_after_the_retention_time(desk_sessions, world: World):
    ended = world.now + timedelta(hours=1)
    # Open cases are never erased, however old.
    with desk_sessions.begin() as session:
        assert erase_expired_personal_data(session, world.now + 10 * KEEP, KEEP) == Erased(0, 0, 0)
    end_case(desk_sessions, world, ended)

    with desk_sessions.begin() as session:
        assert erase_expired_personal_data(session, ended + KEEP - timedelta(seconds=1), KEEP) == Erased(0, 0, 0)
    with desk_sessions() as session:
        assert session.get(Case, world.case_id).family_contact == FAMILY

    clock_calls = []

    def clock():
        clock_calls.append(1)
        return ended + KEEP

    assert run(desk_sessions, clock, KEEP, every_s=None) == Erased(1, 1, 1)
    assert clock_calls == [1]
    with desk_sessions() as session:
        case = session.get(Case, world.case_id)
        assert case.family_contact is None and case.photo_ref is None
        assert case.distinguishing_marks is None
        # What statistics need stays.
        assert (case.status, case.age_band, case.sex) == ("found", "3-5", "female")
        assert case.last_seen_at is not None and case.ended_at == ended
        matched = session.get(Report, world.report_a)
        assert matched.contact is None and matched.observed_at is not None
        assert session.get(ReportPhoto, world.report_a) is None
        # A report of no ended case keeps its contact and photo.
        assert session.get(Report, world.report_b).contact == REPORTER
        assert session.get(ReportPhoto, world.report_b) is not None

    # Idempotent.
    with desk_sessions.begin() as session:
        assert erase_expired_personal_data(session, ended + 2 * KEEP, KEEP) == Erased(0, 0, 0)


def test_the_scheduled_loop_runs_a_pass_per_period(desk_sessions, world: World):
    ended = world.now
    end_case(desk_sessions, world, ended)
    times = iter([ended + timedelta(days=1), ended + KEEP + timedelta(minutes=1)])
    slept: list[float] = []

    class StopLoopError(Exception):
        pass

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise StopLoopError

    with pytest.raises(StopLoopError):
        run(desk_sessions, lambda: next(times), KEEP, every_s=3600.0, sleep=sleep)
    assert slept == [3600.0, 3600.0]
    with desk_sessions() as session:
        assert session.get(Case, world.case_id).family_contact is None
