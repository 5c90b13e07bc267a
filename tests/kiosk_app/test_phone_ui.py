"""Phone reporter mode driven by touches on the real screens, against a real broker with a
test-side responder for the backend: the position (with its accuracy) comes from the
location facade, here the app's GPS adapter fed by a simulated receiver with plyer's
interface; the optional contact and who can see it; a rejected receipt's reason on screen;
a rate-limited report shown as waiting and sent again after retry_after_s. Screenshots
of the phone screens in both languages go to test-artifacts/screens/phone-*."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from kiosk_app.config import Mode
from kiosk_app.outbox import Outbox
from kiosk_app.platform.location import GpsLocation
from protocol import LocationSource, WhatSeen
from tests.kiosk_app.helpers import Responder, app_config, make_app, wait_ui
from tests.kiosk_app.test_kiosk_ui import screen, shoot_both, tap

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]

CONTACT = "王女士 138-0000-1234"


class SimulatedGps:
    """Stands in for ``plyer.gps`` (same calls); fixes arrive on another thread, as plyer's
    arrive on the Java thread."""

    def __init__(self, first_fix: tuple[float, float, float] | None = None) -> None:
        self.on_location: Callable[..., Any] | None = None
        self.started: tuple[int, float] | None = None
        self.first_fix = first_fix  # delivered as soon as the receiver is started

    def configure(self, on_location: Callable[..., Any], on_status: Any = None) -> None:
        self.on_location = on_location

    def start(self, minTime: int, minDistance: float) -> None:  # noqa: N803 (plyer's names)
        self.started = (minTime, minDistance)
        if self.first_fix is not None:
            self.fix(*self.first_fix)

    def stop(self) -> None:
        self.started = None

    def fix(self, lat: float, lon: float, accuracy: float) -> None:
        assert self.on_location is not None and self.started is not None, "GPS not started"
        receiver = threading.Thread(
            target=self.on_location,
            kwargs={
                "lat": lat,
                "lon": lon,
                "accuracy": accuracy,
                "speed": 0.0,
                "bearing": 0.0,
                "altitude": 4.0,
            },
        )
        receiver.start()
        receiver.join(5)


FIX = (31.22817, 121.45510, 12.0)


def phone_app(request, responder: Responder | None = None, first_fix=None):
    broker = request.getfixturevalue("broker")
    if responder is None:
        responder = request.getfixturevalue("responder")
    tmp = request.getfixturevalue("tmp_path")
    gps = SimulatedGps(first_fix)
    app = make_app(
        app_config(Mode.PHONE, broker.port, tmp / "phone"), location=GpsLocation(gps=gps)
    )
    app.test_gps = gps
    app.test_responder = responder
    return app


def phone(request):
    return phone_app(request)


def phone_rejected(request):
    broker = request.getfixturevalue("broker")
    responder = Responder(broker.port, reject=lambda r: "outside the area this service covers")
    request.addfinalizer(responder.close)
    return phone_app(request, responder, first_fix=FIX)


class ManualClock:
    """The outbox's clock, moved only by the test: a state that lasts "one second" lasts
    until the test moves the clock, however busy the machine is."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def phone_rate_limited(request):
    broker = request.getfixturevalue("broker")
    # the first delivery of each report is refused for the rate; the backend takes it 1 s later
    responder = Responder(broker.port, rate_limit=lambda r, nth: 1.0 if nth == 1 else None)
    request.addfinalizer(responder.close)
    clock = ManualClock()  # the app's outbox (created in on_start) runs on it
    request.getfixturevalue("monkeypatch").setattr(
        "kiosk_app.ui.app.Outbox", functools.partial(Outbox, clock=clock)
    )
    app = phone_app(request, responder, first_fix=FIX)
    app.test_clock = clock
    return app


def position_shown(app):
    """The home screen shows where the GPS fix is, in words, with its accuracy."""
    return screen(app, "home").ids.station_label.text in (
        "您的位置: 南京西路附近 ±12 m",
        "Your position: near Nanjingxi Road ±12 m",
    )


async def report_to_child_screen(app):
    await tap(app, screen(app, "home").ids.report_button)
    await tap(app, screen(app, "what").ids.what_carried_by_beggar)
    assert app.root.current == "child"


