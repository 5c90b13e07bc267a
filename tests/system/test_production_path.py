"""The production path as a whole, as docs/operations.md walks it, with the real processes and
no Docker: from an empty folder on free ports, a TLS Mosquitto run as its own user
``mosquitto``, PostGIS owned by a non-superuser (the extension made by the named superuser
step), migrations as the owner, the worker, the API over HTTPS, the first administrator by
CLI; 300 kiosks from a CSV; a report over TLS, the desk login, a revocation, a backup, the
database destroyed and restored, and the report found again."""

from __future__ import annotations

import configparser
import contextlib
import dataclasses
import json
import os
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from backend.accounts.wait import try_login
from backend.stations.metro import load_metro
from protocol import Location, topics
from tests.kiosk_app.test_outbox_broker import make_report
from tests.support.mqtt_client import TestClient
from tests.support.services import REPO, Postgres, free_port, make_dev_tls, wait_for_port

KIOSKS = 300
REPORTER = "kiosk-SH-013"  # its station SH-013 is a real one (make_report places it there)


def _cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def _wait_http(
    url: str,
    context: ssl.SSLContext | None,
    proc: subprocess.Popen[bytes],
    log: Path,
    timeout_s: float = 30.0,
) -> None:
    """Until ``url`` answers 200 (the process's own readiness), or the process has died."""
    deadline = time.monotonic() + timeout_s
    last: object = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{url}: the process exited:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready in {timeout_s} s ({last}):\n{log.read_text()}")


@contextlib.contextmanager
def _process(cmd: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=out)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid in /proc/{pid}/status")


def _https_json(
    url: str, context: ssl.SSLContext, token: str | None = None, body: dict[str, Any] | None = None
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data, method="POST" if body is not None else "GET")
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10, context=context) as r:
        return json.loads(r.read())


