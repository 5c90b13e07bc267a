"""The measured system: accounts, the real services and processes, the seeded world.

Mosquitto runs with the production identity model (dynamic security accounts, deny by
default, username = client id) and the production settings of ``broker_config/`` minus TLS
and websockets; PostgreSQL + PostGIS runs durable (fsync and synchronous commit on); each
worker is ``python -m backend.worker`` with its own account, its health server and
``SR_RATE_LIMITS=off``.
"""

from __future__ import annotations

import math
import random
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert as sa_insert

from backend.accounts import Account, AccountKind
from backend.cases.models import Case
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.db.versions import CASES_VERSION, VOLUNTEERS_VERSION, bump_version
from backend.stations.metro import MetroStation, load_metro
from backend.stations.service import replace_police_stations
from backend.volunteers.models import Volunteer
from backend.volunteers.service import register_volunteer
from bench.loader import Device
from devstack.seed import kiosk_id, seed_demo_devices
from protocol import AgeBand, Colour, Sex
from protocol.example import PEOPLES_SQUARE_LAT, PEOPLES_SQUARE_LON
from protocol.messages import VolunteerLocation
from tests.support.services import Mosquitto, Postgres, make_dev_tls
from tests.support.stack import WorkerProcess, start_worker

EARTH_M_PER_DEG = 111_320.0


@dataclass(frozen=True)
class WorldSize:
    cases: int
    volunteers: int
    phones: int
    workers: int


@dataclass
class Accounts:
    devices: list[Device]
    consoles: list[tuple[str, str]]  # police station consoles: (username, password)
    volunteers: list[tuple[str, str]]
    workers: list[tuple[str, str]]
    echo: tuple[str, str]
    stations: list[MetroStation] = field(default_factory=list)

    def broker_accounts(self) -> list[Account]:
        out = [Account(d.username, d.password, _device_kind(d)) for d in self.devices]
        out += [Account(u, p, AccountKind.STATION) for u, p in self.consoles]
        out += [Account(u, p, AccountKind.VOLUNTEER) for u, p in self.volunteers]
        out += [Account(u, p, AccountKind.WORKER) for u, p in (*self.workers, self.echo)]
        return out


def _device_kind(device: Device) -> AccountKind:
    return AccountKind.KIOSK if device.station_id else AccountKind.PHONE


def around_shanghai(rng: random.Random, radius_m: float) -> tuple[float, float]:
    """A point uniformly within ``radius_m`` of People's Square (lon, lat)."""
    r = radius_m * math.sqrt(rng.random())
    bearing = rng.random() * 2 * math.pi
    dlat = r * math.cos(bearing) / EARTH_M_PER_DEG
    dlon = r * math.sin(bearing) / (EARTH_M_PER_DEG * math.cos(math.radians(PEOPLES_SQUARE_LAT)))
    return PEOPLES_SQUARE_LON + dlon, PEOPLES_SQUARE_LAT + dlat


def make_accounts(size: WorldSize, rng: random.Random, grow_to: int = 0) -> Accounts:
    """One account per device (a kiosk per real metro station, phones), per police console
    (every 12th station, as the demo), per volunteer (``grow_to`` of them when the world
    grows later: the broker's accounts are made at its start) and per worker."""
    stations = load_metro()[0]
    password = secrets.token_hex(8)
    devices = [Device(kiosk_id(s), password, s.lon, s.lat, s.station_id) for s in stations]
    for i in range(size.phones):
        lon, lat = around_shanghai(rng, 20_000)
        devices.append(Device(f"phone-bench-{i + 1:04d}", password, lon, lat, None))
    consoles = [(f"PS-{s.station_id}", password) for s in stations[::12]]
    volunteers = [
        (f"vol-{i + 1:06d}", password) for i in range(max(size.volunteers, grow_to))
    ]
    workers = [(f"backend-worker-{i + 1}", secrets.token_hex(8)) for i in range(size.workers)]
    return Accounts(
        devices, consoles, volunteers, workers, ("bench-echo", secrets.token_hex(8)), stations
    )


def start_broker(workdir: Path, accounts: Accounts) -> Mosquitto:
    """The production configuration (``backend.accounts.production``: its limits,
    persistence, TLS and websocket listeners with a development certificate); the bench's
    clients use its plain loopback listener, so TLS costs nothing here."""
    workdir.mkdir(parents=True, exist_ok=True)
    broker = Mosquitto(
        workdir=workdir,
        accounts=tuple(accounts.broker_accounts()),
        tls_dir=make_dev_tls(workdir / "tls", "localhost"),
        # the dynamic security file is read at start: a few seconds per 10,000 accounts
        start_timeout_s=max(10.0, len(accounts.broker_accounts()) / 1_000),
    )
    broker.start()
    return broker


def start_database(workdir: Path) -> tuple[Postgres, str]:
    """Durable PostgreSQL + PostGIS, migrated; returns the server and the database URL."""
    from backend.db.migrate import upgrade

    server = Postgres(workdir=workdir, durable=True)
    server.start()
    url = server.create_database("bench")
    upgrade(url)
    return server, url


