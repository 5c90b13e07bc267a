"""Accounts on a running EMQX 5 cluster through its documented REST API (``/api/v5``).

Authentication with an API key (``api_key.bootstrap_file``: ``KEY:SECRET:administrator``),
sent as HTTP basic auth. The calls (EMQX 5.8 REST API reference):

* users of the password-based built-in database authenticator
  (``password_based:built_in_database``): ``GET .../users?page=&limit=``, ``POST .../users``
  ``{"user_id", "password", "is_superuser"}`` (EMQX hashes the password with the
  authenticator's configured algorithm), ``PUT .../users/{id}`` ``{"password"}``,
  ``DELETE .../users/{id}``;
* per-username rules of the built-in database authorizer: ``POST
  /authorization/sources/built_in_database/rules/users`` with ``[{"username", "rules":
  [{"topic", "permission", "action"}]}]`` (many users in one request), ``DELETE
  .../rules/users/{username}``;
* ``DELETE /clients/{clientid}``: disconnects a connected client (404 when it is not
  connected); with ``use_username_as_clientid`` its client id is its username.

The rules are those of the Mosquitto roles (``backend.accounts.emqx.rules_for``), so both
brokers grant the same. Nothing here is tested against a live EMQX (none runs on this
machine): tests/backend/accounts/test_emqx_rest.py replays a recording of these documented calls.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backend.accounts import Account, grants_for
from backend.accounts.emqx import rules_for
from backend.deploy.files import DeployError

AUTHN = "/api/v5/authentication/password_based%3Abuilt_in_database"
AUTHZ_USERS = "/api/v5/authorization/sources/built_in_database/rules/users"
PAGE = 1000


@dataclass(frozen=True)
class EmqxApi:
    """An EMQX node's REST API (any node of the cluster: they share the built-in database)."""

    base_url: str  # e.g. https://emqx1.sr.local:18083
    key: str
    secret: str
    ca_file: str | None = None
    timeout_s: float = 10.0

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url.rstrip("/") + path, data, method=method)
        token = base64.b64encode(f"{self.key}:{self.secret}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s, context=context) as r:
                raw = r.read()
                return r.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                payload = json.loads(raw) if raw else None
            except ValueError:
                payload = raw.decode(errors="replace")
            return exc.code, payload
        except (urllib.error.URLError, OSError) as exc:
            raise DeployError(
                f"EMQX REST API at {self.base_url} unreachable ({exc}); check SR_EMQX_API_URL "
                "and that the dashboard listener (18083) is reachable from here"
            ) from None

    def expect(
        self, method: str, path: str, body: Any = None, ok: Sequence[int] = (200, 201, 204)
    ) -> Any:
        status, payload = self.call(method, path, body)
        if status == 401:
            raise DeployError(
                f"EMQX at {self.base_url} refused the API key {self.key!r} (401): check "
                "SR_EMQX_API_KEY / SR_EMQX_API_SECRET against api_key.bootstrap_file"
            )
        if status not in ok:
            raise DeployError(f"EMQX {method} {path}: HTTP {status} {payload}")
        return payload


def rest_rules(account: Account) -> list[dict[str, str]]:
    """The account's grants as EMQX built-in database rules (topics as filters)."""
    acls = [g.to_json() for g in grants_for(account)]
    return [
        {"topic": r.topic, "permission": r.permission, "action": r.action}
        for r in rules_for(account.username, acls)
    ]


class EmqxTarget:
    """The fleet's operations on EMQX (see ``backend.deploy.fleet.FleetTarget``)."""

    name = "emqx"

    def __init__(self, api: EmqxApi) -> None:
        self.api = api

    def existing(self) -> set[str]:
        names: set[str] = set()
        page = 1
        while True:
            payload = self.api.expect("GET", f"{AUTHN}/users?page={page}&limit={PAGE}")
            rows = payload.get("data", []) if isinstance(payload, dict) else []
            names.update(str(r.get("user_id")) for r in rows)
            meta = payload.get("meta", {}) if isinstance(payload, dict) else {}
            if not meta.get("hasnext"):
                return names
            page += 1

    def create_many(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            self.api.expect(
                "POST",
                f"{AUTHN}/users",
                {"user_id": account.username, "password": account.password, "is_superuser": False},
            )
        if accounts:
            self.api.expect(
                "POST",
                AUTHZ_USERS,
                [{"username": a.username, "rules": rest_rules(a)} for a in accounts],
            )

    def set_passwords(self, accounts: Sequence[Account]) -> None:
        for account in accounts:
            user = urllib.parse.quote(account.username, safe="")
            self.api.expect("PUT", f"{AUTHN}/users/{user}", {"password": account.password})

    def revoke_many(self, usernames: Sequence[str]) -> list[str]:
        gone: list[str] = []
        for username in usernames:
            user = urllib.parse.quote(username, safe="")
            status, _ = self.api.call("DELETE", f"{AUTHN}/users/{user}")
            if status not in (204, 404):
                raise DeployError(f"EMQX DELETE user {username}: HTTP {status}")
            self.api.expect("DELETE", f"{AUTHZ_USERS}/{user}", ok=(204, 404))
            # a connected client keeps its session until kicked; not connected: 404
            self.api.expect("DELETE", f"/api/v5/clients/{user}", ok=(204, 404))
            if status == 204:
                gone.append(username)
        return gone