@pytest.fixture
def empty_dir() -> Iterator[Path]:
    """An empty folder the broker's user may pass through (pytest's tmp_path is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="sr-deploy-", dir="/tmp"))
    root.chmod(0o711)
    try:
        yield root
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)


@pytest.mark.skipif(
    os.geteuid() != 0, reason="the broker drops to its user only when started as root"
)
@pytest.mark.timeout(150)
def test_deploy_provision_report_revoke_backup_restore(empty_dir: Path) -> None:
    started = time.monotonic()
    root = empty_dir
    secrets_dir = root / "secrets"
    secrets_dir.mkdir(mode=0o700)
    secret_values = {
        "admin": "adm-" + os.urandom(8).hex(),
        "worker": "wrk-" + os.urandom(8).hex(),
        "db": "db-" + os.urandom(8).hex(),
        "desk": "desk-" + os.urandom(8).hex(),
    }
    for name, value in secret_values.items():
        (secrets_dir / name).write_text(value + "\n")
        (secrets_dir / name).chmod(0o600)
    tls_port, ws_port, loop_port, api_port, health_port = (free_port() for _ in range(5))
    pg = Postgres(workdir=root / "pg")
    pg.start()
    superuser_url = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
    owner_url = f"postgresql+psycopg://sr:{secret_values['db']}@127.0.0.1:{pg.port}/sightings"
    base_env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root),
        "PYTHONUNBUFFERED": "1",
        "SR_MQTT_ADMIN_PASSWORD_FILE": str(secrets_dir / "admin"),
        "SR_MQTT_PASSWORD_FILE": str(secrets_dir / "worker"),
        "SR_DB_PASSWORD_FILE": str(secrets_dir / "db"),
        "SR_DESK_PASSWORD_FILE": str(secrets_dir / "desk"),
    }
    broker_root = root / "broker"
    pki = make_dev_tls(root / "pki", "localhost", "127.0.0.1")
    try:
        # ------------------------------------------------------------------ broker
        _cli(
            base_env,
            "-m",
            "backend.deploy",
            "broker-config",
            str(broker_root),
            "--tls-dir",
            str(pki),
            "--tls-port",
            str(tls_port),
            "--ws-port",
            str(ws_port),
            "--loopback-port",
            str(loop_port),
            "--bind",
            "127.0.0.1",
            "--log-dest",
            "stderr",
            "--worker",
            "backend-worker-1=SR_MQTT_PASSWORD",
        )
        assert not list(broker_root.rglob("ca.key")), "the CA's key never goes to the broker"
        key = broker_root / "certs" / "server.key"
        assert stat.S_IMODE(key.stat().st_mode) == 0o640
        ca_file = str(broker_root / "certs" / "ca.crt")
        with _process(
            ["mosquitto", "-c", str(broker_root / "mosquitto.conf")],
            base_env,
            root / "mosquitto.log",
        ) as broker:
            wait_for_port(loop_port)
            wait_for_port(tls_port)
            assert _uid_of(broker.pid) == __import__("pwd").getpwnam("mosquitto").pw_uid

            # -------------------------------------------------------------- database
            db_env = {**base_env, "SR_DB_SUPERUSER_URL": superuser_url}
            out = _cli(db_env, "-m", "backend.deploy", "db-prepare", "--owner", "sr").stdout
            assert "SUPERUSER STEP" in out and "postgis" in out
            owner_env = {**base_env, "SR_DATABASE_URL": owner_url}
            _cli(owner_env, "-m", "backend.deploy", "db-migrate")
            _cli(
                owner_env,
                "-m",
                "backend.people",
                "person",
                "create",
                "ops-admin",
                "--role",
                "coordinator",
                "--password-env",
                "SR_DESK_PASSWORD",
            )

            # -------------------------------------------------------------- worker, API
            run_env = {
                **owner_env,
                "SR_MQTT_HOST": "127.0.0.1",
                "SR_MQTT_PORT": str(tls_port),
                "SR_MQTT_CA_FILE": ca_file,
                "SR_MQTT_USERNAME": "backend-worker-1",
                "SR_WORKER_CLIENT_ID": "backend-worker-1",
                "SR_WORKER_HEALTH_PORT": str(health_port),
            }
            https = ssl.create_default_context(cafile=str(pki / "ca.crt"))
            api_url = f"https://127.0.0.1:{api_port}"
            with (
                _process(
                    [sys.executable, "-m", "backend.worker"], run_env, root / "worker.log"
                ) as worker,
                _process(
                    [
                        sys.executable,
                        "-m",
                        "uvicorn",
                        "backend.deploy.edge:public_app",
                        "--factory",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(api_port),
                        "--ssl-certfile",
                        str(pki / "server.crt"),
                        "--ssl-keyfile",
                        str(pki / "server.key"),
                    ],
                    run_env,
                    root / "api.log",
                ) as api,
            ):
                _wait_http(
                    f"http://127.0.0.1:{health_port}/readyz", None, worker, root / "worker.log"
                )
                _wait_http(f"{api_url}/readyz", https, api, root / "api.log")

                # ---------------------------------------------------------- fleet
                csv = root / "fleet.csv"
                csv.write_text(
                    "station_id,kiosk_id,position\n"
                    + "".join(
                        f"SH-{n:03d},kiosk-SH-{n:03d},Exit {n % 4 + 1}\n"
                        for n in range(1, KIOSKS + 1)
                    )
                )
                bundles = root / "bundles"
                fleet_args = (
                    "-m",
                    "backend.deploy",
                    "fleet",
                    "provision",
                    str(csv),
                    "--bundles",
                    str(bundles),
                    "--kiosk-host",
                    "127.0.0.1",
                    "--kiosk-port",
                    str(tls_port),
                    "--admin-host",
                    "127.0.0.1",
                    "--admin-port",
                    str(tls_port),
                    "--ca-file",
                    ca_file,
                )
                t0 = time.monotonic()
                first = _cli(owner_env, *fleet_args)
                provision_s = time.monotonic() - t0
                assert f"{KIOSKS} created" in first.stdout, first.stdout
                assert provision_s < 30, f"provisioning {KIOSKS} kiosks took {provision_s:.1f} s"
                ini = configparser.ConfigParser()
                ini.read(bundles / REPORTER / "kiosk.ini")
                password = ini.get("device", "password")
                for secret in (password, ini.get("kiosk", "operator_pin")):
                    assert secret not in first.stdout + first.stderr
                assert stat.S_IMODE((bundles / REPORTER).stat().st_mode) == 0o700
                for f in (bundles / REPORTER).iterdir():
                    assert stat.S_IMODE(f.stat().st_mode) == 0o600 and f.stat().st_uid == 0
                before = (bundles / REPORTER / "kiosk.ini").read_bytes()
                again = _cli(owner_env, *fleet_args)
                assert (
                    f"0 created, 0 re-issued (new password), 0 restored from their bundles, {KIOSKS} kept"
                    in again.stdout
                )
                assert (bundles / REPORTER / "kiosk.ini").read_bytes() == before

                # ---------------------------------------------------------- a report over TLS
                kiosk = TestClient(
                    int(ini.get("broker", "port")),
                    REPORTER,
                    REPORTER,
                    password,
                    ca_file=str(bundles / REPORTER / "ca.crt"),
                )
                try:
                    kiosk.subscribe(topics.device_receipts(REPORTER))
                    # The kiosk claims to stand at 颛桥 (SH-100, 18 km away): provisioning
                    # registered it at its own station, so the report is placed there.
                    report = dataclasses.replace(
                        make_report(REPORTER),
                        location=Location(31.068915, 121.397272, 10.0),
                        station_id="SH-100",
                    )
                    kiosk.publish(topics.device_reports(REPORTER), report.to_json())
                    got = kiosk.wait_for(lambda ms: len(ms) >= 1, timeout_s=20)
                    receipt = json.loads(bytes(got[0].payload))
                    assert receipt["status"] == "accepted", receipt
                finally:
                    kiosk.close()
                engine = create_engine(owner_url)
                try:
                    with engine.connect() as conn:
                        kiosks_in_db = conn.execute(
                            text("SELECT count(*) FROM devices WHERE kind = 'kiosk'")
                        ).scalar_one()
                        stored = conn.execute(
                            text(
                                "SELECT station_id, lon, lat, claimed_station_id, claimed_lon "
                                "FROM reports WHERE report_id = :r"
                            ),
                            {"r": report.report_id},
                        ).one()
                finally:
                    engine.dispose()
                assert kiosks_in_db == KIOSKS
                sh013 = next(st for st in load_metro()[0] if st.station_id == "SH-013")
                assert (stored.station_id, stored.lon, stored.lat) == (
                    "SH-013",
                    sh013.lon,
                    sh013.lat,
                )
                assert (stored.claimed_station_id, stored.claimed_lon) == ("SH-100", 121.397272)

                # ---------------------------------------------------------- the desk
                session = _https_json(
                    f"{api_url}/api/v1/desk/login",
                    https,
                    body={"username": "ops-admin", "password": secret_values["desk"]},
                )
                token = session["token"]
                found = _https_json(f"{api_url}/api/reports/{report.report_id}", https, token)
                assert found["device_id"] == REPORTER
                with pytest.raises(urllib.error.HTTPError) as metrics:
                    urllib.request.urlopen(f"{api_url}/metrics", timeout=5, context=https)
                assert metrics.value.code == 404

                # ---------------------------------------------------------- check
                checked = _cli(
                    {**run_env, "SR_DESK_PASSWORD_FILE": str(secrets_dir / "desk")},
                    "-m",
                    "backend.deploy",
                    "check",
                    "--broker-conf",
                    str(broker_root / "mosquitto.conf"),
                    "--ca-file",
                    ca_file,
                    "--server-name",
                    "localhost",
                    "--worker-health-url",
                    f"http://127.0.0.1:{health_port}/readyz",
                    "--api-url",
                    api_url,
                    "--desk-username",
                    "ops-admin",
                    check=False,
                )
                assert checked.returncode == 0, checked.stdout + checked.stderr
                assert "0 failed" in checked.stdout

                # ---------------------------------------------------------- revocation
                assert try_login("127.0.0.1", tls_port, REPORTER, password, ca_file, 5) is None
                revoked = _cli(
                    base_env,
                    "-m",
                    "backend.deploy",
                    "fleet",
                    "revoke",
                    REPORTER,
                    "--bundles",
                    str(bundles),
                    "--admin-host",
                    "127.0.0.1",
                    "--admin-port",
                    str(tls_port),
                    "--ca-file",
                    ca_file,
                )
                assert "mosquitto: revoked 1" in revoked.stdout
                assert try_login("127.0.0.1", tls_port, REPORTER, password, ca_file, 5) == (
                    "CONNACK Not authorized"
                )
                assert not (bundles / REPORTER).exists()

                # ---------------------------------------------------------- backup, loss, restore
                backups = root / "backups"
                out = _cli(
                    owner_env,
                    "-m",
                    "backend.deploy",
                    "backup",
                    "--out",
                    str(backups),
                    "--broker-root",
                    str(broker_root),
                ).stdout
                dump = Path(out.split("database: ")[1].split()[0])
                assert stat.S_IMODE(dump.stat().st_mode) == 0o600
                assert list(backups.glob("broker-*.tar.gz"))
                _cli(db_env, "-m", "backend.deploy", "db-drop")
                with pytest.raises(urllib.error.HTTPError):
                    _https_json(f"{api_url}/api/reports/{report.report_id}", https, token)
                _cli(db_env, "-m", "backend.deploy", "db-prepare", "--owner", "sr")
                restored = _cli(owner_env, "-m", "backend.deploy", "restore-db", str(dump))
                assert "schema at" in restored.stdout
                again_found = _https_json(f"{api_url}/api/reports/{report.report_id}", https, token)
                assert again_found["report_id"] == report.report_id
                # an upgrade on the restored database: a backup, then forward (at head: no-op)
                _cli(owner_env, "-m", "backend.deploy", "upgrade", "--backup-dir", str(backups))
    finally:
        pg.stop()
    print(
        f"production path: {time.monotonic() - started:.1f} s, provisioning "
        f"{KIOSKS} kiosks {provision_s:.2f} s"
    )
