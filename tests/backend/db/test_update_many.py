"""``update_many`` sends one array per column on PostgreSQL (``UPDATE ... FROM unnest``): the
rows it names change exactly as one UPDATE per row would change them, on both databases
(awkward text, NULLs, floats, aware times); a key given twice takes its last row, an unknown
key changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from backend.db.dialect import insert_new, update_many
from backend.db.engine import make_engine, make_sessionmaker
from backend.sightings.models import Report
from backend.sightings.service import _row
from tests.backend.db.test_insert_new import AWKWARD, _reports


def test_rows_change_as_one_update_per_row_would(db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    reports = _reports(6)
    with sessions.begin() as session:
        insert_new(session, Report.__table__, [_row(r, now) for r in reports], "report_id")
    later = now + timedelta(minutes=5)
    ids = [r.report_id for r in reports]
    rows = [
        {"report_id": ids[0], "free_text": AWKWARD[5], "accuracy_m": 1.25, "received_at": later},
        {"report_id": ids[1], "free_text": None, "accuracy_m": None, "received_at": later},
        {"report_id": ids[2], "free_text": "first", "accuracy_m": 3.0, "received_at": later},
        {"report_id": ids[2], "free_text": AWKWARD[0], "accuracy_m": 4.5, "received_at": later},
        {"report_id": "no-such-report", "free_text": "x", "accuracy_m": 0.0, "received_at": later},
    ]
    with sessions.begin() as session:
        update_many(session, Report.__table__, rows, "report_id")
        update_many(session, Report.__table__, [], "report_id")
    with sessions() as session:
        got = {r.report_id: r for r in session.execute(select(Report)).scalars()}
    engine.dispose()
    assert len(got) == 6
    assert (got[ids[0]].free_text, got[ids[0]].accuracy_m) == (AWKWARD[5], 1.25)
    assert (got[ids[1]].free_text, got[ids[1]].accuracy_m) == (None, None)
    assert (got[ids[2]].free_text, got[ids[2]].accuracy_m) == (AWKWARD[0], 4.5)
    for i in range(3):
        assert got[ids[i]].received_at == later
    for report in reports[3:]:
        row = got[report.report_id]
        assert row.free_text == report.free_text and row.received_at == now


def test_a_rising_column_never_goes_down(db_url):
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    now = datetime.now(UTC)
    reports = _reports(3)
    ids = [r.report_id for r in reports]
    with sessions.begin() as session:
        insert_new(session, Report.__table__, [_row(r, now) for r in reports], "report_id")
        update_many(session, Report.__table__,
                    [{"report_id": i, "accuracy_m": 10.0} for i in ids], "report_id")
    with sessions.begin() as session:
        update_many(
            session, Report.__table__,
            [{"report_id": ids[0], "accuracy_m": 5.0, "free_text": "lower"},
             {"report_id": ids[1], "accuracy_m": 10.0, "free_text": "same"},
             {"report_id": ids[2], "accuracy_m": 12.0, "free_text": "higher"}],
            "report_id", rising="accuracy_m",
        )
    with sessions() as session:
        got = {r.report_id: (r.accuracy_m, r.free_text) for r in session.execute(select(Report)).scalars()}
    engine.dispose()
    assert got[ids[0]] == (10.0, reports[0].free_text)
    assert got[ids[1]] == (10.0, reports[1].free_text)
    assert got[ids[2]] == (12.0, "higher")
