"""One bench run: the broker's own QoS 1 ceiling, then the whole system, with the same
payloads, accounts and load generator; figures per step, CPU per process group, loss and
duplicates, and optionally a py-spy profile of a worker during the maximum step."""

from __future__ import annotations

import json
import os
import platform
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import world
from bench.cpu import CpuMeter
from bench.loader import EchoConsumer, LoadRun, PlanStep, build, publish_positions, write_inputs
from tests.faults.health import metrics
from tests.support.services import REPO, free_port
from tests.support.stack import WorkerProcess

RESULTS_DIR = REPO / "bench" / "results"
FIXED_RATES = (100.0, 500.0, 1_000.0, 2_000.0, 5_000.0)


@dataclass
class BenchConfig:
    quick: bool = False
    workers: int = 1
    rates: tuple[float, ...] = FIXED_RATES
    step_s: float = 20.0
    max_s: float = 30.0
    drain_s: float = 30.0
    window: int = 2_000  # reports without receipt kept in flight by the maximum step
    ceiling_s: float = 15.0
    locations: float = 10_000.0  # position updates/s of the locations step (0: no such step)
    location_reports: float = 500.0  # reports/s alongside them
    movers: int = 1_000  # volunteers publishing those positions, one connection each
    locations_s: float = 5.0  # short: what the workers do not take waits for them at the broker
    final_wait_s: float = 600.0  # at most, for the last reports while the workers still work
    cases: int = 10_000
    volunteers: int = 10_000
    phones: int = 100
    profile: bool = False
    all_steps: bool = False  # run every fixed step even after a lower one saturated
    seed: int = 1
    output: Path | None = None

    @classmethod
    def quick_config(cls) -> BenchConfig:
        """Under two minutes: small world, short low steps (figures are not the point;
        loss and duplicates are)."""
        return cls(
            quick=True,
            rates=(50.0, 200.0),
            step_s=4.0,
            max_s=4.0,
            drain_s=20.0,
            window=300,
            ceiling_s=3.0,
            locations=500.0,
            location_reports=50.0,
            movers=100,
            locations_s=3.0,
            final_wait_s=120.0,
            cases=300,
            volunteers=300,
            phones=20,
        )

    def plan(self) -> list[PlanStep]:
        steps = [
            PlanStep(f"fixed-{r:g}", r, self.step_s, self.drain_s, _outstanding_cap(r))
            for r in self.rates
        ]
        steps.append(PlanStep("max", 0.0, self.max_s, 2 * self.drain_s, self.window))
        if self.locations > 0:
            # Last: positions a worker has not taken wait at the broker, in the same queue
            # as reports, and would slow every later step.
            steps.append(
                PlanStep(
                    f"locations-{self.locations:g}+{self.location_reports:g}",
                    self.location_reports,
                    self.locations_s,
                    self.drain_s,
                    _outstanding_cap(self.location_reports),
                    self.locations,
                )
            )
        return steps

    def ceiling_plan(self) -> list[PlanStep]:
        fixed = max(self.rates)
        return [
            PlanStep("ceiling-max", 0.0, self.ceiling_s, self.drain_s, self.window),
            PlanStep(
                f"ceiling-fixed-{fixed:g}", fixed, self.ceiling_s, self.drain_s,
                _outstanding_cap(fixed),
            ),
        ]


def _outstanding_cap(rate: float) -> int:
    """A fixed rate is held back past 2 s worth of reports without receipt (the targets ask
    for a p99 of 50 ms: a system that far behind is saturated)."""
    return int(min(10_000, max(200, 2 * rate)))


