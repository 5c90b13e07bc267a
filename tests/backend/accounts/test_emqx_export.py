"""The cluster profile's EMQX users and ACL come from the same accounts as Mosquitto's, and
say the same thing (checked here against the Mosquitto side; no EMQX runs on this machine)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from backend.accounts import Account, AccountKind, AclType, ensure_accounts, grants_for
from backend.accounts.control import BrokerAddress, DynsecControl
from backend.accounts.dynsec import load_document
from backend.accounts.emqx import PASSWORD_HASH_HOCON, emqx_acl, emqx_users
from backend.accounts.provision import BrokerStore, provision
from tests.backend.accounts.conftest import ADMIN_PASSWORD
from tests.support.services import REPO, Mosquitto

ACCOUNTS = [
    Account("kiosk-SH-013", "kiosk-pw", AccountKind.KIOSK),
    Account("phone-1", "phone-pw", AccountKind.PHONE),
    Account("vol-1", "volunteer-pw", AccountKind.VOLUNTEER),
    Account("PS-SH-013", "station-pw", AccountKind.STATION),
    Account("backend-worker-1", "worker-pw", AccountKind.WORKER),
    Account("backend-worker-2", "worker-pw-2", AccountKind.WORKER),
    Account("admin", "admin-pw", AccountKind.ADMIN),
]
RULE = re.compile(
    r'^\{(allow|deny), \{username, "([^"]+)"\}, (publish|subscribe), \[(\{eq, )?"([^"]+)"\}?\]\}\.$'
)


def expected_rules(account: Account) -> set[tuple[str, str, str, bool]]:
    """What Mosquitto grants ``account``, read from backend.accounts.kinds, in EMQX's terms:
    (action, topic, exact); reading without subscribing has no EMQX counterpart."""
    rules: set[tuple[str, str, str, bool]] = set()
    for g in grants_for(account):
        if g.acltype is AclType.PUBLISH_SEND:
            rules.add((account.username, "publish", g.topic, False))
        elif g.acltype is AclType.SUBSCRIBE_LITERAL:
            rules.add((account.username, "subscribe", g.topic, True))
        elif g.acltype is AclType.SUBSCRIBE_PATTERN:
            topic = g.topic.split("/", 2)[2] if g.topic.startswith("$share/") else g.topic
            rules.add((account.username, "subscribe", topic, False))
    return rules


def test_emqx_acl_grants_exactly_what_mosquitto_grants(tmp_path: Path) -> None:
    path = tmp_path / "dynamic-security.json"
    ensure_accounts(path, ACCOUNTS)
    text = emqx_acl(load_document(path))
    lines = [line for line in text.splitlines() if line and not line.startswith("%%")]
    assert lines[-1] == "{deny, all}."
    parsed = set()
    for line in lines[:-1]:
        match = RULE.match(line)
        assert match, f"not an EMQX file-authorization rule: {line}"
        permission, username, action, eq, topic = match.groups()
        assert permission == "allow"
        parsed.add((username, action, topic, eq is not None))
    expected = set().union(*(expected_rules(a) for a in ACCOUNTS))
    assert parsed == expected
    # no device may subscribe to the reports at all, shared or not
    assert not {
        r for r in parsed if r[0] == "kiosk-SH-013" and "reports" in r[2] and r[1] == "subscribe"
    }
    # every rule names its account: nothing is granted to all
    assert all(r[0] in {a.username for a in ACCOUNTS} for r in parsed)


def test_emqx_users_verify_with_the_same_passwords(tmp_path: Path) -> None:
    path = tmp_path / "dynamic-security.json"
    ensure_accounts(path, ACCOUNTS)
    document = load_document(path)
    users, skipped = emqx_users(document)
    assert not skipped
    passwords = {a.username: a.password for a in ACCOUNTS}
    assert {u["user_id"] for u in users} == set(passwords)
    for user in users:
        # EMQX's check: hex(PBKDF2-HMAC-SHA512(password, salt as text, 101, 64 bytes))
        derived = hashlib.pbkdf2_hmac(
            "sha512", passwords[user["user_id"]].encode(), user["salt"].encode(), 101, 64
        )
        assert derived.hex() == user["password_hash"]
        wrong = hashlib.pbkdf2_hmac("sha512", b"guess", user["salt"].encode(), 101, 64)
        assert wrong.hex() != user["password_hash"]
        assert user["is_superuser"] is False


def test_an_account_hashed_by_mosquitto_itself_is_reported_not_exported(
    prod_broker: Mosquitto,
) -> None:
    address = BrokerAddress(
        "127.0.0.1", prod_broker.tls_port, "admin", ADMIN_PASSWORD, prod_broker.ca_file
    )
    with DynsecControl(address) as control:
        provision(BrokerStore(control), AccountKind.KIOSK, "kiosk-SH-500")
    prod_broker.stop()
    users, skipped = emqx_users(load_document(prod_broker.dynsec_path))
    assert "kiosk-SH-500" in {s.username for s in skipped}
    assert "kiosk-SH-001" in {u["user_id"] for u in users}  # written by backend.accounts


def test_the_cli_writes_both_files_and_compose_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "dynamic-security.json"
    ensure_accounts(path, ACCOUNTS)
    out = tmp_path / "emqx"
    subprocess.run(
        [sys.executable, "-m", "backend.accounts", "emqx", str(path), str(out)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    assert len(json.loads((out / "users.json").read_text())) == len(ACCOUNTS)
    assert (out / "acl.conf").read_text() == emqx_acl(load_document(path))
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    env = compose["services"]["emqx1"]["environment"]
    assert env["EMQX_AUTHENTICATION__1__BACKEND"] == "built_in_database"
    assert env["EMQX_AUTHENTICATION__1__BOOTSTRAP_TYPE"] == "hash"
    assert env["EMQX_AUTHENTICATION__1__BOOTSTRAP_FILE"].endswith("/users.json")
    assert env["EMQX_AUTHENTICATION__1__PASSWORD_HASH_ALGORITHM"] == PASSWORD_HASH_HOCON
    assert "/acl.conf" in env["EMQX_AUTHORIZATION__SOURCES"]
    assert env["EMQX_AUTHORIZATION__NO_MATCH"] == "deny"
    assert env["EMQX_MQTT__USE_USERNAME_AS_CLIENTID"] == "true"
    assert env["EMQX_LISTENERS__TCP__DEFAULT__ENABLE"] == "false"
    # fully qualified node names, resolvable inside the compose network
    for node in ("emqx1", "emqx2"):
        service = compose["services"][node]
        name = service["environment"]["EMQX_NODE__NAME"]
        assert re.fullmatch(r"emqx@emqx[12]\.sr\.local", name), name
        assert service["hostname"] == name.split("@", 1)[1]


def test_compose_runs_the_production_mosquitto_with_tls_only_from_outside() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    mosquitto = services["mosquitto"]
    assert mosquitto["command"][-1] == "/mosquitto/config/mosquitto-production.conf"
    assert sorted(mosquitto["ports"]) == ["8883:8883", "8884:8884"]
    for name in ("worker-1", "worker-2"):
        env = services[name]["environment"]
        assert env["SR_MQTT_PORT"] == "8883" and env["SR_MQTT_CA_FILE"] == "/certs/ca.crt"
        assert (
            env["SR_MQTT_USERNAME"]
            == env["SR_WORKER_CLIENT_ID"]
            == name.replace("worker-", "backend-worker-")
        )
        # each worker waits for whichever broker SR_MQTT_HOST names to accept its account
        assert services[name]["command"][0].startswith("python -m backend.accounts wait &&")
        assert "mosquitto" not in services[name]["depends_on"]
    passwords = {
        services[w]["environment"]["SR_MQTT_PASSWORD_FILE"] for w in ("worker-1", "worker-2")
    }
    assert len(passwords) == 2, "each worker has its own password (a secret file)"
    init = services["broker-init"]["command"][0]
    assert "--update-passwords" in init and "backend.accounts emqx" in init
