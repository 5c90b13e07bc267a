"""Every flow walked by touch, in both languages, at the window size of this process
(1280x800 here; tests/kiosk_app/test_screen_sizes.py runs this file again at 1920x1080, 540x960
and 360x640). On every screen: contrast of every text and size of every touch target
(tests/kiosk_app/a11y.py), a screenshot per language in test-artifacts/screens/<size>/, and on
that screenshot's pixels the contrast of every text, the edge of every control and whole
line breaks.

Every flow runs at every size; a screen that does not fit scrolls, and no text may be cut
(drawn larger than its box) nor any control left outside the window."""

from __future__ import annotations

import uuid

import pytest

from kiosk_app.config import Mode
from kiosk_app.ui.widgets import HelpBar
from protocol import AgeBand, ChildDescription, Colour, Notice, NoticeBoard, Sex, topics
from protocol.payloads import utc_now
from tests.kiosk_app.a11y import assert_readable_and_touchable, assert_rendered_readable
from tests.kiosk_app.conftest import WINDOW_SIZE, save_screenshot
from tests.kiosk_app.helpers import Responder, app_config, backend_client, make_app, wait_ui
from tests.kiosk_app.test_kiosk_ui import screen, tap
from tests.kiosk_app.test_phone_ui import FIX, SimulatedGps
from tests.kiosk_app.test_volunteer_ui import alert

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]

# Every flow at every size (issue 20: every screen in both languages at the four sizes):
# landscape kiosks, a portrait one, a small one (360x640: its pages scroll), phones, tablets.
ALL_SIZES = {(1280, 800), (1920, 1080), (540, 960), (360, 640)}
KIOSK_SIZES = ALL_SIZES
PHONE_SIZES = ALL_SIZES
SIZE = f"{WINDOW_SIZE[0]}x{WINDOW_SIZE[1]}"
OPERATOR_SCREENS = ("pin", "operator")
# A flow runs in the pytest process whose window has a size of its device (offscreen SDL
# cannot resize one window); elsewhere it is deselected, not skipped (tests/kiosk_app/conftest.py).
at_kiosk_size = pytest.mark.window_sizes(KIOSK_SIZES)
at_phone_size = pytest.mark.window_sizes(PHONE_SIZES)


