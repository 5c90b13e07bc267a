"""Demo data of the development stack: a kiosk at every metro station, a phone, volunteers,
police stations, one demo case and one desk account per role; the app configurations that
point at it."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from geoalchemy2 import WKTElement
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.auth.subject import Role
from backend.cases.models import Case
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.devices.models import Device
from backend.people.models import Person
from backend.people.service import create_person
from backend.stations.metro import MetroRoute, MetroStation
from backend.stations.models import PoliceStation
from backend.stations.service import replace_police_stations
from backend.volunteers.models import Volunteer
from backend.volunteers.service import register_volunteer
from devstack.config import (
    DEMO_KIOSK,
    KIOSK_PASSWORD,
    PHONE_ID,
    PHONE_PASSWORD,
    VOLUNTEER_PASSWORD,
    VOLUNTEERS,
    DevStackConfig,
    kiosk_operator_pin,
)
from protocol import AgeBand, Colour, Sex
from protocol.payloads import utc_now


def kiosk_id(station: MetroStation) -> str:
    return f"kiosk-{station.station_id}"


def seed_demo_devices(
    session: Session, stations: list[MetroStation], phones: list[str], now: datetime
) -> int:
    """Insert the demo kiosks and phones that are not there yet; return how many were added."""
    existing = set(session.execute(select(Device.device_id)).scalars())
    added = 0
    for st in stations:
        if kiosk_id(st) in existing:
            continue
        session.add(
            Device(
                device_id=kiosk_id(st),
                kind="kiosk",
                station_id=st.station_id,
                station_name=st.name,
                location=WKTElement(f"POINT({st.lon!r} {st.lat!r})", srid=4326),
                created_at=now,
            )
        )
        added += 1
    for phone in phones:
        if phone not in existing:
            session.add(Device(device_id=phone, kind="phone", created_at=now))
            added += 1
    return added


def seed_demo_world(
    session: Session, stations: list[MetroStation], routes: list[MetroRoute]
) -> None:
    """Kiosks at every station, a phone, volunteers, demo police stations (Voronoi cells of
    every 12th metro station) and, once, a demo case at 人民广场 so kiosks there show a
    notice."""
    now = utc_now()
    seed_demo_devices(session, stations, [PHONE_ID], now)
    if session.execute(select(func.count()).select_from(PoliceStation)).scalar_one() == 0:
        replace_police_stations(
            session,
            [
                (f"PS-{s.station_id}", f"{s.name} 派出所 (demo)", s.lon, s.lat)
                for s in stations[::12]
            ],
        )
    for vid in VOLUNTEERS:
        if session.get(Volunteer, vid) is None:
            register_volunteer(session, vid, vid, max_alert_radius_m=3_000)
    if session.get(Case, "demo-1") is None:
        peoples_square = next(s for s in stations if s.station_id == "SH-013")
        open_case(
            session,
            case_id="demo-1",
            title="Demo: missing girl, about 4, red coat",
            public_description="Demo case. Last seen near People's Square, exit 2.",
            relay_contact="400-000-0000 (volunteer relay, demo)",
            last_seen_lon=peoples_square.lon,
            last_seen_lat=peoples_square.lat,
            last_seen_at=now,
            last_seen_station_id="SH-013",
            assigned_volunteer_id="vol-1",
            description=CaseDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(3600.0, 2_000.0), (math.inf, 3_000.0)],
            now=now,
        )


def write_app_configs(cfg: DevStackConfig) -> None:
    """var/<mode>.ini, read by `make kiosk` / `make phone` / `make volunteer`."""
    for mode, device, password in (
        ("kiosk", DEMO_KIOSK, KIOSK_PASSWORD),
        ("phone", PHONE_ID, PHONE_PASSWORD),
        ("volunteer", VOLUNTEERS[0], VOLUNTEER_PASSWORD),
    ):
        (cfg.var / f"{mode}.ini").write_text(
            f"[device]\nmode = {mode}\ndevice_id = {device}\npassword = {password}\n\n"
            f"[broker]\nhost = 127.0.0.1\nport = {cfg.mqtt_port}\n\n"
            f"[app]\ndata_dir = {cfg.var / ('app-' + device)}\n"
            + (
                f"\n[kiosk]\nstation_id = SH-013\noperator_pin = {kiosk_operator_pin(cfg.var)}\n"
                if mode == "kiosk"
                else ""
            )
        )


def seed_demo_people(session: Session, now: datetime | None = None) -> list[tuple[str, str, str]]:
    """One account per role for ``make run``, created where missing: ``(username, password,
    role)`` of each, to print. The police account serves the first two police stations
    (by id), so the desk shows two jurisdictions; without stations there is none. The
    passwords are fixed demo passwords, like the broker's demo accounts."""
    now = now or datetime.now(UTC)
    stations = tuple(
        session.execute(
            select(PoliceStation.station_id).order_by(PoliceStation.station_id).limit(2)
        ).scalars()
    )
    wanted: list[tuple[str, Role, tuple[str, ...]]] = [
        ("coordinator", Role.COORDINATOR, ()),
        ("operator", Role.OPERATOR, ()),
    ]
    if stations:
        wanted.append(("police", Role.POLICE, stations))
    accounts = []
    for username, role, station_ids in wanted:
        password = f"{username}-demo"
        if session.get(Person, username) is None:
            create_person(
                session,
                username=username,
                password=password,
                role=role,
                now=now,
                station_ids=station_ids,
            )
        accounts.append((username, password, role.value))
    return accounts
