"""The fleet's EMQX side against a RECORDING of EMQX 5.8's documented REST API
(tests/backend/accounts/recordings/emqx-5.8-fleet.json, written from the documentation, not captured
from a live EMQX: none can run on this machine), and the same provisioning and revocation
on a real Mosquitto at once: a revocation reaches whichever broker runs."""

from __future__ import annotations

import base64
import configparser
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from backend.accounts import Account, AccountKind
from backend.accounts.control import BrokerAddress, DynsecControl
from backend.accounts.wait import try_login
from backend.deploy.emqx_rest import EmqxApi, EmqxTarget
from backend.deploy.files import DeployError
from backend.deploy.fleet import (
    BrokerEndpoint,
    Kiosk,
    MosquittoTarget,
    provision_fleet,
    revoke_fleet,
)
from tests.backend.accounts.conftest import ADMIN_PASSWORD
from tests.support.services import Mosquitto, mosquitto

RECORDING = Path(__file__).parent / "recordings" / "emqx-5.8-fleet.json"
KEY, SECRET = "fleet-key", "fleet-secret"


class Replay:
    """Serves the recorded exchanges in order; anything else is a 599 and a mismatch."""

    def __init__(self, exchanges: list[dict[str, Any]]) -> None:
        self.exchanges = exchanges
        self.position = 0
        self.mismatches: list[str] = []
        self.passwords: dict[str, str] = {}
        self.lock = threading.Lock()

    def answer(self, method: str, path: str, body: Any, auth: str | None) -> tuple[int, Any]:
        with self.lock:
            expected_auth = "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
            if auth != expected_auth:
                return 401, {"code": "BAD_API_KEY_OR_SECRET"}
            if self.position >= len(self.exchanges):
                self.mismatches.append(f"unrecorded {method} {path}")
                return 599, None
            recorded = self.exchanges[self.position]
            self.position += 1
            want = recorded["request"]
            if isinstance(body, dict) and "password" in body and "user_id" in body:
                self.passwords[body["user_id"]] = body["password"]
                body = {**body, "password": f"<{body['user_id']}>"}
            if (method, path, body) != (want["method"], want["path"], want["body"]):
                self.mismatches.append(f"{method} {path} {body!r} != recorded {want!r}")
                return 599, None
            return recorded["response"]["status"], recorded["response"]["body"]


@pytest.fixture
def emqx_replay() -> Iterator[tuple[str, Replay]]:
    replay = Replay(json.loads(RECORDING.read_text())["exchanges"])

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, payload = replay.answer(
                self.command,
                self.path,
                json.loads(raw) if raw else None,
                self.headers.get("Authorization"),
            )
            data = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server names

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", replay
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def admin_broker(tls_dir: Path) -> Iterator[Mosquitto]:
    with mosquitto(
        accounts=[Account("admin", ADMIN_PASSWORD, AccountKind.ADMIN)], tls_dir=tls_dir
    ) as b:
        yield b


def test_fleet_reaches_mosquitto_and_the_recorded_emqx_api(
    emqx_replay: tuple[str, Replay], admin_broker: Mosquitto, tmp_path: Path
) -> None:
    url, replay = emqx_replay
    assert admin_broker.ca_file is not None
    kiosks = [Kiosk("SH-001", "kiosk-SH-001"), Kiosk("SH-002", "kiosk-SH-002")]
    address = BrokerAddress(
        "127.0.0.1", admin_broker.tls_port, "admin", ADMIN_PASSWORD, admin_broker.ca_file
    )
    bundles = tmp_path / "bundles"
    endpoint = BrokerEndpoint("127.0.0.1", admin_broker.tls_port)
    with DynsecControl(address) as control:
        targets = [MosquittoTarget(control), EmqxTarget(EmqxApi(url, KEY, SECRET))]
        result = provision_fleet(kiosks, targets, bundles, endpoint, Path(admin_broker.ca_file))
        assert result.created == ["kiosk-SH-001", "kiosk-SH-002"]
        assert result.per_target == {"mosquitto": 2, "emqx": 2}
        revoke_fleet(["kiosk-SH-002"], targets, bundles)
    assert replay.mismatches == [] and replay.position == len(replay.exchanges)
    # EMQX got the same passwords the bundles hold (and Mosquitto accepts)
    ini = configparser.ConfigParser()
    ini.read(bundles / "kiosk-SH-001" / "kiosk.ini")
    password = ini.get("device", "password")
    assert replay.passwords["kiosk-SH-001"] == password
    ca = admin_broker.ca_file
    port = admin_broker.tls_port
    assert try_login("127.0.0.1", port, "kiosk-SH-001", password, ca, 5) is None
    revoked_password = replay.passwords["kiosk-SH-002"]
    refused = try_login("127.0.0.1", port, "kiosk-SH-002", revoked_password, ca, 5)
    assert refused == "CONNACK Not authorized"


def test_a_wrong_api_key_is_named(emqx_replay: tuple[str, Replay]) -> None:
    url, _ = emqx_replay
    with pytest.raises(DeployError, match="refused the API key 'wrong'"):
        EmqxTarget(EmqxApi(url, "wrong", "nope")).existing()