@dataclass
class BenchResult:
    meta: dict[str, Any]
    ceiling: list[dict[str, Any]]
    end_to_end: list[dict[str, Any]]
    totals: dict[str, Any]
    profile: dict[str, Any] | None = None
    violations: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        ceiling = max((s.get("receipts_per_s") or 0 for s in self.ceiling), default=0)
        system = max((s.get("stored_per_s") or 0 for s in self.end_to_end), default=0)
        return round(system / ceiling, 4) if ceiling else None

    def to_json(self) -> dict[str, Any]:
        return {
            "meta": self.meta,
            "ceiling": self.ceiling,
            "end_to_end": self.end_to_end,
            "totals": self.totals,
            "ratio_end_to_end_over_ceiling": self.ratio,
            "profile": self.profile,
            "violations": self.violations,
        }

    def json_lines(self) -> list[str]:
        out = [json.dumps({"meta": self.meta})]
        out += [json.dumps({"phase": "ceiling", **s}) for s in self.ceiling]
        out += [json.dumps({"phase": "end_to_end", **s}) for s in self.end_to_end]
        out.append(
            json.dumps(
                {"totals": self.totals, "ratio": self.ratio, "violations": self.violations}
            )
        )
        return out

    def table(self) -> str:
        head = (
            f"{'step':<20}{'offered/s':>10}{'stored/s':>10}{'rcpt/s':>9}{'p50 ms':>9}"
            f"{'p90 ms':>9}{'p99 ms':>10}{'max ms':>10}{'alert p50':>10}{'alert p99':>10}"
            f"{'lost':>7}{'dup':>5}  cpu % of a core: broker/workers (echo)/db/loader"
        )
        lines = [head]
        for phase, steps in (("ceiling", self.ceiling), ("end to end", self.end_to_end)):
            lines.append(f"-- {phase}")
            for s in steps:
                lines.append(_row(s))
        t = self.totals
        lines += [
            "",
            f"ratio end-to-end / ceiling (best stored/s over best ceiling receipts/s): "
            f"{self.ratio if self.ratio is not None else '?'}",
            f"published {t['published']}, stored {t['stored']}, lost {t['lost']}, "
            f"duplicates (accepted twice) {t['duplicates']}, dead letters {t['dead_letters']}, "
            f"refused by the broker {t['puback_refused']}",
            f"invariants: {'hold' if not self.violations else 'BROKEN'}",
            *(f"  - {v}" for v in self.violations),
        ]
        if self.profile:
            lines.append(f"profile: {self.profile['file']}")
            lines.append("  project functions (share of all samples, callees included):")
            lines += [
                f"  {f['percent']:5.1f} %  {f['frame']}" for f in self.profile["top_project"][:15]
            ]
            lines.append("  frames on top of the stack (self time):")
            lines += [
                f"  {f['percent']:5.1f} %  {f['frame']}" for f in self.profile["top_self"][:8]
            ]
        return "\n".join(lines)


def _ms(latency: dict[str, Any] | None, key: str) -> str:
    if not latency:
        return "-"
    value = float(latency[key])
    return f"{value:.1f}" if value < 1000 else f"{value:.0f}"


def _row(s: dict[str, Any]) -> str:
    name = s["name"]
    if s.get("skipped"):
        return f"{name:<20}  skipped: the {s['saturated_at']:g}/s step already saturated"
    cpu = s.get("cpu", {})
    cpu_text = "/".join(
        f"{cpu[k]:.0f}" if k in cpu else "-"
        for k in ("broker", "workers" if "workers" in cpu else "echo", "database", "loader")
    )
    flag = "" if s.get("drained", True) else " (not drained)"
    if s.get("locations_published"):
        absorbed = s.get("locations_absorbed")
        flag += (
            f" positions {s['locations_offered_per_s']:.0f}/s offered, every worker took "
            f"{s['locations_taken_per_s']:.0f}/s"
            + (f", all after {s['locations_absorbed_after_s']} s" if absorbed else ", NOT all")
        )
    flag += " (held back)" if s.get("held") else ""
    stored = s.get("stored_per_s")
    lost = s.get("lost")
    return (
        f"{name:<20}{s['offered_per_s']:>10.0f}"
        f"{(f'{stored:.0f}' if stored is not None else '-'):>10}"
        f"{s['receipts_per_s']:>9.0f}{_ms(s.get('receipt_ms'), 'p50'):>9}"
        f"{_ms(s.get('receipt_ms'), 'p90'):>9}{_ms(s.get('receipt_ms'), 'p99'):>10}"
        f"{_ms(s.get('receipt_ms'), 'max'):>10}{_ms(s.get('alert_ms'), 'p50'):>10}"
        f"{_ms(s.get('alert_ms'), 'p99'):>10}"
        f"{(str(lost) if lost is not None else '-'):>7}{s.get('multi_accepted', 0):>5}  "
        f"{cpu_text}{flag}"
    )


# --------------------------------------------------------------------------- helpers


def _count(url: str, sql: str) -> int:
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        return int(conn.execute(sql).fetchone()[0])  # type: ignore[index]


