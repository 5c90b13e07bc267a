"""The kiosk forgets the last passenger by the clock: from every screen, after the idle time
with no touch (sooner on a confirmation), it is back home in its default language with every
choice, photo, reference and PIN digit gone, read from the widgets themselves.

The idle timer reads a time source the test moves on; the check itself runs where it runs in
production, on the real Kivy clock (Clock.schedule_interval), which keeps ticking here. So a
check that cancels itself (a callback returning False) fails this test."""

from __future__ import annotations

import logging

import pytest

from kiosk_app.config import Mode
from protocol import Notice, NoticeBoard, topics
from protocol.payloads import utc_now
from tests.kiosk_app.helpers import (
    BOY_IN_YELLOW,
    Responder,
    app_config,
    backend_client,
    make_app,
    wait_ui,
)
from tests.kiosk_app.test_kiosk_ui import screen, tap

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]

IDLE_S, CONFIRM_S = 60.0, 20.0


class MovedTime:
    """A monotonic time source that moves only when the test says."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def kiosk(request):
    broker = request.getfixturevalue("broker")
    responder = Responder(
        broker.port,
        reject=lambda r: "refused" if r.what_seen.value == "with_adult_distressed" else None,
    )
    request.addfinalizer(responder.close)
    tmp = request.getfixturevalue("tmp_path")
    settings = app_config(
        Mode.KIOSK, broker.port, tmp / "kiosk", idle_timeout_s=IDLE_S, confirm_timeout_s=CONFIRM_S
    )
    app = make_app(settings)
    app.test_time = MovedTime()
    app.idle.clock = app.test_time
    app.idle.touch()
    return app


async def quiet_for(app, seconds: float) -> None:
    """Move the idle time on, then let the real clock tick until its check has run."""
    app.test_time.now += seconds
    moment = app.test_time.now
    await wait_ui(app, lambda: (app.idle.checked_at or 0) >= moment, timeout_s=5, what="idle check")
    await app.wait_clock_frames(2)


def chips(scr, *boxes):
    return [c for box in boxes for c in scr.ids[box].children]


def assert_wiped(app) -> None:
    """What the next passenger sees and could reach: nothing of the last one."""
    home = screen(app, "home")
    assert app.root.current == "home" and app.root.children == [home]
    assert home.ids.lang_button.text == "English"  # the default language, Chinese
    assert home.ids.connection_label.text == "已连接"
    child, details = screen(app, "child"), screen(app, "details")
    assert not [c.value for c in chips(child, "age_box", "sex_box", "colour_box") if c.selected]
    assert not [c.value for c in chips(details, "direction_box", "notes_box") if c.selected]
    assert details.ids.photo_button.text == "拍照"
    confirm = screen(app, "confirm")
    assert confirm.ids.reference_label.text == ""
    assert confirm.ids.delivery_label.text == "" and confirm.ids.detail_label.text == ""
    notice = screen(app, "notice")
    assert notice.ids.title_label.text == "" and notice.ids.contact_label.text == ""
    pin = screen(app, "pin")
    assert pin.ids.entered_label.text == " " and pin.ids.message_label.text == ""


async def stays_then_resets(app, name: str, caplog, timeout_s: float = IDLE_S) -> None:
    assert app.root.current == name
    await quiet_for(app, timeout_s - 1)
    assert app.root.current == name, f"{name}: reset before {timeout_s} s"
    before = len(caplog.records)
    await quiet_for(app, 2)
    assert_wiped(app)
    lines = [r.getMessage() for r in caplog.records[before:] if "idle reset" in r.getMessage()]
    assert len(lines) == 1 and repr(name) in lines[0], lines


@pytest.mark.parametrize("kivy_app", [[kiosk]], indirect=True)
async def test_the_kiosk_resets_itself_from_every_screen(kivy_app, broker, caplog):
    app = kivy_app
    caplog.set_level(logging.INFO, logger="kiosk_app.ui.app")
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    home = screen(app, "home")

    # at rest nothing happens (and nothing is logged), and the check keeps running after
    await quiet_for(app, 10 * IDLE_S)
    assert not [r for r in caplog.records if "idle reset" in r.getMessage()]
    await tap(app, home.ids.lang_button)  # home, but in English: back to Chinese
    assert home.ids.lang_button.text == "中文" and home.ids.connection_label.text == "Connected"
    await stays_then_resets(app, "home", caplog)

    await tap(app, home.ids.report_button)
    await stays_then_resets(app, "what", caplog)

    await tap(app, home.ids.report_button)
    await tap(app, screen(app, "what").ids.what_child_alone)
    child = screen(app, "child")
    picks = {c.name: c for c in chips(child, "age_box", "sex_box", "colour_box")}
    for name in ("age_3-5", "sex_female", "colour_white"):
        await tap(app, picks[name])
    assert picks["colour_white"].selected
    await stays_then_resets(app, "child", caplog)

    await tap(app, home.ids.report_button)
    await tap(app, screen(app, "what").ids.what_child_alone)
    await tap(app, child.ids.more_button)
    details = screen(app, "details")
    await tap(app, details.ids.direction_box.children[0])
    await tap(app, details.ids.notes_box.children[0])
    await tap(app, details.ids.photo_button)
    await wait_ui(app, lambda: app.report.photo_attached, what="photo attached")
    assert details.ids.photo_button.text != "拍照"
    await stays_then_resets(app, "details", caplog)

    await tap(app, home.ids.report_button)
    await tap(app, screen(app, "what").ids.what_child_alone)
    await tap(app, child.ids.send_button)
    confirm = screen(app, "confirm")
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="delivered")
    assert len(confirm.ids.reference_label.text) == 8
    await stays_then_resets(app, "confirm", caplog, CONFIRM_S)  # sooner than a form

    await tap(app, home.ids.report_button)
    await tap(app, screen(app, "what").ids.what_with_adult_distressed)
    await tap(app, child.ids.send_button)
    await wait_ui(app, lambda: app.report.delivery == "rejected", what="refused")
    assert confirm.ids.headline_label.text == "您的举报没有送达"
    await stays_then_resets(app, "confirm", caplog, CONFIRM_S)

    board = NoticeBoard(
        notices=(
            Notice(
                case_id="C-2026-009",
                title="寻找 4 岁男孩 / Missing boy, 4",
                description="身穿黄色外套。",
                relay_contact="400-000-0000",
                since=utc_now(),
                child=BOY_IN_YELLOW,
            ),
        ),
        updated_at=utc_now(),
    )
    publisher = backend_client(broker.port, "notices-publisher")
    publisher.publish(
        topics.device_notices(app.settings.device_id), board.to_json(), qos=1, retain=True
    ).wait_for_publish(5)
    publisher.disconnect()
    publisher.loop_stop()
    await wait_ui(app, lambda: home.ids.notices_box.children, what="notice card")
    await tap(app, home.ids.notices_box.children[0])
    assert screen(app, "notice").ids.title_label.text.startswith("寻找")
    await stays_then_resets(app, "notice", caplog)

    await tap(app, home.ids.operator_button)
    pin = screen(app, "pin")
    for key in "24":
        await tap(app, pin.ids[f"key_{key}"])
    assert pin.ids.entered_label.text == "••"
    await stays_then_resets(app, "pin", caplog)

    await tap(app, home.ids.operator_button)
    for key in "2468":
        await tap(app, pin.ids[f"key_{key}"])
    await tap(app, pin.ids.key_ok)
    await stays_then_resets(app, "operator", caplog)
