"""``python -m backend.deploy check``: is the deployment whole? One line per finding.

The worker is checked through its readiness (``/readyz``: connected, subscribed, database
reachable), never by logging in with its account: the username is the client id, so a
second login would push the running worker off the broker.

Each check answers ok, WARN or FAIL with what to do; the command exits 1 when any fails.
"""

from __future__ import annotations

import json
import socket
import ssl
import struct
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory

from backend.accounts.control import BrokerAddress, ControlError, DynsecControl
from backend.db.migrate import alembic_config
from backend.deploy import database
from backend.deploy.files import DeployError


@dataclass(frozen=True)
class Finding:
    status: str  # ok, WARN, FAIL
    what: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.what}: {self.detail}"


@dataclass(frozen=True)
class Listener:
    port: int
    address: str | None
    tls: bool
    websockets: bool


def listeners(conf: Path) -> list[Listener]:
    """The listeners of a mosquitto.conf, with whether each has TLS and websockets."""
    found: list[Listener] = []
    current: dict[str, object] | None = None

    def close() -> None:
        if current is not None:
            found.append(Listener(**current))  # type: ignore[arg-type]

    for raw in conf.read_text(encoding="utf-8").splitlines():
        words = raw.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0] == "listener":
            close()
            current = {
                "port": int(words[1]),
                "address": words[2] if len(words) > 2 else None,
                "tls": False,
                "websockets": False,
            }
        elif current is not None and words[0] == "certfile":
            current["tls"] = True
        elif current is not None and words[:2] == ["protocol", "websockets"]:
            current["websockets"] = True
    close()
    return found


def listening_addresses(port: int) -> set[str]:
    """Local addresses on which something listens on TCP ``port`` (from /proc/net/tcp*)."""
    addresses: set[str] = set()
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            if state != "0A":  # LISTEN
                continue
            host_hex, port_hex = local.split(":")
            if int(port_hex, 16) != port:
                continue
            raw = bytes.fromhex(host_hex)
            if width == 4:
                addresses.add(socket.inet_ntop(socket.AF_INET, raw[::-1]))
            else:
                words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                addresses.add(socket.inet_ntop(socket.AF_INET6, words))
    return addresses


def _mqtt_connect_packet() -> bytes:
    """A minimal MQTT 3.1.1 CONNECT (client id "probe"), to see a plain-text answer."""
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", 5) + b"probe"
    return bytes([0x10, len(body)]) + body


def plain_text_refused(host: str, port: int) -> bool:
    """True when a plain MQTT CONNECT on ``port`` gets no CONNACK (TLS is required)."""
    try:
        with socket.create_connection((host, port), 3) as s:
            s.settimeout(3)
            s.sendall(_mqtt_connect_packet())
            answer = s.recv(4)
    except OSError:
        return True
    return not answer.startswith(b"\x20")


