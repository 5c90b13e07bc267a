"""``python -m devstack`` (``make run``): prepare the files, database and demo data, start
broker, worker, API, the scheduled retention job and the pursuit process under the supervisor
(``devstack.supervisor``), print how to reach them.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from backend.db.engine import make_engine, make_sessionmaker
from backend.db.migrate import upgrade
from backend.stations.metro import load_metro
from devstack.api_tokens import demo_api_tokens
from devstack.banner import banner
from devstack.broker import (
    ADMIN_ACCOUNT,
    WORKER_ACCOUNT,
    choose_broker,
    demo_accounts,
    write_broker_config,
    write_embedded_broker_config,
)
from devstack.config import (
    DevStackConfig,
    kiosk_operator_pin,
    port_is_free,
)
from devstack.seed import kiosk_id, seed_demo_people, seed_demo_world, write_app_configs
from devstack.supervisor import (
    Probe,
    Service,
    StackFailedError,
    StartFailedError,
    StopRequest,
    Supervisor,
    die_with_parent,
    probe_http,
)


@dataclass(frozen=True)
class Prepared:
    users: dict[str, str]  # broker username -> password
    people: list[tuple[str, str, str]]  # desk accounts: (username, password, role)
    var: Path
    api_tokens: dict[str, str]  # desk account -> its demo API token


def desk_text(prepared: Prepared, http_port: int) -> str:
    url = f"http://127.0.0.1:{http_port}/desk/"
    lines = [f"Desk (web console)  {url}   accounts (username / password):"]
    lines += [f"  {role:<12} {user} / {password}" for user, password, role in prepared.people]
    lines.append(
        f"API tokens of these accounts (Authorization: Bearer ...; in {prepared.var}/"
        "<username>.api-token; more with .venv/bin/python -m backend.people token create USERNAME "
        "--label L, or POST /api/v1/desk/tokens):"
    )
    lines += [f"  {user:<12} {token}" for user, token in prepared.api_tokens.items()]
    lines.append(f"Kiosk operator PIN (make kiosk): {kiosk_operator_pin(prepared.var)}")
    return "\n".join(lines)


def prepare(cfg: DevStackConfig, broker_kind: str = "mosquitto") -> Prepared:
    """Everything but the processes: files, database, demo data (created only where
    missing), broker accounts."""
    cfg.var.mkdir(parents=True, exist_ok=True)
    upgrade(cfg.database_url)
    stations, routes = load_metro()
    engine = make_engine(cfg.database_url)
    with make_sessionmaker(engine).begin() as session:
        seed_demo_world(session, stations, routes)
        people = seed_demo_people(session)
        api_tokens = demo_api_tokens(session, cfg.var, [user for user, _, _ in people])
    engine.dispose()
    accounts = demo_accounts(cfg, [kiosk_id(s) for s in stations])
    if broker_kind == "mosquitto":
        write_broker_config(cfg, accounts)
    else:
        (cfg.var / "broker").mkdir(parents=True, exist_ok=True)
    write_app_configs(cfg)
    return Prepared({a.username: a.password for a in accounts}, people, cfg.var, api_tokens)


def _worker_probe(svc: Service) -> Probe:
    return probe_http(f"http://127.0.0.1:{svc.health_port}/readyz")


def _api_probe(port: int) -> Callable[[Service], Probe]:
    def probe(svc: Service) -> Probe:
        return probe_http(f"http://127.0.0.1:{port}/readyz")

    return probe


def _running_probe(svc: Service) -> Probe:
    """A process with no health endpoint (the retention job, the pursuit process): ready while
    it runs; one that exits is started again by the supervisor."""
    running = svc.proc is not None and svc.proc.poll() is None
    return Probe(True, running, "running" if running else "exited")


def _broker_probe(port: int) -> Callable[[Service], Probe]:
    def probe(svc: Service) -> Probe:
        listening = not port_is_free(port)
        return Probe(True, listening, "listening" if listening else f"not listening on {port}")

    return probe


def stack_services(cfg: DevStackConfig, logs: Path, broker_args: list[str]) -> tuple[Service, ...]:
    """What the supervisor starts, in order (and stops in reverse)."""
    api_args = [
        sys.executable,
        "-m",
        "uvicorn",
        "backend.api:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(cfg.http_port),
    ]
    return (
        Service(
            "broker",
            broker_args,
            logs / "broker.log",
            _broker_probe(cfg.mqtt_port),
            restartable=False,
        ),
        Service(
            "worker",
            [sys.executable, "-m", "backend.worker"],
            logs / "worker.log",
            _worker_probe,
        ),
        Service("api", api_args, logs / "api.log", _api_probe(cfg.http_port)),
        # Personal data of ended cases, erased on schedule (backend/desk/retention.py).
        Service(
            "retention",
            [sys.executable, "-m", "backend.desk.retention", "--every"],
            logs / "retention.log",
            _running_probe,
        ),
        # Metro-aware pursuit (backend/pursuit/): trails of station sightings, alerts ahead.
        Service(
            "pursuit",
            [sys.executable, "-m", "backend.pursuit"],
            logs / "pursuit.log",
            _running_probe,
        ),
    )


BANNER_NOTE = (
    "Supervised: a worker or API that exits, stops answering or stays not ready is started "
    "again, and so are the retention job (a pass now, then every SR_DESK_RETENTION_EVERY_S) "
    "and the pursuit process (a pass every SR_PURSUIT_EVERY_S) if they exit "
    "(see {logs}/supervisor.log); if the broker exits, everything stops."
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    parser.add_argument(
        "--pidfile",
        type=Path,
        help="write our pid here and stop everything when it is removed (make's target)",
    )
    args = parser.parse_args(argv)
    parent = os.getppid()
    die_with_parent()
    cfg = DevStackConfig.from_env()
    for port, what in ((cfg.mqtt_port, "SR_DEV_MQTT_PORT"), (cfg.http_port, "SR_DEV_HTTP_PORT")):
        if not port_is_free(port):
            sys.exit(
                f"make run: port {port} on 127.0.0.1 is in use (another `make run`?). "
                f"Stop that, or choose another port: {what}=<port> make run"
            )
    stack = Supervisor(cfg, args.pidfile)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, _frame: stack.request_stop(signal.strsignal(signum)))
    if os.getppid() != parent:  # our parent died before the parent-death signal was set
        stack.request_stop("the process that started us is gone")
    failure = ""
    try:
        stack.write_pidfile()
        broker_kind = choose_broker()
        prepared = prepare(cfg, broker_kind)
        users = prepared.users
        logs = stack.logs
        env = dict(
            os.environ,
            SR_DATABASE_URL=cfg.database_url,
            SR_MQTT_HOST="127.0.0.1",
            SR_MQTT_PORT=str(cfg.mqtt_port),
            SR_MQTT_USERNAME=WORKER_ACCOUNT,
            SR_MQTT_PASSWORD=users[WORKER_ACCOUNT],
            PYTHONUNBUFFERED="1",
        )
        stack.env = env
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
        services = stack_services(cfg, logs, broker_args)
        # The desk provisions devices as the broker's admin (Mosquitto's dynamic security);
        # the embedded broker has no accounts, which the desk says.
        api_env = (
            {"SR_MQTT_ADMIN_PASSWORD": users[ADMIN_ACCOUNT]}
            if broker_kind == "mosquitto"
            else {"SR_DEV_BROKER_KIND": "embedded"}
        )
        for svc in services:
            if svc.name == "api":
                svc.extra_env.update(api_env)
        for svc in services:
            stack.add(svc)
            stack.spawn(svc, first=True)
            stack.wait_ready(svc, 10.0 if svc.name == "broker" else cfg.ready_timeout_s)
        print(banner(cfg, broker_kind), flush=True)
        print(desk_text(prepared, cfg.http_port), flush=True)
        print(BANNER_NOTE.format(logs=logs), flush=True)
        stack.watch()
    except StopRequest as stop:
        stack.say(f"stopping: {stop}")
    except (StartFailedError, StackFailedError) as exc:
        what = "could not start the stack" if isinstance(exc, StartFailedError) else "stopping"
        failure = f"make run: {what}: {exc}"
        stack.say(failure, to=None)
    finally:
        stack.stop_all()
        stack.remove_pidfile()
    if failure:  # the last line on the terminal, on stderr, and a non-zero exit
        sys.exit(failure)
