"""Kiosks in bulk from a CSV: accounts on every broker that runs, one bundle per kiosk.

The CSV has a header and one row per kiosk: ``station_id,kiosk_id[,position]``. For each
kiosk, :func:`provision_fleet`

* creates the account (kind kiosk, its own role) on each target: Mosquitto through its
  dynamic security control API, all commands of a batch in one request over one
  connection (:class:`MosquittoTarget`), and EMQX through its REST API
  (``backend.deploy.emqx_rest``) when one is configured: the same accounts and grants;
* registers the kiosk in the database at its station (:func:`register_in_database`): the
  workers place a kiosk's reports at its station whatever position they claim, and give it
  a kiosk's rate limits; an unknown station stops the run before any account is made;
* writes ``BUNDLES/<kiosk_id>/kiosk.ini`` (the app's configuration: broker, TLS, device id,
  password, station, operator PIN) and ``ca.crt``, folder 0700 and files 0600, owned by
  root. Passwords and PINs go to those files only, never to stdout.

Re-runs are idempotent: a kiosk whose account and bundle exist is kept as it is; an account
without a bundle gets a new password (the old one is unknown) written to a new bundle; a
bundle without an account (a broker restored from an older backup, or a new EMQX) gets its
account back with the bundle's own password, so the kiosk in the field keeps working.

:func:`revoke_fleet` deletes the accounts on every target (Mosquitto and EMQX disconnect
the client at once; its next CONNECT is refused) and moves the bundles to
``BUNDLES/.revoked/``. Remove revoked kiosks from the CSV, or the next run creates them again
with new passwords.

Client certificates are not issued: devices keep passwords, which the dynamic-security plugin
checks and ties to their roles (certificate identities with the plugin were not tried);
rotate a password by revoking the kiosk and provisioning it again.
"""

from __future__ import annotations

import configparser
import csv
import io
import secrets
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from backend.accounts import Account, AccountKind, grants_for, role_name
from backend.accounts.control import ControlError, DynsecControl
from backend.accounts.provision import generate_password, own_role
from backend.db.engine import make_engine, make_sessionmaker
from backend.deploy.files import DeployError, write_private
from backend.devices.service import KioskPlace, register_kiosks
from backend.stations.metro import load_metro
from protocol import topics

BATCH = 100  # kiosks per control request (two commands each)


@dataclass(frozen=True)
class Kiosk:
    station_id: str
    kiosk_id: str
    position: str = ""


@dataclass(frozen=True)
class BrokerEndpoint:
    """What a kiosk connects to (written into its bundle)."""

    host: str
    port: int
    install_dir: str = "/etc/sighting-report"  # where the bundle goes on the kiosk


