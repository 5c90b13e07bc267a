"""Device decisions: what the operators see of each kiosk and phone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from geoalchemy2 import WKTElement
from sqlalchemy import Table, select, text
from sqlalchemy.orm import Session

from backend.db.dialect import insert, is_postgres, update_many
from backend.devices.models import Device, DeviceRateState
from backend.devices.ratelimit import (
    DEFAULT_LIMITS,
    DeviceKind,
    RateDecision,
    RateLimit,
    gcra_step,
)
from backend.devices.stands import KnownDevice, Stand, known_device, read_devices
from protocol import DeviceStatus


@dataclass(frozen=True, slots=True)
class KioskPlace:
    """Where a kiosk stands: its station, whose position its reports are placed at."""

    device_id: str
    station_id: str
    station_name: str
    lon: float
    lat: float


def register_kiosks(
    session: Session, kiosks: Sequence[KioskPlace], now: datetime
) -> tuple[int, int]:
    """Make each kiosk a provisioned kiosk at its station (insert, or move an existing row to
    the station given); returns (added, moved). Without this row a kiosk's reports keep the
    place they claim and get a phone's rate limits."""
    known = {
        d.device_id: d
        for d in session.execute(
            select(Device).where(Device.device_id.in_([k.device_id for k in kiosks]))
        ).scalars()
    }
    added = moved = 0
    for k in kiosks:
        point = WKTElement(f"POINT({k.lon!r} {k.lat!r})", srid=4326)
        row = known.get(k.device_id)
        if row is None:
            session.add(
                Device(
                    device_id=k.device_id,
                    kind="kiosk",
                    station_id=k.station_id,
                    station_name=k.station_name,
                    location=point,
                    created_at=now,
                )
            )
            added += 1
        elif (row.kind, row.station_id, row.station_name) != (
            "kiosk",
            k.station_id,
            k.station_name,
        ):
            row.kind, row.station_id, row.station_name, row.location = (
                "kiosk",
                k.station_id,
                k.station_name,
                point,
            )
            moved += 1
    return added, moved


def device_kind(session: Session, device_id: str) -> DeviceKind:
    """Provisioned kiosks get kiosk limits; anything else is treated as a phone."""
    kind = session.execute(
        select(Device.kind).where(Device.device_id == device_id)
    ).scalar_one_or_none()
    return DeviceKind.KIOSK if kind == "kiosk" else DeviceKind.PHONE


class RateBook:
    """The rate-limit state of one batch's devices, decided per report in memory and written
    once (:meth:`write`). It is read by :func:`read_and_lock` with every row locked until
    the transaction ends, so N workers enforce one limit."""

    def __init__(
        self,
        tat: Mapping[str, float],
        kinds: Mapping[str, DeviceKind],
        now_s: float,
        limits: Mapping[DeviceKind, RateLimit] = DEFAULT_LIMITS,
    ) -> None:
        """``tat``: each device's stored theoretical arrival time; ``kinds``: the provisioned
        devices' kinds (any other device is a phone)."""
        self.now_s = now_s
        self._limits = limits
        self._tat: dict[str, float] = dict(tat)
        self._kind: dict[str, DeviceKind] = {
            d: DeviceKind.KIOSK if kinds.get(d) is DeviceKind.KIOSK else DeviceKind.PHONE
            for d in self._tat
        }
        self._changed: set[str] = set()

    def check(self, device_id: str) -> RateDecision:
        """Count one report of `device_id` (one of the batch's devices) and decide."""
        decision, tat = gcra_step(
            self._tat.get(device_id), self.now_s, self._limits[self._kind[device_id]]
        )
        if tat is not None:
            self._tat[device_id] = tat
            self._changed.add(device_id)
        return decision

    def write(self, session: Session) -> None:
        if self._changed:
            update_many(
                session,
                cast(Table, DeviceRateState.__table__),
                [{"device_id": d, "tat_s": self._tat[d]} for d in sorted(self._changed)],
                "device_id",
                locked=True,  # by read_and_lock, in this transaction
            )
            self._changed.clear()


