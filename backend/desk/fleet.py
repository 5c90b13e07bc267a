"""The desk's fleet: every device with the state the operator needs (online, offline, offline
too long, never seen), last seen from any message it sent; provisioning and revocation; their
dead letters; coarse volunteers.

"Last seen" is the latest of the retained status (birth message or last will), the device's
last report, last photo and last refused message: a kiosk that reported a minute ago was
there a minute ago, whatever its status topic says.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Query
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.accounts.control import ControlError
from backend.accounts.kinds import AccountKind
from backend.accounts.provision import AccountExistsError, NoSuchAccountError, provision
from backend.accounts.router import broker_store
from backend.auth.http import SubjectDep
from backend.auth.subject import Role, Subject
from backend.deps import SessionDep
from backend.desk.http import AUTHZ, answers
from backend.desk.schemas import DeadLetterDeskOut, DeviceOut
from backend.desk.scope import readable
from backend.desk.service import DeskNotFoundError, DeskRefusedError
from backend.desk.settings import get_desk_settings
from backend.devices.models import Device
from backend.devices.service import KioskPlace, register_kiosks
from backend.http_common import (
    BAD_BODY,
    CONFLICT,
    ID_PATTERN,
    NOT_FOUND,
    ErrorOut,
    PathId,
    responses,
)
from backend.settings import get_settings
from backend.sightings.models import DeadLetter, Report, ReportPhoto
from backend.stations.metro import load_metro
from backend.volunteers.models import Volunteer
from protocol.payloads import utc_now


class FleetState(StrEnum):
    """What the desk says of a device, in the order the list shows them by default."""

    ONLINE = "online"  # its retained status says online (connected now)
    OFFLINE = "offline"  # not online, but heard from within the offline threshold
    LONG_OFFLINE = "long_offline"  # not online and silent longer than the threshold
    NEVER_SEEN = "never_seen"  # provisioned, no message ever


STATE_ORDER: Final = {s: n for n, s in enumerate(FleetState)}


class FleetSort(StrEnum):
    STATE = "state"  # online first, then offline, offline too long, never seen; then id
    DEVICE = "device"  # by id
    LAST_SEEN = "last_seen"  # most recently heard from first
    SILENT = "silent"  # longest silent first (never seen at the top)


def _latest(*times: datetime | None) -> datetime | None:
    known = [t for t in times if t is not None]
    return max(known) if known else None


def fleet_state(
    status: str | None, last_seen: datetime | None, now: datetime, offline_after_s: float
) -> FleetState:
    """The one rule of a device's state on the desk."""
    if status == "online":
        return FleetState.ONLINE
    if last_seen is None:
        return FleetState.NEVER_SEEN
    if (now - last_seen).total_seconds() > offline_after_s:
        return FleetState.LONG_OFFLINE
    return FleetState.OFFLINE


def list_devices(
    session: Session,
    subject: Subject,
    offline_after_s: float,
    now: datetime,
    limit: int | None = None,
) -> list[DeviceOut]:
    """Every device the subject may read, with last seen from any message it sent; sorted
    by state (online first) and id. ``limit``: at most this many (None: all)."""
    last_report = (
        select(func.max(Report.received_at))
        .where(Report.device_id == Device.device_id)
        .scalar_subquery()
    )
    last_photo = (
        select(func.max(ReportPhoto.received_at))
        .where(ReportPhoto.device_id == Device.device_id)
        .scalar_subquery()
    )
    last_refused = (
        select(func.max(DeadLetter.received_at))
        .where(DeadLetter.device_id == Device.device_id)
        .scalar_subquery()
    )
    stmt = readable(subject, Device).add_columns(last_report, last_photo, last_refused)
    out = []
    for d, report_at, photo_at, refused_at in session.execute(stmt):
        point = to_shape(d.location) if d.location is not None else None
        last_seen = _latest(d.state_at, report_at, photo_at, refused_at)
        state = fleet_state(d.state, last_seen, now, offline_after_s)
        silent_for = (now - last_seen).total_seconds() if last_seen is not None else None
        out.append(
            DeviceOut(
                device_id=d.device_id,
                kind=d.kind,
                station_id=d.station_id,
                station_name=d.station_name,
                lon=point.x if point is not None else None,
                lat=point.y if point is not None else None,
                state=d.state,
                fleet_state=state.value,
                last_seen_at=last_seen,
                last_status_at=d.state_at,
                last_report_at=report_at,
                offline_for_s=None if state is FleetState.ONLINE else silent_for,
                outbox_depth=d.outbox_depth,
                app_version=d.app_version,
                long_offline=state is FleetState.LONG_OFFLINE,
            )
        )
    out.sort(key=lambda d: (STATE_ORDER[FleetState(d.fleet_state)], d.device_id))
    return out if limit is None else out[:limit]


def _seen_s(d: DeviceOut) -> float:
    return d.last_seen_at.timestamp() if d.last_seen_at is not None else 0.0


