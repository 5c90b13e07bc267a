"""``python -m backend.deploy``: the production path's commands (docs/operations.md).

Secrets are read from environment variables (or ``X_FILE``), never from arguments, and
never printed. Exit status: 0 done, 1 a step failed (the message says what to do), 2 bad
arguments, 78 a secret is missing or still ``change-me``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tarfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from backend.accounts import Account, AccountKind
from backend.accounts.control import BrokerAddress, ControlError, DynsecControl
from backend.deploy import database
from backend.deploy.broker import BrokerLayout, BrokerOptions, bind_warnings, write_broker
from backend.deploy.check import CheckInputs, run_checks
from backend.deploy.emqx_rest import EmqxApi, EmqxTarget
from backend.deploy.files import DeployError, Owner
from backend.deploy.fleet import (
    BrokerEndpoint,
    FleetTarget,
    MosquittoTarget,
    kiosk_places,
    provision_fleet,
    read_csv,
    register_in_database,
    revoke_fleet,
)
from backend.secret_env import enforce as enforce_secrets


def _secret(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise DeployError(f"{what}: set {name} (or {name}_FILE, a file holding it)")
    return value


def _database_url(args: argparse.Namespace) -> str:
    return args.database_url or _secret("SR_DATABASE_URL", "the owner's database URL")


def _port_or_none(value: int) -> int | None:
    return value or None


# ----------------------------------------------------------------------------- broker


def cmd_broker_config(args: argparse.Namespace) -> int:
    accounts = [Account("admin", _secret("SR_MQTT_ADMIN_PASSWORD", "admin"), AccountKind.ADMIN)]
    for spec in args.worker:
        name, _, env = spec.partition("=")
        accounts.append(
            Account(name, _secret(env or "SR_MQTT_PASSWORD", f"worker {name}"), AccountKind.WORKER)
        )
    options = BrokerOptions(
        tls_port=args.tls_port,
        websockets_port=_port_or_none(args.ws_port),
        loopback_port=_port_or_none(args.loopback_port),
        bind_address=args.bind,
        plugin=args.plugin,
        user=args.user,
        log_dest=args.log_dest,
    )
    layout = write_broker(args.root, args.tls_dir, accounts, options)
    print(f"{layout.conf}: written; accounts {', '.join(a.username for a in accounts)}")
    for warning in bind_warnings(options):
        print(f"warning: {warning}")
    print(f"start it as root (it drops to {args.user}): mosquitto -c {layout.conf}")
    return 0


def cmd_broker_backup(layout: BrokerLayout, out_dir: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    target = out_dir / f"broker-{stamp}.tar.gz"
    old = os.umask(0o077)
    try:
        with tarfile.open(target, "w:gz") as tar:
            for path in (layout.dynsec, layout.persistence):
                if path.exists():
                    tar.add(path, arcname=path.name)
    finally:
        os.umask(old)
    return target


def cmd_restore_broker(args: argparse.Namespace) -> int:
    layout = BrokerLayout(args.broker_root)
    user = Owner.of(args.user)
    with tarfile.open(args.archive, "r:gz") as tar:
        names = tar.getnames()
        unexpected = set(names) - {layout.dynsec.name, layout.persistence.name}
        if unexpected:
            raise DeployError(f"{args.archive}: unexpected entries {sorted(unexpected)}")
        tar.extractall(layout.data, filter="data")
    for name in names:
        path = layout.data / name
        if os.geteuid() == 0:
            os.chown(path, user.uid, user.gid)
        path.chmod(0o600)
    print(f"{layout.data}: restored {', '.join(names)}; start the broker")
    return 0


# ----------------------------------------------------------------------------- database


def cmd_db_prepare(args: argparse.Namespace) -> int:
    password = _secret(args.owner_password_env, f"the password of {args.owner}")
    superuser_url = args.superuser_url or _secret("SR_DB_SUPERUSER_URL", "the superuser URL")
    print("SUPERUSER STEP: role, database and PostGIS extension")
    for line in database.prepare(superuser_url, args.database, args.owner, password):
        print(f"  {line}")
    return 0


def cmd_db_drop(args: argparse.Namespace) -> int:
    superuser_url = args.superuser_url or _secret("SR_DB_SUPERUSER_URL", "the superuser URL")
    database.drop(superuser_url, args.database)
    print(f"SUPERUSER STEP: database {args.database} dropped")
    return 0


def cmd_db_migrate(args: argparse.Namespace) -> int:
    before, after = database.migrate(_database_url(args), args.revision)
    print(f"schema {before or 'empty'} -> {after}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True, mode=0o700)
    dump = database.backup(_database_url(args), args.out)
    print(f"database: {dump}")
    if args.broker_root:
        print(f"broker: {cmd_broker_backup(BrokerLayout(args.broker_root), args.out)}")
    return 0


def cmd_restore_db(args: argparse.Namespace) -> int:
    url = _database_url(args)
    count = database.restore(url, args.dump)
    print(f"restored {count} entries of {args.dump}; schema at {database.revision(url)}")
    return 0


def cmd_upgrade(args: argparse.Namespace) -> int:
    url = _database_url(args)
    dump = database.backup(url, args.backup_dir)
    print(f"backup before the upgrade: {dump}")
    before, after = database.migrate(url)
    print(f"schema {before or 'empty'} -> {after}; restart the workers and the API")
    return 0


# ----------------------------------------------------------------------------- fleet


def _targets(args: argparse.Namespace) -> list[FleetTarget]:
    targets: list[FleetTarget] = []
    if not args.no_mosquitto:
        address = BrokerAddress(
            args.admin_host,
            args.admin_port,
            "admin",
            _secret("SR_MQTT_ADMIN_PASSWORD", "the Mosquitto admin"),
            args.ca_file,
            timeout_s=30.0,
        )
        targets.append(MosquittoTarget(DynsecControl(address).open()))
    emqx_url = args.emqx_url or os.environ.get("SR_EMQX_API_URL")
    if emqx_url:
        api = EmqxApi(
            emqx_url,
            _secret("SR_EMQX_API_KEY", "the EMQX API key"),
            _secret("SR_EMQX_API_SECRET", "the EMQX API secret"),
            args.ca_file,
        )
        targets.append(EmqxTarget(api))
    return targets


def _close(targets: Sequence[FleetTarget]) -> None:
    for t in targets:
        if isinstance(t, MosquittoTarget):
            t.control.close()


def cmd_fleet_provision(args: argparse.Namespace) -> int:
    kiosks = read_csv(args.csv)
    if args.ca_file is None:
        raise DeployError("--ca-file: the CA certificate the kiosks verify the broker with")
    started = time.monotonic()
    places = kiosk_places(kiosks)
    added, moved = register_in_database(_database_url(args), places)
    print(f"database: {added} kiosks registered at their stations, {moved} moved")
    targets = _targets(args)
    try:
        endpoint = BrokerEndpoint(args.kiosk_host, args.kiosk_port, args.install_dir)
        result = provision_fleet(kiosks, targets, args.bundles, endpoint, Path(args.ca_file))
    finally:
        _close(targets)
    print(
        f"{len(kiosks)} kiosks in {args.csv}: {result.summary(args.bundles)} "
        f"({time.monotonic() - started:.1f} s)"
    )
    return 0


def cmd_fleet_revoke(args: argparse.Namespace) -> int:
    names = list(args.kiosk)
    if args.list:
        names += [
            line.strip()
            for line in args.list.read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
    if not names:
        raise DeployError("name the kiosks to revoke, or give --list FILE (one id a line)")
    targets = _targets(args)
    try:
        done = revoke_fleet(names, targets, args.bundles)
    finally:
        _close(targets)
    for target, gone in done.items():
        missing = sorted(set(names) - set(gone))
        print(
            f"{target}: revoked {len(gone)} (disconnected, refused from now on)"
            + (f"; not there: {', '.join(missing)}" if missing else "")
        )
    return 0


# ----------------------------------------------------------------------------- check


def cmd_check(args: argparse.Namespace) -> int:
    inputs = CheckInputs(
        broker_conf=args.broker_conf,
        broker_host=args.broker_host,
        server_name=args.server_name,
        ca_file=args.ca_file,
        admin_password=os.environ.get("SR_MQTT_ADMIN_PASSWORD"),
        database_url=args.database_url or os.environ.get("SR_DATABASE_URL"),
        worker_health_url=args.worker_health_url,
        api_url=args.api_url,
        desk_username=args.desk_username,
        desk_password=os.environ.get(args.desk_password_env) if args.desk_username else None,
    )
    findings = run_checks(inputs)
    for f in findings:
        print(f.line())
    failed = [f for f in findings if f.status == "FAIL"]
    print(f"{len(findings)} checks, {len(failed)} failed")
    return 1 if failed else 0


# ----------------------------------------------------------------------------- parser


def _fleet_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--admin-host", default=os.environ.get("SR_MQTT_HOST", "127.0.0.1"))
    p.add_argument("--admin-port", type=int, default=int(os.environ.get("SR_MQTT_PORT", "8883")))
    p.add_argument("--ca-file", default=os.environ.get("SR_MQTT_CA_FILE") or None)
    p.add_argument("--no-mosquitto", action="store_true", help="EMQX only")
    p.add_argument("--emqx-url", default=None, help="EMQX REST API (default SR_EMQX_API_URL)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m backend.deploy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("broker-config", help="write the production Mosquitto folder")
    b.add_argument("root", type=Path, help="the broker's folder, e.g. /etc/sighting-report/broker")
    b.add_argument("--tls-dir", type=Path, required=True, help="ca.crt, server.crt, server.key")
    b.add_argument("--tls-port", type=int, default=8883)
    b.add_argument("--ws-port", type=int, default=8884, help="0: no websockets listener")
    b.add_argument("--loopback-port", type=int, default=1883, help="0: none")
    b.add_argument("--bind", default=None, help="address of the TLS listeners (default: all)")
    b.add_argument("--plugin", type=Path, default=None, help="default: found on this machine")
    b.add_argument("--user", default="mosquitto")
    b.add_argument("--log-dest", default="syslog", help="syslog, stderr or 'file PATH'")
    b.add_argument(
        "--worker",
        action="append",
        default=[],
        metavar="NAME[=PASSWORD_ENV]",
        help="a worker account (password from PASSWORD_ENV, default SR_MQTT_PASSWORD)",
    )
    b.set_defaults(run=cmd_broker_config)

    rb = sub.add_parser("restore-broker", help="put a broker backup back (broker stopped)")
    rb.add_argument("archive", type=Path)
    rb.add_argument("--broker-root", type=Path, required=True)
    rb.add_argument("--user", default="mosquitto")
    rb.set_defaults(run=cmd_restore_broker)

    for name, helptext, run in (
        ("db-prepare", "SUPERUSER STEP: owner role, database, PostGIS", cmd_db_prepare),
        ("db-drop", "SUPERUSER STEP: drop the database (restore drills)", cmd_db_drop),
    ):
        d = sub.add_parser(name, help=helptext)
        d.add_argument("--superuser-url", default=None, help="default SR_DB_SUPERUSER_URL")
        d.add_argument("--database", default="sightings")
        if name == "db-prepare":
            d.add_argument("--owner", default="sr")
            d.add_argument("--owner-password-env", default="SR_DB_PASSWORD")
        d.set_defaults(run=run)

    m = sub.add_parser("db-migrate", help="migrations as the database's owner")
    m.add_argument("--database-url", default=None, help="default SR_DATABASE_URL")
    m.add_argument("--revision", default="head")
    m.set_defaults(run=cmd_db_migrate)

    bk = sub.add_parser("backup", help="pg_dump as the owner (+ the broker's accounts)")
    bk.add_argument("--out", type=Path, required=True)
    bk.add_argument("--database-url", default=None)
    bk.add_argument("--broker-root", type=Path, default=None)
    bk.set_defaults(run=cmd_backup)

    r = sub.add_parser("restore-db", help="restore a dump into the prepared, empty database")
    r.add_argument("dump", type=Path)
    r.add_argument("--database-url", default=None)
    r.set_defaults(run=cmd_restore_db)

    u = sub.add_parser("upgrade", help="backup, then migrate forward")
    u.add_argument("--backup-dir", type=Path, required=True)
    u.add_argument("--database-url", default=None)
    u.set_defaults(run=cmd_upgrade)

    fleet = sub.add_parser("fleet", help="kiosks in bulk")
    actions = fleet.add_subparsers(dest="action", required=True)
    fp = actions.add_parser("provision", help="accounts + root-only bundles from a CSV")
    fp.add_argument("csv", type=Path, help="station_id,kiosk_id[,position]")
    fp.add_argument("--bundles", type=Path, required=True)
    fp.add_argument("--kiosk-host", required=True, help="the broker name kiosks connect to")
    fp.add_argument("--kiosk-port", type=int, default=8883)
    fp.add_argument("--install-dir", default="/etc/sighting-report")
    fp.add_argument(
        "--database-url",
        default=None,
        help="where the kiosks are registered at their stations (default SR_DATABASE_URL)",
    )
    _fleet_options(fp)
    fp.set_defaults(run=cmd_fleet_provision)
    fr = actions.add_parser("revoke", help="delete kiosks' accounts on every broker")
    fr.add_argument("kiosk", nargs="*")
    fr.add_argument("--list", type=Path, default=None)
    fr.add_argument("--bundles", type=Path, default=None)
    _fleet_options(fr)
    fr.set_defaults(run=cmd_fleet_revoke)

    c = sub.add_parser("check", help="check every part; exit 1 when one fails")
    c.add_argument("--broker-conf", type=Path, default=None)
    c.add_argument("--broker-host", default="127.0.0.1")
    c.add_argument("--server-name", default="localhost", help="the name in the certificate")
    c.add_argument("--ca-file", default=os.environ.get("SR_MQTT_CA_FILE") or None)
    c.add_argument("--database-url", default=None)
    c.add_argument("--worker-health-url", default=None)
    c.add_argument("--api-url", default=None)
    c.add_argument("--desk-username", default=None)
    c.add_argument("--desk-password-env", default="SR_DESK_PASSWORD")
    c.set_defaults(run=cmd_check)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    enforce_secrets("python -m backend.deploy")
    try:
        return int(args.run(args))
    except (DeployError, ControlError, ValueError) as exc:
        print(f"python -m backend.deploy {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
