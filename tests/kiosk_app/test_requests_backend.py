"""Done-when of issue 20 against a real broker (the project's accounts) and the real backend
worker, with the demo world seeded (police stations, vol-1, the case demo-1 at 人民广场 with
a photo):

- the kiosk: the case photo arrives on its retained notice photo topic and shows on the home
  notice and the notice detail; "I have seen this child" prefills step 2 and the
  confirmation names the case; the reference's status request is answered; "call staff"
  reaches the station's desk (the worker places it at the police station of the kiosk and
  answers ``called``).
- the volunteer: an alert routed while the app was not connected (never had been) is shown
  when it connects (catch-up), with the case's title, the case's child and the case photo
  (asked for by the app, answered by the worker)."""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from kiosk_app.config import Mode
from protocol import (
    AgeBand,
    ChildDescription,
    Colour,
    Location,
    LocationSource,
    Sex,
    SightingReport,
    WhatSeen,
    new_report_id,
    topics,
)
from protocol.payloads import utc_now
from tests.kiosk_app.helpers import USERS, app_config, make_app, wait_for, wait_ui
from tests.kiosk_app.test_kiosk_ui import screen, shoot_both, tap
from tests.support.mqtt_client import TestClient
from tests.support.stack import backend_worker

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]

CASE = "demo-1"
PEOPLES_SQUARE = (31.234826, 121.469971)  # SH-013, where kiosk-SH-013 stands


def _session(db_url: str):
    from backend.db.engine import make_engine, make_sessionmaker

    engine = make_engine(db_url)
    return engine, make_sessionmaker(engine)


def seed_world_with_photo(db_url: str) -> None:
    """The demo world (as ``make run`` seeds it) and a photo for the case demo-1."""
    from backend.cases.photos import store_case_photo
    from backend.stations.metro import load_metro
    from devstack.seed import seed_demo_world

    out = io.BytesIO()
    Image.new("RGB", (300, 400), (190, 40, 50)).save(out, format="JPEG")
    engine, sessions = _session(db_url)
    try:
        with sessions.begin() as session:
            stations, routes = load_metro()
            seed_demo_world(session, stations, routes)
        with sessions.begin() as session:
            store_case_photo(session, CASE, out.getvalue(), "test", utc_now())
    finally:
        engine.dispose()


def start_worker(request, broker, db_url: str) -> None:
    worker = backend_worker(broker, db_url, username="backend", password=USERS["backend"])
    worker.__enter__()
    request.addfinalizer(lambda: worker.__exit__(None, None, None))


def kiosk_in_demo_world(request):
    broker = request.getfixturevalue("broker")
    db_url = request.getfixturevalue("postgis_url")
    seed_world_with_photo(db_url)
    start_worker(request, broker, db_url)
    tmp = request.getfixturevalue("tmp_path")
    return make_app(app_config(Mode.KIOSK, broker.port, tmp / "kiosk"))


def help_rows(db_url: str) -> list[tuple[str, str | None]]:
    from backend.passengers.models import HelpRequestRow

    engine, sessions = _session(db_url)
    try:
        with sessions() as session:
            rows = session.execute(select(HelpRequestRow.device_id, HelpRequestRow.station_id))
            return [(d, s) for d, s in rows.all()]
    finally:
        engine.dispose()