def _dead_letter_reasons(url: str) -> dict[str, int]:
    """The most frequent dead-letter reasons (valid reports should have none)."""
    with psycopg.connect(url.replace("+psycopg", "")) as conn:
        rows = conn.execute(
            "SELECT left(CAST(reasons AS TEXT), 300), count(*) FROM dead_letters "
            "GROUP BY 1 ORDER BY 2 DESC LIMIT 5"
        ).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def _position(location_json: str) -> tuple[float, float]:
    """(lon, lat) of a VolunteerLocation payload."""
    data = json.loads(location_json)
    return float(data["lon"]), float(data["lat"])


def _messages(port: int) -> int:
    """Messages of any kind a worker has handled, from its /metrics."""
    return sum(
        int(float(line.rsplit(" ", 1)[1]))
        for line in metrics(port).splitlines()
        if line.startswith("sr_worker_messages_total")
    )


def _has_taken(port: int, positions: int) -> Callable[[], bool]:
    return lambda: _location_messages(port) >= positions


def _location_messages(port: int) -> int:
    """Location messages a worker has handled, from its /metrics."""
    total = 0
    for line in metrics(port).splitlines():
        if line.startswith("sr_worker_messages_total") and 'kind="volunteer_location"' in line:
            total += int(float(line.rsplit(" ", 1)[1]))
    return total


def _wait(predicate: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout_s} s")
        time.sleep(0.2)


def machine() -> dict[str, Any]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mosquitto = subprocess.run(["mosquitto", "-h"], capture_output=True, text=True).stdout
    return {
        "host": socket.gethostname(),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "mosquitto": (mosquitto.splitlines() or ["?"])[0],
        "postgresql": _pg_version(),
    }


def _commit() -> str:
    """The measured code: HEAD of the checkout, ``+changes`` when files differ from it."""
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(REPO), *args], capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def _pg_version() -> str:
    from tests.support.services import pg_bindir

    try:
        return subprocess.run(
            [str(pg_bindir() / "postgres"), "--version"], capture_output=True, text=True
        ).stdout.strip()
    except (RuntimeError, OSError):
        return "?"


def summarize_speedscope(path: Path, top: int = 25) -> dict[str, Any]:
    """Where the samples are: frames by inclusive and by self share of all samples."""
    doc = json.loads(path.read_text())
    frames = doc["shared"]["frames"]
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    project: Counter[str] = Counter()  # functions of this project, whatever the line
    total = 0
    for profile in doc["profiles"]:
        weights = profile.get("weights") or [1] * len(profile["samples"])
        for stack, weight in zip(profile["samples"], weights, strict=False):
            total += weight
            names = [
                f"{frames[i]['name']} ({Path(frames[i].get('file', '?')).name}:"
                f"{frames[i].get('line', '?')})"
                for i in stack
            ]
            for name in set(names):
                inclusive[name] += weight
            for name in {
                f"{frames[i]['name']} ({_project_file(frames[i].get('file', ''))})"
                for i in stack
                if _project_file(frames[i].get("file", ""))
            }:
                project[name] += weight
            if names:
                own[names[-1]] += weight

    def share(counter: Counter[str]) -> list[dict[str, Any]]:
        return [
            {"frame": name, "percent": round(100.0 * n / max(total, 1), 1)}
            for name, n in counter.most_common(top)
        ]

    threads = {
        profile.get("name", "?"): sum(profile.get("weights") or [1] * len(profile["samples"]))
        for profile in doc["profiles"]
    }
    return {
        "samples": total,
        "threads": {name: round(100.0 * n / max(total, 1), 1) for name, n in threads.items()},
        "top_inclusive": share(inclusive),
        "top_self": share(own),
        "top_project": share(project),
    }


def _project_file(path: str) -> str | None:
    """``backend/alerts/service.py`` for a file of this project's packages, else None."""
    parts = Path(path).parts
    for i, part in enumerate(parts):
        if part in ("backend", "geo", "protocol") and i + 1 < len(parts):
            return "/".join(parts[i:])
    return None


# --------------------------------------------------------------------------- phases


