"""Device decisions: what the operators see of each kiosk and phone."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from geoalchemy2 import WKTElement
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from backend.db.dialect import insert, update_many
from backend.devices.models import Device, DeviceRateState
from backend.devices.ratelimit import (
    DEFAULT_LIMITS,
    DeviceKind,
    RateDecision,
    RateLimit,
    gcra_step,
)
from backend.devices.stands import Stand, read_devices
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
    """The rate-limit state of one batch's devices: read and locked once (one query for
    their kinds, one insert of missing rows, one ``SELECT ... FOR UPDATE`` in device order so
    that two workers cannot deadlock on them), decided per report in memory, written once
    (:meth:`write`). The state lives in the database, so N workers enforce one limit."""

    def __init__(
        self,
        session: Session,
        device_ids: Iterable[str],
        now_s: float,
        limits: Mapping[DeviceKind, RateLimit] = DEFAULT_LIMITS,
        kinds: Mapping[str, DeviceKind] | None = None,
    ) -> None:
        """``kinds``: the provisioned devices' kinds when the caller read them already
        (``stands.read_devices``); otherwise they are read here."""
        ids = sorted(set(device_ids))
        self.now_s = now_s
        self._limits = limits
        self._kind: dict[str, DeviceKind] = dict.fromkeys(ids, DeviceKind.PHONE)
        self._tat: dict[str, float] = {}
        self._changed: set[str] = set()
        if not ids:
            return
        if kinds is None:
            kinds = {
                device_id: DeviceKind.KIOSK if kind == "kiosk" else DeviceKind.PHONE
                for device_id, kind in session.execute(
                    select(Device.device_id, Device.kind).where(Device.device_id.in_(ids))
                )
            }
        for device_id in ids:
            if kinds.get(device_id) is DeviceKind.KIOSK:
                self._kind[device_id] = DeviceKind.KIOSK
        session.execute(
            insert(session, DeviceRateState)
            .values([{"device_id": d, "tat_s": now_s} for d in ids])
            .on_conflict_do_nothing(index_elements=["device_id"])
        )
        rows = session.execute(
            select(DeviceRateState.device_id, DeviceRateState.tat_s)
            .where(DeviceRateState.device_id.in_(ids))
            .order_by(DeviceRateState.device_id)
            .with_for_update()
        )
        self._tat = {device_id: tat for device_id, tat in rows}

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
            )
            self._changed.clear()


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
    order, whether its device's rate limit lets it in, and where the device stands. One query
    for the batch's devices (``stands.read_devices``), the rate-limit state read, locked and
    written once (:class:`RateBook`). ``limits=None``: no rate limits."""
    devices = read_devices(session, [d for _, d in reports])
    book = (
        RateBook(
            session,
            [d for _, d in reports],
            now.timestamp(),
            limits,
            {d: known.kind for d, known in devices.items()},
        )
        if limits is not None and reports
        else None
    )
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
