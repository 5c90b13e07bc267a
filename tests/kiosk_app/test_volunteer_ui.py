"""Volunteer mode: duty toggle and location sharing, the alert inbox (revisions replace),
a visible notification, responses published on the volunteer's responses topic."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from kiosk_app.config import Mode
from kiosk_app.platform.navigate import DesktopNavigator
from kiosk_app.platform.notify import DesktopNotifier
from kiosk_app.ui import theme
from protocol import (
    AgeBand,
    Alert,
    AlertKind,
    ChildDescription,
    Colour,
    Sex,
    VolunteerLocation,
    VolunteerResponse,
    WhatSeen,
    topics,
)
from protocol.payloads import utc_now
from tests.kiosk_app.helpers import BOY_IN_YELLOW, USERS, app_config, make_app, wait_ui
from tests.kiosk_app.test_kiosk_ui import screen, shoot_both, tap
from tests.support.mqtt_client import TestClient

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]
GIRL_IN_RED = ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,))


def volunteer(request):
    broker = request.getfixturevalue("broker")
    tmp = request.getfixturevalue("tmp_path")
    return make_app(
        app_config(
            Mode.VOLUNTEER,
            broker.port,
            tmp / "vol",
            location_interval_s=1.0,
            lat=31.2304,
            lon=121.4737,
            accuracy_m=25.0,
        ),
        notifier=DesktopNotifier(bell=False),
        navigator=DesktopNavigator(launch=False),
    )


def alert(alert_id: str, revision: int = 1, reporters: int = 1) -> Alert:
    now = utc_now()
    return Alert(
        alert_id=alert_id,
        kind=AlertKind.PROXIMITY,
        recipient_id="vol-1",
        incident_id="inc-1",
        lat=31.234447,  # 450 m due north of the volunteer
        lon=121.4737,
        observed_at=now - timedelta(minutes=2),
        what_seen=WhatSeen.CARRIED_BY_BEGGAR,
        reporters=reporters,
        sent_at=now,
        expires_at=now + timedelta(minutes=30),
        reason="You are on duty 450 m from a sighting at 人民广场 station.",
        case_id="C-2024-017",
        score=0.8,
        distance_m=450.0,
        station_id="SH-013",
        child=BOY_IN_YELLOW,  # what the latest reporter saw
        revision=revision,
        # the case, as its coordinator describes it (not what a report saw)
        case_title="寻找 4 岁女孩 / Girl, 4, red coat",
        case_description="红色外套，抱着白色兔子玩具。Red coat, holding a white rabbit toy.",
        case_child=GIRL_IN_RED,
        photo_ref="case-photo:C-2024-017:0123456789abcdef",
    )


@pytest.mark.parametrize("kivy_app", [[volunteer]], indirect=True)
async def test_volunteer_inbox_duty_and_responses(kivy_app, broker):
    app = kivy_app
    backend = TestClient(broker.port, "vol-backend", "backend", USERS["backend"])
    backend.subscribe(topics.volunteer_location("vol-1"))
    backend.subscribe(topics.shared("backend", topics.volunteer_responses("vol-1")))
    got = backend.received
    try:
        await wait_ui(app, lambda: app.shell.connection == "online", what="online")
        page = screen(app, "volunteer")
        assert page.ids.sharing_label.text == "位置共享已暂停（未值班）"
        await tap(app, page.ids.duty_button)
        assert app.volunteer.duty_active and page.ids.duty_button.text == "值班中"

        def locations():
            return [
                VolunteerLocation.from_json(m.payload) for m in got if m.topic.endswith("/location")
            ]

        await wait_ui(app, lambda: len(locations()) >= 1, what="location on going on duty")
        assert app.duty_tick(now_s=time.monotonic() + 2)  # the interval has passed: sent again
        await wait_ui(app, lambda: len(locations()) >= 2, what="periodic location")
        assert locations()[0].on_duty and locations()[0].lat == 31.2304

        alert_id = str(uuid.uuid4())
        backend.publish(topics.volunteer_alerts("vol-1"), alert(alert_id).to_json())
        await wait_ui(app, lambda: page.ids.inbox_box.children, what="alert card")
        assert app.root.current == "alert"  # a new alert takes the whole screen
        full = screen(app, "alert")
        assert full.ids.where_label.text == "在你北方 450 m"  # distance and direction from here
        assert full.ids.place_label.text == "人民广场"
        # the report's child, labelled as the report's (the alert names a case)
        assert full.ids.description_label.text.startswith("最新举报看到的是: 乞讨者怀抱/带着幼童")
        assert "0.8" not in full.ids.why_label.text and "与案件高度相符" in full.ids.why_label.text
        assert app.volunteer.banner.startswith("新警报") and "450 m" in app.volunteer.banner
        assert app.notifier.sent  # the platform notification was raised
        # the same alert with a higher revision replaces the card, never adds one
        backend.publish(
            topics.volunteer_alerts("vol-1"), alert(alert_id, revision=2, reporters=3).to_json()
        )
        await wait_ui(app, lambda: "3" in page.ids.inbox_box.children[0].facts, what="update")
        assert len(page.ids.inbox_box.children) == 1
        card = page.ids.inbox_box.children[0]
        assert "为什么" not in card.why and card.why.startswith("推送原因")
        await shoot_both(app, "volunteer-inbox")
        app.toggle_language()  # the banner follows the language
        assert app.volunteer.banner.startswith("Alert updated")
        app.toggle_language()
        # switching language rebuilds the cards: take the one on screen now, once laid out
        await app.wait_clock_frames(5)
        card = page.ids.inbox_box.children[0]
        await tap(app, screen(app, "alert").ids.inbox_button)
        assert app.root.current == "volunteer"
        await app.wait_clock_frames(5)
        card = page.ids.inbox_box.children[0]
        on_my_way = next(
            b for b in card.ids.responses.children if getattr(b, "kind", "") == "on_my_way"
        )
        assert on_my_way.primary  # the one highlighted action of an unanswered alert
        await tap(app, on_my_way)

        def responses():
            return [
                VolunteerResponse.from_json(m.payload)
                for m in got
                if m.topic.endswith("/responses")
            ]

        await wait_ui(app, responses, what="response published")
        assert responses()[0].alert_id == alert_id
        assert responses()[0].response.value == "on_my_way"
        assert page.ids.inbox_box.children[0].answered.endswith("正在赶往")
        await app.wait_clock_frames(3)
        show = next(
            b
            for b in page.ids.inbox_box.children[0].ids.responses.children
            if not hasattr(b, "kind")
        )
        await tap(app, show)  # the answer given, on the full screen: highlighted and named
        assert app.root.current == "alert"
        chosen = [b for b in full.ids.responses.children if b.chosen]
        assert [b.kind for b in chosen] == ["on_my_way"] and chosen[0].text == "✓ 正在赶往"
        assert list(chosen[0].background_color) == list(theme.GO)
        assert not any(b.primary for b in full.ids.responses.children)
        assert full.ids.answered_label.text == "您的回复: 正在赶往"
        await tap(app, full.ids.navigate_button)
        assert app.navigator.opened == [app.volunteer.focus.geo_uri]
        assert app.navigator.opened[0].startswith("geo:31.234447,121.473700")
        await shoot_both(app, "volunteer-alert-answered")
        await tap(app, full.ids.inbox_button)

        await tap(app, page.ids.duty_button)  # off duty: one last message, then silence
        assert not app.volunteer.duty_active
        await wait_ui(app, lambda: not locations()[-1].on_duty, what="off-duty message")
        count = len(locations())
        assert not app.duty_tick(now_s=time.monotonic() + 3600)
        assert len(locations()) == count
        await shoot_both(app, "volunteer-off-duty")
    finally:
        backend.close()
