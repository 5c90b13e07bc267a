"""The kiosk screens driven by touches on the real buttons, against a real broker with a
test-side responder for the backend. Screenshots of every screen in both languages go to
test-artifacts/screens/."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from PIL import Image

from kiosk_app.config import Mode
from protocol import (
    AgeBand,
    ChildDescription,
    Colour,
    Notice,
    NoticeBoard,
    Sex,
    WhatSeen,
    topics,
)
from protocol.payloads import utc_now
from tests.kiosk_app.conftest import save_screenshot
from tests.kiosk_app.helpers import BOY_IN_YELLOW, app_config, backend_client, make_app, wait_ui

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]


def kiosk(request):
    broker = request.getfixturevalue("broker")
    request.getfixturevalue("responder")
    tmp = request.getfixturevalue("tmp_path")
    return make_app(app_config(Mode.KIOSK, broker.port, tmp / "kiosk"))


def kiosk_rejecting_tests(request):
    broker = request.getfixturevalue("broker")
    from tests.kiosk_app.helpers import Responder

    responder = Responder(
        broker.port,
        # keyed on the protocol's test flag: the operator's test report must carry it
        reject=lambda r: "test reports are not stored here" if r.test else None,
    )
    request.addfinalizer(responder.close)
    tmp = request.getfixturevalue("tmp_path")
    return make_app(app_config(Mode.KIOSK, broker.port, tmp / "kiosk"))


KIOSK = pytest.mark.parametrize("kivy_app", [[kiosk]], indirect=True)


def screen(app, name):
    return app.root.get_screen(name)


async def tap(app, widget):
    """A real touch down and up at the widget's centre, through the window."""
    async for _ in app.do_touch_down_up(widget=widget):
        pass
    await app.wait_clock_frames(2)


async def shoot_both(app, name):
    """Screenshot in the current language and the other one, then switch back."""
    first = app.shell.lang
    for _ in range(2):
        await app.wait_clock_frames(3)
        save_screenshot(app, f"{name}-{app.shell.lang}")
        app.toggle_language()
    assert app.shell.lang == first


@KIOSK
async def test_three_taps_send_a_report_and_the_receipt_arrives(kivy_app, responder):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    home = screen(app, "home")
    assert home.ids.report_button.text == "举报疑似被拐/处境危险的儿童"  # Chinese by default
    assert home.ids.report_button.subtext == "Report a child at risk"  # English under it
    assert home.ids.help_bar.text.startswith("现在有危险？拨打 110")
    assert "Call 110" in home.ids.help_bar.text and "help intercom" in home.ids.help_bar.text
    assert "人民广场" in home.ids.station_label.text
    assert home.ids.connection_label.text == "已连接"
    await shoot_both(app, "home")

    await tap(app, home.ids.report_button)  # tap 1
    assert app.root.current == "what"
    await shoot_both(app, "report-1-what")
    await tap(app, screen(app, "what").ids.what_carried_by_beggar)  # tap 2
    assert app.root.current == "child"
    await shoot_both(app, "report-2-child")
    await tap(app, screen(app, "child").ids.send_button)  # tap 3
    assert app.root.current == "confirm"

    confirm = screen(app, "confirm")
    reference = confirm.ids.reference_label.text
    assert len(reference) == 8
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="receipt on screen")
    assert confirm.ids.delivery_label.text == "处置团队已收到"
    assert confirm.ids.headline_label.text == "谢谢您，举报已送达。"
    assert confirm.ids.next_label.text.startswith("接下来：负责本站的警方")
    assert confirm.ids.safety_label.text.startswith("注意安全：不要与任何人对峙")
    assert "如果你是走失的孩子" in confirm.ids.advice_label.text
    # the lost-child advice is last, apart from the passenger's own information, and as
    # large as body text (older eyes read it too), like the help line
    assert confirm.ids.advice_label.font_size >= 20
    assert home.ids.help_bar.ids.help_label.font_size >= 20
    assert confirm.ids.advice_label.top <= confirm.ids.done_button.y
    await shoot_both(app, "confirm")

    (report,) = responder.stored.values()
    assert report.reference == reference
    assert report.what_seen is WhatSeen.CARRIED_BY_BEGGAR
    assert report.station_id == "SH-013"
    assert (report.location.lat, report.location.lon) == (31.234826, 121.469971)
    assert report.location.source.value == "fixed"
    assert app.outbox.stats().pending == 0
    await tap(app, confirm.ids.done_button)
    assert app.root.current == "home"
    assert home.ids.waiting_label.text == "所有举报均已发送"


