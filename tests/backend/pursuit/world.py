"""Rows for the pursuit tests, written straight to the tables: police stations (every 12th
metro station's Voronoi cell, as the alerting tests seed them) and reports at metro
stations, each with its own incident, as the worker would have stored them."""

from __future__ import annotations

import uuid
from datetime import datetime

from geoalchemy2.shape import from_shape, to_shape
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.stations.metro import DEFAULT_STATIONS_FILE, load_metro
from backend.stations.service import replace_police_stations
from backend.tables import Incident, IncidentReport, PoliceStation, Report
from geo.metro import MetroNetwork, load_network

NET: MetroNetwork = load_network(DEFAULT_STATIONS_FILE)


def seed_police(session: Session) -> None:
    stations, _ = load_metro()
    replace_police_stations(
        session, [(f"PS-{s.station_id}", f"派出所 {s.name}", s.lon, s.lat) for s in stations[::12]]
    )


def police_of(session: Session, station_id: str) -> str:
    """The police station whose stored area holds the metro station (independent of the
    code under test)."""
    st = NET.station(station_id)
    inside = [
        r.station_id
        for r in session.execute(select(PoliceStation)).scalars()
        if to_shape(r.area).covers(Point(st.lon, st.lat))
    ]
    assert len(inside) == 1
    return inside[0]


def add_report(
    session: Session,
    station_id: str,
    at: datetime,
    *,
    device_id: str | None = None,
    sex: str = "female",
    colours: tuple[str, ...] = ("red",),
    is_test: bool = False,
) -> tuple[str, str]:
    """A kiosk report at the station and its incident; returns (report id, incident id)."""
    st = NET.station(station_id)
    report_id, incident_id = str(uuid.uuid4()), str(uuid.uuid4())
    device = device_id or f"kiosk-{station_id}"
    session.add(
        Report(
            report_id=report_id,
            device_id=device,
            observed_at=at,
            received_at=at,
            lon=st.lon,
            lat=st.lat,
            location=from_shape(Point(st.lon, st.lat), srid=4326),
            accuracy_m=None,
            location_source="fixed",
            what_seen="carried_by_beggar",
            age_band="0-2",
            sex=sex,
            clothing_colours=list(colours),
            station_id=station_id,
            has_photo=False,
            is_test=is_test,
        )
    )
    session.add(
        Incident(
            incident_id=incident_id,
            lon=st.lon,
            lat=st.lat,
            first_at=at,
            last_at=at,
            report_count=1,
            device_ids=[device],
            station_id=police_of(session, station_id),
            metro_station_id=station_id,
            what_seen="carried_by_beggar",
        )
    )
    session.flush()
    session.add(
        IncidentReport(
            report_id=report_id,
            incident_id=incident_id,
            device_id=device,
            lon=st.lon,
            lat=st.lat,
            observed_at=at,
        )
    )
    return report_id, incident_id
