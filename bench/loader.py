"""Build and drive the C load generator (``bench/loader.c``, against libmosquitto)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("loader.c")
HEADER = Path("/usr/include/mosquitto.h")


class LoaderError(RuntimeError):
    """The load generator cannot be built or failed; the message says what to do."""


def _install_headers() -> None:
    """libmosquitto-dev through apt when root on Debian/Ubuntu; otherwise say what is missing."""
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "-o", "DPkg::Lock::Timeout=600", "install", "-y", "-q",
             "--no-install-recommends", "libmosquitto-dev", "gcc"],
            check=False,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    if not HEADER.exists() or shutil.which("gcc") is None:
        raise LoaderError(
            f"the C load generator needs gcc and {HEADER} (Debian: apt-get install gcc "
            "libmosquitto-dev); install them and run the bench again"
        )


def build(cache_dir: Path) -> Path:
    """Compile the loader once per version of its source; returns the binary."""
    if not HEADER.exists() or shutil.which("gcc") is None:
        _install_headers()
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    binary = cache_dir / f"loader-{digest}"
    if binary.exists():
        return binary
    cache_dir.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["gcc", "-O2", "-Wall", "-o", str(binary), str(SOURCE), "-lmosquitto"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise LoaderError(f"gcc could not build {SOURCE}:\n{result.stderr}")
    return binary


@dataclass(frozen=True)
class PlanStep:
    """One step of load: ``rate`` reports/s for ``duration_s`` (rate 0: as fast as the
    system answers, keeping ``max_outstanding`` reports without receipt), then up to
    ``drain_s`` for the last receipts. A fixed rate is held back (and the step marked
    saturated) when ``max_outstanding`` reports wait for a receipt."""

    name: str
    rate: float
    duration_s: float
    drain_s: float
    max_outstanding: int
    locations_per_s: float = 0.0  # volunteer position updates alongside the reports

    def line(self) -> str:
        return (
            f"{self.name} {self.rate} {self.duration_s} {self.drain_s} {self.max_outstanding} "
            f"{self.locations_per_s}\n"
        )


@dataclass(frozen=True)
class Device:
    username: str
    password: str
    lon: float
    lat: float
    station_id: str | None  # kiosks: their station; phones: None


def write_inputs(
    workdir: Path,
    devices: list[Device],
    consoles: list[tuple[str, str]],
    plan: list[PlanStep],
    tag: str,
    movers: Sequence[tuple[str, str, float, float]] = (),
) -> tuple[Path, ...]:
    """The loader's input files; ``movers``: volunteer accounts (username, password, lon,
    lat) that publish their positions at a step's location rate."""
    dev = workdir / f"{tag}-devices.txt"
    con = workdir / f"{tag}-consoles.txt"
    pln = workdir / f"{tag}-plan.txt"
    dev.write_text(
        "".join(
            f"{d.username} {d.password} {d.lon!r} {d.lat!r} {d.station_id or '-'}\n"
            for d in devices
        )
    )
    con.write_text("".join(f"{u} {p}\n" for u, p in consoles))
    pln.write_text("".join(s.line() for s in plan))
    if not movers:
        return dev, con, pln
    mov = workdir / f"{tag}-movers.txt"
    mov.write_text("".join(f"{u} {p} {lon!r} {lat!r}\n" for u, p, lon, lat in movers))
    return dev, con, pln, mov


class LoadRun:
    """``loader load``: yields its JSON events as they happen."""

    def __init__(
        self,
        binary: Path,
        port: int,
        files: tuple[Path, ...],
        prefix: str,
        t0: int,
        log: Path,
        all_steps: bool = False,
    ) -> None:
        self.log = log
        self._log = open(log, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [str(binary), "load", str(port), *map(str, files[:3]), prefix, str(t0),
             *map(str, files[3:])],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env={**os.environ, **({"BENCH_ALL_STEPS": "1"} if all_steps else {})},
        )

    def events(self) -> Iterator[dict[str, Any]]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            event = json.loads(line)
            if event.get("event") == "error":
                raise LoaderError(
                    f"the load generator failed: {event['message']}; see {self.log}:\n"
                    + self.log.read_text(errors="replace")[-2000:]
                )
            yield event
        if self.proc.wait() != 0:
            raise LoaderError(
                f"the load generator exited with {self.proc.returncode}; see {self.log}:\n"
                + self.log.read_text(errors="replace")[-2000:]
            )

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log.close()


class EchoConsumer:
    """``loader echo``: the trivial fast consumer of the broker's ceiling."""

    def __init__(self, binary: Path, port: int, username: str, password: str, log: Path) -> None:
        self._log = open(log, "ab")  # noqa: SIM115 - owned by the process
        self.proc = subprocess.Popen(
            [str(binary), "echo", str(port), username, password],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        if not first or json.loads(first).get("event") != "ready":
            self.stop()
            raise LoaderError(f"the echo consumer did not subscribe: {first!r}; see {log}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def publish_positions(
    binary: Path, port: int, volunteers: list[tuple[str, str, str]], workdir: Path
) -> int:
    """Each volunteer account publishes its position once (QoS 1); returns how many the
    broker accepted. ``volunteers``: (username, password, location JSON without spaces)."""
    path = workdir / "volunteers.txt"
    path.write_text("".join(f"{u} {p} {payload}\n" for u, p, payload in volunteers))
    result = subprocess.run(
        [str(binary), "positions", str(port), str(path), "200"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("event") == "positions_done"]
    if result.returncode != 0 or not done:
        raise LoaderError(
            f"publishing volunteer positions failed ({result.returncode}): "
            f"{result.stdout[-500:]} {result.stderr[-1500:]}"
        )
    return int(done[0]["published"])
