"""The police duty desk's queue in a real headless Chromium against a real uvicorn, checked
against the database: every state shown equals what ``backend.desk.states`` computes from the
rows (a never-acknowledged incident is never shown as stopped); the first "Dispatched" is a
few Tab presses from page load; an acknowledgement with a note moves focus to the next item;
a new incident cues (title, tone); the station filter, the CAP viewer, the photo viewer and
the map's fly-to work; a session that ends says so, keeps a decision taken on it and sends it
after logging in again; logging out leaves no password; assets are gzipped, the live stream
is not. Screenshots of the police role in both languages go to test-artifacts/desk/."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from PIL import Image
from sqlalchemy import select, update

from backend.auth.subject import Role
from backend.desk.models import DeskAcknowledgement
from backend.desk.states import StateCode, incident_states
from backend.people.service import create_person
from backend.tables import AlertResponseRow, PersonSession, Report, ReportPhoto
from tests.backend.desk import world as w
from tests.backend.desk.browser.support import api_server, browser, browser_missing

pytestmark = [
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
]
BOTH = "desk-ab"
BOTH_PASSWORD = "desk-ab-password"
QUEUE_ITEMS = "#queue > li.incident"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def _incident(
    session, station: str, spot, at: datetime, *, note: str | None = None
) -> tuple[str, str]:
    """A report (with a real photo, a note and an exit) in an incident of ``station`` with a
    station alert; (incident id, alert id)."""
    report = w._report(session, *spot, at, None)
    session.flush()
    found = session.get(Report, report)
    found.free_text, found.direction = note, "exit 3"
    session.get(ReportPhoto, report).jpeg = _jpeg()
    incident = w._incident(session, report, *spot, station, at)
    session.flush()
    return incident, w._alert(session, incident, "station", station, at, None)


@pytest.fixture
def police_world(desk_sessions, world: w.World) -> dict[str, str]:
    """Besides the small world (incident A escalating at level 0, incident B of station B with
    no timer): at station A a never-acknowledged incident that never had a timer (``new``),
    one whose alerts expired, one a volunteer closed, one a volunteer acknowledged; and a
    duty desk serving both stations."""
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    with desk_sessions.begin() as session:
        ids["new"], ids["new_alert"] = _incident(
            session, w.STATION_A, (121.45, 31.22), now - timedelta(minutes=1), note="blue bag"
        )
        ids["expired"], _ = _incident(
            session, w.STATION_A, (121.46, 31.21), now - timedelta(hours=3)
        )
        for name, response in (("closed", "resolved"), ("volack", "ack")):
            incident, _ = _incident(
                session, w.STATION_A, (121.48, 31.24), now - timedelta(minutes=30)
            )
            volunteer_alert = w._alert(
                session, incident, "volunteer", "vol-1", now - timedelta(minutes=30), None
            )
            session.flush()
            session.add(
                AlertResponseRow(
                    alert_id=volunteer_alert,
                    incident_id=incident,
                    volunteer_id="vol-1",
                    response=response,
                    level=0,
                    at=now - timedelta(minutes=20),
                    note=None,
                )
            )
            ids[name] = incident
        create_person(
            session,
            username=BOTH,
            password=BOTH_PASSWORD,
            role=Role.POLICE,
            now=now,
            station_ids=(w.STATION_A, w.STATION_B),
        )
    return ids


def shown_states(b) -> list[dict[str, str]]:
    return b(
        "eval",
        expr="""[...document.querySelectorAll('#queue > li.incident')].map((li) => {
        const s = li.querySelector('.state'); return {id: li.dataset.incidentId, station: li.dataset.stationId,
        code: s.dataset.state, level: s.dataset.level, by: s.dataset.by, at: s.dataset.at, text: s.textContent}; })""",
    )


def assert_states_true(b, sessions) -> list[dict[str, str]]:
    """Every state on screen equals the one the server's state function computes from the
    rows now, and none reads as stopped."""
    shown = shown_states(b)
    assert shown
    with sessions() as session:
        truth = incident_states(session, [s["id"] for s in shown], datetime.now(UTC))
    for s in shown:
        state = truth[s["id"]]
        assert s["code"] == state.code.value, (s, state)
        assert s["level"] == ("" if state.level is None else str(state.level)), (s, state)
        assert s["by"] == (state.by or ""), (s, state)
        if state.at is not None:
            assert datetime.fromisoformat(s["at"].replace("Z", "+00:00")) == state.at, (s, state)
        assert "stopped" not in s["text"].lower()
    return shown


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_police_queue_shows_true_states_and_works_by_keyboard(
    desk_sessions, db_url, world, police_world
):
    ids = police_world
    with api_server(db_url) as base, browser(base) as b:
        b.login(BOTH, BOTH_PASSWORD)
        b("wait", selector=f"{QUEUE_ITEMS}[data-incident-id='{ids['new']}']")
        b("wait_fn", expr="document.getElementById('stream').textContent.includes('●')")
        shown = assert_states_true(b, desk_sessions)
        by_id = {s["id"]: s for s in shown}
        # The old desk showed all of these but the escalating one as "escalation stopped".
        assert by_id[ids["new"]]["code"] == "new"
        assert by_id[world.incident_a]["code"] == "escalating"
        assert by_id[world.incident_a]["level"] == "0"
        assert by_id[world.incident_b]["code"] == "new"
        assert by_id[ids["expired"]]["code"] == "expired"
        assert by_id[ids["closed"]]["code"] == "closed"
        assert by_id[ids["volack"]]["code"] == "acknowledged"
        assert {s["code"] for s in shown} == {c.value for c in StateCode}
        assert b("count", selector="#state-legend .state") == 5

        # One item per incident: the station's name, the exit, the note, the photo, the zone.
        first = f"{QUEUE_ITEMS}[data-incident-id='{ids['new']}']"
        text = b("text", selector=first)
        assert "人民广场" in text and "exit 3" in text and "blue bag" in text, text
        assert "1 reporter, 1 report " in text and "1 reporters" not in text, text
        assert "GMT" in text or "UTC" in text, text  # times carry their zone
        assert "A (PS-A)" in b("text", selector="#station-filter")
        case_text = b(
            "text", selector=f"{QUEUE_ITEMS}[data-incident-id='{world.incident_a}'] .match"
        )
        assert "Girl, 4, red coat" in case_text
        assert (
            b("count", selector=f"{QUEUE_ITEMS}[data-incident-id='{world.incident_a}'] .match") == 1
        )

        # From page load, the queue's first action within 10 Tab presses (the map is one stop):
        # a kiosk's call for staff comes first ("Going now"), then the first "Dispatched".
        b("goto", url=f"{base}/desk/")
        b("wait", selector=f"{first} button.ack.dispatched")
        b(
            "wait_fn",
            expr="window.desk.baseMapReady === true && document.querySelectorAll('path.metro-station').length > 250",
        )
        target = "document.activeElement === document.querySelector('#queue button.ack')"
        presses = 0
        while not b("eval", expr=target):
            presses += 1
            assert presses <= 10, b("eval", expr="document.activeElement.outerHTML.slice(0, 200)")
            b("press", key="Tab")
        # Enter goes into the map: its markers become tab stops; Escape leaves.
        assert b("eval", expr="document.querySelectorAll('#map path[tabindex=\"0\"]').length") == 0

        # Screenshots of the police role, both languages.
        for lang in ("en", "zh"):
            b.set_language(lang)
            b("wait", selector=f"{first} .state")
            b("wait_fn", expr="window.desk.refreshing === null")
            b.screenshot(f"police-dispatch-{lang}")
        b.set_language("en")
        b("wait", selector=f"{first} button.ack.dispatched")

        # Acknowledge with a note: the state comes from the server, focus moves to the next item.
        order = b(
            "eval",
            expr="[...document.querySelectorAll('#queue > li.incident')].map((li) => li.dataset.incidentId)",
        )
        index = order.index(ids["new"])
        b("fill", selector=f"{first} input.ack-note", value="car 12 sent")
        b("click", selector=f"{first} button.ack.dispatched")
        b("wait", selector=f"{first} .state[data-state='acknowledged'][data-by='{BOTH}']")
        assert "car 12 sent" in b("text", selector=f"{first} .state")
        b(
            "wait_fn",
            expr=f"document.activeElement.closest('li.incident')?.dataset.incidentId === '{order[index + 1]}'",
        )
        assert_states_true(b, desk_sessions)
        with desk_sessions() as session:
            (ack,) = session.execute(
                select(DeskAcknowledgement).where(DeskAcknowledgement.alert_id == ids["new_alert"])
            ).scalars()
            assert (ack.username, ack.decision, ack.note) == (BOTH, "dispatched", "car 12 sent")

        # The CAP document opens in the page; the photo opens large.
        b("click", selector=f"{first} button.cap-view")
        b("wait", selector="#viewer .cap-fields")
        assert "identifier" in b("text", selector="#viewer .cap-fields")
        b("press", key="Escape")
        b("wait", selector="#viewer", state="hidden")
        b("click", selector=f"{first} button.thumb")
        b("wait_fn", expr="document.querySelector('#viewer img.photo-large')?.naturalWidth === 64")
        b("press", key="Escape")

        # Click an item: the map flies to it, and back.
        b("click", selector=f"{QUEUE_ITEMS}[data-incident-id='{world.incident_b}'] button.locate")
        b(
            "wait_fn",
            expr=f"window.desk.map.getCenter().distanceTo([{w.SPOT_B[1]}, {w.SPOT_B[0]}]) < 50",
        )
        b("click", selector="#map-back")
        b("wait_fn", expr="window.desk.map.getCenter().distanceTo([31.23, 121.47]) < 50")

        # A new incident arrives live: a cue in the title (and a tone unless muted).
        cues = b("eval", expr="window.desk.cues")
        with desk_sessions.begin() as session:
            fresh, _ = _incident(session, w.STATION_B, (121.61, 31.31), datetime.now(UTC))
        b("wait", selector=f"{QUEUE_ITEMS}[data-incident-id='{fresh}'].fresh")
        assert b("eval", expr="window.desk.cues") == cues + 1
        assert b("eval", expr="document.title").startswith("(1) ")
        assert b("eval", expr="window.desk.beeps") >= 1
        b("click", selector="#mute")
        assert b("eval", expr="localStorage.getItem('desk-muted')") == "1"

        # The station filter: only station B's incidents.
        b("select", selector="#station-filter", value=w.STATION_B)
        b(
            "wait_fn",
            expr=f"document.querySelector('{QUEUE_ITEMS}') && [...document.querySelectorAll('{QUEUE_ITEMS}')].every((li) => li.dataset.stationId === '{w.STATION_B}')",
        )
        assert {s["id"] for s in shown_states(b)} == {world.incident_b, fresh}

        # The session ends with the page open: the page says so instead of "live".
        with desk_sessions.begin() as session:
            session.execute(
                update(PersonSession)
                .where(PersonSession.username == BOTH)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        b("wait", selector="#login-page")
        assert "session has ended" in b("text", selector="#login-note")
        assert b("eval", expr="document.getElementById('stream').textContent") == ""
        assert b("csp_violations") == []


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_an_ack_on_an_expired_session_is_sent_after_login_and_logout_clears(
    desk_sessions, db_url, world
):
    # The live stream polls rarely here, so the page learns of the end only from the ack.
    with api_server(db_url, {"SR_DESK_EVENTS_POLL_S": "3600"}) as base, browser(base) as b:
        b.login("desk-a", w.PASSWORDS["desk-a"])
        item = f"{QUEUE_ITEMS}[data-incident-id='{world.incident_a}']"
        b("wait", selector=f"{item} button.ack.dispatched")
        assert b("eval", expr="document.getElementById('password').value") == ""
        # the stream's first (and, polling hourly, only) change has been shown
        b(
            "wait_fn",
            expr="document.getElementById('stream').textContent.includes('●') && window.desk.refreshing === null",
        )
        with desk_sessions.begin() as session:
            session.execute(
                update(PersonSession)
                .where(PersonSession.username == "desk-a")
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        b("fill", selector=f"{item} input.ack-note", value="patrol on the way")
        b("click", selector=f"{item} button.ack.dispatched")
        b("wait", selector="#login-page")
        note = b("text", selector="#login-note")
        assert "session has ended" in note and "1 unsent" in note, note
        with desk_sessions() as session:
            assert session.execute(select(DeskAcknowledgement)).scalars().all() == []

        b("fill", selector="#password", value=w.PASSWORDS["desk-a"])
        b("click", selector="#login-button")
        b("wait", selector=f"{item} .state[data-state='acknowledged'][data-by='desk-a']")
        assert "1 decision" in b("text", selector="#desk-status")
        with desk_sessions() as session:
            (ack,) = session.execute(select(DeskAcknowledgement)).scalars()
        assert (ack.alert_id, ack.username, ack.note) == (
            world.alert_a,
            "desk-a",
            "patrol on the way",
        )

        b.logout()
        values = b(
            "eval", expr="[...document.querySelectorAll('input, textarea')].map((i) => i.value)"
        )
        assert w.PASSWORDS["desk-a"] not in values and "desk-a" not in values
        assert b("eval", expr="document.getElementById('queue').children.length") == 0
        assert b("eval", expr="sessionStorage.getItem('desk-pending')") is None

        # Assets are compressed; the live stream is not (and not buffered).
        asset = httpx.get(f"{base}/desk/desk.js", headers={"Accept-Encoding": "gzip"})
        assert asset.headers["content-encoding"] == "gzip"
        token = httpx.post(
            f"{base}/api/v1/desk/login",
            json={"username": "desk-a", "password": w.PASSWORDS["desk-a"]},
        ).json()["token"]
        headers = {"Accept-Encoding": "gzip", "Authorization": f"Bearer {token}"}
        with httpx.stream(
            "GET", f"{base}/api/v1/desk/events?max_s=5", headers=headers, timeout=10
        ) as stream:
            assert "content-encoding" not in stream.headers
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: change"


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_the_stream_says_when_its_session_ended(desk_sessions, db_url, world):
    """Without a browser: the live stream ends with ``ended`` once the session is gone."""
    with api_server(db_url, {"SR_DESK_EVENTS_POLL_S": "0.2"}) as base:
        token = httpx.post(
            f"{base}/api/v1/desk/login",
            json={"username": "desk-a", "password": w.PASSWORDS["desk-a"]},
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.stream(
            "GET", f"{base}/api/v1/desk/events?max_s=30", headers=headers, timeout=40
        ) as stream:
            lines = stream.iter_lines()
            assert next(line for line in lines if line.startswith("event:")) == "event: change"
            httpx.post(f"{base}/api/v1/desk/logout", headers=headers)
            assert next(line for line in lines if line.startswith("event:")) == "event: ended"
            data = next(line for line in lines if line.startswith("data:"))
            assert json.loads(data.removeprefix("data:"))["detail"]
