"""Accounts as the configuration file of Mosquitto's dynamic security plugin.

The plugin keeps clients (username, password hash, roles), roles (ACL lists) and default
access in one JSON file, which it loads at start and rewrites when it is changed through
``$CONTROL/dynamic-security/#`` (``mosquitto_ctrl dynsec ...``). This module writes that file:

* :func:`ensure_accounts` adds the accounts that are missing and never touches the others, so
  an account provisioned later by hand (or a changed password) survives every restart of
  ``make run``;
* passwords are stored as the plugin expects: PBKDF2-HMAC-SHA512 over the password with a
  random 12-byte salt, both base64-encoded, and the iteration count. The salt's bytes are
  URL-safe ASCII characters, so the same hash also works in EMQX's built-in database (whose
  import takes the salt as text; ``backend.accounts.emqx``);
* the default access is deny for publishing, receiving and subscribing: an account can do
  only what its kind's grants say (``backend.accounts.kinds``).

Edit the file only while the broker is stopped (the broker owns it while it runs); with the
broker running, use ``mosquitto_ctrl`` as the admin account.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from backend.accounts.kinds import DEFAULT_SHARE_GROUP, Account, grants_for, role_name

#: ``mosquitto_ctrl dynsec`` writes 101 iterations; the broker reads the count per client.
DEFAULT_ITERATIONS: Final = 101
SALT_BYTES: Final = 12

#: Deny by default: nothing is published, delivered or subscribed unless a role grants it.
DEFAULT_ACL_ACCESS: Final = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}

#: Where Debian/Ubuntu (multiarch) and the eclipse-mosquitto image install the plugin.
PLUGIN_GLOBS: Final = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
)


class DynsecFileError(ValueError):
    """The dynamic security file cannot be read as one; says which file and what is wrong."""


@dataclass(frozen=True, slots=True)
class PasswordHash:
    password_b64: str
    salt_b64: str
    iterations: int


def hash_password(
    password: str, *, salt: bytes | None = None, iterations: int = DEFAULT_ITERATIONS
) -> PasswordHash:
    """The plugin's password form: base64 of PBKDF2-HMAC-SHA512(password, salt, iterations)."""
    salt = secrets.token_urlsafe(SALT_BYTES).encode("ascii")[:SALT_BYTES] if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return PasswordHash(
        base64.b64encode(digest).decode("ascii"),
        base64.b64encode(salt).decode("ascii"),
        iterations,
    )


def password_matches(client: dict[str, Any], password: str) -> bool:
    """Whether ``password`` is the one hashed in a client entry of the file."""
    try:
        salt = base64.b64decode(client["salt"])
        stored = base64.b64decode(client["password"])
        iterations = int(client["iterations"])
    except (KeyError, TypeError, ValueError):
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return secrets.compare_digest(digest, stored)


def client_entry(
    account: Account, rolename: str, iterations: int = DEFAULT_ITERATIONS
) -> dict[str, Any]:
    hashed = hash_password(account.password, iterations=iterations)
    return {
        "username": account.username,
        "textname": f"{account.kind} {account.username}",
        "roles": [{"rolename": rolename}],
        "password": hashed.password_b64,
        "salt": hashed.salt_b64,
        "iterations": hashed.iterations,
    }


def role_entry(rolename: str, account: Account, share_group: str) -> dict[str, Any]:
    return {
        "rolename": rolename,
        "textdescription": f"grants of a {account.kind} account (backend.accounts.kinds)",
        "acls": [g.to_json() for g in grants_for(account, share_group)],
    }


def empty_document() -> dict[str, Any]:
    return {
        "defaultACLAccess": dict(DEFAULT_ACL_ACCESS),
        "clients": [],
        "groups": [],
        "roles": [],
    }