@pytest.mark.parametrize("kivy_app", [[phone]], indirect=True)
async def test_position_from_gps_with_accuracy_and_the_optional_contact(kivy_app):
    app, responder = kivy_app, kivy_app.test_responder
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    home = screen(app, "home")
    assert app.test_gps.started is not None  # the app started the GPS facade
    assert home.ids.station_label.text == "您的位置: 正在等待 GPS 定位…"
    assert home.ids.operator_button.opacity == 0  # no operator panel on a phone

    # no fix yet: the report is not sent with a made-up position
    await report_to_child_screen(app)
    child = screen(app, "child")
    assert child.ids.position_label.text == "您的位置: 正在等待 GPS 定位…"
    await tap(app, child.ids.send_button)
    assert app.root.current == "child"
    assert app.outbox.stats().pending == 0 and not responder.deliveries

    app.test_gps.fix(31.22817, 121.45510, 12.0)  # a fix arrives on the receiver's thread
    await wait_ui(
        app,
        lambda: child.ids.position_label.text == "您的位置: 31.22817, 121.45510 ±12 m · GPS 定位",
        what="GPS position with its accuracy",
    )
    await shoot_both(app, "phone-child")
    app.toggle_language()
    assert child.ids.position_label.text == "Your position: 31.22817, 121.45510 ±12 m · GPS"
    app.toggle_language()

    await tap(app, child.ids.more_button)
    details = screen(app, "details")
    assert details.ids.contact_label.text == "您的联系方式（可选）"
    statement = details.ids.contact_statement.text
    assert statement.startswith("谁能看到您的联系方式：只有警方，记录在本举报的案卷中。")
    assert "绝不会被公开" in statement
    shown = details.ids.contact_statement
    _, bottom = shown.to_window(shown.x, shown.y)
    assert shown.height > 20  # visible, not collapsed, and in view without scrolling:
    assert details.ids.send_button.top < bottom and bottom + shown.height < details.height
    await tap(app, details.ids.contact)  # focus the field, then type
    assert details.ids.contact.focus
    details.ids.contact.insert_text(CONTACT)
    # a phone types with its own keyboard (any language), so it keeps a note field
    details.ids.note.text = "穿红色外套，往2号口去了"
    await app.wait_clock_frames(2)
    # a phone is not a shared kiosk: a slow reporter's form is never wiped for idling
    assert not app.check_idle(now=time.monotonic() + 3600)
    assert app.root.current == "details" and details.ids.contact.text == CONTACT
    await shoot_both(app, "phone-details")
    app.toggle_language()
    assert details.ids.contact_label.text == "Your contact (optional)"
    assert details.ids.contact_statement.text == (
        "Who sees your contact: only the police, in the case file of this report. "
        "It is never published, and never shown to volunteers or to the family."
    )
    app.toggle_language()

    await tap(app, details.ids.send_button)
    assert app.root.current == "confirm"
    confirm = screen(app, "confirm")
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="receipt on screen")
    assert confirm.ids.delivery_label.text == "处置团队已收到"
    assert confirm.ids.advice_label.text == ""  # the lost-child advice is for kiosks
    await shoot_both(app, "phone-confirm")
    (report,) = responder.stored.values()
    assert report.reference == confirm.ids.reference_label.text
    assert report.contact == CONTACT
    assert report.free_text == "穿红色外套，往2号口去了"
    assert responder.raw[report.report_id]["contact"] == CONTACT
    assert report.location.source is LocationSource.GPS
    assert (report.location.lat, report.location.lon) == (31.22817, 121.45510)
    assert report.location.accuracy_m == 12.0
    assert report.station_id is None and report.what_seen is WhatSeen.CARRIED_BY_BEGGAR

    # the next report leaves the contact empty: the field is not sent at all
    await tap(app, confirm.ids.done_button)
    await tap(app, home.ids.report_button)
    await tap(app, screen(app, "what").ids.what_child_alone)
    await tap(app, child.ids.more_button)
    assert details.ids.contact.text == ""  # nothing of the last report is left
    await tap(app, details.ids.send_button)
    await wait_ui(app, lambda: len(responder.stored) == 2, what="second report stored")
    second = next(r for r in responder.stored.values() if r.report_id != report.report_id)
    assert second.contact is None and "contact" not in responder.raw[second.report_id]


