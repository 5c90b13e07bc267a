"""``make run``: the embedded stack on one machine, with demo data.

Starts a Mosquitto with the project's ACL and demo credentials, migrates a SQLite +
SpatiaLite database under ``var/``, seeds a kiosk at every Shanghai metro station, starts
the ingest worker and the HTTP API, prints how to talk to them, and stops everything it
started on Ctrl-C.
"""

from __future__ import annotations

import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from backend.cases.models import Case
from backend.cases.scoring import CaseDescription
from backend.cases.service import open_case
from backend.db.engine import make_engine, make_sessionmaker
from backend.db.migrate import upgrade
from backend.devices.seed import kiosk_id, seed_demo_devices
from backend.devices.stations import MetroRoute, MetroStation, load_metro
from backend.stations.models import PoliceStation
from backend.stations.service import replace_police_stations
from backend.volunteers.models import Volunteer
from backend.volunteers.service import register_volunteer
from protocol import AgeBand, Colour, Sex
from protocol.payloads import utc_now

REPO = Path(__file__).resolve().parents[1]
ACL_FILE = REPO / "broker_config" / "acl"

KIOSK_PASSWORD = "kiosk-demo"
PHONE_ID, PHONE_PASSWORD = "phone-demo", "phone-demo"
VOLUNTEERS = ("vol-1", "vol-2", "vol-3")
VOLUNTEER_PASSWORD = "volunteer-demo"
DEMO_KIOSK = "kiosk-SH-013"  # 人民广场


@dataclass(frozen=True)
class DevStackConfig:
    var: Path
    mqtt_port: int
    http_port: int

    @classmethod
    def from_env(cls) -> DevStackConfig:
        return cls(
            var=Path(os.environ.get("SR_DEV_VAR", REPO / "var")).resolve(),
            mqtt_port=int(os.environ.get("SR_DEV_MQTT_PORT", "11883")),
            http_port=int(os.environ.get("SR_DEV_HTTP_PORT", "18080")),
        )

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.var / 'sightings.db'}"


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def backend_password(var: Path) -> str:
    """Generated once and kept in var/, so restarts keep working with the same broker data."""
    path = var / "backend.secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def role_token(var: Path, role: str) -> str:
    """A bearer token per HTTP role, generated once and kept in var/<role>.token."""
    path = var / f"{role}.token"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def demo_users(var: Path, kiosks: list[str]) -> dict[str, str]:
    users = {"backend": backend_password(var), PHONE_ID: PHONE_PASSWORD}
    users.update({k: KIOSK_PASSWORD for k in kiosks})
    users.update({v: VOLUNTEER_PASSWORD for v in VOLUNTEERS})
    return users


def write_broker_config(cfg: DevStackConfig, users: dict[str, str]) -> Path:
    broker_dir = cfg.var / "broker"
    broker_dir.mkdir(parents=True, exist_ok=True)
    passwd = broker_dir / "passwd"
    passwd.write_text("".join(f"{u}:{p}\n" for u, p in users.items()))
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True)
    acl = broker_dir / "acl"
    shutil.copyfile(ACL_FILE, acl)
    conf = broker_dir / "mosquitto.conf"
    conf.write_text(
        "\n".join(
            [
                "# written by `make run` (backend/devstack.py); see broker_config/mosquitto.conf",
                # As root, mosquitto would switch to its own user, which cannot read var/.
                *(["user root"] if os.geteuid() == 0 else []),
                "per_listener_settings true",
                f"listener {cfg.mqtt_port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {passwd}",
                f"acl_file {acl}",
                "set_tcp_nodelay true",
                "max_packet_size 2100000",
                "max_queued_messages 100000",
                "persistence true",
                f"persistence_location {broker_dir}/",
                "log_dest stderr",
                "log_type error",
                "log_type warning",
                "",
            ]
        )
    )
    passwd.chmod(0o600)
    return conf


def seed_demo_world(
    session: Session, stations: list[MetroStation], routes: list[MetroRoute]
) -> None:
    """Kiosks at every station, a phone, volunteers, demo police stations (Voronoi cells of
    every 12th metro station) and, once, a demo case at 人民广场 so kiosks there show a
    notice."""
    now = utc_now()
    seed_demo_devices(session, stations, [PHONE_ID], now)
    if session.execute(select(func.count()).select_from(PoliceStation)).scalar_one() == 0:
        replace_police_stations(
            session,
            [
                (f"PS-{s.station_id}", f"{s.name} 派出所 (demo)", s.lon, s.lat)
                for s in stations[::12]
            ],
        )
    for vid in VOLUNTEERS:
        if session.get(Volunteer, vid) is None:
            register_volunteer(session, vid, vid, max_alert_radius_m=3_000)
    if session.get(Case, "demo-1") is None:
        peoples_square = next(s for s in stations if s.station_id == "SH-013")
        open_case(
            session,
            case_id="demo-1",
            title="Demo: missing girl, about 4, red coat",
            public_description="Demo case. Last seen near People's Square, exit 2.",
            relay_contact="400-000-0000 (volunteer relay, demo)",
            last_seen_lon=peoples_square.lon,
            last_seen_lat=peoples_square.lat,
            last_seen_at=now,
            last_seen_station_id="SH-013",
            assigned_volunteer_id="vol-1",
            description=CaseDescription(AgeBand.PRESCHOOL, Sex.FEMALE, (Colour.RED,)),
            radius_schedule=[(3600.0, 2_000.0), (math.inf, 3_000.0)],
            now=now,
        )