@pytest.mark.parametrize("kivy_app", [[kiosk_in_demo_world]], indirect=True)
async def test_kiosk_photo_prefill_status_and_call_staff_with_the_real_backend(
    kivy_app, postgis_url
):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    home = screen(app, "home")
    # the case photo, from the worker, on its retained topic: on the card and the detail
    await wait_ui(app, lambda: CASE in app.notices.photos, timeout_s=20, what="case photo")
    await wait_ui(app, lambda: home.ids.notices_box.children, what="notice card")
    card = next(c for c in home.ids.notices_box.children if c.case_id == CASE)
    await wait_ui(app, lambda: card.photo is not None, what="photo on the card")
    await tap(app, card)
    notice = screen(app, "notice")
    assert notice.photo is not None and notice.ids.photo.opacity == 1
    # "I have seen this child": step 2 starts with what the case knows
    await tap(app, notice.ids.seen_button)
    await tap(app, screen(app, "what").ids.what_carried_by_beggar)
    assert (app.report.age, app.report.sex, list(app.report.colours)) == ("3-5", "female", ["red"])
    child = screen(app, "child")
    assert [c.value for c in child.ids.age_box.children if c.selected] == ["3-5"]
    assert [s.value for s in child.ids.colour_box.children if s.selected] == ["red"]
    await tap(app, child.ids.send_button)
    confirm = screen(app, "confirm")
    assert confirm.ids.case_label.text.startswith("关于走失儿童: ")  # the confirmation names it
    await wait_ui(app, lambda: app.report.delivery == "delivered", timeout_s=20, what="receipt")
    # the reference's state: asked on delivery, answered by the worker
    await wait_ui(app, lambda: app.follow.state, timeout_s=20, what="status answer")
    assert app.follow.state in ("received", "seen_by_police")
    assert confirm.ids.status_label.text.startswith(("已收到", "警方已查看"))
    app.follow.state = ""
    await tap(app, confirm.ids.status_button)  # asked again by touch
    await wait_ui(app, lambda: app.follow.state, timeout_s=20, what="second status answer")
    # call staff: reaches the desk of the station's police, answered "called"
    await tap(app, confirm.ids.help_bar.ids.help_button)
    await wait_ui(app, lambda: app.help.staff_call == "called", timeout_s=20, what="called")
    rows = help_rows(postgis_url)
    assert len(rows) == 1 and rows[0][0] == "kiosk-SH-013" and rows[0][1], rows
    assert "已呼叫车站工作人员" in confirm.ids.help_bar.ids.help_note.text
    await shoot_both(app, "kiosk-confirm-called-staff")
    app.reset_to_home()  # the next passenger sees no trace of the call
    assert app.help.staff_call == "" and not home.ids.help_bar.ids.help_note.text


def report_at_peoples_square() -> SightingReport:
    return SightingReport(
        report_id=new_report_id(),
        device_id="kiosk-SH-013",
        observed_at=utc_now(),
        location=Location(*PEOPLES_SQUARE, None, LocationSource.FIXED),
        what_seen=WhatSeen.CARRIED_BY_BEGGAR,
        child=ChildDescription(AgeBand.PRESCHOOL, Sex.MALE, (Colour.YELLOW,)),
        station_id="SH-013",
    )


def alerts_for(db_url: str, volunteer_id: str) -> list[str]:
    from backend.alerts.models import AlertRow

    engine, sessions = _session(db_url)
    try:
        with sessions() as session:
            found = session.execute(
                select(AlertRow.alert_id).where(AlertRow.recipient_id == volunteer_id)
            )
            return list(found.scalars())
    finally:
        engine.dispose()


def volunteer_after_a_missed_alert(request):
    """The alert is routed before the volunteer app ever connects; then the app starts."""
    from kiosk_app.platform.navigate import DesktopNavigator
    from kiosk_app.platform.notify import DesktopNotifier

    broker = request.getfixturevalue("broker")
    db_url = request.getfixturevalue("postgis_url")
    seed_world_with_photo(db_url)
    start_worker(request, broker, db_url)
    kiosk = TestClient(broker.port, "kiosk-SH-013", "kiosk-SH-013", USERS["kiosk-SH-013"])
    try:
        kiosk.publish(topics.device_reports("kiosk-SH-013"), report_at_peoples_square().to_json())
        request.node.missed = wait_for(
            lambda: alerts_for(db_url, "vol-1"), timeout_s=30, what="alert to vol-1 (offline)"
        )
    finally:
        kiosk.close()
    tmp = request.getfixturevalue("tmp_path")
    settings = app_config(
        Mode.VOLUNTEER, broker.port, tmp / "vol", lat=31.2290, lon=121.4740, accuracy_m=20.0
    )
    return make_app(
        settings, notifier=DesktopNotifier(bell=False), navigator=DesktopNavigator(launch=False)
    )


@pytest.mark.parametrize("kivy_app", [[volunteer_after_a_missed_alert]], indirect=True)
async def test_an_alert_missed_before_connecting_is_shown_with_the_case_photo(kivy_app, request):
    app = kivy_app
    missed = request.node.missed
    await wait_ui(app, lambda: app.root.current == "alert", timeout_s=20, what="missed alert")
    assert app.volunteer.focus.alert_id in missed
    page = screen(app, "alert")
    focus = app.volunteer.focus
    assert focus.case_id == CASE and "missing girl" in page.ids.case_title_label.text
    assert "女孩" in page.ids.case_child_label.text  # the case's child ...
    assert "男孩" in page.ids.description_label.text  # ... apart from what the report saw
    assert not re.search(r"\b0 m", page.ids.where_label.text)
    assert page.ids.map.model is not None
    await wait_ui(app, lambda: CASE in app.volunteer.photos, timeout_s=20, what="case photo")
    await wait_ui(app, lambda: page.photo is not None, what="photo on the alert")
    assert page.ids.photo.opacity == 1
    await shoot_both(app, "volunteer-alert-missed-with-photo")
