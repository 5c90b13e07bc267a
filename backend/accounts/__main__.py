"""``python -m backend.accounts``: create Mosquitto dynamic-security accounts from the shell.

```
# add what is missing (passwords are read from environment variables, never argv)
python -m backend.accounts ensure /mosquitto/data/dynamic-security.json [--update-passwords] \\
    --account admin admin SR_MQTT_ADMIN_PASSWORD \\
    --account worker backend-worker-1 SR_MQTT_PASSWORD \\
    --account kiosk kiosk-SH-013 KIOSK_PASSWORD

# what an account of a kind may do, as the plugin's ACL list (JSON)
python -m backend.accounts grants station PS-SH-013

# the same as ``mosquitto_ctrl dynsec`` arguments, for a running broker (after createClient)
python -m backend.accounts ctrl kiosk kiosk-SH-400 | while read -r args; do
    mosquitto_ctrl -p 11883 -u admin -P "$ADMIN_PASSWORD" dynsec $args; done

# on a running broker, as the admin account (no restart; the password is printed once)
export SR_MQTT_ADMIN_PASSWORD=...
python -m backend.accounts create kiosk kiosk-SH-400 --host broker --port 8883 --ca-file ca.crt
python -m backend.accounts list --host broker --port 8883 --ca-file ca.crt
python -m backend.accounts revoke kiosk-SH-400 --host broker --port 8883 --ca-file ca.crt
NEW=... python -m backend.accounts passwd backend-worker-1 NEW --host ...
# the same on a stopped broker's file: --file /mosquitto/data/dynamic-security.json

# the cluster profile's EMQX users and ACL from the same accounts
python -m backend.accounts emqx /mosquitto/data/dynamic-security.json /emqx-auth
# wait until a broker accepts an account (docker-compose: workers start after this)
python -m backend.accounts wait --host emqx1.sr.local --port 8883 --username backend-worker-1 \
    --password-env SR_MQTT_PASSWORD --ca-file ca.crt
```

``ensure`` and ``--file`` edit the file: run them while the broker is stopped (it owns the
file while it runs). ``create``, ``list``, ``revoke`` and ``passwd`` without ``--file`` talk
to the running broker through ``$CONTROL/dynamic-security`` (defaults from SR_MQTT_HOST,
SR_MQTT_PORT, SR_MQTT_CA_FILE; the admin password from SR_MQTT_ADMIN_PASSWORD).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from backend.accounts.control import BrokerAddress, ControlError, DynsecControl
from backend.accounts.dynsec import (
    DynsecFileError,
    ensure_accounts,
    load_document,
    update_passwords,
)
from backend.accounts.emqx import write_emqx_files
from backend.accounts.kinds import DEFAULT_SHARE_GROUP, Account, AccountKind, grants_for, role_name
from backend.accounts.production import COMPOSE_PATHS, render
from backend.accounts.provision import (
    AccountExistsError,
    AccountStore,
    BrokerStore,
    FileStore,
    NoSuchAccountError,
    provision,
)
from backend.accounts.wait import wait_for_login
from backend.secret_env import enforce as enforce_secrets

KINDS = [k.value for k in AccountKind]


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", type=Path, help="edit this dynamic security file (broker stopped) instead"
    )
    parser.add_argument("--host", default=os.environ.get("SR_MQTT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("SR_MQTT_PORT", "1883")))
    parser.add_argument("--admin-user", default="admin")
    parser.add_argument(
        "--admin-password-env",
        default="SR_MQTT_ADMIN_PASSWORD",
        help="environment variable holding the admin password",
    )
    parser.add_argument(
        "--ca-file",
        default=os.environ.get("SR_MQTT_CA_FILE") or None,
        help="CA certificate for TLS (default SR_MQTT_CA_FILE; none: plain MQTT)",
    )
    parser.add_argument("--share-group", default=DEFAULT_SHARE_GROUP)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m backend.accounts",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)
    ensure = commands.add_parser("ensure", help="add missing accounts to a dynsec file")
    ensure.add_argument("file", type=Path, help="the dynamic security JSON file")
    ensure.add_argument(
        "--account",
        nargs=3,
        action="append",
        default=[],
        metavar=("KIND", "USERNAME", "PASSWORD_ENV"),
        help=f"kind ({', '.join(KINDS)}), username, and the "
        "environment variable holding the password",
    )
    ensure.add_argument(
        "--update-passwords",
        action="store_true",
        help="also give listed accounts that exist with another password the one given",
    )
    ensure.add_argument("--share-group", default=DEFAULT_SHARE_GROUP)
    grants = commands.add_parser("grants", help="print the ACLs of an account kind")
    grants.add_argument("kind", choices=KINDS)
    grants.add_argument("username")
    grants.add_argument("--share-group", default=DEFAULT_SHARE_GROUP)
    ctrl = commands.add_parser(
        "ctrl", help="print mosquitto_ctrl dynsec arguments giving an existing client its role"
    )
    ctrl.add_argument("kind", choices=KINDS)
    ctrl.add_argument("username")
    ctrl.add_argument("--share-group", default=DEFAULT_SHARE_GROUP)
    create = commands.add_parser(
        "create", help="create an account with a generated password, printed once"
    )
    create.add_argument("kind", choices=KINDS)
    create.add_argument("username")
    create.add_argument("--json", action="store_true", help="print the credentials as JSON")
    _target_options(create)
    listing = commands.add_parser("list", help="list the accounts")
    listing.add_argument("--json", action="store_true")
    _target_options(listing)
    revoke = commands.add_parser(
        "revoke", help="delete an account: disconnected at once, refused from then on"
    )
    revoke.add_argument("username")
    _target_options(revoke)
    passwd = commands.add_parser("passwd", help="set an account's password")
    passwd.add_argument("username")
    passwd.add_argument("password_env", help="environment variable holding the new password")
    _target_options(passwd)
    emqx = commands.add_parser(
        "emqx", help="write EMQX's users.json (bootstrap) and acl.conf from a dynsec file"
    )
    emqx.add_argument("file", type=Path)
    emqx.add_argument("out_dir", type=Path)
    conf = commands.add_parser(
        "production-conf", help="print the production mosquitto.conf (docker-compose paths)"
    )
    del conf
    wait = commands.add_parser("wait", help="wait until a broker accepts an account's login")
    wait.add_argument("--host", default=os.environ.get("SR_MQTT_HOST", "127.0.0.1"))
    wait.add_argument("--port", type=int, default=int(os.environ.get("SR_MQTT_PORT", "1883")))
    wait.add_argument("--username", default=os.environ.get("SR_MQTT_USERNAME"))
    wait.add_argument("--password-env", default="SR_MQTT_PASSWORD")
    wait.add_argument("--ca-file", default=os.environ.get("SR_MQTT_CA_FILE") or None)
    wait.add_argument("--timeout", type=float, default=300.0)
    return parser


def ctrl_lines(account: Account, share_group: str = DEFAULT_SHARE_GROUP) -> list[str]:
    """``mosquitto_ctrl dynsec`` arguments, one command a line: create the account's role
    with its grants and give it to the client (create the client first: ``createClient``).
    Topics never contain spaces (identifiers are ``[A-Za-z0-9_.-]``), so a shell can split
    the lines on blanks."""
    rolename = role_name(account, share_group)
    return [
        f"createRole {rolename}",
        *(
            f"addRoleACL {rolename} {g.acltype} {g.topic} allow"
            for g in grants_for(account, share_group)
        ),
        f"addClientRole {account.username} {rolename}",
    ]


def _secret(env: str, what: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise SystemExit(f"{what}: the environment variable {env} is unset or empty; export it")
    return value


def _account(kind: str, username: str, password_env: str) -> Account:
    try:
        account_kind = AccountKind(kind)
    except ValueError:
        raise SystemExit(
            f"--account {kind} {username}: unknown kind {kind!r}; use one of {', '.join(KINDS)}"
        ) from None
    password = _secret(password_env, f"--account {kind} {username}")
    try:
        return Account(username, password, account_kind)
    except ValueError as exc:
        raise SystemExit(f"--account {kind} {username}: {exc}") from None


def _run_on_store(args: argparse.Namespace) -> int:
    """create / list / revoke / passwd on the file or the running broker."""
    if args.file is not None:
        return _store_command(args, FileStore(args.file, args.share_group))
    address = BrokerAddress(
        args.host,
        args.port,
        args.admin_user,
        _secret(args.admin_password_env, f"admin account {args.admin_user}"),
        args.ca_file,
    )
    with DynsecControl(address) as control:
        return _store_command(args, BrokerStore(control, args.share_group))


def _store_command(args: argparse.Namespace, store: AccountStore) -> int:
    if args.command == "create":
        account = provision(store, AccountKind(args.kind), args.username)
        if args.json:
            print(json.dumps({"username": account.username, "password": account.password}))
        else:
            print(f"created {account.kind} {account.username}")
            print(f"username and client id: {account.username}")
            print(f"password (shown once, not stored): {account.password}")
    elif args.command == "list":
        infos = store.list()
        if args.json:
            print(json.dumps([{**vars_of(i)} for i in infos]))
        else:
            for i in infos:
                state = "disabled" if i.disabled else "enabled"
                print("\t".join((i.username, i.kind, ",".join(i.roles), state)))
    elif args.command == "revoke":
        store.revoke(args.username)
        print(f"revoked {args.username}: disconnected and refused from now on")
    elif args.command == "passwd":
        store.set_password(args.username, _secret(args.password_env, args.username))
        print(f"password of {args.username} set")
    return 0


def vars_of(info: object) -> dict[str, object]:
    return {k: getattr(info, k) for k in ("username", "kind", "roles", "disabled")}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    enforce_secrets("python -m backend.accounts")  # *_FILE read; change-me refused
    try:
        return _main(args)
    except (
        ControlError,
        DynsecFileError,
        AccountExistsError,
        NoSuchAccountError,
        TimeoutError,
    ) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    if args.command == "ctrl":
        account = Account(args.username, "unused", AccountKind(args.kind))
        print("\n".join(ctrl_lines(account, args.share_group)))
        return 0
    if args.command == "grants":
        account = Account(args.username, "unused", AccountKind(args.kind))
        role = {
            "rolename": role_name(account, args.share_group),
            "acls": [g.to_json() for g in grants_for(account, args.share_group)],
        }
        print(json.dumps(role, indent=1))
        return 0
    if args.command in ("create", "list", "revoke", "passwd"):
        return _run_on_store(args)
    if args.command == "emqx":
        skipped = write_emqx_files(load_document(args.file), args.out_dir)
        for s in skipped:
            print(f"not exported: {s.username}: {s.reason}", file=sys.stderr)
        print(f"{args.out_dir}: users.json, acl.conf ({len(skipped)} accounts not exported)")
        return 0
    if args.command == "production-conf":
        sys.stdout.write(render(COMPOSE_PATHS))
        return 0
    if args.command == "wait":
        if not args.username:
            raise SystemExit("wait: give --username (or set SR_MQTT_USERNAME)")
        password = _secret(args.password_env, f"account {args.username}")
        started = time.monotonic()
        wait_for_login(args.host, args.port, args.username, password, args.ca_file, args.timeout)
        print(
            f"{args.host}:{args.port} accepts {args.username} "
            f"(after {time.monotonic() - started:.1f} s)"
        )
        return 0
    accounts = [_account(*spec) for spec in args.account]
    added = ensure_accounts(args.file, accounts, share_group=args.share_group)
    kept = len(accounts) - len(added)
    message = f"{args.file}: added {', '.join(added) or 'nothing'}; {kept} already there, kept"
    if args.update_passwords:
        changed = update_passwords(args.file, accounts)
        message += f"; password changed for {', '.join(changed) or 'none'}"
    print(message)
    return 0


if __name__ == "__main__":
    sys.exit(main())