def child_photo() -> bytes:
    """A stand-in for a case's photo (JPEG, portrait)."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (240, 320), (236, 226, 214))
    ImageDraw.Draw(image).ellipse((70, 60, 170, 170), fill=(225, 190, 160))
    ImageDraw.Draw(image).rectangle((50, 180, 190, 320), fill=(190, 30, 40))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def refuse_distressed(report):
    """The stand-in refuses one kind of report, so every walk also sees a refusal."""
    return "refused for the walk" if report.what_seen.value == "with_adult_distressed" else None


def reporter(mode: Mode):
    def factory(request):
        broker = request.getfixturevalue("broker")
        responder = Responder(broker.port, reject=refuse_distressed)
        request.addfinalizer(responder.close)
        tmp = request.getfixturevalue("tmp_path")
        extra = {}
        if mode is Mode.PHONE:
            from kiosk_app.platform.location import GpsLocation

            extra["location"] = GpsLocation(gps=SimulatedGps(FIX))
        app = make_app(app_config(mode, broker.port, tmp / mode.value), **extra)
        app.test_responder = responder
        return app

    return factory


def _wholly_in(scroll, widget) -> bool:
    _, low = scroll.to_window(scroll.x, scroll.y)
    _, high = scroll.to_window(scroll.x, scroll.top)
    _, bottom = widget.to_window(widget.x, widget.y)
    _, top = widget.to_window(widget.x, widget.top)
    return low <= bottom and top <= high


async def tap_in_view(app, widget) -> None:
    """Scroll the widget into view (as a person would on a small screen), then touch it."""
    from kivy.uix.scrollview import ScrollView

    node = widget.parent
    while node is not None and not isinstance(node, ScrollView):
        node = node.parent
    if node is not None and not _wholly_in(node, widget):
        node.scroll_to(widget, padding=10, animate=False)
        await app.wait_clock_frames(3)
    await tap(app, widget)


async def check(app, name: str) -> None:
    """Both languages: readable and touchable, nothing cut, and a screenshot of each."""
    from tests.kiosk_app.conftest import SCREENS_DIR

    (SCREENS_DIR / SIZE).mkdir(parents=True, exist_ok=True)
    first = app.shell.lang
    for _ in range(2):
        await app.wait_clock_frames(3)
        current = app.root.current_screen
        assert app.root.children == [current], "two screens drawn at once"  # no transition
        assert_readable_and_touchable(current)
        if app.mode is not Mode.VOLUNTEER and current.name not in OPERATOR_SCREENS:
            helps = [w for w in current.walk() if isinstance(w, HelpBar)]
            assert helps and "110" in helps[0].text, f"no help line on {current.name}"
            assert helps[0].ids.help_label.font_size >= 20  # as large as body text
        shot = save_screenshot(app, f"{SIZE}/{app.mode.value}-{name}-{app.shell.lang}")
        assert_rendered_readable(current, shot)
        app.toggle_language()
    assert app.shell.lang == first
    await app.wait_clock_frames(3)  # widgets rebuilt for the language are laid out again


async def report_once(app, what: str, *, details: bool) -> None:
    await tap(app, screen(app, "home").ids.report_button)
    await check(app, "1-what")
    await tap_in_view(app, screen(app, "what").ids[f"what_{what}"])
    child = screen(app, "child")
    await app.wait_clock_frames(2)
    assert_opens_at_top(child, app.mode)
    await tap_in_view(app, next(c for c in child.ids.age_box.children if c.value == "3-5"))
    await tap_in_view(app, next(c for c in child.ids.colour_box.children if c.value == "red"))
    await check(app, "2-child")
    if details:
        await tap(app, child.ids.more_button)
        details_screen = screen(app, "details")
        await tap_in_view(app, details_screen.ids.direction_box.children[-1])
        await tap_in_view(app, details_screen.ids.notes_box.children[-1])
        await check(app, "3-details")
        await tap(app, details_screen.ids.send_button)
    else:
        await tap(app, child.ids.send_button)
    assert app.root.current == "confirm"


def assert_refusal_keeps_no_promise(app) -> None:
    """A refused report is not stored: its number must not be said to find it."""
    use = screen(app, "confirm").ids.reference_use.text
    assert use == "这条举报没有被保存，用这个编号查不到它。", use


def assert_opens_at_top(child, mode: Mode) -> None:
    """Step 2 opens at its top, with age, sex and the colour heading whole in view. A kiosk
    at 360x640 keeps its help bar in both languages, with the staff call under it: there
    the colours are one scroll further down (age and sex in view)."""
    scroll = child.ids.form_scroll
    assert scroll.scroll_y == 1, "step 2 opened scrolled down"
    _, bottom = scroll.to_window(scroll.x, scroll.y)
    _, top = scroll.to_window(scroll.x, scroll.top)
    headings = ["age_label", "sex_label", "colour_label"]
    if mode is Mode.KIOSK and WINDOW_SIZE == (360, 640):
        headings.remove("colour_label")
    for name in headings:
        label = child.ids[name]
        _, low = label.to_window(label.x, label.y)
        _, high = label.to_window(label.x, label.top)
        assert bottom <= low and high <= top, f"{name} not whole in view on step 2"


@at_kiosk_size
@pytest.mark.parametrize("kivy_app", [[reporter(Mode.KIOSK)]], indirect=True)
async def test_kiosk_flows_at_this_size(kivy_app, broker):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    board = NoticeBoard(
        notices=(
            Notice(
                case_id="C-2026-001",
                title="寻找 4 岁女孩 / Girl, 4, red coat",
                description="最后出现在人民广场站 2 号口，抱着白色兔子玩具。",
                relay_contact="400-000-0000",
                since=utc_now(),
                child=ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            ),
        ),
        updated_at=utc_now(),
    )
    publisher = backend_client(broker.port, "notices-publisher")
    publisher.publish(
        topics.device_notices(app.settings.device_id), board.to_json(), qos=1, retain=True
    ).wait_for_publish(5)
    photo_topic = topics.device_notice_photo(app.settings.device_id, "C-2026-001")
    publisher.publish(photo_topic, child_photo(), qos=1, retain=True).wait_for_publish(5)
    publisher.disconnect()
    publisher.loop_stop()
    home = screen(app, "home")
    await wait_ui(app, lambda: home.ids.notices_box.children, what="notice card")
    await wait_ui(app, lambda: home.ids.notices_box.children[0].photo, what="photo on card")
    await check(app, "0-home")
    await tap_in_view(app, home.ids.notices_box.children[0])
    assert app.root.current == "notice"
    await check(app, "notice")
    await tap(app, screen(app, "notice").ids.back_button)

    await report_once(app, "carried_by_beggar", details=True)
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="delivered")
    await check(app, "4-confirm")
    await tap(app, screen(app, "confirm").ids.done_button)

    await report_once(app, "with_adult_distressed", details=False)
    await wait_ui(app, lambda: app.report.delivery == "rejected", what="refused")
    assert screen(app, "confirm").ids.headline_label.text == "您的举报没有送达"
    assert_refusal_keeps_no_promise(app)
    await check(app, "4-confirm-refused")
    await tap(app, screen(app, "confirm").ids.done_button)

    await tap(app, home.ids.operator_button)
    pin = screen(app, "pin")
    await check(app, "5-pin")
    for key in "2468":
        await tap(app, pin.ids[f"key_{key}"])
    await tap(app, pin.ids.key_ok)
    assert app.root.current == "operator"
    await check(app, "6-operator")


@at_phone_size
@pytest.mark.parametrize("kivy_app", [[reporter(Mode.PHONE)]], indirect=True)
async def test_phone_flows_at_this_size(kivy_app):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    await wait_ui(app, lambda: "±12 m" in app.shell.location_text, what="GPS fix")
    await check(app, "0-home")
    await report_once(app, "child_alone", details=True)
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="delivered")
    confirm = screen(app, "confirm")
    assert confirm.ids.addendum_box.opacity == 1  # a phone can add to its sent report
    confirm.ids.addendum_note.text = "他们往 2 号口走了"
    await tap_in_view(app, confirm.ids.addendum_send)
    # the tap is handled on a later frame (on a loaded machine, after tap_in_view returns)
    await wait_ui(
        app, lambda: app.follow.addendum_text and not confirm.ids.addendum_note.text,
        what="the addition sent",
    )
    await check(app, "4-confirm")
    await tap(app, screen(app, "confirm").ids.done_button)
    screen(app, "child").ids.form_scroll.scroll_y = 0  # the last report scrolled down
    await report_once(app, "with_adult_distressed", details=False)
    await wait_ui(app, lambda: app.report.delivery == "rejected", what="refused")
    assert_refusal_keeps_no_promise(app)
    await check(app, "4-confirm-refused")
    await tap(app, screen(app, "confirm").ids.done_button)
    assert screen(app, "home").ids.rejection_label.text
    await check(app, "0-home-refused")


def volunteer_app(request):
    from kiosk_app.platform.navigate import DesktopNavigator
    from kiosk_app.platform.notify import DesktopNotifier

    broker = request.getfixturevalue("broker")
    tmp = request.getfixturevalue("tmp_path")
    settings = app_config(
        Mode.VOLUNTEER, broker.port, tmp / "vol", lat=31.2304, lon=121.4737, accuracy_m=25.0
    )
    return make_app(
        settings, notifier=DesktopNotifier(bell=False), navigator=DesktopNavigator(launch=False)
    )


@at_phone_size
@pytest.mark.parametrize("kivy_app", [[volunteer_app]], indirect=True)
async def test_volunteer_flows_at_this_size(kivy_app, broker):
    from tests.kiosk_app.helpers import USERS
    from tests.support.mqtt_client import TestClient

    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    await check(app, "0-inbox-empty")
    await tap(app, screen(app, "volunteer").ids.duty_button)
    backend = TestClient(broker.port, "vol-walk", "backend", USERS["backend"])
    try:
        backend.publish(topics.volunteer_alerts("vol-1"), alert(str(uuid.uuid4())).to_json())
        await wait_ui(app, lambda: app.root.current == "alert", what="full-screen alert")
        app.volunteer.photo_arrived("C-2024-017", child_photo())  # the wire: test_requests_backend
        await wait_ui(app, lambda: screen(app, "alert").photo, what="case photo on the alert")
        await check(app, "1-alert")
        page = screen(app, "alert")
        primary = [b for b in page.ids.responses.children if b.primary]
        assert [b.kind for b in primary] == ["on_my_way"]
        await tap_in_view(app, primary[0])
        await wait_ui(app, lambda: page.ids.answered_label.text, what="answer shown")
        await check(app, "2-alert-answered")
        await tap(app, page.ids.inbox_button)
        await check(app, "3-inbox")
    finally:
        backend.close()