def read_csv(path: Path) -> list[Kiosk]:
    """Kiosks from ``path``; a ValueError names the line and what is wrong."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise DeployError(f"{path}: cannot read the fleet CSV ({exc.strerror})") from None
    rows = csv.DictReader(io.StringIO(text))
    missing = {"station_id", "kiosk_id"} - set(rows.fieldnames or ())
    if missing:
        raise DeployError(
            f"{path}: the header needs station_id,kiosk_id[,position]; missing "
            f"{', '.join(sorted(missing))}"
        )
    kiosks: list[Kiosk] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        kiosk_id = (row.get("kiosk_id") or "").strip()
        station_id = (row.get("station_id") or "").strip()
        try:
            topics.check_id(kiosk_id, "kiosk_id")
            topics.check_id(station_id, "station_id")
        except ValueError as exc:
            raise DeployError(f"{path}:{line}: {exc}") from None
        if kiosk_id in seen:
            raise DeployError(
                f"{path}:{line}: kiosk {kiosk_id} is already on line {seen[kiosk_id]}"
            )
        seen[kiosk_id] = line
        kiosks.append(Kiosk(station_id, kiosk_id, (row.get("position") or "").strip()))
    return kiosks


def kiosk_places(kiosks: Sequence[Kiosk], metro_file: Path | None = None) -> list[KioskPlace]:
    """Each kiosk at its station's position (the metro data); a DeployError names every
    station id that is not a metro station, before any account is made."""
    metro = load_metro(metro_file) if metro_file else load_metro()
    stations = {s.station_id: s for s in metro[0]}
    unknown = sorted({k.station_id for k in kiosks if k.station_id not in stations})
    if unknown:
        raise DeployError(
            f"station ids not in the metro data: {', '.join(unknown[:10])}"
            + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
            + "; a kiosk's reports are placed at its station, so its station must be known"
        )
    return [
        KioskPlace(
            k.kiosk_id,
            k.station_id,
            stations[k.station_id].name,
            stations[k.station_id].lon,
            stations[k.station_id].lat,
        )
        for k in kiosks
    ]


def register_in_database(database_url: str, places: Sequence[KioskPlace]) -> tuple[int, int]:
    """The kiosks' rows (kind kiosk, station, position) in the database the workers use;
    returns (added, moved)."""
    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            return register_kiosks(session, places, datetime.now(UTC))
    finally:
        engine.dispose()


class FleetTarget(Protocol):
    name: str

    def existing(self) -> set[str]: ...

    def create_many(self, accounts: Sequence[Account]) -> None: ...

    def set_passwords(self, accounts: Sequence[Account]) -> None: ...

    def revoke_many(self, usernames: Sequence[str]) -> list[str]: ...


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class MosquittoTarget:
    """Mosquitto's dynamic security plugin over one open admin connection."""

    name = "mosquitto"

    def __init__(self, control: DynsecControl) -> None:
        self.control = control

    def existing(self) -> set[str]:
        data = self.control.run("listClients")
        return {str(c) for c in data.get("clients", [])}

    def _roles(self) -> set[str]:
        return {str(r) for r in self.control.run("listRoles").get("roles", [])}

    def create_many(self, accounts: Sequence[Account]) -> None:
        roles = self._roles()
        for chunk in _chunks(accounts, BATCH):
            commands: list[dict[str, Any]] = []
            for a in chunk:
                rolename = role_name(a)
                if rolename in roles and own_role(rolename, a.username):
                    commands.append({"command": "deleteRole", "rolename": rolename})
                commands.append(
                    {
                        "command": "createRole",
                        "rolename": rolename,
                        "textdescription": "grants of a kiosk account (backend.accounts.kinds)",
                        "acls": [g.to_json() for g in grants_for(a)],
                    }
                )
                commands.append(
                    {
                        "command": "createClient",
                        "username": a.username,
                        "password": a.password,
                        "textname": f"{a.kind} {a.username}",
                        "roles": [{"rolename": rolename}],
                    }
                )
            self.control.run_many(commands)

    def set_passwords(self, accounts: Sequence[Account]) -> None:
        for chunk in _chunks(accounts, BATCH * 2):
            self.control.run_many(
                [
                    {"command": "setClientPassword", "username": a.username, "password": a.password}
                    for a in chunk
                ]
            )

    def revoke_many(self, usernames: Sequence[str]) -> list[str]:
        present = self.existing()
        gone = [u for u in usernames if u in present]
        for chunk in _chunks(gone, BATCH):
            commands: list[dict[str, Any]] = []
            for username in chunk:
                commands.append({"command": "deleteClient", "username": username})
                commands.append({"command": "deleteRole", "rolename": f"kiosk:{username}"})
            try:
                self.control.run_many(commands)
            except ControlError as exc:  # a role already gone is not a failure
                if "not found" not in str(exc).lower():
                    raise
        return gone


@dataclass
class FleetResult:
    created: list[str] = field(default_factory=list)
    reissued: list[str] = field(default_factory=list)  # new password, new bundle
    restored: list[str] = field(default_factory=list)  # account back with the bundle's password
    kept: list[str] = field(default_factory=list)
    per_target: dict[str, int] = field(default_factory=dict)

    def summary(self, bundles: Path) -> str:
        return (
            f"{len(self.created)} created, {len(self.reissued)} re-issued (new password), "
            f"{len(self.restored)} restored from their bundles, {len(self.kept)} kept; "
            f"accounts written per broker: "
            + ", ".join(f"{k} {v}" for k, v in self.per_target.items())
            + f"; bundles in {bundles} (root only)"
        )


def bundle_dir(bundles: Path, kiosk_id: str) -> Path:
    return bundles / kiosk_id


def read_bundle(bundles: Path, kiosk_id: str) -> tuple[str, str] | None:
    """(password, operator PIN) of an existing bundle, or None."""
    ini = bundle_dir(bundles, kiosk_id) / "kiosk.ini"
    if not ini.is_file():
        return None
    parser = configparser.ConfigParser()
    parser.read(ini, encoding="utf-8")
    try:
        return parser.get("device", "password"), parser.get("kiosk", "operator_pin")
    except (configparser.Error, KeyError):
        return None