def _sorted(devices: list[DeviceOut], sort: FleetSort) -> list[DeviceOut]:
    if sort is FleetSort.DEVICE:
        return sorted(devices, key=lambda d: d.device_id)
    if sort is FleetSort.LAST_SEEN:
        return sorted(devices, key=lambda d: (d.last_seen_at is None, -_seen_s(d), d.device_id))
    if sort is FleetSort.SILENT:
        return sorted(devices, key=lambda d: (d.last_seen_at is not None, _seen_s(d), d.device_id))
    return devices  # list_devices' order


class FleetPage(BaseModel):
    total: int = Field(description="Devices matching the filter")
    counts: dict[str, int] = Field(description="Every device the subject may read, per state")
    offset: int
    limit: int
    offline_after_min: float
    devices: list[DeviceOut]


def fleet_page(
    session: Session,
    subject: Subject,
    now: datetime,
    *,
    offline_after_s: float,
    state: FleetState | None = None,
    text: str = "",
    sort: FleetSort = FleetSort.STATE,
    offset: int = 0,
    limit: int = 50,
) -> FleetPage:
    """One page of the fleet, filtered by state and by a text in the id or station, with
    the counts of the whole fleet per state (what the legend shows)."""
    every = list_devices(session, subject, offline_after_s, now)
    counts = Counter(d.fleet_state for d in every)
    needle = text.strip().lower()
    chosen = [
        d
        for d in every
        if (state is None or d.fleet_state == state.value)
        and (
            not needle
            or needle in d.device_id.lower()
            or needle in (d.station_id or "").lower()
            or needle in (d.station_name or "").lower()
        )
    ]
    chosen = _sorted(chosen, sort)
    return FleetPage(
        total=len(chosen),
        counts={s.value: counts.get(s.value, 0) for s in FleetState},
        offset=offset,
        limit=limit,
        offline_after_min=offline_after_s / 60.0,
        devices=chosen[offset : offset + limit],
    )


def device_dead_letters(
    session: Session, subject: Subject, device_id: str, limit: int = 100
) -> list[DeadLetterDeskOut]:
    readable(subject, Device)  # the fleet's readers only
    if session.get(Device, device_id) is None:
        raise DeskNotFoundError(f"no device {device_id!r}")
    rows = session.execute(
        readable(subject, DeadLetter)
        .where(DeadLetter.device_id == device_id)
        .order_by(DeadLetter.id.desc())
        .limit(limit)
    ).scalars()
    return [
        DeadLetterDeskOut(
            id=r.id,
            topic=r.topic,
            received_at=r.received_at,
            report_id=r.report_id,
            reasons=list(r.reasons),
            size_bytes=len(r.payload),
        )
        for r in rows
    ]


def coarse_volunteers(session: Session, subject: Subject, now: datetime) -> list[Volunteer]:
    """On-duty volunteers whose coarse (about 1 km) position has not expired; never exact."""
    return list(
        session.execute(
            readable(subject, Volunteer).where(
                Volunteer.on_duty.is_(True),
                Volunteer.coarse_lon.is_not(None),
                Volunteer.location_expires_at > now,
            )
        ).scalars()
    )


# --------------------------------------------------------------------------- provisioning


@dataclass(frozen=True, slots=True)
class BrokerAccounts:
    """Whether this API can create broker accounts, and if not, why (a code the page words)."""

    available: bool
    reason: str | None  # no_admin_password | embedded_broker


def broker_accounts() -> BrokerAccounts:
    if os.environ.get("SR_DEV_BROKER_KIND") == "embedded":
        return BrokerAccounts(False, "embedded_broker")
    if not os.environ.get("SR_MQTT_ADMIN_PASSWORD"):
        return BrokerAccounts(False, "no_admin_password")
    return BrokerAccounts(True, None)


def register_device(
    session: Session, device_id: str, kind: str, station_id: str | None, now: datetime
) -> None:
    """The fleet row of a new device: a kiosk stands at its metro station (position and
    name from the station table, ``backend.devices.service.register_kiosks``); a phone has
    no fixed place."""
    if kind != "kiosk":
        session.add(Device(device_id=device_id, kind=kind, created_at=now))
        return
    if station_id is None:
        raise DeskRefusedError("a kiosk needs the metro station it stands at")
    station = {s.station_id: s for s in load_metro()[0]}.get(station_id)
    if station is None:
        raise DeskRefusedError(f"no metro station {station_id}")
    place = KioskPlace(device_id, station.station_id, station.name, station.lon, station.lat)
    register_kiosks(session, [place], now)


def config_bundle(device_id: str, kind: str, password: str | None, station_id: str | None) -> str:
    """The app's configuration file (kiosk_app/config.example.ini's keys) for this device."""
    s = get_settings()
    lines = ["[device]", f"mode = {kind}", f"device_id = {device_id}"]
    if password is not None:
        lines.append(f"password = {password}")
    lines += ["", "[broker]", f"host = {s.mqtt_host}", f"port = {s.mqtt_port}"]
    if s.mqtt_ca_file:
        lines.append(f"ca_file = {s.mqtt_ca_file}")
    if kind == "kiosk" and station_id:
        lines += ["", "[kiosk]", f"station_id = {station_id}"]
    return "\n".join(lines) + "\n"


class DeviceKindIn(StrEnum):
    KIOSK = "kiosk"
    PHONE = "phone"


