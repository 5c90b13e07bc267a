"""``python -m backend.people``: people's accounts and API tokens from the shell.

```
# the password is read from the environment variable named (never argv), else prompted
python -m backend.people person create USERNAME --role police --station PS-1 [--station ...] \
    [--password-env VAR]
python -m backend.people token create USERNAME --label "nightly export" [--days 90]
python -m backend.people token list USERNAME
python -m backend.people token revoke TOKEN_ID
```

``create`` prints the token once (only its SHA-256 is stored): send it as
``Authorization: Bearer <token>``; it reads exactly what its person may. The database is
SR_DATABASE_URL's unless ``--database-url`` is given. Exit status: 0 done, 1 refused (the
message says why), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from backend.auth.subject import Role
from backend.db.engine import make_engine, make_sessionmaker
from backend.people.api_tokens import create_api_token, list_api_tokens, revoke_api_token
from backend.people.models import PersonApiToken
from backend.people.service import PeopleError, create_person
from backend.settings import get_settings


def _state(row: PersonApiToken, now: datetime) -> str:
    if row.revoked_at is not None:
        return f"revoked {row.revoked_at:%Y-%m-%d %H:%M}Z"
    if row.expires_at is not None and row.expires_at <= now:
        return f"expired {row.expires_at:%Y-%m-%d %H:%M}Z"
    if row.expires_at is not None:
        return f"valid until {row.expires_at:%Y-%m-%d %H:%M}Z"
    return "valid until revoked"


def _person(session: Session, args: argparse.Namespace, now: datetime) -> str:
    if args.password_env:
        password = os.environ.get(args.password_env)
        if not password:
            raise PeopleError(f"the environment variable {args.password_env} is unset or empty")
    else:
        password = getpass.getpass(f"password of {args.username}: ")
    role = Role(args.role)
    create_person(
        session,
        username=args.username,
        password=password,
        role=role,
        now=now,
        display_name=args.display_name,
        station_ids=tuple(args.station),
    )
    stations = f" serving {', '.join(sorted(set(args.station)))}" if args.station else ""
    return f"{role.value} {args.username} created{stations}"


def _create(session: Session, args: argparse.Namespace, now: datetime) -> str:
    valid_for = timedelta(days=args.days) if args.days is not None else None
    row, secret = create_api_token(session, args.username, args.label, now, valid_for)
    return (
        f"API token {row.token_id} of {row.username} ({row.label!r}, {_state(row, now)}).\n"
        f"It is shown once, only now; send it as 'Authorization: Bearer <token>':\n{secret}"
    )


def _list(session: Session, args: argparse.Namespace, now: datetime) -> str:
    rows = list_api_tokens(session, args.username)
    if not rows:
        return f"{args.username} has no API tokens"
    return "\n".join(
        f"{r.token_id}  {r.created_at:%Y-%m-%d %H:%M}Z  {_state(r, now):<30}  {r.label}"
        for r in rows
    )


def _revoke(session: Session, args: argparse.Namespace, now: datetime) -> str:
    row = revoke_api_token(session, args.token_id, now)
    return f"API token {row.token_id} of {row.username} is revoked ({_state(row, now)})"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m backend.people",
        description="People's API tokens: create (the secret is printed once), list, revoke.",
    )
    p.add_argument("--database-url", default=None, help="default: SR_DATABASE_URL")
    things = p.add_subparsers(dest="thing", required=True)
    person = things.add_parser("person", help="people's accounts")
    person_actions = person.add_subparsers(dest="action", required=True)
    new_person = person_actions.add_parser("create", help="a new account")
    new_person.add_argument("username")
    new_person.add_argument("--role", required=True, choices=[r.value for r in Role])
    new_person.add_argument(
        "--station", action="append", default=[], help="a station a police account serves"
    )
    new_person.add_argument("--display-name", default=None)
    new_person.add_argument(
        "--password-env", default=None, help="read the password from this variable"
    )
    new_person.set_defaults(run=_person)
    token = things.add_parser("token", help="a person's API tokens")
    actions = token.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="a new token; its secret is printed once")
    create.add_argument("username")
    create.add_argument("--label", required=True, help="what the token is for")
    create.add_argument(
        "--days", type=float, default=None, help="valid for this many days (default: until revoked)"
    )
    create.set_defaults(run=_create)
    listing = actions.add_parser("list", help="a person's tokens, revoked ones too")
    listing.add_argument("username")
    listing.set_defaults(run=_list)
    revoke = actions.add_parser("revoke", help="revoke a token by its id (tok-...)")
    revoke.add_argument("token_id")
    revoke.set_defaults(run=_revoke)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    engine = make_engine(args.database_url or get_settings().database_url)
    now = datetime.now(UTC)
    try:
        with make_sessionmaker(engine).begin() as session:
            print(args.run(session, args, now))
    except PeopleError as exc:
        print(f"python -m backend.people: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
