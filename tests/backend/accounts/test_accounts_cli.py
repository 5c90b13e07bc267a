"""backend.accounts without a broker: the file it writes, what it refuses, the CLI.
(The broker's view of the same accounts is tests/backend/test_broker_identity.py.)"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.accounts import (
    DEFAULT_ACL_ACCESS,
    Account,
    AccountKind,
    DynsecFileError,
    ensure_accounts,
    grants_for,
    usernames,
)

REPO = Path(__file__).resolve().parents[3]


def test_a_new_file_denies_by_default_and_stores_pbkdf2_hashes(tmp_path: Path) -> None:
    path = tmp_path / "dynsec.json"
    assert ensure_accounts(path, [Account("kiosk-SH-013", "secret", AccountKind.KIOSK)]) == [
        "kiosk-SH-013"
    ]
    document = json.loads(path.read_text())
    assert document["defaultACLAccess"] == DEFAULT_ACL_ACCESS
    assert not any(DEFAULT_ACL_ACCESS[k] for k in ("publishClientSend", "subscribe"))
    (client,) = document["clients"]
    salt = base64.b64decode(client["salt"])
    expected = hashlib.pbkdf2_hmac("sha512", b"secret", salt, client["iterations"])
    assert base64.b64decode(client["password"]) == expected and len(salt) == 12
    assert client["roles"] == [{"rolename": "kiosk:kiosk-SH-013"}]
    assert path.stat().st_mode & 0o077 == 0, "passwords hashes are for the owner only"


def test_each_device_role_names_only_its_own_id(tmp_path: Path) -> None:
    for kind in (AccountKind.KIOSK, AccountKind.PHONE, AccountKind.VOLUNTEER, AccountKind.STATION):
        grants = grants_for(Account("me-1", "pw", kind))
        assert grants and all("/me-1/" in g.topic for g in grants), kind
        assert not any("$share" in g.topic or "#" in g.topic for g in grants), kind


def test_workers_share_one_role_and_existing_roles_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "dynsec.json"
    ensure_accounts(path, [Account("backend-worker-1", "a", AccountKind.WORKER)])
    document = json.loads(path.read_text())
    document["roles"][0]["acls"].append({"acltype": "publishClientSend", "topic": "x"})
    path.write_text(json.dumps(document))
    ensure_accounts(path, [Account("backend-worker-2", "b", AccountKind.WORKER)])
    document = json.loads(path.read_text())
    assert [r["rolename"] for r in document["roles"]] == ["worker"]
    assert {"acltype": "publishClientSend", "topic": "x"} in document["roles"][0]["acls"]
    assert usernames(path) == {"backend-worker-1", "backend-worker-2"}


def test_bad_input_is_refused_with_what_to_do(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DynsecFileError, match=r"broken\.json.*move it away"):
        ensure_accounts(broken, [Account("vol-1", "pw", AccountKind.VOLUNTEER)])
    twice = [Account("vol-1", "a", AccountKind.VOLUNTEER)] * 2
    with pytest.raises(ValueError, match="listed twice: vol-1"):
        ensure_accounts(tmp_path / "new.json", twice)
    with pytest.raises(ValueError, match="not a valid identifier"):
        Account("kiosk/#", "pw", AccountKind.KIOSK)
    with pytest.raises(ValueError, match="empty password"):
        Account("kiosk-1", "", AccountKind.KIOSK)


def test_the_cli_reads_passwords_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "dynsec.json"
    cmd = [sys.executable, "-m", "backend.accounts", "ensure", str(path)]
    env = dict(os.environ, WORKER_PW="w-secret")
    args = ["--account", "worker", "backend-worker-1", "WORKER_PW"]
    done = subprocess.run([*cmd, *args], env=env, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "added backend-worker-1" in done.stdout
    again = subprocess.run([*cmd, *args], env=env, cwd=REPO, capture_output=True, text=True)
    assert "added nothing; 1 already there, kept" in again.stdout
    unset = ["--account", "kiosk", "kiosk-1", "NO_SUCH_VARIABLE_SET"]
    refused = subprocess.run([*cmd, *unset], cwd=REPO, capture_output=True, text=True)
    assert refused.returncode != 0 and "NO_SUCH_VARIABLE_SET is unset" in refused.stderr
    assert usernames(path) == {"backend-worker-1"}


# --------------------------------------------------------------------------- issue #13


def test_salts_are_ascii_text_so_emqx_can_take_the_same_hash() -> None:
    from backend.accounts.dynsec import hash_password

    for _ in range(50):
        salt = base64.b64decode(hash_password("pw").salt_b64)
        assert len(salt) == 12 and all(0x21 <= b < 0x7F for b in salt), salt


def test_update_passwords_changes_only_listed_accounts_with_another_password(
    tmp_path: Path,
) -> None:
    from backend.accounts.dynsec import password_matches, update_passwords

    path = tmp_path / "dynsec.json"
    worker = Account("backend-worker-1", "old", AccountKind.WORKER)
    kiosk = Account("kiosk-SH-001", "kiosk-pw", AccountKind.KIOSK)
    ensure_accounts(path, [worker, kiosk])
    before = json.loads(path.read_text())
    assert update_passwords(path, [worker]) == []  # same password: untouched
    assert json.loads(path.read_text()) == before
    changed = Account("backend-worker-1", "new", AccountKind.WORKER)
    assert update_passwords(path, [changed]) == ["backend-worker-1"]
    clients = {c["username"]: c for c in json.loads(path.read_text())["clients"]}
    assert password_matches(clients["backend-worker-1"], "new")
    assert not password_matches(clients["backend-worker-1"], "old")
    assert clients["kiosk-SH-001"] == next(
        c for c in before["clients"] if c["username"] == "kiosk-SH-001"
    )


def test_the_file_store_revokes_an_account_and_its_own_role_only(tmp_path: Path) -> None:
    from backend.accounts.provision import (
        AccountExistsError,
        FileStore,
        NoSuchAccountError,
        provision,
    )

    store = FileStore(tmp_path / "dynsec.json")
    for name in ("backend-worker-1", "backend-worker-2"):
        provision(store, AccountKind.WORKER, name)
    kiosk = provision(store, AccountKind.KIOSK, "kiosk-SH-001")
    assert len(kiosk.password) >= 20
    with pytest.raises(AccountExistsError):
        provision(store, AccountKind.KIOSK, "kiosk-SH-001")
    store.revoke("kiosk-SH-001")
    store.revoke("backend-worker-1")
    with pytest.raises(NoSuchAccountError):
        store.revoke("kiosk-SH-001")
    document = json.loads(store.path.read_text())
    assert {r["rolename"] for r in document["roles"]} == {"worker"}  # shared role stays
    assert [(i.username, i.kind) for i in store.list()] == [("backend-worker-2", "worker")]


def test_emqx_rules_translate_each_acl_type() -> None:
    from backend.accounts.emqx import AclRule, rules_for, unshared

    assert unshared("$share/backend/sr/v1/devices/+/reports") == "sr/v1/devices/+/reports"
    assert unshared("sr/v1/devices/+/reports") == "sr/v1/devices/+/reports"
    rules = rules_for(
        "w",
        [
            {"acltype": "publishClientSend", "topic": "a/+", "allow": True},
            {"acltype": "subscribeLiteral", "topic": "b/#", "allow": True},
            {"acltype": "subscribePattern", "topic": "$share/g/c/+", "allow": True},
            {"acltype": "subscribePattern", "topic": "c/+", "allow": True},
            {"acltype": "publishClientReceive", "topic": "c/+", "allow": True},
            {"acltype": "publishClientSend", "topic": "d", "allow": False},
        ],
    )
    assert rules == [
        AclRule("allow", "w", "publish", "a/+"),
        AclRule("allow", "w", "subscribe", "b/#", exact=True),
        AclRule("allow", "w", "subscribe", "c/+"),
        AclRule("deny", "w", "publish", "d"),
    ]
    assert rules[1].render() == '{allow, {username, "w"}, subscribe, [{eq, "b/#"}]}.'