def write_app_configs(cfg: DevStackConfig) -> None:
    """var/<mode>.ini, read by `make kiosk` / `make phone` / `make volunteer`."""
    for mode, device, password in (
        ("kiosk", DEMO_KIOSK, KIOSK_PASSWORD),
        ("phone", PHONE_ID, PHONE_PASSWORD),
        ("volunteer", VOLUNTEERS[0], VOLUNTEER_PASSWORD),
    ):
        (cfg.var / f"{mode}.ini").write_text(
            f"[device]\nmode = {mode}\ndevice_id = {device}\npassword = {password}\n\n"
            f"[broker]\nhost = 127.0.0.1\nport = {cfg.mqtt_port}\n\n"
            f"[app]\ndata_dir = {cfg.var / ('app-' + device)}\n"
            + ("\n[kiosk]\nstation_id = SH-013\n" if mode == "kiosk" else "")
        )


def prepare(cfg: DevStackConfig, broker_kind: str = "mosquitto") -> dict[str, str]:
    """Everything but the processes: files, database, demo data. Returns the broker users."""
    cfg.var.mkdir(parents=True, exist_ok=True)
    upgrade(cfg.database_url)
    stations, routes = load_metro()
    engine = make_engine(cfg.database_url)
    with make_sessionmaker(engine).begin() as session:
        seed_demo_world(session, stations, routes)
    engine.dispose()
    users = demo_users(cfg.var, [kiosk_id(s) for s in stations])
    if broker_kind == "mosquitto":
        write_broker_config(cfg, users)
    else:
        (cfg.var / "broker").mkdir(parents=True, exist_ok=True)
    write_app_configs(cfg)
    return users


def choose_broker() -> str:
    """Mosquitto with the project's ACL when installed (``make deps`` installs it as root),
    else the pip-installed embedded broker; ``SR_DEV_BROKER=mosquitto|embedded`` forces one."""
    wanted = os.environ.get("SR_DEV_BROKER", "")
    if wanted not in ("", "mosquitto", "embedded"):
        sys.exit(f"SR_DEV_BROKER={wanted!r}: use mosquitto or embedded")
    if wanted == "embedded" or (not wanted and shutil.which("mosquitto") is None):
        try:
            import iotcore  # noqa: F401
        except ImportError:
            sys.exit("no MQTT broker: install mosquitto (apt-get install mosquitto) or iotcore")
        return "embedded"
    if shutil.which("mosquitto") is None:
        sys.exit(
            "mosquitto is not installed: run `make deps` as root, or apt-get install mosquitto"
        )
    return "mosquitto"


def write_embedded_broker_config(cfg: DevStackConfig) -> Path:
    """rumqttd configuration: one MQTT 5 listener on loopback (it has no ACLs)."""
    path = cfg.var / "broker" / "rumqttd.toml"
    path.write_text(
        "id = 0\n\n[router]\nid = 0\nmax_connections = 10010\n"
        "max_outgoing_packet_count = 200\nmax_segment_size = 104857600\n"
        'max_segment_count = 10\n\n[v5.1]\nname = "v5-1"\n'
        f'listen = "127.0.0.1:{cfg.mqtt_port}"\nnext_connection_delay_ms = 1\n'
        "    [v5.1.connections]\n    connection_timeout_ms = 60000\n"
        "    max_payload_size = 2100000\n    max_inflight_count = 100\n"
    )
    return path


