"""Case notices on a kiosk: the photo arrives on its retained topic, the notice opens in large
type in both languages, and "I have seen this child" starts a report that names the case,
which the real backend stores with the case.

The photo topic (``sr/v1/devices/{id}/notices/{case_id}/photo``, see kiosk_app.link) is not
yet in the broker accounts, so the photo test uses a broker without accounts; the report test
runs against the accounts broker and the real worker."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import select

from kiosk_app.config import Mode
from kiosk_app.requested_topics import notice_photo, notice_photos_filter
from protocol import AgeBand, ChildDescription, Colour, Notice, NoticeBoard, Sex, topics
from protocol.payloads import utc_now
from tests.kiosk_app.helpers import USERS, Responder, app_config, backend_client, make_app, wait_ui
from tests.kiosk_app.test_end_to_end import provision_kiosks
from tests.kiosk_app.test_kiosk_ui import screen, shoot_both, tap
from tests.support.services import mosquitto
from tests.support.stack import backend_worker

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]

CASE = "case-2026-001"
BOARD = NoticeBoard(
    notices=(
        Notice(
            case_id=CASE,
            title="Girl, 4, red coat",  # the coordinator wrote English only
            description="Last seen at Renmin Square station, exit 2, holding a white rabbit toy.",
            relay_contact="+86 21 5555 0100",
            since=datetime(2026, 11, 28, 9, 40, tzinfo=UTC),
            child=ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED, Colour.WHITE)),
        ),
    ),
    updated_at=utc_now(),
)


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (240, 320), colour).save(out, format="JPEG")
    return out.getvalue()


def publish(port: int, topic: str, payload: bytes, client_id: str = "notices-publisher") -> None:
    client = backend_client(port, client_id)
    client.publish(topic, payload, qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


@pytest.fixture()
def open_broker():
    """A broker without accounts (anonymous), for the photo topic the accounts lack yet."""
    with mosquitto() as server:
        yield server


def kiosk_on_open_broker(request):
    broker = request.getfixturevalue("open_broker")
    responder = Responder(broker.port)
    request.addfinalizer(responder.close)
    tmp = request.getfixturevalue("tmp_path")
    app = make_app(app_config(Mode.KIOSK, broker.port, tmp / "kiosk"))
    app.test_responder = responder
    return app


@pytest.mark.parametrize("kivy_app", [[kiosk_on_open_broker]], indirect=True)
async def test_the_case_photo_arrives_on_its_retained_topic(kivy_app, open_broker):
    app = kivy_app
    device = app.settings.device_id
    assert notice_photos_filter(device) == f"sr/v1/devices/{device}/notices/+/photo"
    publish(open_broker.port, topics.device_notices(device), BOARD.to_json())
    publish(open_broker.port, notice_photo(device, CASE), jpeg((200, 40, 40)))
    home = screen(app, "home")
    await wait_ui(app, lambda: CASE in app.notices.photos, what="photo received")
    await wait_ui(app, lambda: home.ids.notices_box.children, what="notice card")
    await wait_ui(app, lambda: home.ids.notices_box.children[0].photo, what="photo on card")
    await tap(app, home.ids.notices_box.children[0])  # tapping the card opens it
    notice = screen(app, "notice")
    assert app.root.current == "notice" and notice.photo is not None
    assert notice.ids.photo.opacity == 1
    # large text, Chinese above English, whatever language the coordinator used
    assert notice.ids.title_label.font_size >= 30
    who = notice.ids.who_label.text.split("\n")
    assert who == [
        "寻找走失儿童 · 年龄 3-5 岁 · 女孩 · 衣着: 红, 白",
        "Missing child · Age 3-5 years · girl · Clothing: red, white",
    ]
    assert notice.ids.seen_button.text == "我见过这个孩子"
    assert notice.ids.seen_button.subtext == "I have seen this child"
    await shoot_both(app, "notice-with-photo")
    # not a picture: ignored; an empty retained message removes the photo
    publish(open_broker.port, notice_photo(device, CASE), b"not an image")
    await wait_ui(app, lambda: CASE not in app.notices.photos, what="bad photo dropped")
    assert notice.photo is None
    # the stand-in backend receives a report naming the case
    await tap(app, notice.ids.seen_button)
    await tap(app, screen(app, "what").ids.what_carried_by_beggar)
    await tap(app, screen(app, "child").ids.send_button)
    responder = app.test_responder
    report = await wait_ui(app, lambda: next(iter(responder.stored.values()), None), what="stored")
    assert report.case_id == CASE and responder.raw[report.report_id]["case_id"] == CASE


def kiosk_with_backend(request):
    broker = request.getfixturevalue("broker")
    db_url = request.getfixturevalue("postgis_url")
    provision_kiosks(db_url)
    worker = backend_worker(broker, db_url, username="backend", password=USERS["backend"])
    worker.__enter__()
    request.addfinalizer(lambda: worker.__exit__(None, None, None))
    tmp = request.getfixturevalue("tmp_path")
    return make_app(app_config(Mode.KIOSK, broker.port, tmp / "kiosk"))


def stored_case(db_url: str, report_id: str) -> str | None:
    """The case the stored report names (``reports.case_id``, added by the backend with
    SightingReport.case_id)."""
    from backend.db.engine import make_engine, make_sessionmaker
    from backend.sightings.models import Report

    if not hasattr(Report, "case_id"):
        pytest.xfail("the backend does not store SightingReport.case_id yet (reports.case_id)")
    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            row = session.execute(select(Report).where(Report.report_id == report_id)).scalar_one()
            return row.case_id  # type: ignore[no-any-return]
    finally:
        engine.dispose()


@pytest.mark.parametrize("kivy_app", [[kiosk_with_backend]], indirect=True)
async def test_i_have_seen_this_child_sends_a_report_naming_the_case(kivy_app, broker, postgis_url):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    publish(broker.port, topics.device_notices(app.settings.device_id), BOARD.to_json())
    home = screen(app, "home")
    await wait_ui(app, lambda: home.ids.notices_box.children, what="notice card")
    await tap(app, home.ids.notices_box.children[0])
    await tap(app, screen(app, "notice").ids.seen_button)
    what = screen(app, "what")
    assert app.root.current == "what"
    assert what.ids.case_label.text == "关于走失儿童: Girl, 4, red coat"
    await tap(app, what.ids.what_child_alone)
    await tap(app, screen(app, "child").ids.send_button)
    await wait_ui(app, lambda: app.report.delivery == "delivered", timeout_s=20, what="receipt")
    # accepted, or duplicate when the outbox's 0.5 s test retry beat the first receipt
    assert app.last_receipt.status.value in ("accepted", "duplicate")
    assert app.report.case_id == ""  # the next report names no case
    assert stored_case(postgis_url, app.last_receipt.report_id) == CASE