@KIOSK
async def test_pickers_details_photo_and_note_reach_the_backend(kivy_app, responder):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    await tap(app, screen(app, "home").ids.report_button)
    await tap(app, screen(app, "what").ids.what_child_alone)
    child = screen(app, "child")
    chips = {
        c.name: c
        for box in (child.ids.age_box, child.ids.sex_box, child.ids.colour_box)
        for c in box.children
    }
    await tap(app, chips["age_3-5"])
    await tap(app, chips["sex_female"])
    await tap(app, chips["colour_red"])
    await tap(app, chips["colour_blue"])
    assert chips["colour_red"].selected and chips["age_3-5"].selected
    red = chips["colour_red"]
    assert list(red.background_color) == list(red.swatch)  # a picked red stays red
    await shoot_both(app, "report-2-child-picked")
    await tap(app, child.ids.more_button)
    details = screen(app, "details")
    assert "note" not in details.ids and "contact" not in details.ids  # nothing to type into
    directions = {c.value: c for c in details.ids.direction_box.children}
    assert directions["exit 2"].text == "2 号口"  # the configured value, in words
    await tap(app, directions["exit 2"])
    notes = {c.value: c for c in details.ids.notes_box.children}
    await tap(app, notes["adult_man"])
    await tap(app, notes["child_crying"])
    assert notes["adult_man"].selected and notes["adult_man"].text.endswith("✓")
    await tap(app, details.ids.photo_button)  # desktop camera: a test card with GPS EXIF
    await wait_ui(app, lambda: app.report.photo_attached, what="photo attached")
    await shoot_both(app, "report-3-details")
    await tap(app, details.ids.send_button)
    assert app.root.current == "confirm"

    report = await wait_ui(
        app, lambda: next(iter(responder.stored.values()), None), what="report stored"
    )
    assert report.child == ChildDescription(
        AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED, Colour.BLUE)
    )
    assert report.direction == "exit 2"
    # picked observations reach the backend in both languages, whoever reads them
    assert report.free_text == "和一名男子在一起 / With a man; 孩子在哭 / The child is crying"
    assert report.has_photo
    photo = await wait_ui(app, lambda: responder.photos.get(report.report_id), what="photo")
    image = Image.open(io.BytesIO(photo))
    assert image.format == "JPEG" and max(image.size) <= 1280
    assert len(image.getexif()) == 0 and "exif" not in image.info
    # nothing of the form is left for the next person
    assert app.report.flow.draft.is_empty and not app.report.photo_attached
    assert not any(c.selected for c in details.ids.notes_box.children)