@pytest.mark.parametrize("kivy_app", [[phone_rejected]], indirect=True)
async def test_a_rejected_report_shows_its_reason_to_the_phone_user(kivy_app):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    home = screen(app, "home")
    await tap(app, home.ids.lang_button)  # this person reads English; the phone keeps it
    assert home.ids.report_button.text == "Report a child at risk"
    await wait_ui(app, lambda: position_shown(app), what="position on screen")
    await report_to_child_screen(app)
    await tap(app, screen(app, "child").ids.send_button)
    confirm = screen(app, "confirm")
    await wait_ui(app, lambda: app.report.delivery == "rejected", what="rejection on screen")
    assert confirm.ids.delivery_label.text == "The report was not accepted"
    # read by its code ("policy" is none this app knows): never "recorded", what to do now
    assert confirm.ids.headline_label.text == "Your report did not get through"
    assert confirm.ids.detail_label.text == (
        "The service did not accept this report.\nIt was NOT passed on. "
        "If the child is in danger now, call 110 or tell station staff."
    )
    assert "outside the area" not in confirm.ids.detail_label.text  # the server's words
    assert confirm.ids.detail_label.height > 20
    assert app.shell.help_urgent
    await shoot_both(app, "phone-rejected")
    assert app.outbox.stats().rejected == 1  # kept as rejected, not retried

    reference = confirm.ids.reference_label.text
    await tap(app, confirm.ids.done_button)
    assert app.root.current == "home" and app.shell.lang == "en"  # still the person's language
    assert confirm.ids.reference_label.text == ""  # Done: the confirmation is wiped
    assert home.ids.rejection_label.text == (
        f"Your report was not accepted ({reference}). The service did not accept this report. "
        "It was NOT passed on. If the child is in danger now, call 110 or tell station staff."
    )
    await shoot_both(app, "phone-home-rejected")
    app.toggle_language()
    assert home.ids.rejection_label.text == (
        f"您的举报未被接受 ({reference}). 服务没有接受这条举报。 举报没有被转交。"
        "如果孩子正处于危险中，请拨打 110 或告诉车站工作人员。"
    )
    assert home.ids.help_bar.urgent  # the help line stands out while a refusal is shown
    await tap(app, home.ids.report_button)  # seen: a new report clears it
    assert app.root.current == "what" and home.ids.rejection_label.text == ""


@pytest.mark.parametrize("kivy_app", [[phone_rate_limited]], indirect=True)
async def test_a_rate_limited_report_waits_and_is_sent_again(kivy_app):
    """The outbox runs on a clock the test moves, so "waiting" stays on screen until the
    test lets the retry come due: nothing here depends on how fast the machine is."""
    app, responder, clock = kivy_app, kivy_app.test_responder, kivy_app.test_clock
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    await wait_ui(app, lambda: position_shown(app), what="position on screen")
    await report_to_child_screen(app)
    await tap(app, screen(app, "child").ids.send_button)
    confirm = screen(app, "confirm")
    home = screen(app, "home")
    await wait_ui(app, lambda: app.report.delivery == "retrying", what="waiting on screen")
    assert confirm.ids.delivery_label.text == "等待发送：服务繁忙，稍后将自动重新发送"
    assert confirm.ids.detail_label.text == (
        "1 秒后重试\n救助人员尚未收到。如果孩子正处于危险中，请立即拨打 110。"
    )
    assert "未被接受" not in confirm.ids.delivery_label.text
    await wait_ui(
        app, lambda: home.ids.waiting_label.text == "1 条举报等待发送", what="one waiting"
    )
    assert app.outbox.stats().rejected == 0
    assert not responder.stored and len(responder.deliveries) == 1, "sent once, not taken"
    # retry_after_s is kept: the retry comes due 1 s (outbox clock) after the receipt
    assert app.outbox.next_due_in() == pytest.approx(1.0)
    clock.advance(0.9)
    assert app.outbox.due() == [], "due before retry_after_s"
    await app.wait_clock_frames(2)
    await shoot_both(app, "phone-rate-limited")
    assert app.report.delivery == "retrying"  # the clock has not reached retry_after_s

    clock.advance(0.1)
    app.link.wake()  # the pump would also look again within a second by itself
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="delivered after retry")
    assert confirm.ids.delivery_label.text == "处置团队已收到"
    (report_id,) = responder.stored
    assert responder.deliveries == [report_id, report_id]  # the same report, sent again
    await wait_ui(
        app, lambda: home.ids.waiting_label.text == "所有举报均已发送", what="outbox drained"
    )
    assert home.ids.rejection_label.text == ""  # never shown as an error
