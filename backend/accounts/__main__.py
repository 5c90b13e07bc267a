"""``python -m backend.accounts``: create Mosquitto dynamic-security accounts from the shell.

```
# add what is missing (passwords are read from environment variables, never argv)
python -m backend.accounts ensure /mosquitto/data/dynamic-security.json \\
    --account admin admin SR_MQTT_ADMIN_PASSWORD \\
    --account worker backend-worker-1 SR_MQTT_PASSWORD \\
    --account kiosk kiosk-SH-013 KIOSK_PASSWORD

# what an account of a kind may do, as the plugin's ACL list (JSON)
python -m backend.accounts grants station PS-SH-013

# the same as ``mosquitto_ctrl dynsec`` arguments, for a running broker (after createClient)
python -m backend.accounts ctrl kiosk kiosk-SH-400 | while read -r args; do
    mosquitto_ctrl -p 11883 -u admin -P "$ADMIN_PASSWORD" dynsec $args; done
```

Run ``ensure`` while the broker is stopped (it owns the file while it runs); on a running
broker provision with ``mosquitto_ctrl`` as the admin account instead (``ctrl``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from backend.accounts.dynsec import DynsecFileError, ensure_accounts
from backend.accounts.kinds import DEFAULT_SHARE_GROUP, Account, AccountKind, grants_for, role_name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m backend.accounts", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    ensure = commands.add_parser("ensure", help="add missing accounts to a dynsec file")
    ensure.add_argument("file", type=Path, help="the dynamic security JSON file")
    ensure.add_argument(
        "--account",
        nargs=3,
        action="append",
        default=[],
        metavar=("KIND", "USERNAME", "PASSWORD_ENV"),
        help=f"kind ({', '.join(k.value for k in AccountKind)}), username, and the "
        "environment variable holding the password",
    )
    ensure.add_argument("--share-group", default=DEFAULT_SHARE_GROUP)
    grants = commands.add_parser("grants", help="print the ACLs of an account kind")
    grants.add_argument("kind", choices=[k.value for k in AccountKind])
    grants.add_argument("username")
    grants.add_argument("--share-group", default=DEFAULT_SHARE_GROUP)
    ctrl = commands.add_parser(
        "ctrl", help="print mosquitto_ctrl dynsec arguments giving an existing client its role"
    )
    ctrl.add_argument("kind", choices=[k.value for k in AccountKind])
    ctrl.add_argument("username")
    ctrl.add_argument("--share-group", default=DEFAULT_SHARE_GROUP)
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


def _account(kind: str, username: str, password_env: str) -> Account:
    try:
        account_kind = AccountKind(kind)
    except ValueError:
        raise SystemExit(
            f"--account {kind} {username}: unknown kind {kind!r}; "
            f"use one of {', '.join(k.value for k in AccountKind)}"
        ) from None
    password = os.environ.get(password_env)
    if not password:
        raise SystemExit(
            f"--account {kind} {username}: the environment variable {password_env} "
            "is unset or empty; export the password there"
        )
    try:
        return Account(username, password, account_kind)
    except ValueError as exc:
        raise SystemExit(f"--account {kind} {username}: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
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
    accounts = [_account(*spec) for spec in args.account]
    try:
        added = ensure_accounts(args.file, accounts, share_group=args.share_group)
    except (DynsecFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    kept = len(accounts) - len(added)
    print(f"{args.file}: added {', '.join(added) or 'nothing'}; {kept} already there, kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