@KIOSK
async def test_notices_of_open_cases_are_shown_from_the_retained_topic(kivy_app, broker, tmp_path):
    app = kivy_app
    home = screen(app, "home")
    assert home.ids.no_notices.text == "本站附近暂无寻人案件"
    # photo_ref is ignored: a kiosk gets case photos on their retained topic
    # (tests/kiosk_app/test_case_notice.py), never from a path or URL in the notice
    photo = tmp_path / "C-2024-017.png"
    board = NoticeBoard(
        notices=(
            Notice(
                case_id="C-2024-017",
                title="寻找 4 岁男孩 小明 / Missing boy, 4",
                description="身穿黄色外套、蓝色裤子，最后出现在人民广场站 2 号口。",
                relay_contact="志愿者热线 400-000-0000",
                since=datetime(2024, 11, 20, 9, 30, tzinfo=UTC),
                photo_ref=str(photo),
                child=BOY_IN_YELLOW,
            ),
        ),
        updated_at=utc_now(),
    )
    backend = backend_client(broker.port, "notices-publisher")
    backend.publish(
        topics.device_notices(app.settings.device_id), board.to_json(), qos=1, retain=True
    ).wait_for_publish(5)
    backend.disconnect()
    backend.loop_stop()
    box = home.ids.notices_box
    await wait_ui(app, lambda: app.notices.notices, what="notices received")
    await wait_ui(app, lambda: box.children, what="notice card")
    card = box.children[0]
    assert card.title.startswith("寻找 4 岁男孩")
    assert "400-000-0000" in card.contact and card.contact.startswith("志愿者转接电话")
    assert card.photo is None  # no photo topic for this case: no empty photo slot either
    assert "寻找走失儿童 · 年龄 3-5 岁" in card.who and "Missing child · Age 3-5" in card.who
    assert home.ids.no_notices.text == ""
    await shoot_both(app, "notices")


@pytest.mark.parametrize("kivy_app", [[kiosk_rejecting_tests]], indirect=True)
async def test_operator_panel_behind_pin(kivy_app):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    await tap(app, screen(app, "home").ids.operator_button)
    pin = screen(app, "pin")
    for key in "1111":
        await tap(app, pin.ids[f"key_{key}"])
    await tap(app, pin.ids.key_ok)
    assert app.root.current == "pin" and pin.ids.message_label.text == "密码错误"
    assert pin.ids.entered_label.text == " "  # the dots are cleared
    app.toggle_language()  # the message follows the language
    assert pin.ids.message_label.text == "Wrong PIN"
    app.toggle_language()
    for key in "2468":
        await tap(app, pin.ids[f"key_{key}"])
    assert pin.ids.entered_label.text == "••••"
    await shoot_both(app, "operator-pin")
    await tap(app, pin.ids.key_ok)
    assert app.root.current == "operator"
    operator = screen(app, "operator")

    def facts():
        return {row.name: row.value for row in operator.ids.facts_box.children}

    assert facts()["设备"] == "kiosk-SH-013"
    assert "已连接" in facts()["服务器"]
    await tap(app, operator.ids.test_report_button)
    await wait_ui(app, lambda: "被拒绝" in facts()["最近回执"], what="rejected receipt")
    assert facts()["最近回执"].startswith("[测试举报]")  # a test, not a fault
    assert "test reports are not stored here" in facts()["被拒绝"]
    assert facts()["待发队列"] == "所有举报均已发送"
    await tap(app, operator.ids.default_en)
    assert app.shell.default_lang == "en"
    assert (app.settings.data_dir / "state.json").read_text() == '{"language": "en"}'
    await shoot_both(app, "operator")
    await tap(app, operator.ids.close_button)
    assert app.root.current == "home"


@KIOSK
async def test_offline_reports_wait_and_are_shown_as_waiting(kivy_app, broker, responder):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    broker.stop()
    home = screen(app, "home")
    await wait_ui(app, lambda: app.shell.connection == "offline", what="offline shown")
    assert home.ids.connection_label.text == "离线：举报已保存，恢复连接后发送"
    for _ in range(3):
        await tap(app, home.ids.report_button)
        await tap(app, screen(app, "what").ids.what_child_alone)
        await tap(app, screen(app, "child").ids.send_button)
        assert app.report.delivery == "waiting"
        await tap(app, screen(app, "confirm").ids.done_button)
    assert home.ids.waiting_label.text == "3 条举报等待发送"
    await shoot_both(app, "home-offline")
    broker.start()
    await wait_ui(
        app,
        lambda: home.ids.waiting_label.text == "所有举报均已发送",
        timeout_s=20,
        what="outbox drained",
    )
    assert len(responder.stored) == 3
