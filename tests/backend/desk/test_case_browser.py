"""One place for a case, and the child's photo end to end, in a real headless Chromium against
the real API process, a real Mosquitto, a real PostGIS and the real worker.

- A coordinator files a case through the page by keyboard (the last-seen station typed into
  the station picker) with an area drawn on the map and a preview of the kiosks; a report
  from a kiosk outside the drawn polygon (870 m away: inside any default circle) does not
  match the case, a report inside does.
- The child's photo uploaded in the page reaches the kiosk's notice photo topic (a broker
  with the production accounts: the grants of the account kinds), the volunteer's alert
  names it, and closing the case in the page withdraws it (empty retained message).
Screenshots of the coordinator's page in both languages go to test-artifacts/desk/.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import select

from backend.accounts import Account, AccountKind
from backend.auth.subject import Role
from backend.cases.models import Case, CaseMatchRow, CasePhoto
from backend.db.engine import make_engine, make_sessionmaker
from backend.people.service import create_person
from backend.stations.metro import load_metro
from backend.volunteers.service import register_volunteer
from devstack.seed import seed_demo_devices
from protocol import Alert, Receipt, ReceiptStatus
from protocol.topics import device_notice_photo, device_notice_photos, device_notices
from tests.backend.desk.browser.support import api_server, browser, browser_missing
from tests.backend.desk.test_desk_browser import WORKER_ENV, publish_report
from tests.backend.helpers import report_dict
from tests.support.mqtt_client import TestClient
from tests.support.services import mosquitto
from tests.support.stack import start_worker

pytestmark = [
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
]
STATION, NEIGHBOUR = "SH-013", "SH-014"  # 人民广场, and 新闸路 870 m away
CHILD = {"age_band": "0-2", "sex": "male", "clothing_colours": ["blue"]}


@pytest.fixture
def sessions(postgis_url):
    engine = make_engine(postgis_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def stations(sessions):
    """Kiosks at every metro station, a registered volunteer and a coordinator."""
    metro, _routes = load_metro()
    now = datetime.now(UTC)
    with sessions.begin() as session:
        seed_demo_devices(session, metro, [], now)
        register_volunteer(session, "vol-1", "Volunteer One", max_alert_radius_m=50_000)
        create_person(session, username="coord", password="coord-password",
                      role=Role.COORDINATOR, now=now)
    return {s.station_id: s for s in metro}


def fill_case(b, case_id: str, station_name: str) -> None:
    """The form by keyboard: text fields, the station picker (typed, then Tab), the volunteer."""
    b("wait", selector="#case-form input[name=station]")
    b("fill", selector="#case-form input[name=case_id]", value=case_id)
    b("fill", selector="#case-form input[name=title]", value="Boy, 2, blue jacket")
    b("fill", selector="#case-form textarea[name=public_description]", value="Seen at exit 2.")
    b("fill", selector="#case-form input[name=relay_contact]", value="400-800-1234")
    b("eval", expr="void (document.querySelector('#case-form select[name=age_band]').value = '0-2')")
    b("eval", expr="void (document.querySelector('#case-form select[name=sex]').value = 'male')")
    b("fill", selector="#case-form input[name=clothing_colours]", value="blue")
    b("fill", selector="#case-form input[name=station]", value=station_name)
    b("press", key="Tab")
    b("wait_fn", expr="window.desk.point !== null")


def screenshots(b, name: str) -> None:
    for lang in ("en", "zh"):
        b.set_language(lang)
        b("wait_fn", expr="window.desk.refreshing === null && window.desk.casesReady === true")
        b.screenshot(f"{name}-{lang}")
    b.set_language("en")


def test_a_report_outside_the_drawn_polygon_does_not_match(broker, postgis_url, sessions, stations):
    here = stations[STATION]
    worker = start_worker(broker, postgis_url, client_id="worker-cases", extra_env=WORKER_ENV)
    try:
        with api_server(postgis_url) as base, browser(base) as b:
            b.login("coord", "coord-password")
            b("wait", selector="#case-list")
            b("wait_fn", expr="window.desk.baseMapReady === true")
            # A missing point is a sentence naming the field, not a raw validation error.
            b("fill", selector="#case-form input[name=case_id]", value="case-poly")
            b("click", selector="#file-case")
            b("wait", selector="#case-result .problem")
            problems = b("text", selector="#case-result")
            assert "Last-seen point is missing" in problems and "Input should be" not in problems

            fill_case(b, "case-poly", f"{here.name} ({STATION})")
            assert b("eval", expr="document.querySelector('#case-form input[name=use_circle]').checked")
            b("click", selector="#draw-polygon")
            d = 0.003  # about 300 m around the station: its neighbour is outside
            for dx, dy in ((-d, -d), (d, -d), (d, d), (-d, d)):
                b("click_map", lon=here.lon + dx, lat=here.lat + dy)
            b("click", selector="#finish-polygon")
            b("wait", selector="path.drawn-area")
            # A polygon drawn: no circle, the drawn area is what matches.
            assert not b("eval", expr="document.querySelector('#case-form input[name=use_circle]').checked")
            b("click", selector="#preview-case")
            b("wait", selector="#preview-result li")
            shown = b("eval", expr="[...document.querySelectorAll('#preview-result li')].map((li) => li.dataset.deviceId)")
            assert shown == [f"kiosk-{STATION}"]
            screenshots(b, "coordinator-case-form")
            b("click", selector="#file-case")
            b("wait", selector="#case-list li[data-case-id='case-poly']", timeout_ms=15000)

            inside = publish_report(broker.port, f"kiosk-{STATION}", here.lon, here.lat, **CHILD)
            outside = publish_report(broker.port, f"kiosk-{NEIGHBOUR}", stations[NEIGHBOUR].lon,
                                     stations[NEIGHBOUR].lat, **CHILD)
            b("click", selector="#case-list li[data-case-id='case-poly'] a")
            b("wait", selector="#case-detail li.sighting", timeout_ms=20000)
            screenshots(b, "coordinator-case-detail")
        with sessions() as session:
            case = session.get(Case, "case-poly")
            assert case.radius_schedule is None and case.last_seen_station_id == STATION
            matched = {m.report_id for m in session.execute(
                select(CaseMatchRow).where(CaseMatchRow.case_id == "case-poly")).scalars()}
        assert matched == {inside}, (inside, outside, matched)
    finally:
        worker.terminate()


PASSWORD = "a-test-password"
ACCOUNTS = (
    Account("backend-worker-1", PASSWORD, AccountKind.WORKER),
    Account(f"kiosk-{STATION}", PASSWORD, AccountKind.KIOSK),
    Account("vol-1", PASSWORD, AccountKind.VOLUNTEER),
)


def photo_with_gps(path) -> bytes:
    image = Image.new("RGB", (1600, 1200), (40, 90, 200))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x8825] = {2: (31.0, 14.0, 5.0), 4: (121.0, 28.0, 11.0)}
    image.save(path, format="JPEG", exif=exif)
    return path.read_bytes()


def test_the_photo_reaches_the_kiosk_and_is_withdrawn_when_the_case_closes(
    postgis_url, sessions, stations, tmp_path
):
    here = stations[STATION]
    upload = tmp_path / "child.jpg"
    assert b"PhoneMaker" in photo_with_gps(upload)
    photo_topic = device_notice_photo(f"kiosk-{STATION}", "case-photo")
    with mosquitto(accounts=ACCOUNTS) as broker:
        worker = start_worker(broker, postgis_url, client_id="backend-worker-1",
                              username="backend-worker-1", password=PASSWORD, extra_env=WORKER_ENV)
        kiosk = TestClient(broker.port, f"kiosk-{STATION}", f"kiosk-{STATION}", PASSWORD)
        volunteer = TestClient(broker.port, "vol-1", "vol-1", PASSWORD)
        try:
            # What the kiosk app subscribes to, with the kiosk's own account.
            kiosk.subscribe(device_notices(f"kiosk-{STATION}"))
            kiosk.subscribe(device_notice_photos(f"kiosk-{STATION}"))
            kiosk.subscribe(f"sr/v1/devices/kiosk-{STATION}/receipts")
            volunteer.subscribe("sr/v1/volunteers/vol-1/alerts")
            with api_server(postgis_url) as base, browser(base) as b:
                b.login("coord", "coord-password")
                b("wait", selector="#case-list")
                fill_case(b, "case-photo", STATION)  # an id typed alone is enough
                b("eval", expr="void (document.querySelector('#case-form select[name=assigned_volunteer_id]').value = 'vol-1')")
                b("upload", selector="#case-form input[name=photo]", path=str(upload))
                b("click", selector="#file-case")
                b("wait", selector="#case-list li[data-case-id='case-photo'] img.case-photo-thumb",
                  timeout_ms=15000)
                b("click", selector="#case-list li[data-case-id='case-photo'] a")
                b("wait", selector="#case-detail img.case-photo")
                assert b("eval", expr="document.querySelector('#case-detail img.case-photo').naturalWidth") == 800

                got = kiosk.wait_for(lambda ms: any(m.topic == photo_topic and m.payload for m in ms),
                                     timeout_s=20)
                published = next(m.payload for m in got if m.topic == photo_topic and m.payload)
                with sessions() as session:
                    stored = session.get(CasePhoto, "case-photo")
                    photo_ref = session.get(Case, "case-photo").photo_ref
                assert bytes(published) == stored.jpeg and published[:2] == b"\xff\xd8"
                assert b"PhoneMaker" not in published
                assert not Image.open(io.BytesIO(published)).getexif()
                # The board names the photo too (republished when the photo came).
                kiosk.wait_for(lambda ms: any(
                    m.topic == device_notices(f"kiosk-{STATION}") and photo_ref.encode() in m.payload
                    for m in ms))

                # A sighting at the kiosk: the assigned volunteer's alert names the photo.
                data = report_dict(f"kiosk-{STATION}", child=CHILD,
                                   location={"lat": here.lat, "lon": here.lon, "source": "fixed"})
                kiosk.publish(f"sr/v1/devices/kiosk-{STATION}/reports", json.dumps(data).encode())
                got = kiosk.wait_for(lambda ms: any(m.topic.endswith("/receipts") for m in ms))
                receipt = Receipt.from_json(next(m for m in got if m.topic.endswith("/receipts")).payload)
                assert receipt.status is ReceiptStatus.ACCEPTED, receipt
                alerts = volunteer.wait_for(lambda ms: bool(ms), timeout_s=20)
                alert = Alert.from_json(alerts[0].payload)
                assert alert.case_id == "case-photo" and alert.photo_ref == photo_ref

                # Closing the case in the page withdraws the photo: an empty retained message.
                b("click", selector="#case-list li[data-case-id='case-photo'] button[data-status='closed']")
                kiosk.wait_for(lambda ms: any(m.topic == photo_topic and not m.payload for m in ms),
                               timeout_s=20)
        finally:
            volunteer.close()
            kiosk.close()
            worker.terminate()
