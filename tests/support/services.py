"""Throwaway real services for tests: a Mosquitto broker and a PostgreSQL+PostGIS cluster.

Each starts on a free port with its own configuration in a temporary folder, and is
stopped and removed afterwards, so tests never depend on what runs on the machine.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from backend.accounts import Account, ensure_accounts, find_plugin, listener_lines
from backend.accounts.production import ProductionPaths, render

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s} s")


def _chown_to(path: Path, user: str) -> None:
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


# --------------------------------------------------------------------------- Mosquitto


def make_dev_tls(out_dir: Path, *names: str) -> Path:
    """A development CA and server certificate made by ``scripts/dev-tls.sh`` in ``out_dir``
    (ca.crt, ca.key, server.crt, server.key); returns ``out_dir``."""
    subprocess.run(
        ["bash", str(REPO / "scripts" / "dev-tls.sh"), str(out_dir), *names],
        check=True,
        capture_output=True,
    )
    return out_dir


@dataclass
class Mosquitto:
    """A Mosquitto on a free port. ``stop()``/``start()`` keep the port and the config, so a
    test can take the broker away and bring it back (persistence is off: a restart is a
    broker that lost its memory, the harshest case for clients).

    Three modes: anonymous (the default); ``accounts``, the production identity model (the
    dynamic security plugin with a file written by ``backend.accounts``, deny by default,
    the username as client id); ``users`` + ``acl``, a password file and an ``acl_file``
    (the old pattern ACL, which does not check subscriptions: kept only for old tests).

    ``tls_dir`` (with ``accounts``) switches to the production configuration of
    ``backend.accounts.production``: TLS on ``tls_port`` and websockets over TLS on
    ``ws_port`` with ``tls_dir``'s server.crt/server.key, plain MQTT on ``port`` bound to
    loopback, persistence in the work folder, the production limits."""

    workdir: Path
    port: int = field(default_factory=free_port)
    users: dict[str, str] = field(default_factory=dict)  # name -> password; empty = anonymous
    acl: str | None = None  # ACL file text, used only with users
    accounts: tuple[Account, ...] = ()  # dynamic security accounts; excludes users
    extra: str = ""
    proc: subprocess.Popen[bytes] | None = None
    tls_dir: Path | None = None  # production configuration with these certificates
    tls_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    max_connections: int = 20_000
    # Loading a dynamic security file takes time: about 20 s for 100,000 accounts.
    start_timeout_s: float = 10.0

    @property
    def conf_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def dynsec_path(self) -> Path:
        """The dynamic security file (accounts mode); ``ensure_accounts`` may add to it while
        the broker is stopped."""
        return self.workdir / "dynamic-security.json"

    @property
    def ca_file(self) -> str | None:
        """The CA certificate clients verify the TLS listeners with (production mode)."""
        return str(self.tls_dir / "ca.crt") if self.tls_dir else None

    def _write_production_config(self) -> None:
        if not self.accounts:
            raise ValueError("the production configuration needs accounts")
        assert self.tls_dir is not None
        ensure_accounts(self.dynsec_path, self.accounts)
        paths = ProductionPaths(
            certfile=self.tls_dir / "server.crt",
            keyfile=self.tls_dir / "server.key",
            dynsec_file=self.dynsec_path,
            persistence_dir=self.workdir,
            plugin=find_plugin(),
            tls_port=self.tls_port,
            websockets_port=self.ws_port,
            loopback_port=self.port,
            bind_address="127.0.0.1",
            max_connections=self.max_connections,
            log_dest="stderr",  # unbuffered: tests read the log while the broker runs
            extra_lines=(*(["user root"] if os.geteuid() == 0 else []), "log_type information"),
        )
        self.conf_path.write_text(render(paths) + self.extra + "\n")

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.tls_dir is not None:
            self._write_production_config()
            return
        lines = [
            *(["user root"] if os.geteuid() == 0 else []),
            "per_listener_settings true",
            f"listener {self.port} 127.0.0.1",
            "set_tcp_nodelay true",
            "max_inflight_messages 100",
            "max_queued_messages 100000",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.accounts and self.users:
            raise ValueError("give a broker either accounts or users + acl, not both")
        if self.accounts:
            ensure_accounts(self.dynsec_path, self.accounts)
            lines += listener_lines(self.dynsec_path)
        elif self.users:
            pw_file = self.workdir / "passwd"
            pw_file.write_text("")
            for name, password in self.users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(pw_file), name, password],
                    check=True,
                    capture_output=True,
                )
            lines += ["allow_anonymous false", f"password_file {pw_file}"]
            if self.acl is not None:
                acl_file = self.workdir / "acl"
                acl_file.write_text(self.acl)
                lines.append(f"acl_file {acl_file}")
        else:
            lines.append("allow_anonymous true")
        self.conf_path.write_text("\n".join(lines) + "\n" + self.extra + "\n")

    def start(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            return
        if not self.conf_path.exists():
            self.write_config()
        log = open(self.workdir / "mosquitto.log", "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            ["mosquitto", "-c", str(self.conf_path)], stdout=log, stderr=log
        )
        try:
            wait_for_port(self.port, self.start_timeout_s)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"mosquitto did not start within {self.start_timeout_s} s; its log says:\n"
                + (self.workdir / "mosquitto.log").read_text()
            ) from None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@contextlib.contextmanager
def mosquitto(
    users: dict[str, str] | None = None,
    acl: str | None = None,
    extra: str = "",
    accounts: Sequence[Account] = (),
    tls_dir: Path | None = None,
    max_connections: int = 20_000,
) -> Iterator[Mosquitto]:
    """A throwaway Mosquitto: anonymous, or with ``accounts`` (``backend.accounts.Account``,
    each holding only its kind's topics, client id = username); with ``tls_dir`` as well
    (``make_dev_tls``), the production configuration (``Mosquitto`` says what that is)."""
    if shutil.which("mosquitto") is None:
        raise RuntimeError(
            "mosquitto is not installed: run `make deps` (apt-get install mosquitto)"
        )
    with tempfile.TemporaryDirectory(prefix="sr-mosq-") as tmp:
        broker = Mosquitto(
            workdir=Path(tmp),
            users=users or {},
            acl=acl,
            accounts=tuple(accounts),
            extra=extra,
            tls_dir=tls_dir,
            max_connections=max_connections,
        )
        broker.start()
        try:
            yield broker
        finally:
            broker.stop()


# --------------------------------------------------------------------------- PostgreSQL


def pg_bindir() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts)
    if not versions:
        raise RuntimeError(
            "no PostgreSQL server binaries under /usr/lib/postgresql: run `make deps`"
        )
    return versions[-1].parent


@dataclass
class Postgres:
    workdir: Path
    port: int = field(default_factory=free_port)
    proc_user: str = "postgres"
    durable: bool = False  # True: fsync and synchronous commit on, as production (make bench)

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.proc_user, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True)

    def start(self) -> None:
        bindir = pg_bindir()
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        _chown_to(self.workdir, self.proc_user)
        if not self.datadir.exists():
            self._run(
                str(bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            )
        opts = (
            f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
            + ("" if self.durable else "-c fsync=off -c synchronous_commit=off ")
            + ("" if self.durable else "-c full_page_writes=off ")
            + "-c max_connections=200"
        )
        self._run(
            str(bindir / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-o",
            opts,
            "-l",
            str(self.workdir / "postgres.log"),
            "-w",
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(
                str(pg_bindir() / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-m",
                "immediate",
                "-w",
                "stop",
            )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, postgis: bool = True) -> str:
        import psycopg

        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        if postgis:
            with psycopg.connect(self.url(name).replace("+psycopg", ""), autocommit=True) as conn:
                conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        return self.url(name)


@contextlib.contextmanager
def postgres() -> Iterator[Postgres]:
    with tempfile.TemporaryDirectory(prefix="sr-pg-") as tmp:
        server = Postgres(workdir=Path(tmp))
        server.start()
        try:
            yield server
        finally:
            server.stop()
