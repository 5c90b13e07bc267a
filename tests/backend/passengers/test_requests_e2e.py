"""The apps' requests against the real worker, a real Mosquitto and PostGIS: a kiosk's
"call staff" placed at its police station's desk (and no other's) and acknowledged back to
the kiosk; a reference's status answered from the database, another device's reference
``unknown``; an addendum stored for the device's own report only and shown on the desk; a
volunteer alert sent before the volunteer app ever connected, delivered by its catch-up
request, with the case's own description and photo. Every wait is on a message arriving."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime

from geoalchemy2.shape import to_shape
from PIL import Image
from sqlalchemy import select

from backend.auth.subject import Role, Subject
from backend.cases.photos import store_case_photo
from backend.desk.help import list_help_requests
from backend.desk.service import incidents_out
from backend.passengers.help import acknowledge_help
from backend.passengers.models import HelpRequestRow
from backend.tables import Device, Incident
from protocol import (
    AddendumAnswer,
    Alert,
    AlertCatchUpAnswer,
    AlertCatchUpRequest,
    AlertKind,
    CasePhotoRequest,
    HelpAnswer,
    HelpRequest,
    HelpState,
    Receipt,
    ReceiptStatus,
    ReportAddendum,
    ReportState,
    ReportStatusAnswer,
    ReportStatusRequest,
    RequestKind,
    RequestRefused,
    topics,
)
from protocol.requests import reference_of
from tests.backend.alerts.e2e_helpers import expected_station
from tests.backend.helpers import PEOPLES_SQUARE, report_dict
from tests.support.mqtt_client import TestClient
from tests.support.stack import start_worker

KIOSK, OTHER_KIOSK, PHONE, OTHER_PHONE = "kiosk-SH-013", "kiosk-SH-001", "phone-1", "phone-2"


def _uuid() -> str:
    return str(uuid.uuid4())


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(out, format="JPEG")
    return out.getvalue()


def _answers(client: TestClient, kind: str, n: int = 1) -> list[bytes]:
    got = client.wait_for(lambda ms: sum(m.topic.endswith(f"/answers/{kind}") for m in ms) >= n)
    return [m.payload for m in got if m.topic.endswith(f"/answers/{kind}")]


def _client(broker, name: str) -> TestClient:
    client = TestClient(broker.port, name)
    client.subscribe(f"sr/v1/devices/{name}/answers/+")
    client.subscribe(topics.device_receipts(name))
    return client


def test_help_status_and_addendum_reach_the_right_desk_and_device(
    broker, postgis_url, sessions, world
) -> None:
    worker = start_worker(
        broker, postgis_url, client_id="worker-requests", extra_env={"SR_TICK_S": "0.2"}
    )
    kiosk, other = _client(broker, KIOSK), _client(broker, OTHER_KIOSK)
    phone, other_phone = _client(broker, PHONE), _client(broker, OTHER_PHONE)
    try:
        # -- call staff: the kiosk's own station, as the stored areas say (not the worker)
        with sessions() as session:
            where = to_shape(session.get(Device, KIOSK).location)
        station = expected_station(sessions, where.x, where.y)
        now = datetime.now(UTC)
        request = HelpRequest(_uuid(), KIOSK, now, "zh-CN")
        kiosk.publish(topics.device_help(KIOSK), request.to_json())
        called = HelpAnswer.from_json(_answers(kiosk, "help")[0])
        assert (called.request_id, called.state, called.station_id) == (
            request.request_id,
            HelpState.CALLED,
            station,
        )
        # a kiosk asking in another's name is refused (the broker refuses it too, by ACL)
        other.publish(topics.device_help(OTHER_KIOSK), HelpRequest(_uuid(), KIOSK, now).to_json())
        with sessions() as session:
            police = Subject("desk-x", Role.POLICE, frozenset({station}))
            elsewhere = Subject("desk-y", Role.POLICE, frozenset({"PS-elsewhere"}))
            shown = list_help_requests(session, police, 50)
            assert [h.request_id for h in shown] == [request.request_id]
            assert shown[0].metro_station_id == "SH-013"
            assert list_help_requests(session, elsewhere, 50) == []
        with sessions.begin() as session:
            row = session.get(HelpRequestRow, request.request_id)
            acknowledge_help(session, row, "desk-x", datetime.now(UTC))
        acked = HelpAnswer.from_json(_answers(kiosk, "help", 2)[1])
        assert acked.state is HelpState.ACKNOWLEDGED and acked.acknowledged_at is not None
        # the other kiosk got no help answer, only the refusal of its request, saying why
        refused = [RequestRefused.from_json(p) for p in _answers(other, "refused")]
        assert [p.code for r in refused for p in r.problems] == ["mismatch"]
        assert all(not m.topic.endswith("/answers/help") for m in other.received)

        # -- status of a reference: own report known, another device's unknown
        report = report_dict(KIOSK)
        kiosk.publish(topics.device_reports(KIOSK), json.dumps(report).encode())
        kiosk.wait_for(lambda ms: any(m.topic.endswith("/receipts") for m in ms))
        reference = reference_of(report["report_id"])
        ask = ReportStatusRequest(_uuid(), KIOSK, datetime.now(UTC), reference.lower())
        kiosk.publish(topics.device_report_status(KIOSK), ask.to_json())
        answer = ReportStatusAnswer.from_json(_answers(kiosk, "report_status")[0])
        assert (answer.request_id, answer.reference) == (ask.request_id, reference)
        assert answer.state is ReportState.RECEIVED and answer.since is not None
        nosy = ReportStatusRequest(_uuid(), OTHER_KIOSK, datetime.now(UTC), reference)
        other.publish(topics.device_report_status(OTHER_KIOSK), nosy.to_json())
        refused = ReportStatusAnswer.from_json(_answers(other, "report_status")[0])
        assert refused.state is ReportState.UNKNOWN and refused.since is None

        # -- an addendum with a note and a photo, to the phone's own report only
        sent = report_dict(
            PHONE, location={"lat": PEOPLES_SQUARE[1], "lon": PEOPLES_SQUARE[0], "source": "gps"}
        )
        phone.publish(topics.device_reports(PHONE), json.dumps(sent).encode())
        receipt = Receipt.from_json(
            phone.wait_for(lambda ms: any(m.topic.endswith("/receipts") for m in ms))[0].payload
        )
        assert receipt.status is ReceiptStatus.ACCEPTED
        addendum = ReportAddendum(
            _uuid(), sent["report_id"], PHONE, datetime.now(UTC), "went to exit 3", True
        )
        phone.publish(topics.device_photos(PHONE, addendum.addendum_id), _jpeg())
        phone.publish(topics.device_addenda(PHONE), addendum.to_json())
        taken = AddendumAnswer.from_json(_answers(phone, "addenda")[0])
        assert (taken.status, taken.addendum_id) == (ReceiptStatus.ACCEPTED, addendum.addendum_id)
        theirs = ReportAddendum(
            _uuid(), sent["report_id"], OTHER_PHONE, datetime.now(UTC), "mine now"
        )
        other_phone.publish(topics.device_addenda(OTHER_PHONE), theirs.to_json())
        refused_addendum = AddendumAnswer.from_json(_answers(other_phone, "addenda")[0])
        assert refused_addendum.status is ReceiptStatus.REJECTED
        assert [p.code for p in refused_addendum.problems] == ["mismatch"]
        with sessions() as session:
            coordinator = Subject("coord", Role.COORDINATOR)
            incidents = list(session.execute(select(Incident)).scalars())
            shown_reports = [
                r
                for i in incidents_out(session, coordinator, incidents, datetime.now(UTC))
                for r in i.reports
            ]
        mine = next(r for r in shown_reports if r.report_id == sent["report_id"])
        assert [(a.note, a.has_photo) for a in mine.addenda] == [("went to exit 3", True)]
    finally:
        for c in (kiosk, other, phone, other_phone):
            c.close()
        worker.terminate()


def test_an_alert_sent_before_the_volunteer_app_ever_connected_comes_with_its_catch_up(
    broker, postgis_url, sessions, world
) -> None:
    with sessions.begin() as session:
        store_case_photo(session, "case-42", _jpeg(), "coord", datetime.now(UTC))
    watcher = TestClient(broker.port, "watcher")
    watcher.subscribe("sr/v1/volunteers/+/alerts")
    worker = start_worker(
        broker, postgis_url, client_id="worker-catchup", extra_env={"SR_TICK_S": "0.2"}
    )
    try:
        report = report_dict(
            KIOSK, child={"age_band": "3-5", "sex": "male", "clothing_colours": ["yellow"]}
        )
        sender = TestClient(broker.port, KIOSK)
        sender.publish(topics.device_reports(KIOSK), json.dumps(report).encode())
        sender.close()
        # the alert leaves (the broker took it) while no app of vol-assigned is connected
        got = watcher.wait_for(lambda ms: any("/vol-assigned/" in m.topic for m in ms))
        sent = Alert.from_json(next(m for m in got if "/vol-assigned/" in m.topic).payload)
        assert sent.kind is AlertKind.ASSIGNED_CASE and sent.case_id == "case-42"

        app = TestClient(broker.port, "vol-assigned")  # a fresh install: no session before
        app.subscribe(topics.volunteer_alerts("vol-assigned"))
        app.subscribe(topics.volunteer_answers_filter("vol-assigned"))
        app.subscribe(topics.volunteer_photos_filter("vol-assigned"))
        ask = AlertCatchUpRequest(_uuid(), datetime.now(UTC))
        app.publish(topics.volunteer_catchup("vol-assigned"), ask.to_json())
        msgs = app.wait_for(lambda ms: any("/answers/catchup" in m.topic for m in ms))
        answer = AlertCatchUpAnswer.from_json(
            next(m for m in msgs if "/answers/" in m.topic).payload
        )
        alerts = [Alert.from_json(m.payload) for m in msgs if m.topic.endswith("/alerts")]
        assert answer.request_id == ask.request_id and answer.alert_ids == (sent.alert_id,)
        assert [a.alert_id for a in alerts] == [sent.alert_id]
        shown = alerts[0]
        # the case as its coordinator describes it, apart from what the reporter saw
        assert shown.case_title == "Missing girl, 4, red coat"
        assert shown.case_child is not None and shown.case_child.sex.value == "female"
        assert shown.child.sex.value == "male"
        assert shown.photo_ref and (shown.lat, shown.lon) != (0.0, 0.0)
        assert "13912345678" not in (shown.case_description or "")

        app.publish(
            topics.volunteer_photo_requests("vol-assigned"),
            CasePhotoRequest(_uuid(), "case-42", datetime.now(UTC)).to_json(),
        )
        photo = app.wait_for(lambda ms: any("/photos/case-42" in m.topic for m in ms))
        jpeg = next(m for m in photo if "/photos/case-42" in m.topic).payload
        assert jpeg[:2] == b"\xff\xd8"
        # a volunteer never alerted about the case gets nothing but an empty answer
        stranger = TestClient(broker.port, "vol-far")
        stranger.subscribe(topics.volunteer_photos_filter("vol-far"))
        stranger.publish(
            topics.volunteer_photo_requests("vol-far"),
            CasePhotoRequest(_uuid(), "case-42", datetime.now(UTC)).to_json(),
        )
        assert stranger.wait_for(lambda ms: len(ms) >= 1)[0].payload == b""
        stranger.close()
        app.close()
    finally:
        watcher.close()
        worker.terminate()


def test_every_request_that_cannot_be_taken_is_answered_with_what_was_wrong(
    broker, postgis_url, sessions, world
) -> None:
    """Unreadable, invalid and not-your-own requests of each kind: the asker gets a
    ``RequestRefused`` on its ``answers/refused`` topic (the request id echoed when it was a
    UUID), and each is kept as a dead letter with the same problem codes."""
    from backend.sightings.models import DeadLetter

    worker = start_worker(broker, postgis_url, client_id="worker-refused")
    kiosk = _client(broker, KIOSK)
    volunteer = TestClient(broker.port, "vol-near")
    volunteer.subscribe("sr/v1/volunteers/vol-near/answers/+")
    rid = _uuid()
    sent = [
        (kiosk, topics.device_help(KIOSK), b"\xff\xfe", RequestKind.HELP, None, "not_utf8"),
        (
            kiosk,
            topics.device_help(KIOSK),
            json.dumps(
                {
                    "schema_version": 1,
                    "request_id": rid.upper(),
                    "device_id": OTHER_KIOSK,
                    "sent_at": datetime.now(UTC).isoformat(),
                }
            ).encode(),
            RequestKind.HELP,
            rid,
            "mismatch",
        ),
        (
            kiosk,
            topics.device_report_status(KIOSK),
            json.dumps(
                {
                    "schema_version": 1,
                    "request_id": rid,
                    "device_id": KIOSK,
                    "sent_at": datetime.now(UTC).isoformat(),
                    "reference": "nope",
                }
            ).encode(),
            RequestKind.REPORT_STATUS,
            rid,
            None,
        ),
        (
            volunteer,
            topics.volunteer_catchup("vol-near"),
            b'{"request_id": 5}',
            RequestKind.CATCHUP,
            None,
            None,
        ),
        (
            volunteer,
            topics.volunteer_photo_requests("vol-near"),
            b"[]",
            RequestKind.PHOTO_REQUEST,
            None,
            None,
        ),
    ]
    try:
        for client, topic, payload, *_ in sent:
            client.publish(topic, payload)
        got_kiosk = [RequestRefused.from_json(p) for p in _answers(kiosk, "refused", 3)]
        got_volunteer = [RequestRefused.from_json(p) for p in _answers(volunteer, "refused", 2)]
    finally:
        kiosk.close()
        volunteer.close()
        worker.terminate()
    got = got_kiosk + got_volunteer
    assert [(r.request, r.request_id) for r in got] == [(k, i) for *_, k, i, _ in sent]
    for refused, (*_, code) in zip(got, sent, strict=True):
        assert refused.problems, refused
        if code is not None:
            assert code in {p.code for p in refused.problems}, refused
    # The database says the same: one dead letter per request, with the answer's codes.
    with sessions() as session:
        dead = session.execute(select(DeadLetter.topic, DeadLetter.reasons)).all()
    stored = sorted((t, sorted({r["code"] for r in reasons})) for t, reasons in dead)
    answered = sorted(
        (s[1], sorted({p.code for p in r.problems})) for r, s in zip(got, sent, strict=True)
    )
    assert stored == answered