class Phase:
    """Drives one ``loader load`` run and turns its events into step figures."""

    def __init__(
        self,
        name: str,
        run: LoadRun,
        cpu: CpuMeter,
        db_url: str | None,
        on_step_start: Callable[[dict[str, Any]], None] = lambda e: None,
        say: Callable[[str], None] = print,
        location_counts: Callable[[], list[int]] | None = None,
        prefix: str = "",
    ) -> None:
        self.location_counts = location_counts
        self.prefix = prefix  # report ids: prefix + 12 hex digits of the sequence number
        self.name = name
        self.run = run
        self.cpu = cpu
        self.db_url = db_url
        self.on_step_start = on_step_start
        self.say = say
        self.steps: list[dict[str, Any]] = []
        self.done: dict[str, Any] = {}

    def execute(self) -> Iterator[dict[str, Any]]:
        started: dict[str, Any] = {}
        for event in self.run.events():
            kind = event["event"]
            if kind == "step_start":
                started = {
                    "t": time.monotonic(),
                    "cpu": self.cpu.sample(),
                    "load": os.getloadavg()[0],
                    "locations": self.location_counts() if self.location_counts else None,
                }
                self.say(f"[{self.name}] step {event['name']} ...")
                self.on_step_start(event)
            elif kind == "step_end":
                if event.get("skipped"):
                    step = dict(event)
                    step.pop("event")
                    self.say(f"[{self.name}] step {event['name']}: skipped (saturated)")
                else:
                    step = self._figures(event, started)
                    self.say(f"[{self.name}] {_row(step)}")
                self.steps.append(step)
                yield step
            elif kind == "done":
                self.done = event

    def _figures(self, event: dict[str, Any], started: dict[str, Any]) -> dict[str, Any]:
        wall = time.monotonic() - started["t"]
        step = {k: v for k, v in event.items() if k != "event"}
        step["cpu"] = CpuMeter.percent(started["cpu"], self.cpu.sample(), wall)
        step["load_average"] = round(started["load"], 2)
        # Drained: up to the last receipt. Not drained: the whole step, waiting included (the
        # last receipt came early, so dividing by it would inflate the rates).
        span = max(step["until_last_receipt_s"] if step["drained"] else step["elapsed_s"], 1e-6)
        step["offered_per_s"] = round(step["published"] / max(step["publish_s"], 1e-6), 1)
        step["receipts_per_s"] = round(step["receipted"] / span, 1)
        if self.db_url and step["published"]:
            # This step's reports by id: whatever else is stored meanwhile does not count.
            first, last = step["first_seq"], step["first_seq"] + step["published"] - 1
            step["stored"] = _count(
                self.db_url,
                "SELECT count(*) FROM reports WHERE report_id BETWEEN "
                f"'{self.prefix}{first:012x}' AND '{self.prefix}{last:012x}'",
            )
            step["stored_per_s"] = round(step["stored"] / span, 1)
            step["lost"] = step["published"] - step["stored"] if step["drained"] else None
        else:
            step["stored"] = step["stored_per_s"] = step["lost"] = None
        if step.get("locations_published") and started.get("locations") is not None:
            step.update(self._absorbed(step, started, wall))
        return step

    def _absorbed(
        self, step: dict[str, Any], started: dict[str, Any], wall: float, wait_s: float = 30.0
    ) -> dict[str, Any]:
        """Did every worker take every position the broker accepted? Each worker reads all
        positions (no share group); waits up to ``wait_s`` more for the rest."""
        assert self.location_counts is not None
        sent = int(step["locations_puback_ok"])

        def taken() -> list[int]:
            assert self.location_counts is not None
            now = self.location_counts()
            return [n - b for n, b in zip(now, started["locations"], strict=True)]

        at_end = taken()
        latest = at_end
        deadline = time.monotonic() + wait_s
        while min(latest) < sent and time.monotonic() < deadline:
            time.sleep(0.2)
            latest = taken()
        absorbed = min(latest) >= sent
        return {
            "locations_offered_per_s": round(
                step["locations_published"] / max(step["publish_s"], 1e-6), 1
            ),
            "locations_taken_per_worker_at_end": at_end,
            "locations_taken_per_s": round(min(at_end) / max(wall, 1e-6), 1),
            "locations_absorbed": absorbed,
            "locations_absorbed_after_s": (
                round(time.monotonic() - started["t"], 1) if absorbed else None
            ),
        }