class ProvisionIn(BaseModel):
    device_id: str = Field(pattern=ID_PATTERN, description="Also its MQTT username and client id")
    kind: DeviceKindIn
    station_id: str | None = Field(default=None, pattern=ID_PATTERN)


class ProvisionedOut(BaseModel):
    device: DeviceOut
    broker_account: bool = Field(description="Whether a broker account was created")
    reason: str | None = Field(description="Why not: no_admin_password | embedded_broker")
    password: str | None = Field(description="Shown once: the broker keeps only a hash")
    config: str = Field(description="The app's configuration file, password included; once")


class ProvisioningOut(BaseModel):
    broker_accounts: bool
    reason: str | None


router = APIRouter(prefix="/api/v1/desk/fleet", tags=["desk"])
BROKER_DOWN: Final = {
    503: {
        "model": ErrorOut,
        "description": "The broker (or the database) did not answer; retry later.",
    }
}
PROVISION_ROLES: Final = frozenset({Role.OPERATOR, Role.COORDINATOR})


def _may_provision(subject: Subject) -> None:
    if subject.role not in PROVISION_ROLES:
        raise HTTPException(
            403, f"only operators provision devices; {subject.username} is {subject.role.value}"
        )


def _offline_after_s(minutes: float | None) -> float:
    return (get_desk_settings().offline_after_min if minutes is None else minutes) * 60.0


@router.get("", responses=AUTHZ, summary="A page of the fleet with the counts per state")
def fleet(
    session: SessionDep,
    subject: SubjectDep,
    state: FleetState | None = None,
    q: Annotated[str, Query(max_length=64)] = "",
    sort: FleetSort = FleetSort.STATE,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    offline_after_min: Annotated[float | None, Query(ge=0, le=100_000)] = None,
) -> FleetPage:
    with answers():
        return fleet_page(
            session,
            subject,
            utc_now(),
            offline_after_s=_offline_after_s(offline_after_min),
            state=state,
            text=q,
            sort=sort,
            offset=offset,
            limit=limit,
        )


@router.get("/provisioning", responses=AUTHZ, summary="Whether the desk can create accounts")
def provisioning(subject: SubjectDep) -> ProvisioningOut:
    _may_provision(subject)
    b = broker_accounts()
    return ProvisioningOut(broker_accounts=b.available, reason=b.reason)


def _provisioner(subject: SubjectDep) -> Subject:
    """The subject, if they may provision; checked before anything reaches the broker."""
    _may_provision(subject)
    return subject


ProvisionerDep = Annotated[Subject, Depends(_provisioner)]


def _store(_: ProvisionerDep) -> Iterator[Any]:
    """The broker's account store when the API has its admin account, else None (asked only
    for a subject who may provision: a refused caller never makes the API call the broker)."""
    if not broker_accounts().available:
        yield None
        return
    yield from broker_store()


StoreDep = Annotated[Any, Depends(_store)]


@router.post(
    "/devices",
    status_code=201,
    responses={**AUTHZ, **responses(BAD_BODY, CONFLICT, BROKER_DOWN)},
    summary="Provision a device: its broker account (when the broker has accounts) and its "
    "fleet row; the password and config are in this answer only",
)
def provision_device(
    body: ProvisionIn, session: SessionDep, subject: ProvisionerDep, store: StoreDep
) -> ProvisionedOut:
    now = utc_now()
    if session.get(Device, body.device_id) is not None:
        raise HTTPException(409, f"device {body.device_id} exists already; revoke it first")
    with answers():
        register_device(session, body.device_id, body.kind.value, body.station_id, now)
    password = None
    if store is not None:
        try:
            password = provision(store, AccountKind(body.kind.value), body.device_id).password
        except AccountExistsError as exc:
            raise HTTPException(409, str(exc)) from exc
        except ControlError as exc:
            raise HTTPException(503, f"broker: {exc}") from exc
    session.commit()
    (device,) = [
        d
        for d in list_devices(session, subject, _offline_after_s(None), now)
        if d.device_id == body.device_id
    ]
    b = broker_accounts()
    return ProvisionedOut(
        device=device,
        broker_account=password is not None,
        reason=b.reason,
        password=password,
        config=config_bundle(body.device_id, body.kind.value, password, body.station_id),
    )


@router.delete(
    "/devices/{device_id}",
    status_code=204,
    responses={**AUTHZ, **responses(NOT_FOUND, BROKER_DOWN)},
    summary="Revoke a device: its broker account is deleted (it is disconnected at once) and "
    "it leaves the fleet; what it sent stays",
)
def revoke_device(
    device_id: PathId, session: SessionDep, subject: ProvisionerDep, store: StoreDep
) -> None:
    device = session.get(Device, device_id)
    if device is None:
        raise HTTPException(404, f"no device {device_id!r}")
    if store is not None:
        try:
            store.revoke(device_id)
        except NoSuchAccountError:
            pass  # a device with no account of its own (made before the broker had accounts)
        except ControlError as exc:
            raise HTTPException(503, f"broker: {exc}") from exc
    session.delete(device)
    session.commit()
