"""One bench run: the broker's own QoS 1 ceiling, then the whole system, with the same
payloads, accounts and load generator; figures per step, CPU per process group, loss and
duplicates, and optionally a py-spy profile of a worker during the maximum step."""

from __future__ import annotations

import os
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import world
from bench.config import BenchConfig, default_output, profile_file
from bench.cpu import CpuMeter
from bench.loader import EchoConsumer, LoadRun, build, publish_positions, write_inputs
from bench.phase import Phase
from bench.probes import (
    batch_counters,
    checkout_commit,
    count,
    dead_letter_reasons,
    final_stored,
    has_taken,
    location_messages,
    machine,
    position_lines,
    position_of,
    wait_until,
    worker_messages,
)
from bench.profile import py_spy, summarize_speedscope
from bench.report import BenchResult, violations
from tests.support.services import REPO, free_port
from tests.support.stack import WorkerProcess

# Imported from here by bench/__main__.py and the tests.
__all__ = ["BenchConfig", "BenchResult", "Phase", "default_output", "run", "summarize_speedscope"]


def run(config: BenchConfig, say: Callable[[str], None] = print) -> BenchResult:
    rng = random.Random(config.seed)
    started_at = datetime.now(UTC)
    meta: dict[str, Any] = {
        "date": started_at.isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "commit": checkout_commit(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in config.__dict__.items()
        },
    }
    binary = build(REPO / "var" / "bench")
    size = world.WorldSize(config.cases, config.volunteers, config.phones, config.workers)
    accounts = world.make_accounts(size, rng, config.grow_to)
    prefix = str(uuid.uuid4())[:24]  # 8-4-4-4- of a random UUID; the sequence fills the rest
    t0 = int(time.time()) - 60
    profile: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="sr-bench-") as tmp_name:
        tmp = Path(tmp_name)
        tmp.chmod(0o755)  # PostgreSQL runs as its own user below it
        say(f"accounts: {len(accounts.broker_accounts())}; starting Mosquitto and PostgreSQL ...")
        broker = world.start_broker(tmp / "broker", accounts)
        server = None
        workers: list[WorkerProcess] = []
        try:
            server, url = world.start_database(tmp / "pg")
            t = time.monotonic()
            world.seed(url, accounts, size, rng)
            meta["seed_s"] = round(time.monotonic() - t, 1)
            say(f"seeded {config.cases} open cases, {config.volunteers} volunteers in "
                f"{meta['seed_s']} s")
            assert broker.proc is not None
            postmaster = int((server.datadir / "postmaster.pid").read_text().split()[0])

            # The broker's own ceiling: no worker subscribed yet, a trivial consumer instead.
            files = write_inputs(tmp, accounts.devices, [], config.ceiling_plan(), "ceiling")
            echo = EchoConsumer(binary, broker.port, *accounts.echo, tmp / "echo.log")
            try:
                load = LoadRun(binary, broker.port, files, prefix, t0, tmp / "loader-ceiling.log")
                cpu = CpuMeter()
                cpu.add("broker", [broker.proc.pid])
                cpu.add("echo", [echo.proc.pid])
                cpu.add("loader", [load.proc.pid])
                ceiling = Phase("ceiling", load, cpu, None, say=say)
                try:
                    list(ceiling.execute())
                finally:
                    load.close()
            finally:
                echo.stop()

            ports = [free_port() for _ in accounts.workers]
            workers = world.start_workers(broker, url, accounts, tmp, ports)
            say(f"{len(workers)} worker(s) subscribed; publishing {size.volunteers} "
                "volunteer positions ...")
            positions = world.volunteer_positions(accounts, rng, 0, size.volunteers)
            published = publish_positions(binary, broker.port, positions, tmp)
            for port in ports:
                wait_until(has_taken(port, published), 60,
                           f"every worker taking the {published} volunteer positions")

            # A new prefix: the ceiling's receipts never count here.
            prefix2 = str(uuid.uuid4())[:24]
            movers = [
                (u, p, *position_of(payload)) for u, p, payload in positions[: config.movers]
            ]
            files = write_inputs(
                tmp, accounts.devices, accounts.consoles, config.plan(), "e2e", movers
            )
            load = LoadRun(
                binary, broker.port, files, prefix2, t0, tmp / "loader-e2e.log", config.all_steps
            )
            cpu = CpuMeter()
            cpu.add("broker", [broker.proc.pid])
            cpu.add("workers", [w.proc.pid for w in workers])
            cpu.add("database", [postmaster], with_children=True)
            cpu.add("loader", [load.proc.pid])
            spy: list[subprocess.Popen[bytes]] = []
            profile_path = profile_file(config, started_at)

            def start_profile(event: dict[str, Any]) -> None:
                pyspy = py_spy()
                if config.profile and event["name"] == "max" and pyspy:
                    profile_path.parent.mkdir(parents=True, exist_ok=True)
                    spy.append(subprocess.Popen(
                        [pyspy, "record", "--pid", str(workers[0].proc.pid), "--format",
                         "speedscope", "--output", str(profile_path), "--duration",
                         str(int(config.max_s)), "--rate", "100", "--nonblocking"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    ))
                elif config.profile and event["name"] == "max":
                    say("py-spy is not installed (pip install py-spy): no profile")

            e2e = Phase(
                "end to end", load, cpu, url, start_profile, say,
                location_counts=lambda: [location_messages(p) for p in ports],
                superseded_counts=lambda: [location_messages(p, "superseded") for p in ports],
                position_metrics=lambda: [position_lines(p) for p in ports],
                prefix=prefix2,
                batch_counters=lambda: [batch_counters(p) for p in ports],
            )
            try:
                list(e2e.execute())
            finally:
                load.close()
            for proc in spy:
                _, err = proc.communicate(timeout=config.max_s + 60)
                if proc.returncode == 0 and profile_path.exists():
                    profile = {"file": _shown(profile_path),
                               "worker_pid": workers[0].proc.pid,
                               **summarize_speedscope(profile_path)}
                else:
                    say(f"py-spy failed ({proc.returncode}): {err.decode()[-500:]}")

            grown: Phase | None = None
            if config.grow_to > max(config.cases, config.volunteers):
                t = time.monotonic()
                say(f"growing the world to {config.grow_to} cases and volunteers ...")
                world.grow(url, accounts, size, config.grow_to, rng)
                more = world.volunteer_positions(accounts, rng, size.volunteers, config.grow_to)
                before = [location_messages(p) for p in ports]
                sent = publish_positions(binary, broker.port, more, tmp)
                for port, seen in zip(ports, before, strict=True):
                    wait_until(has_taken(port, seen + sent), 600,
                               f"every worker taking the {sent} new volunteer positions")
                meta["grow_s"] = round(time.monotonic() - t, 1)
                say(f"grown in {meta['grow_s']} s; the maximum step again")
                prefix3 = str(uuid.uuid4())[:24]
                files = write_inputs(
                    tmp, accounts.devices, accounts.consoles, config.grown_plan(), "grown"
                )
                load = LoadRun(binary, broker.port, files, prefix3, t0, tmp / "loader-grown.log")
                cpu = CpuMeter()
                cpu.add("broker", [broker.proc.pid])
                cpu.add("workers", [w.proc.pid for w in workers])
                cpu.add("database", [postmaster], with_children=True)
                cpu.add("loader", [load.proc.pid])
                grown = Phase(
                    "grown world", load, cpu, url, say=say, prefix=prefix3,
                    batch_counters=lambda: [batch_counters(p) for p in ports],
                )
                try:
                    list(grown.execute())
                finally:
                    load.close()
                e2e.steps += grown.steps

            published_ok = sum(s.get("puback_ok", 0) for s in e2e.steps)
            published_all = sum(s.get("published", 0) for s in e2e.steps)
            stored = final_stored(
                url, published_all, lambda: sum(worker_messages(p) for p in ports),
                config.final_wait_s,
            )
            totals = {
                "published": published_all,
                "puback_ok": published_ok,
                "puback_refused": sum(s.get("puback_refused", 0) for s in e2e.steps),
                "stored": stored,
                "lost": published_all - stored,
                "duplicates": int(e2e.done.get("multi_accepted", 0))
                + int(grown.done.get("multi_accepted", 0) if grown else 0),
                "more_than_one_receipt": int(e2e.done.get("multi_receipts", 0))
                + int(grown.done.get("multi_receipts", 0) if grown else 0),
                "dead_letters": count(url, "SELECT count(*) FROM dead_letters"),
                "dead_letter_reasons": dead_letter_reasons(url),
                "connection_losses": int(e2e.done.get("connection_losses", 0))
                + int(grown.done.get("connection_losses", 0) if grown else 0),
                "ceiling_duplicates": int(ceiling.done.get("multi_accepted", 0)),
            }
        finally:
            for w in workers:
                w.terminate()
            if server is not None:
                server.stop()
            broker.stop()
    meta["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    result = BenchResult(meta, ceiling.steps, e2e.steps, totals, profile)
    result.violations = violations(totals)
    return result


def _shown(path: Path) -> str:
    """``path`` relative to the checkout when it lies in it (results are committed)."""
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