def add_accounts(
    document: dict[str, Any],
    accounts: Iterable[Account],
    *,
    share_group: str = DEFAULT_SHARE_GROUP,
    iterations: int = DEFAULT_ITERATIONS,
) -> list[str]:
    """Add to ``document`` (in place) every account whose username it lacks, with its role
    when that role is missing too. Existing clients and roles are left exactly as they are.
    Returns the usernames added."""
    clients: list[dict[str, Any]] = document.setdefault("clients", [])
    roles: list[dict[str, Any]] = document.setdefault("roles", [])
    known_clients = {c.get("username") for c in clients}
    known_roles = {r.get("rolename") for r in roles}
    added: list[str] = []
    for account in accounts:
        if account.username in known_clients:
            continue
        rolename = role_name(account, share_group)
        if rolename not in known_roles:
            roles.append(role_entry(rolename, account, share_group))
            known_roles.add(rolename)
        clients.append(client_entry(account, rolename, iterations))
        known_clients.add(account.username)
        added.append(account.username)
    return added


def load_document(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DynsecFileError(
            f"{path}: not a readable dynamic security file ({exc}); fix it or move it away "
            "to have a new one created"
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("clients", []), list):
        raise DynsecFileError(
            f"{path}: expected a JSON object with a 'clients' list (Mosquitto's dynamic "
            "security format); fix it or move it away to have a new one created"
        )
    return document


def write_document(path: Path, document: dict[str, Any]) -> None:
    """Write atomically (a reader never sees half a file), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1)
            out.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure_accounts(
    path: Path,
    accounts: Sequence[Account],
    *,
    share_group: str = DEFAULT_SHARE_GROUP,
    iterations: int = DEFAULT_ITERATIONS,
) -> list[str]:
    """Make sure every account in ``accounts`` exists in the dynamic security file at ``path``.

    The file is created (deny by default) when missing. Accounts already in it are kept as
    they are, password included; nothing is removed. Returns the usernames added (the file
    is rewritten only when that list is not empty).
    """
    names = [a.username for a in accounts]
    duplicates = sorted(n for n, times in Counter(names).items() if times > 1)
    if duplicates:
        raise ValueError(f"accounts listed twice: {', '.join(duplicates)}; give each one once")
    exists = path.exists()
    document = load_document(path) if exists else empty_document()
    added = add_accounts(document, accounts, share_group=share_group, iterations=iterations)
    if added or not exists:
        write_document(path, document)
    return added


def update_passwords(
    path: Path, accounts: Sequence[Account], iterations: int = DEFAULT_ITERATIONS
) -> list[str]:
    """Set the password of every account in ``accounts`` that exists in the file at ``path``
    with another password (e.g. a changed ``SR_MQTT_PASSWORD`` of a worker), so the account
    is not locked out. Only for a stopped broker; on a running one use
    ``python -m backend.accounts passwd``. Returns the usernames changed."""
    if not path.exists():
        return []
    document = load_document(path)
    wanted = {a.username: a.password for a in accounts}
    changed: list[str] = []
    for client in document.get("clients", []):
        name = client.get("username")
        if name in wanted and not password_matches(client, wanted[name]):
            hashed = hash_password(wanted[name], iterations=iterations)
            client.update(
                password=hashed.password_b64, salt=hashed.salt_b64, iterations=hashed.iterations
            )
            changed.append(str(name))
    if changed:
        write_document(path, document)
    return changed


def usernames(path: Path) -> set[str]:
    """The usernames in the dynamic security file at ``path``."""
    return {str(c.get("username")) for c in load_document(path).get("clients", [])}


def find_plugin() -> Path:
    """The installed ``mosquitto_dynamic_security.so``, or a FileNotFoundError saying what
    to install."""
    for pattern in PLUGIN_GLOBS:
        found = sorted(Path("/").glob(pattern.lstrip("/")))
        if found:
            return found[0]
    raise FileNotFoundError(
        "mosquitto_dynamic_security.so not found under "
        f"{', '.join(PLUGIN_GLOBS)}: install Mosquitto 2.x (apt-get install mosquitto)"
    )


def listener_lines(config_file: Path, plugin: Path | None = None) -> list[str]:
    """The mosquitto.conf lines that put a listener under these accounts: the plugin and its
    file, no anonymous clients, and the username as client id (so no client can take
    another account's client id, a worker's included). Put them after ``listener``."""
    return [
        f"plugin {plugin or find_plugin()}",
        f"plugin_opt_config_file {config_file}",
        "allow_anonymous false",
        "use_username_as_clientid true",
    ]
