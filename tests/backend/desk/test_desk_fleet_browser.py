"""The fleet view and the desk's languages in a real headless Chromium against the real API
process: every one of 304 devices is listed (paged) with the state and last seen the database
says, online kiosks are not hidden, markers open a device, a provisioned kiosk appears and a
revoked one goes; a zh-CN browser gets Chinese with no English reason; every role's page in
both languages is photographed (test-artifacts/desk/) and meets the contrast minimums."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from backend.cases.scoring import CaseDescription, score_sighting
from backend.reasons import match_reason_text
from backend.stations.metro import load_metro
from backend.tables import CaseMatchRow, DeadLetter, Device, Report, ReportPhoto
from devstack.seed import seed_demo_devices
from protocol import AgeBand, ChildDescription, Colour, Sex
from tests.backend.desk.browser.support import api_server, browser, browser_missing
from tests.backend.desk.world import PASSWORDS

pytestmark = [
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
]
OFFLINE_AFTER = timedelta(minutes=10)  # SR_DESK_OFFLINE_AFTER_MIN's default


@pytest.fixture
def fleet_world(desk_sessions, world):
    """The small world plus the 303 devices of `make run` (a kiosk at each of the 302 metro
    stations and a phone): kiosk-SH-013 online, kiosk-SH-014 silent on its status topic for
    three days but refused a message two minutes ago, the rest never heard from."""
    now = world.now
    with desk_sessions.begin() as session:
        seed_demo_devices(session, load_metro()[0], ["phone-demo"], now - timedelta(days=1))
        session.flush()
        online = session.get(Device, "kiosk-SH-013")
        online.state, online.state_at = "online", now - timedelta(hours=2)
        quiet = session.get(Device, "kiosk-SH-014")
        quiet.state, quiet.state_at = "offline", now - timedelta(days=3)
        session.add(
            DeadLetter(
                topic="sr/v1/devices/kiosk-SH-014/reports",
                payload=b"{",
                device_id="kiosk-SH-014",
                reasons=[{"code": "invalid_json"}],
                received_at=now - timedelta(minutes=2),
            )
        )
        # the match reasons as scoring writes them (the small world's are placeholders)
        reasons = score_sighting(
            distance_m=10.0,
            elapsed=timedelta(minutes=12),
            reported=ChildDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            case=CaseDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED, Colour.WHITE)),
            area_radius_m=2_000.0,
        ).reasons
        for row in session.execute(select(CaseMatchRow)).scalars():
            row.reasons = list(reasons)
    return world


def truth(session, now: datetime) -> dict[str, tuple[str, datetime | None]]:
    """Each device's state and last seen as the rows say: the latest status, report, photo
    or refused message; online by its status; otherwise by the offline threshold."""
    latest: dict[str, list[datetime]] = {}
    for model in (Report, ReportPhoto, DeadLetter):
        rows = session.execute(
            select(model.device_id, func.max(model.received_at)).group_by(model.device_id)
        )
        for device_id, at in rows:
            latest.setdefault(device_id, []).append(at)
    out = {}
    for d in session.execute(select(Device)).scalars():
        times = [t for t in [d.state_at, *latest.get(d.device_id, [])] if t is not None]
        seen = max(times) if times else None
        if d.state == "online":
            state = "online"
        elif seen is None:
            state = "never_seen"
        else:
            state = "long_offline" if now - seen > OFFLINE_AFTER else "offline"
        out[d.device_id] = (state, seen)
    return out


def listed(b) -> dict[str, tuple[str, datetime | None]]:
    """Every device of the list, page after page."""
    out: dict[str, tuple[str, datetime | None]] = {}
    while True:
        rows = b(
            "eval",
            expr="[...document.querySelectorAll('#fleet li.device')].map((li) => "
            "[li.dataset.deviceId, li.dataset.state, li.dataset.lastSeen])",
        )
        for device_id, state, seen in rows:
            out[device_id] = (state, datetime.fromisoformat(seen) if seen else None)
        if b("eval", expr="document.getElementById('fleet-next').disabled"):
            return out
        before = b("eval", expr="window.deskFleet.listed")
        b("click", selector="#fleet-next")
        b("wait_fn", expr=f"window.deskFleet.listed > {before}")


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_the_fleet_lists_every_device_as_the_database_says(db_url, desk_sessions, fleet_world):
    with api_server(db_url) as base, browser(base) as b:
        b.login("oper", PASSWORDS["oper"])
        b("wait", selector="#fleet li.device")
        b("wait_fn", expr="window.deskFleet.refreshed >= 1")
        # kiosk-SH-013 is online, so it is on the first page (it was hidden behind 200
        # long-offline devices before), with its state in words and symbol
        first = b("text", selector="#fleet li[data-device-id='kiosk-SH-013']")
        assert "online" in first and "●" in first
        b("click", selector=".fleet-filter[data-state='online']")
        b("wait_fn", expr="document.querySelectorAll('#fleet li.device').length === 1")
        assert b("eval", expr="document.querySelector('#fleet li.device').dataset.deviceId") == (
            "kiosk-SH-013"
        )
        b("click", selector=".fleet-filter[data-state='all']")
        b("wait_fn", expr="document.querySelectorAll('#fleet li.device').length === 50")

        shown = listed(b)
        with desk_sessions() as session:
            # the page's clock and the database's rows at the same moment (minutes apart from
            # the threshold, so the second between them changes nothing)
            expected = truth(
                session, datetime.fromisoformat(b("eval", expr="new Date().toISOString()"))
            )
        assert len(shown) == len(expected) == 304
        assert shown == expected
        assert expected["kiosk-SH-014"][0] == "offline"  # a refused message counts as seen
        counts = b("eval", expr="window.deskFleet.page.counts")
        assert counts == {s: sum(1 for v in expected.values() if v[0] == s) for s in counts}

        # a marker opens its device; the device layer came once per refresh
        assert b("count", selector=".device-marker") == 303  # the phone has no place
        b("click", selector=".device-marker[data-device-id='kiosk-SH-014']")
        b("wait", selector="#fleet-detail h2")
        assert "kiosk-SH-014" in b("text", selector="#fleet-detail h2")
        b("wait", selector="#device-dead-letters li")
        layer_fetches = b(
            "eval",
            expr="performance.getEntriesByType('resource')"
            ".filter((e) => e.name.includes('/layers/devices')).length",
        )
        assert layer_fetches == b("eval", expr="window.deskFleet.refreshed")

        # provisioning: without a broker admin the page says why no account was made; the
        # kiosk is in the fleet at once, never seen; revocation takes it out
        assert "SR_MQTT_ADMIN_PASSWORD" in b("text", selector="#provision-note")
        b("fill", selector="#provision-form input[name=device_id]", value="kiosk-new")
        b("fill", selector="#provision-form input[name=station_id]", value="SH-020")
        b("click", selector="#provision-button")
        b("wait", selector="#provision-config")
        assert "device_id = kiosk-new" in b("text", selector="#provision-config")
        b("fill", selector="#fleet-search", value="kiosk-new")
        b("wait", selector="#fleet li[data-device-id='kiosk-new'][data-state='never_seen']")
        b.screenshot("operator-provisioned")
        b("click", selector="#fleet li[data-device-id='kiosk-new'] a")
        b("wait", selector="#revoke-device")
        b("click", selector="#revoke-device")
        b("click", selector="#revoke-device")
        b("wait", selector="#fleet li.empty")
        assert [line for line in b("console") if line.startswith("pageerror")] == []
    with desk_sessions() as session:
        assert session.get(Device, "kiosk-new") is None


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_a_chinese_browser_gets_chinese_every_role_photographed_and_legible(
    db_url, desk_sessions, fleet_world
):
    with desk_sessions() as session:
        english = {
            r for row in session.execute(select(CaseMatchRow.reasons)).scalars() for r in row
        }
    assert english
    failures: dict[str, list] = {}
    with api_server(db_url) as base, browser(base, locale="zh-CN") as b:
        b("goto", url=f"{base}/desk/")
        b("wait", selector="#login-form")
        assert b("eval", expr="window.desk.lang") == "zh"
        assert b("eval", expr="document.documentElement.lang") == "zh-CN"
        assert b("text", selector="#login-button") == "登录"
        for lang in ("zh", "en"):
            b.set_language(lang)
            failures[f"login-{lang}"] = b.contrast_failures()
        b.screenshots("login")
        b.set_language("zh")

        for role, user, ready in (
            ("police", "desk-a", "#queue li.incident"),
            ("coordinator", "coord", "#case-list li.case"),
            ("operator", "oper", "#fleet li.device"),
        ):
            b.login(user, PASSWORDS[user])
            b("wait", selector=ready)
            b("wait_fn", expr="window.desk.refreshing === null")
            if role == "police":
                panel = b("text", selector="#panel")
                assert not [r for r in english if r in panel], panel
                assert any(match_reason_text(r, "zh") in panel for r in english), panel
            for lang in ("zh", "en"):
                b.set_language(lang)
                b("wait", selector=ready)
                b("wait_fn", expr="window.desk.refreshing === null")
                failures[f"{role}-{lang}"] = b.contrast_failures()
            b.screenshots(role, ("en", "zh"))
            b.logout()
        assert [line for line in b("console") if line.startswith("pageerror")] == []
    below = sorted(
        {
            f"{f['kind']} {f['element']} {f['text']!r}: {f['ratio']} < {f['need']} "
            f"({f.get('color', f.get('border'))} on {f['background']}) [{page}]"
            for page, found in failures.items()
            for f in found
        }
    )
    assert below == [], "\n".join(below)