def bundle_ini(kiosk: Kiosk, password: str, pin: str, endpoint: BrokerEndpoint) -> str:
    parser = configparser.ConfigParser()
    parser["device"] = {"mode": "kiosk", "device_id": kiosk.kiosk_id, "password": password}
    parser["broker"] = {
        "host": endpoint.host,
        "port": str(endpoint.port),
        "ca_file": f"{endpoint.install_dir}/ca.crt",
        "session_expiry_s": "86400",
    }
    parser["app"] = {"data_dir": f"/var/lib/sighting-report/{kiosk.kiosk_id}"}
    parser["kiosk"] = {"station_id": kiosk.station_id, "operator_pin": pin}
    if kiosk.position:
        parser["kiosk"]["position"] = kiosk.position
    out = io.StringIO()
    out.write(
        f"; kiosk {kiosk.kiosk_id}: made by python -m backend.deploy fleet provision; secret. "
        f"Install as {endpoint.install_dir}/kiosk.ini (mode 0600) with ca.crt beside it.\n"
    )
    parser.write(out)
    return out.getvalue()


def write_bundle(
    bundles: Path, kiosk: Kiosk, password: str, pin: str, endpoint: BrokerEndpoint, ca: Path
) -> Path:
    folder = bundle_dir(bundles, kiosk.kiosk_id)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    write_private(folder / "ca.crt", ca.read_text(encoding="utf-8"))
    write_private(folder / "kiosk.ini", bundle_ini(kiosk, password, pin, endpoint))
    return folder


def new_pin() -> str:
    return f"{secrets.randbelow(10**6):06d}"


def provision_fleet(
    kiosks: Sequence[Kiosk],
    targets: Sequence[FleetTarget],
    bundles: Path,
    endpoint: BrokerEndpoint,
    ca: Path,
) -> FleetResult:
    if not targets:
        raise DeployError("no broker to provision on: give the Mosquitto admin or an EMQX API")
    bundles.mkdir(parents=True, exist_ok=True, mode=0o700)
    bundles.chmod(0o700)
    result = FleetResult()
    present = {t.name: t.existing() for t in targets}
    to_create: dict[str, list[Account]] = {t.name: [] for t in targets}
    to_repassword: dict[str, list[Account]] = {t.name: [] for t in targets}
    for kiosk in kiosks:
        held = read_bundle(bundles, kiosk.kiosk_id)
        everywhere = all(kiosk.kiosk_id in present[t.name] for t in targets)
        if held is not None and everywhere:
            result.kept.append(kiosk.kiosk_id)
            continue
        if held is not None:
            password, pin = held
            result.restored.append(kiosk.kiosk_id)
        else:
            password, pin = generate_password(), new_pin()
        account = Account(kiosk.kiosk_id, password, AccountKind.KIOSK)
        for t in targets:
            if kiosk.kiosk_id not in present[t.name]:
                to_create[t.name].append(account)
            elif held is None:
                to_repassword[t.name].append(account)
        if held is None:
            any_existing = any(kiosk.kiosk_id in present[t.name] for t in targets)
            (result.reissued if any_existing else result.created).append(kiosk.kiosk_id)
        # the bundle first: an account is never left with a password nobody holds
        write_bundle(bundles, kiosk, password, pin, endpoint, ca)
    for t in targets:
        t.create_many(to_create[t.name])
        t.set_passwords(to_repassword[t.name])
        result.per_target[t.name] = len(to_create[t.name]) + len(to_repassword[t.name])
    return result


def revoke_fleet(
    usernames: Sequence[str], targets: Sequence[FleetTarget], bundles: Path | None
) -> dict[str, list[str]]:
    """Delete the accounts on every target; returns the usernames deleted per target."""
    if not targets:
        raise DeployError("no broker to revoke on: give the Mosquitto admin or an EMQX API")
    done = {t.name: t.revoke_many(usernames) for t in targets}
    if bundles is not None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        for username in usernames:
            folder = bundle_dir(bundles, username)
            if folder.is_dir():
                graveyard = bundles / ".revoked"
                graveyard.mkdir(mode=0o700, exist_ok=True)
                shutil.move(str(folder), str(graveyard / f"{username}-{stamp}"))
    return done
