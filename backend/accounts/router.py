"""HTTP for the operator console: provision, list and revoke device broker accounts.

The API talks to the running Mosquitto as its admin account (``backend.accounts.control``):
nothing is restarted, a revoked device is disconnected at once. The new account's password
is in the creation answer only; it is stored nowhere but as the broker's hash.

Settings: the broker of every process (``SR_MQTT_HOST``, ``SR_MQTT_PORT``,
``SR_MQTT_CA_FILE``) and the admin account (``SR_MQTT_ADMIN_USERNAME``, default ``admin``;
``SR_MQTT_ADMIN_PASSWORD``). :func:`mount` adds the endpoints only when the admin password
is configured: an API that cannot provision does not offer to.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path
from pydantic import BaseModel, Field

from backend.accounts.control import BrokerAddress, ControlError, DynsecControl
from backend.accounts.kinds import AccountKind
from backend.accounts.provision import (
    AccountExistsError,
    BrokerStore,
    NoSuchAccountError,
    provision,
)
from backend.auth.http import require
from backend.auth.subject import Role, Subject
from backend.http_common import (
    AUTH,
    CONFLICT,
    ID_PATTERN,
    INVALID,
    NOT_FOUND,
    ErrorOut,
    responses,
)
from backend.settings import get_settings

router = APIRouter(prefix="/api/devices/accounts", tags=["devices"])

BROKER_DOWN = {
    503: {
        "model": ErrorOut,
        "description": "The broker did not answer as admin, or SR_MQTT_ADMIN_PASSWORD is unset.",
    }
}


class ProvisionedKind(StrEnum):
    """Kinds the console may create (workers and admins are set up by deployment)."""

    KIOSK = "kiosk"
    PHONE = "phone"
    VOLUNTEER = "volunteer"
    STATION = "station"


class AccountIn(BaseModel):
    username: str = Field(
        pattern=ID_PATTERN,
        description="Device id (kiosk-..., phone-...), volunteer id or police station id; "
        "also the MQTT client id",
    )
    kind: ProvisionedKind


class CredentialsOut(BaseModel):
    username: str
    kind: str
    password: str = Field(description="Shown once: the broker keeps only a hash")


class AccountOut(BaseModel):
    username: str
    kind: str
    roles: list[str]
    disabled: bool


def broker_store() -> Iterator[BrokerStore]:
    password = os.environ.get("SR_MQTT_ADMIN_PASSWORD")
    if not password:
        raise HTTPException(
            503, "device provisioning is disabled: set SR_MQTT_ADMIN_PASSWORD (the broker's admin)"
        )
    s = get_settings()
    address = BrokerAddress(
        s.mqtt_host,
        s.mqtt_port,
        os.environ.get("SR_MQTT_ADMIN_USERNAME", "admin"),
        password,
        s.mqtt_ca_file,
        timeout_s=5.0,
    )
    control = DynsecControl(address)
    try:
        control.open()
    except ControlError as exc:
        raise HTTPException(503, f"broker: {exc}") from exc
    try:
        yield BrokerStore(control, s.share_group)
    finally:
        control.close()


@contextmanager
def _broker_errors() -> Iterator[None]:
    """A command the broker did not answer: 503 with its reason."""
    try:
        yield
    except ControlError as exc:
        raise HTTPException(503, f"broker: {exc}") from exc


StoreDep = Annotated[BrokerStore, Depends(broker_store)]
# The broker's accounts are no table: who may manage them is a role, not a query filter.
OperatorDep = Annotated[Subject, Depends(require(Role.OPERATOR, Role.COORDINATOR))]


@router.post(
    "",
    status_code=201,
    responses=responses(AUTH, INVALID, CONFLICT, BROKER_DOWN),
)
def create_account(_: OperatorDep, body: AccountIn, store: StoreDep) -> CredentialsOut:
    try:
        with _broker_errors():
            account = provision(store, AccountKind(body.kind.value), body.username)
    except AccountExistsError as exc:
        raise HTTPException(409, str(exc)) from exc
    return CredentialsOut(
        username=account.username, kind=account.kind.value, password=account.password
    )


@router.get("", responses=responses(AUTH, BROKER_DOWN))
def list_accounts(_: OperatorDep, store: StoreDep) -> list[AccountOut]:
    with _broker_errors():
        infos = store.list()
    return [
        AccountOut(username=i.username, kind=i.kind, roles=list(i.roles), disabled=i.disabled)
        for i in infos
    ]


@router.delete(
    "/{username}",
    status_code=204,
    responses=responses(AUTH, INVALID, NOT_FOUND, CONFLICT, BROKER_DOWN),
)
def revoke_account(
    _: OperatorDep, username: Annotated[str, Path(pattern=ID_PATTERN)], store: StoreDep
) -> None:
    if username == os.environ.get("SR_MQTT_ADMIN_USERNAME", "admin"):
        raise HTTPException(409, "the admin account cannot revoke itself")
    try:
        with _broker_errors():
            store.revoke(username)
    except NoSuchAccountError as exc:
        raise HTTPException(404, str(exc)) from exc


def mount(app: FastAPI) -> None:
    """Add the device-account endpoints to ``app`` when ``SR_MQTT_ADMIN_PASSWORD`` is set."""
    if os.environ.get("SR_MQTT_ADMIN_PASSWORD"):
        app.include_router(router)
