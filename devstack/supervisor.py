"""``make run``: start broker, worker and API, print how to reach them, stop them all on
Ctrl-C (or when one of them dies)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from backend.db.engine import make_engine, make_sessionmaker
from backend.db.migrate import upgrade
from backend.devices.stations import load_metro
from devstack.banner import banner
from devstack.broker import (
    choose_broker,
    demo_users,
    write_broker_config,
    write_embedded_broker_config,
)
from devstack.config import (
    REPO,
    DevStackConfig,
    port_is_free,
    role_token,
)
from devstack.seed import kiosk_id, seed_demo_world, write_app_configs


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


if __name__ == "__main__":
    main()