def run(config: BenchConfig, say: Callable[[str], None] = print) -> BenchResult:
    rng = random.Random(config.seed)
    started_at = datetime.now(UTC)
    meta: dict[str, Any] = {
        "date": started_at.isoformat(timespec="seconds"),
        "machine": machine(),
        "load_average_start": [round(x, 2) for x in os.getloadavg()],
        "commit": _commit(),
        "config": {
            k: (str(v) if isinstance(v, Path) else v) for k, v in config.__dict__.items()
        },
    }
    binary = build(REPO / "var" / "bench")
    size = world.WorldSize(config.cases, config.volunteers, config.phones, config.workers)
    accounts = world.make_accounts(size, rng)
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
            say(f"{len(workers)} worker(s) subscribed; publishing {len(accounts.volunteers)} "
                "volunteer positions ...")
            positions = world.volunteer_positions(accounts, rng)
            published = publish_positions(binary, broker.port, positions, tmp)
            for port in ports:
                _wait(_has_taken(port, published), 60,
                      f"every worker taking the {published} volunteer positions")

            # A new prefix: the ceiling's receipts never count here.
            prefix2 = str(uuid.uuid4())[:24]
            movers = [
                (u, p, *_position(payload)) for u, p, payload in positions[: config.movers]
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
            profile_path = _profile_path(config, started_at)

            def start_profile(event: dict[str, Any]) -> None:
                pyspy = _py_spy()
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
                location_counts=lambda: [_location_messages(p) for p in ports],
                prefix=prefix2,
            )
            try:
                list(e2e.execute())
            finally:
                load.close()
            for proc in spy:
                _, err = proc.communicate(timeout=config.max_s + 60)
                if proc.returncode == 0 and profile_path.exists():
                    profile = {"file": str(profile_path.relative_to(REPO)),
                               "worker_pid": workers[0].proc.pid,
                               **summarize_speedscope(profile_path)}
                else:
                    say(f"py-spy failed ({proc.returncode}): {err.decode()[-500:]}")

            published_ok = sum(s.get("puback_ok", 0) for s in e2e.steps)
            published_all = sum(s.get("published", 0) for s in e2e.steps)
            stored = _final_stored(
                url, published_all, lambda: sum(_messages(p) for p in ports), config.final_wait_s
            )
            totals = {
                "published": published_all,
                "puback_ok": published_ok,
                "puback_refused": sum(s.get("puback_refused", 0) for s in e2e.steps),
                "stored": stored,
                "lost": published_all - stored,
                "duplicates": int(e2e.done.get("multi_accepted", 0)),
                "more_than_one_receipt": int(e2e.done.get("multi_receipts", 0)),
                "dead_letters": _count(url, "SELECT count(*) FROM dead_letters"),
                "dead_letter_reasons": _dead_letter_reasons(url),
                "connection_losses": int(e2e.done.get("connection_losses", 0)),
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
    result.violations = _violations(totals)
    return result


def _py_spy() -> str | None:
    """py-spy of this virtual environment (its bin folder need not be on PATH), or on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def _final_stored(
    url: str,
    published: int,
    handled: Callable[[], int],
    limit_s: float,
    idle_s: float = 120.0,
) -> int:
    """Stored reports once the count reaches what was published, or nothing moved (neither
    the count nor the messages the workers handled, e.g. a backlog of positions ahead of
    the last reports) for ``idle_s``, or after ``limit_s`` in all."""
    last: tuple[int, int] = (-1, -1)
    started = last_change = time.monotonic()
    while True:
        stored = _count(url, "SELECT count(*) FROM reports")
        if stored >= published or time.monotonic() - started > limit_s:
            return stored
        state = (stored, handled())
        if state != last:
            last, last_change = state, time.monotonic()
        elif time.monotonic() - last_change > idle_s:
            return stored
        time.sleep(0.5)


def _violations(totals: dict[str, Any]) -> list[str]:
    out = []
    if totals["lost"]:
        out.append(
            f"{totals['lost']} of {totals['published']} published reports were never stored"
        )
    if totals["duplicates"]:
        out.append(f"{totals['duplicates']} reports were receipted `accepted` more than once")
    if totals["dead_letters"]:
        out.append(
            f"{totals['dead_letters']} dead letters for valid reports: "
            f"{totals['dead_letter_reasons']}"
        )
    if totals["connection_losses"]:
        out.append(f"the load generator lost {totals['connection_losses']} connections")
    return out


def _profile_path(config: BenchConfig, started_at: datetime) -> Path:
    base = config.output.parent if config.output else RESULTS_DIR
    return base / f"{started_at:%Y-%m-%d}-{socket.gethostname()}-worker.speedscope.json"


def default_output(quick: bool) -> Path:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    return RESULTS_DIR / f"{stamp}-{socket.gethostname()}{'-quick' if quick else ''}.json"