def seed(url: str, accounts: Accounts, size: WorldSize, rng: random.Random) -> None:
    """Kiosk rows (phones are unknown devices: phone limits), police stations, volunteers
    on duty and open cases around Shanghai, each with a circle that grows with time."""
    now = datetime.now(UTC)
    colours = list(Colour)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            seed_demo_devices(session, accounts.stations, [], now)
            replace_police_stations(
                session,
                [
                    (u, f"station {u}", *_station_position(accounts, u))
                    for u, _ in accounts.consoles
                ],
            )
            for vid, _ in accounts.volunteers[: size.volunteers]:
                register_volunteer(session, vid, vid, max_alert_radius_m=3_000)
        sessions = make_sessionmaker(engine)
        for start in range(0, size.cases, 1_000):
            with sessions.begin() as session:
                for i in range(start, min(size.cases, start + 1_000)):
                    lon, lat = around_shanghai(rng, 30_000)
                    open_case(
                        session,
                        case_id=f"bench-case-{i + 1:05d}",
                        title=f"Missing child {i + 1}",
                        public_description="Bench case.",
                        relay_contact="400-000-0000",
                        last_seen_lon=lon,
                        last_seen_lat=lat,
                        last_seen_at=now - timedelta(minutes=rng.uniform(5, 600)),
                        now=now,
                        description=CaseDescription(
                            rng.choice([AgeBand.INFANT, AgeBand.PRESCHOOL, AgeBand.CHILD]),
                            rng.choice([Sex.FEMALE, Sex.MALE]),
                            (rng.choice(colours),),
                        ),
                        radius_schedule=[(3600.0, 1_000.0), (math.inf, 3_000.0)],
                    )
    finally:
        engine.dispose()


def grow(
    url: str, accounts: Accounts, size: WorldSize, to: int, rng: random.Random
) -> None:
    """Grow the seeded world to ``to`` open cases and ``to`` volunteers, with the same
    distribution as :func:`seed`, in bulk (multi-row inserts, 5,000 rows a statement: one by
    one through ``open_case`` took 408 s for 100,000), then bump the versions the workers
    follow so each reloads its case index and volunteer profiles once."""
    now = datetime.now(UTC)
    colours = list(Colour)
    cases = []
    for i in range(size.cases, to):
        lon, lat = around_shanghai(rng, 30_000)
        cases.append({
            "case_id": f"bench-case-{i + 1:06d}",
            "status": "open",
            "title": f"Missing child {i + 1}",
            "public_description": "Bench case.",
            "photo_ref": None,
            "relay_contact": "400-000-0000",
            "family_contact": None,
            "age_band": rng.choice([AgeBand.INFANT, AgeBand.PRESCHOOL, AgeBand.CHILD]).value,
            "sex": rng.choice([Sex.FEMALE, Sex.MALE]).value,
            "height_band": None,
            "clothing_colours": [rng.choice(colours).value],
            "distinguishing_marks": None,
            "last_seen_lon": lon,
            "last_seen_lat": lat,
            "last_seen_point": f"SRID=4326;POINT({lon!r} {lat!r})",
            "last_seen_at": now - timedelta(minutes=rng.uniform(5, 600)),
            "last_seen_station_id": None,
            "assigned_volunteer_id": None,
            "radius_schedule": [[3600.0, 1_000.0], [None, 3_000.0]],
            "circle_max_age_s": None,
            "created_at": now,
            "updated_at": now,
            "ended_at": None,
        })
    volunteers = [
        {
            "volunteer_id": vid,
            "display_name": vid,
            "on_duty": True,
            "location_opt_in": True,
            "max_alert_radius_m": 3_000.0,
            "quiet_start": None,
            "quiet_end": None,
            "timezone": "Asia/Shanghai",
        }
        for vid, _ in accounts.volunteers[size.volunteers : to]
    ]
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            for table, rows in ((Case.__table__, cases), (Volunteer.__table__, volunteers)):
                for start in range(0, len(rows), 5_000):
                    conn.execute(sa_insert(table), rows[start : start + 5_000])
        with make_sessionmaker(engine).begin() as session:
            bump_version(session, CASES_VERSION)
            bump_version(session, VOLUNTEERS_VERSION)
    finally:
        engine.dispose()


def _station_position(accounts: Accounts, console: str) -> tuple[float, float]:
    station = next(s for s in accounts.stations if f"PS-{s.station_id}" == console)
    return station.lon, station.lat


def volunteer_positions(
    accounts: Accounts, rng: random.Random, first: int = 0, end: int | None = None
) -> list[tuple[str, str, str]]:
    """(username, password, VolunteerLocation JSON) of volunteers ``first`` to ``end``: on
    duty, within 30 km of the centre."""
    now = datetime.now(UTC)
    out = []
    for vid, password in accounts.volunteers[first:end]:
        lon, lat = around_shanghai(rng, 30_000)
        payload = VolunteerLocation(round(lat, 6), round(lon, 6), now, 15.0, on_duty=True)
        out.append((vid, password, payload.to_json().decode().replace(" ", "")))
    return out


def start_workers(
    broker: Mosquitto,
    url: str,
    accounts: Accounts,
    logdir: Path,
    health_ports: list[int],
) -> list[WorkerProcess]:
    workers = []
    for (username, password), port in zip(accounts.workers, health_ports, strict=True):
        workers.append(
            start_worker(
                broker,
                url,
                client_id=username,
                username=username,
                password=password,
                logdir=logdir,
                # Lifted for the measurement; the rate-limit state is still read and written.
                extra_env={"SR_WORKER_HEALTH_PORT": str(port), "SR_RATE_LIMITS": "off"},
            )
        )
    return workers