# The devices of a batch and their rate-limit state, in one statement. Every device gets a
# state row (``now``: a device never seen has its full burst) and each row is locked by the
# upsert until the transaction ends: ``DO UPDATE`` waits for a worker holding the row and
# then takes its latest committed version (what ``SELECT ... FOR UPDATE`` did), and
# RETURNING hands back the tat it holds. The rows are upserted in device order, so two
# workers cannot deadlock on them.
_READ_AND_LOCK = text(
    """
    WITH state AS (
        INSERT INTO device_rate_state (device_id, tat_s)
        SELECT i.device_id, CAST(:now_s AS float8)
        FROM unnest(CAST(:ids AS varchar[])) AS i(device_id)
        ORDER BY i.device_id
        ON CONFLICT (device_id) DO UPDATE SET tat_s = device_rate_state.tat_s
        RETURNING device_id, tat_s
    )
    SELECT s.device_id, s.tat_s, d.device_id AS known, d.kind, d.station_id, d.station_name,
           ST_X(d.location) AS lon, ST_Y(d.location) AS lat
    FROM state AS s LEFT JOIN devices AS d ON d.device_id = s.device_id
    """
)


def read_and_lock(
    session: Session, device_ids: Iterable[str], now_s: float
) -> tuple[dict[str, KnownDevice], dict[str, float]]:
    """The provisioned devices among `device_ids` (as :func:`stands.read_devices`) and the
    rate-limit state (tat) of each of them, every state row inserted when missing and locked
    until the transaction ends, in device order. PostgreSQL: one statement. SQLite (one
    writer at a time): the devices, an insert of the missing rows, their state."""
    ids = sorted(set(device_ids))
    if not ids:
        return {}, {}
    if is_postgres(session):
        known: dict[str, KnownDevice] = {}
        tat: dict[str, float] = {}
        for row in session.execute(_READ_AND_LOCK, {"ids": ids, "now_s": now_s}):
            tat[row.device_id] = row.tat_s
            if row.known is not None:
                point = None if row.lon is None else (row.lon, row.lat)
                known[row.device_id] = known_device(
                    row.kind, row.station_id, row.station_name, point
                )
        return known, tat
    known = read_devices(session, ids)
    session.execute(
        insert(session, DeviceRateState)
        .values([{"device_id": d, "tat_s": now_s} for d in ids])
        .on_conflict_do_nothing(index_elements=["device_id"])
    )
    rows = session.execute(
        select(DeviceRateState.device_id, DeviceRateState.tat_s).where(
            DeviceRateState.device_id.in_(ids)
        )
    )
    return known, {device_id: tat_s for device_id, tat_s in rows}


def record_status(session: Session, device_id: str, status: DeviceStatus) -> bool:
    """Keep the latest birth message or last will of a known device. Times are not compared:
    a last will is composed when the device connects, so it is always older than the birth
    message it follows; the broker's order is the truth. Returns whether stored."""
    device = session.get(Device, device_id, with_for_update=True)
    if device is None or status.device_id != device_id:
        return False
    device.state = status.state.value
    device.state_at = status.at
    device.outbox_depth = status.outbox_depth
    device.app_version = status.app_version
    return True


@dataclass(frozen=True, slots=True)
class Admitted:
    """A fresh report as its device's limits and provisioning see it."""

    allowed: bool
    retry_after_s: float
    stand: Stand | None  # where a provisioned kiosk stands (None: a phone, or not placed)


def admit_reports(
    session: Session,
    reports: Sequence[tuple[str, str]],
    now: datetime,
    limits: Mapping[DeviceKind, RateLimit] | None = DEFAULT_LIMITS,
) -> dict[str, Admitted]:
    """The devices step of the report spine: for each fresh (report id, device id), in
    order, whether its device's rate limit lets it in, and where the device stands. On
    PostgreSQL two statements: the batch's devices with their rate-limit state, read and
    locked (:func:`read_and_lock`), and the changed state written once (:class:`RateBook`).
    ``limits=None``: no rate limits (the devices only, ``stands.read_devices``)."""
    device_ids = [d for _, d in reports]
    book = None
    if limits is not None and reports:
        now_s = now.timestamp()
        devices, tat = read_and_lock(session, device_ids, now_s)
        book = RateBook(tat, {d: known.kind for d, known in devices.items()}, now_s, limits)
    else:
        devices = read_devices(session, device_ids)
    out: dict[str, Admitted] = {}
    for report_id, device_id in reports:
        known = devices.get(device_id)
        stand = known.stand if known is not None else None
        if book is not None:
            decision = book.check(device_id)
            out[report_id] = Admitted(decision.allowed, decision.retry_after_s, stand)
        else:
            out[report_id] = Admitted(True, 0.0, stand)
    if book is not None:
        book.write(session)
    return out
