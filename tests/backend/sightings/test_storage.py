"""The same storage tests on PostGIS and on SpatiaLite (the `db_url` fixture runs both)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from geoalchemy2 import functions as gf
from sqlalchemy import func, select, text

from backend.db.engine import make_engine, make_sessionmaker
from backend.sightings.models import DeadLetter, Report
from backend.sightings.service import ingest_report
from protocol import ReceiptStatus
from protocol.topics import parse_topic
from tests.backend.helpers import PEOPLES_SQUARE, report_bytes, report_dict

TOPIC = "sr/v1/devices/kiosk-SH-013/reports"


@pytest.fixture
def sessions(db_url: str):
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def ingest(sessions, payload: bytes, topic: str = TOPIC):
    now = datetime.now(UTC)
    device_id = parse_topic(topic).subject_id
    with sessions.begin() as session:
        return ingest_report(session, device_id, topic, payload, now)


def count(sessions, model) -> int:
    with sessions() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_accepted_report_is_stored_with_its_fields(sessions) -> None:
    data = report_dict(free_text="孩子在哭", contact="13800000000")
    result = ingest(sessions, json.dumps(data).encode())
    assert result.receipt is not None
    assert result.receipt.status is ReceiptStatus.ACCEPTED
    assert result.receipt.report_id == data["report_id"]
    with sessions() as session:
        row = session.get(Report, data["report_id"])
        assert row is not None
        assert row.device_id == "kiosk-SH-013"
        assert row.observed_at == datetime.fromisoformat(data["observed_at"])
        assert row.observed_at.tzinfo is not None
        assert row.clothing_colours == ["red", "white"]
        assert row.free_text == "孩子在哭"
        assert (row.lon, row.lat) == PEOPLES_SQUARE


def test_spatial_column_answers_spatial_queries(sessions) -> None:
    inside = report_dict()
    far = report_dict(location={"lat": 39.9, "lon": 116.4})  # Beijing
    for data in (inside, far):
        ingest(sessions, json.dumps(data).encode())
    lon, lat = PEOPLES_SQUARE
    box = f"POLYGON(({lon - 0.01} {lat - 0.01},{lon + 0.01} {lat - 0.01},{lon + 0.01} {lat + 0.01},{lon - 0.01} {lat + 0.01},{lon - 0.01} {lat - 0.01}))"
    with sessions() as session:
        found = (
            session.execute(
                select(Report.report_id).where(
                    gf.ST_Intersects(Report.location, gf.ST_GeomFromText(box, 4326))
                )
            )
            .scalars()
            .all()
        )
    assert found == [inside["report_id"]]


def test_same_report_twice_is_a_duplicate_and_stored_once(sessions) -> None:
    payload = report_bytes()
    first, second = ingest(sessions, payload), ingest(sessions, payload)
    assert first.receipt.status is ReceiptStatus.ACCEPTED
    assert second.receipt.status is ReceiptStatus.DUPLICATE
    assert second.report is None
    assert count(sessions, Report) == 1
    assert count(sessions, DeadLetter) == 0


def test_report_id_reused_by_another_device_is_rejected(sessions) -> None:
    data = report_dict()
    ingest(sessions, json.dumps(data).encode())
    data2 = dict(data, device_id="kiosk-SH-001")
    result = ingest(sessions, json.dumps(data2).encode(), "sr/v1/devices/kiosk-SH-001/reports")
    assert result.receipt.status is ReceiptStatus.REJECTED
    assert [p.path for p in result.receipt.problems] == ["report_id"]
    assert count(sessions, Report) == 1
    assert count(sessions, DeadLetter) == 1


BAD_INPUTS = {
    "malformed_json": (b'{"report_id": ', {"malformed_json"}),
    "not_utf8": (b"\xff\xfe{}", {"not_utf8"}),
    "nan": (report_bytes().replace(b'"lat": 31.234826', b'"lat": NaN'), {"not_finite"}),
    "wrong_types": (
        report_bytes(has_photo="yes", location={"lat": "31.2", "lon": 121.4}),
        {"type"},
    ),
    "out_of_range": (report_bytes(location={"lat": 91.0, "lon": 181.0}), {"range"}),
    "unknown_schema": (report_bytes(schema_version=99), {"schema_version"}),
    "unknown_field": (report_bytes(colour_of_car="blue"), {"unknown_field"}),
    "missing": (json.dumps({"schema_version": 1}).encode(), {"missing"}),
    "oversized": (report_bytes(free_text="x" * 20_000), {"too_large"}),
    "too_long_text": (report_bytes(free_text="x" * 501), {"too_long"}),
    "future": (
        report_bytes(observed_at=(datetime.now(UTC) + timedelta(hours=1)).isoformat()),
        {"future"},
    ),
    "naive_time": (report_bytes(observed_at="2026-11-28T10:00:00"), {"format"}),
    "not_uuid": (report_bytes(report_id="12345"), {"format"}),
    "device_mismatch": (report_bytes(device_id="kiosk-SH-001"), {"mismatch"}),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_rejected_with_reasons_and_kept_whole(sessions, case: str) -> None:
    payload, expected_codes = BAD_INPUTS[case]
    result = ingest(sessions, payload)
    assert result.receipt is not None
    assert result.receipt.status is ReceiptStatus.REJECTED
    assert {p.code for p in result.receipt.problems} == expected_codes
    assert count(sessions, Report) == 0
    with sessions() as session:
        letters = session.execute(select(DeadLetter)).scalars().all()
    assert len(letters) == 1
    assert letters[0].payload == payload
    assert letters[0].topic == TOPIC
    assert {r["code"] for r in letters[0].reasons} == expected_codes


def test_message_on_a_malformed_topic_is_dead_lettered_without_receipt(sessions) -> None:
    from backend.alerts.config import AlertingConfig
    from backend.messaging.connection import Inbound
    from backend.messaging.handlers import BatchContext, dispatch
    from backend.world import Memory

    topic = "sr/v1/devices/bad device/reports"
    message = Inbound(topic, None, report_bytes(), qos=1, mid=1, dup=False, generation=1)
    ctx = BatchContext(Memory(), AlertingConfig(), datetime.now(UTC))
    with sessions.begin() as session:
        outcome = dispatch(session, message, ctx)
    assert outcome.publications == [], "no device to answer on a topic outside the grammar"
    with sessions() as session:
        letter = session.execute(select(DeadLetter)).scalar_one()
    assert letter.topic == topic and letter.reasons[0]["code"] == "topic"


def test_migrations_go_down_and_up_again(db_url: str) -> None:
    from backend.db.migrate import downgrade, upgrade

    downgrade(db_url, "base")
    engine = make_engine(db_url)
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))
        else:
            names = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))
        assert "reports" not in set(names.scalars())
    upgrade(db_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Report)).scalar_one() == 0
    engine.dispose()
