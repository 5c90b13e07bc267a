"""Create, list, revoke and re-password accounts, on a running broker or in its file.

Two stores with the same operations:

* :class:`BrokerStore`: the running Mosquitto, through the dynamic security control API as
  the admin account (``backend.accounts.control``). Changes apply at once without a restart;
  a revoked client is disconnected at once and its next CONNECT is refused.
* :class:`FileStore`: the plugin's JSON file, for a broker that is stopped (the broker owns
  the file while it runs and would overwrite an edit on its next change).

A new account's password is generated here and returned once; only its hash is kept.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from backend.accounts.control import ControlError, DynsecControl
from backend.accounts.dynsec import (
    add_accounts,
    empty_document,
    hash_password,
    load_document,
    write_document,
)
from backend.accounts.kinds import (
    DEFAULT_SHARE_GROUP,
    Account,
    AccountKind,
    grants_for,
    role_name,
)


class AccountExistsError(ValueError):
    """The username is taken; revoke it first or choose another."""


class NoSuchAccountError(LookupError):
    """No account of that username."""


@dataclass(frozen=True, slots=True)
class AccountInfo:
    username: str
    kind: str  # an AccountKind value, or "unknown" for an account made by other tools
    roles: tuple[str, ...]
    disabled: bool = False


def generate_password() -> str:
    """24 URL-safe characters (144 bits)."""
    return secrets.token_urlsafe(18)


def own_role(rolename: str, username: str) -> bool:
    """Whether ``rolename`` is an account's own role (``<kind>:<username>``), deleted with it;
    shared roles (``worker``, ``admin``) stay."""
    return rolename.endswith(f":{username}")


def kind_of(textname: str | None, roles: tuple[str, ...]) -> str:
    """The kind recorded in the client's text name (``"<kind> <username>"``) or role."""
    known = {k.value for k in AccountKind}
    first = (textname or "").split(" ", 1)[0]
    if first in known:
        return first
    for role in roles:
        prefix = role.split(":", 1)[0]
        if prefix in known:
            return prefix
    return "unknown"


class AccountStore(Protocol):
    def create(self, account: Account) -> None: ...

    def revoke(self, username: str) -> None: ...

    def list(self) -> list[AccountInfo]: ...

    def set_password(self, username: str, password: str) -> None: ...


def provision(
    store: AccountStore, kind: AccountKind, username: str, password: str | None = None
) -> Account:
    """Create ``username`` of ``kind`` with a generated password (or ``password``); the
    returned account holds the password, which is shown once and stored nowhere."""
    account = Account(username, password or generate_password(), kind)
    store.create(account)
    return account


class BrokerStore:
    """The running broker, through an open :class:`DynsecControl`."""

    def __init__(self, control: DynsecControl, share_group: str = DEFAULT_SHARE_GROUP) -> None:
        self.control = control
        self.share_group = share_group

    def create(self, account: Account) -> None:
        if self._exists(account.username):
            raise AccountExistsError(
                f"account {account.username!r} already exists on the broker; revoke it "
                "first or choose another id"
            )
        rolename = role_name(account, self.share_group)
        acls = [g.to_json() for g in grants_for(account, self.share_group)]
        try:
            self.control.run(
                "createRole",
                rolename=rolename,
                textdescription=f"grants of a {account.kind} account (backend.accounts.kinds)",
                acls=acls,
            )
        except ControlError as exc:
            if "already exists" not in str(exc):
                raise
            if own_role(rolename, account.username):
                # a left-over own role (e.g. from a half-done revocation): make it current
                self.control.run("deleteRole", rolename=rolename)
                self.control.run("createRole", rolename=rolename, acls=acls)
        try:
            self.control.run(
                "createClient",
                username=account.username,
                password=account.password,
                textname=f"{account.kind} {account.username}",
                roles=[{"rolename": rolename}],
            )
        except ControlError as exc:
            if "already exists" in str(exc):
                raise AccountExistsError(
                    f"account {account.username!r} already exists on the broker; revoke it "
                    "first or choose another id"
                ) from None
            raise

    def _exists(self, username: str) -> bool:
        try:
            self._get(username)
        except NoSuchAccountError:
            return False
        return True

    def _get(self, username: str) -> dict[str, Any]:
        try:
            data = self.control.run("getClient", username=username)
        except ControlError as exc:
            if "not found" in str(exc).lower():
                raise NoSuchAccountError(f"no account {username!r} on the broker") from None
            raise
        client = data.get("client")
        if not isinstance(client, dict):
            raise NoSuchAccountError(f"no account {username!r} on the broker")
        return client

    def revoke(self, username: str) -> None:
        client = self._get(username)
        # deleteClient disconnects the client at once; its next CONNECT is refused
        self.control.run("deleteClient", username=username)
        for role in client.get("roles", []):
            if own_role(str(role.get("rolename")), username):
                self.control.run("deleteRole", rolename=role["rolename"])

    def list(self) -> list[AccountInfo]:
        data = self.control.run("listClients", verbose=True)
        infos = (_info(c) for c in data.get("clients", []) if isinstance(c, dict))
        return sorted(infos, key=lambda i: i.username)

    def set_password(self, username: str, password: str) -> None:
        self._get(username)
        self.control.run("setClientPassword", username=username, password=password)


def _info(client: dict[str, Any]) -> AccountInfo:
    roles = tuple(str(r.get("rolename")) for r in client.get("roles", []) if isinstance(r, dict))
    return AccountInfo(
        username=str(client.get("username")),
        kind=kind_of(client.get("textname"), roles),
        roles=roles,
        disabled=bool(client.get("disabled", False)),
    )


class FileStore:
    """The dynamic security file of a stopped broker (created when missing)."""

    def __init__(self, path: Path, share_group: str = DEFAULT_SHARE_GROUP) -> None:
        self.path = path
        self.share_group = share_group

    def _load(self) -> dict[str, Any]:
        return load_document(self.path) if self.path.exists() else empty_document()

    def create(self, account: Account) -> None:
        document = self._load()
        if not add_accounts(document, [account], share_group=self.share_group):
            raise AccountExistsError(
                f"account {account.username!r} already exists in {self.path}; revoke it first "
                "or choose another id"
            )
        write_document(self.path, document)

    def revoke(self, username: str) -> None:
        document = self._load()
        clients = document.get("clients", [])
        found = [c for c in clients if c.get("username") == username]
        if not found:
            raise NoSuchAccountError(f"no account {username!r} in {self.path}")
        document["clients"] = [c for c in clients if c.get("username") != username]
        gone = {
            str(r.get("rolename"))
            for c in found
            for r in c.get("roles", [])
            if own_role(str(r.get("rolename")), username)
        }
        document["roles"] = [r for r in document.get("roles", []) if r.get("rolename") not in gone]
        write_document(self.path, document)

    def list(self) -> list[AccountInfo]:
        infos = (_info(c) for c in self._load().get("clients", []) if isinstance(c, dict))
        return sorted(infos, key=lambda i: i.username)

    def set_password(self, username: str, password: str) -> None:
        document = self._load()
        for client in document.get("clients", []):
            if client.get("username") == username:
                hashed = hash_password(password)
                client.update(
                    password=hashed.password_b64, salt=hashed.salt_b64, iterations=hashed.iterations
                )
                write_document(self.path, document)
                return
        raise NoSuchAccountError(f"no account {username!r} in {self.path}")