def tls_handshake(host: str, port: int, ca_file: str, server_name: str) -> str | None:
    context = ssl.create_default_context(cafile=ca_file)
    try:
        with (
            socket.create_connection((host, port), 5) as raw,
            context.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            return None if tls.version() else "no TLS version"
    except (OSError, ssl.SSLError) as exc:
        return f"{type(exc).__name__}: {exc}"


@dataclass
class CheckInputs:
    broker_conf: Path | None = None
    broker_host: str = "127.0.0.1"
    server_name: str = "localhost"
    ca_file: str | None = None
    admin_password: str | None = None
    database_url: str | None = None
    worker_health_url: str | None = None  # http://127.0.0.1:8081/readyz
    api_url: str | None = None  # https://host:port
    desk_username: str | None = None
    desk_password: str | None = None


def _guard(what: str, probe: Callable[[], list[Finding]]) -> list[Finding]:
    try:
        return probe()
    except (DeployError, ControlError, OSError, ValueError) as exc:
        return [Finding("FAIL", what, str(exc))]


def check_broker(inputs: CheckInputs) -> list[Finding]:
    assert inputs.broker_conf is not None
    out: list[Finding] = []
    tls_port: int | None = None
    for lst in listeners(inputs.broker_conf):
        name = f"listener {lst.port}{' websockets' if lst.websockets else ''}"
        bound = listening_addresses(lst.port)
        if not bound:
            out.append(Finding("FAIL", name, "nothing listens; is the broker running?"))
            continue
        wide = bound & {"0.0.0.0", "::"}
        if lst.address and wide:
            out.append(
                Finding(
                    "WARN",
                    name,
                    f"asked for {lst.address} but listens on every interface "
                    f"({', '.join(sorted(bound))}); firewall the port",
                )
            )
        if lst.tls:
            tls_port = tls_port or (lst.port if not lst.websockets else None)
            if inputs.ca_file:
                problem = tls_handshake(
                    inputs.broker_host, lst.port, inputs.ca_file, inputs.server_name
                )
                out.append(
                    Finding("FAIL", name, f"TLS handshake: {problem}")
                    if problem
                    else Finding("ok", name, f"TLS verified as {inputs.server_name}")
                )
            if not lst.websockets and not plain_text_refused(inputs.broker_host, lst.port):
                out.append(Finding("FAIL", name, "answers plain-text MQTT: TLS is not enforced"))
        elif lst.address not in ("127.0.0.1", "::1", "localhost"):
            out.append(Finding("FAIL", name, "plain text on a non-loopback address"))
        else:
            out.append(Finding("ok", name, f"plain text on loopback only ({lst.address})"))
    if tls_port is not None and inputs.ca_file and inputs.admin_password:
        address = BrokerAddress(
            inputs.broker_host, tls_port, "admin", inputs.admin_password, inputs.ca_file
        )
        with DynsecControl(address) as control:
            count = len(control.run("listClients").get("clients", []))
        out.append(Finding("ok", "accounts", f"admin logs in; {count} accounts"))
    return out


def check_database(url: str) -> list[Finding]:
    info = database.Conninfo.parse(url)
    with info.connect() as conn:
        row = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
        ext = conn.execute("SELECT extversion FROM pg_extension WHERE extname='postgis'").fetchone()
    out = [
        Finding("WARN", "database", f"{info.user} is a superuser; the application should not be")
        if row and row[0]
        else Finding("ok", "database", f"connected as {info.user} (not a superuser)")
    ]
    out.append(
        Finding("ok", "postgis", f"version {ext[0]}")
        if ext
        else Finding("FAIL", "postgis", "missing: run the superuser step db-prepare")
    )
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    current = database.revision(url)
    out.append(
        Finding("ok", "schema", f"at {current} (head)")
        if current == head
        else Finding("FAIL", "schema", f"at {current}, head is {head}: run db-migrate")
    )
    return out


def check_worker(url: str) -> list[Finding]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return [Finding("ok", "worker", f"{url} answers {r.status}")]
    except urllib.error.HTTPError as exc:
        return [Finding("FAIL", "worker", f"{url} answers {exc.code}: {exc.read()[:200]!r}")]
    except (urllib.error.URLError, OSError) as exc:
        return [Finding("FAIL", "worker", f"{url} unreachable: {exc}")]


def check_api(inputs: CheckInputs) -> list[Finding]:
    assert inputs.api_url is not None
    context = ssl.create_default_context(cafile=inputs.ca_file) if inputs.ca_file else None
    out: list[Finding] = []
    base = inputs.api_url.rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/readyz", timeout=5, context=context) as r:
            out.append(Finding("ok", "api", f"{base}/readyz answers {r.status}"))
    except (urllib.error.URLError, OSError) as exc:
        return [Finding("FAIL", "api", f"{base}/readyz: {exc}")]
    try:
        urllib.request.urlopen(f"{base}/metrics", timeout=5, context=context)
        out.append(
            Finding("FAIL", "metrics", f"{base}/metrics is public: serve backend.deploy.edge")
        )
    except urllib.error.HTTPError as exc:
        out.append(Finding("ok", "metrics", f"not public ({exc.code})"))
    if inputs.desk_username and inputs.desk_password:
        body = json.dumps({"username": inputs.desk_username, "password": inputs.desk_password})
        request = urllib.request.Request(
            f"{base}/api/v1/desk/login",
            body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as r:
                cookie = r.headers.get("Set-Cookie", "")
                secure = "secure" in cookie.lower()
                out.append(
                    Finding(
                        "ok" if secure else "WARN",
                        "desk login",
                        f"{inputs.desk_username} logs in"
                        + ("" if secure else "; the session cookie is not Secure"),
                    )
                )
        except urllib.error.HTTPError as exc:
            out.append(Finding("FAIL", "desk login", f"HTTP {exc.code}: {exc.read()[:200]!r}"))
    return out


def run_checks(inputs: CheckInputs) -> list[Finding]:
    findings: list[Finding] = []
    if inputs.broker_conf is not None:
        findings += _guard("broker", lambda: check_broker(inputs))
    if inputs.database_url:
        url = inputs.database_url
        findings += _guard("database", lambda: check_database(url))
    if inputs.worker_health_url:
        findings += check_worker(inputs.worker_health_url)
    if inputs.api_url:
        findings += _guard("api", lambda: check_api(inputs))
    return findings