def _die_with_parent() -> None:
    """In the child, before exec: ask Linux to send SIGTERM when the parent dies."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGTERM))


def _wait_for_log(path: Path, needle: str, proc: subprocess.Popen[bytes], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and needle in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited; see {path}:\n{path.read_text()[-2000:]}")
        time.sleep(0.05)
    raise RuntimeError(f"{proc.args!r} not ready after {timeout_s} s; see {path}")


def main() -> None:
    cfg = DevStackConfig.from_env()
    for port, what in ((cfg.mqtt_port, "SR_DEV_MQTT_PORT"), (cfg.http_port, "SR_DEV_HTTP_PORT")):
        if not port_is_free(port):
            sys.exit(
                f"port {port} on 127.0.0.1 is in use (another `make run`?). "
                f"Stop that, or choose another port: {what}=<port> make run"
            )
    broker_kind = choose_broker()
    users = prepare(cfg, broker_kind)
    logs = cfg.var / "logs"
    logs.mkdir(exist_ok=True)
    env = dict(
        os.environ,
        SR_DATABASE_URL=cfg.database_url,
        SR_MQTT_HOST="127.0.0.1",
        SR_MQTT_PORT=str(cfg.mqtt_port),
        SR_MQTT_USERNAME="backend",
        SR_MQTT_PASSWORD=users["backend"],
        SR_COORDINATOR_TOKEN=role_token(cfg.var, "coordinator"),
        SR_OPERATOR_TOKEN=role_token(cfg.var, "operator"),
        SR_POLICE_TOKEN=role_token(cfg.var, "police"),
        PYTHONUNBUFFERED="1",
    )
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, args: list[str]) -> tuple[subprocess.Popen[bytes], Path]:
        log_path = logs / f"{name}.log"
        log = open(log_path, "wb")  # noqa: SIM115 - owned by the child
        # A new session: Ctrl-C reaches only us, and we stop the children in order. If we
        # die without cleaning up (SIGKILL), the kernel stops them (parent-death signal).
        proc = subprocess.Popen(
            args,
            env=env,
            cwd=REPO,
            stdout=log,
            stderr=log,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        procs.append(proc)
        return proc, log_path

    def stop_all(*_: object) -> None:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
        print("\nstopped broker, worker and API.")
        sys.exit(0)

    signal.signal(signal.SIGINT, stop_all)
    signal.signal(signal.SIGTERM, stop_all)
    try:
        if broker_kind == "mosquitto":
            broker_args = ["mosquitto", "-c", str(cfg.var / "broker" / "mosquitto.conf")]
        else:
            broker_args = [
                sys.executable,
                "-m",
                "iotcore",
                "--config",
                str(write_embedded_broker_config(cfg)),
            ]
        broker, _ = spawn("broker", broker_args)
        deadline = time.monotonic() + 10
        while port_is_free(cfg.mqtt_port) and time.monotonic() < deadline:
            if broker.poll() is not None:
                raise RuntimeError(f"the broker exited; see {logs / 'broker.log'}")
            time.sleep(0.05)
        worker, worker_log = spawn("worker", [sys.executable, "-m", "backend.worker"])
        _wait_for_log(worker_log, "subscribed to", worker, 20)
        api, api_log = spawn(
            "api",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "backend.api:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(cfg.http_port),
            ],
        )
        _wait_for_log(api_log, "Application startup complete", api, 30)
    except Exception as exc:
        print(f"could not start the stack: {exc}", file=sys.stderr)
        stop_all()
    print(banner(cfg, broker_kind))
    while True:
        for proc in procs:
            if proc.poll() is not None:
                print(f"{proc.args[0]} exited with {proc.returncode}; stopping. Logs: {logs}")
                stop_all()
        time.sleep(0.5)


def banner(cfg: DevStackConfig, broker_kind: str = "mosquitto") -> str:
    p = cfg.mqtt_port
    broker_text = (
        "Mosquitto, ACL broker_config/acl"
        if broker_kind == "mosquitto"
        else "embedded rumqttd from the iotcore package: NO authentication, NO ACLs; "
        "local development only. Install mosquitto for the real thing"
    )
    return f"""
Sighting-report stack is up (Ctrl-C stops it).

  MQTT broker   127.0.0.1:{p}   ({broker_text})
  HTTP API      http://127.0.0.1:{cfg.http_port}/docs   (OpenAPI), /health, /api/reports
  database      {cfg.database_url}
  logs          {cfg.var / "logs"}

HTTP tokens (Authorization: Bearer ...), also in {cfg.var}/<role>.token:
  coordinator   {role_token(cfg.var, "coordinator")}
  operator      {role_token(cfg.var, "operator")}
  police        {role_token(cfg.var, "police")}
Demo case demo-1 at 人民广场: kiosks within 2 km show its notice; alerts go to vol-1..3.

Demo credentials (username = device id):
  kiosks        kiosk-SH-001 ... kiosk-SH-302 (one per metro station) / {KIOSK_PASSWORD}
  phone         {PHONE_ID} / {PHONE_PASSWORD}
  volunteers    {", ".join(VOLUNTEERS)} / {VOLUNTEER_PASSWORD}

Try it:
  mosquitto_sub -p {p} -u {DEMO_KIOSK} -P {KIOSK_PASSWORD} -V mqttv5 -t sr/v1/devices/{DEMO_KIOSK}/receipts -v &
  mosquitto_pub -p {p} -u {DEMO_KIOSK} -P {KIOSK_PASSWORD} -V mqttv5 -q 1 -t sr/v1/devices/{DEMO_KIOSK}/reports -m "$(python3 -m protocol.example {DEMO_KIOSK})"
  mosquitto_pub -p {p} -u {DEMO_KIOSK} -P {KIOSK_PASSWORD} -V mqttv5 -q 1 -t sr/v1/devices/{DEMO_KIOSK}/reports -m '{{"report_id": "nope", "location": {{"lat": 123}}}}'
  make kiosk      (the kiosk app, configured by var/kiosk.ini)
"""


if __name__ == "__main__":
    main()
