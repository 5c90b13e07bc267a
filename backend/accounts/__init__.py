"""Broker accounts: one per client, each of a kind that holds only its kind's topics.

``kinds`` says what each kind may publish, receive and subscribe (from ``protocol.topics``);
``dynsec`` writes them as Mosquitto's dynamic security file, adding only what is missing;
``python -m backend.accounts`` does that from the command line.
"""

from backend.accounts.dynsec import (
    DEFAULT_ACL_ACCESS,
    DynsecFileError,
    ensure_accounts,
    find_plugin,
    hash_password,
    listener_lines,
    usernames,
)
from backend.accounts.kinds import (
    DEFAULT_SHARE_GROUP,
    Account,
    AccountKind,
    AclType,
    Grant,
    grants_for,
    role_name,
)

__all__ = [
    "DEFAULT_ACL_ACCESS",
    "DEFAULT_SHARE_GROUP",
    "Account",
    "AccountKind",
    "AclType",
    "DynsecFileError",
    "Grant",
    "ensure_accounts",
    "find_plugin",
    "grants_for",
    "hash_password",
    "listener_lines",
    "role_name",
    "usernames",
]
