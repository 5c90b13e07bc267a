"""Publish hostile payloads through a real Mosquitto to the real worker on a real PostGIS,
then check what came out: no crash, exactly one receipt per reports-topic message, every
durable message stored or dead-lettered, memory before and after.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine

from tests.support.services import free_port, mosquitto, postgres
from tests.support.stack import WorkerProcess, start_worker
from tests.system.faults.health import HEALTH_PORT_ENV, metrics, rss_kib
from tests.system.fuzz.generators import (
    BROKER_MAX_PACKET,
    DURABLE,
    FAMILIES,
    REPORTS,
    Generator,
)
from tests.system.fuzz.sides import (
    HealthWatch,
    Publishers,
    ReceiptCounter,
    database_figures,
    publish_over_broker_limit,
)

BACKLOG = 1_500  # reports published but not yet receipted, at most (bounds broker memory)


@dataclass
class FamilyFigures:
    published: int = 0
    stored: int = 0
    dead_lettered: int = 0
    quarantined: int = 0

    @property
    def accounted(self) -> int:
        return self.stored + self.dead_lettered


@dataclass
class FuzzResult:
    count: int
    seed: int
    seconds: float
    families: dict[str, FamilyFigures]
    report_kinds: dict[str, dict[str, int]]  # kind -> published / accepted / rejected / ...
    receipts_missing: int
    receipts_extra: int
    refused_by_broker: int
    worker_exits: int
    health_failures: int
    health_probes: int
    rss_before_kib: int | None
    rss_after_kib: int | None
    rss_peak_kib: int | None
    worker_log_tail: str = ""
    metrics: list[str] = field(default_factory=list)

    @property
    def crashes(self) -> int:
        return self.worker_exits + self.health_failures

    def violations(self) -> list[str]:
        """Every broken invariant, in words (empty: the run passed)."""
        out = []
        if self.worker_exits:
            out.append(f"the worker process exited ({self.worker_exits})")
        if self.health_failures:
            out.append(f"{self.health_failures} of {self.health_probes} /healthz probes failed")
        if self.receipts_missing or self.receipts_extra:
            out.append(
                f"reports-topic messages without a receipt: {self.receipts_missing}; "
                f"with more than one: {self.receipts_extra} (each must get exactly 1)"
            )
        for name in DURABLE:
            fam = self.families[name]
            if fam.accounted != fam.published:
                out.append(
                    f"{name}: stored {fam.stored} + dead-lettered {fam.dead_lettered} "
                    f"= {fam.accounted}, published {fam.published}"
                )
        return out

    def table(self) -> str:
        lines = [
            f"fuzz: {self.count} payloads, seed {self.seed}, {self.seconds:.1f} s "
            f"({self.count / max(self.seconds, 1e-9):.0f}/s)",
            "",
            f"{'topic family':<14}{'published':>10}{'stored':>9}{'dead-lettered':>15}"
            f"{'quarantined':>13}{'stored+dl=pub':>15}",
        ]
        for name in FAMILIES:
            fam = self.families[name]
            check = ("yes" if fam.accounted == fam.published else "NO") if name in DURABLE else "-"
            lines.append(
                f"{name:<14}{fam.published:>10}{fam.stored:>9}{fam.dead_lettered:>15}"
                f"{fam.quarantined:>13}{check:>15}"
            )
        lines += [
            "",
            f"{'report kind':<20}{'published':>10}{'accepted':>10}{'rejected':>10}"
            f"{'no receipt':>12}{'>1 receipt':>12}",
        ]
        for kind, row in sorted(self.report_kinds.items()):
            lines.append(
                f"{kind:<20}{row['published']:>10}{row['accepted']:>10}{row['rejected']:>10}"
                f"{row['missing']:>12}{row['extra']:>12}"
            )
        rss = [self.rss_before_kib, self.rss_after_kib, self.rss_peak_kib]
        mib = [f"{r / 1024:.0f} MiB" if r else "?" for r in rss]
        lines += [
            "",
            f"crashes (worker exits + failed health probes): {self.crashes} "
            f"({self.worker_exits} exits, {self.health_failures}/{self.health_probes} probes)",
            f"receipts per reports-topic message: missing {self.receipts_missing}, "
            f"more than one {self.receipts_extra}",
            f"refused by the broker (over its {BROKER_MAX_PACKET}-byte packet limit): "
            f"{self.refused_by_broker}",
            f"worker RSS: before {mib[0]}, after {mib[1]}, peak {mib[2]}",
            f"invariants: {'all hold' if not self.violations() else 'BROKEN'}",
        ]
        lines += [f"  - {v}" for v in self.violations()]
        return "\n".join(lines)

    def json_lines(self) -> list[str]:
        out = []
        for name in FAMILIES:
            out.append(json.dumps({"family": name, **asdict(self.families[name])}))
        for kind, row in sorted(self.report_kinds.items()):
            out.append(json.dumps({"report_kind": kind, **row}))
        summary = {
            k: v
            for k, v in asdict(self).items()
            if k not in ("families", "report_kinds", "worker_log_tail")
        }
        summary.update(crashes=self.crashes, violations=self.violations(), summary=True)
        out.append(json.dumps(summary))
        return out


# --------------------------------------------------------------------------- the run


@contextlib.contextmanager
def _database(db_url: str | None) -> Iterator[str]:
    if db_url is not None:
        yield db_url
        return
    from backend.db.migrate import upgrade

    with postgres() as server:
        url = server.create_database("fuzz")
        upgrade(url)
        yield url


def _seed(db_url: str) -> None:
    from backend.db.engine import make_engine, make_sessionmaker
    from backend.stations.metro import load_metro
    from devstack.seed import seed_demo_devices

    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            seed_demo_devices(session, load_metro()[0], ["phone-1", "phone-2"], datetime.now(UTC))
    finally:
        engine.dispose()


def run(
    count: int,
    seed: int = 1,
    *,
    db_url: str | None = None,
    publishers: int = 4,
    only: set[str] | None = None,
    idle_timeout_s: float = 60.0,
    say: Callable[[str], None] = print,
) -> FuzzResult:
    """Publish ``count`` hostile payloads and measure. ``db_url``: an already migrated
    PostGIS database (otherwise a PostgreSQL is started and migrated for the run)."""
    run_id = uuid.uuid4().hex[:6]
    pool = max(150, min(2_000, count // 25))
    say(f"generating {count} payloads (hypothesis pool {pool}, seed {seed}) ...")
    generator = Generator(seed, run_id, pool)
    too_big = generator.over_broker_limit(max(1, count // 20_000))
    with (
        tempfile.TemporaryDirectory(prefix="sr-fuzz-") as tmp,
        mosquitto(extra=f"max_packet_size {BROKER_MAX_PACKET}") as broker,
        _database(db_url) as url,
    ):
        _seed(url)
        health_port = free_port()
        worker = start_worker(
            broker,
            url,
            client_id=f"fuzz-worker-{run_id}",
            logdir=Path(tmp),
            extra_env={HEALTH_PORT_ENV: str(health_port)},
        )
        engine = create_engine(url)
        receipts = ReceiptCounter(broker.port)
        pubs = Publishers(broker.port, publishers)
        watch = HealthWatch(worker, health_port)
        try:
            rss_before = rss_kib(worker.proc.pid)
            started = time.monotonic()
            say(f"publishing through 127.0.0.1:{broker.port} to worker pid {worker.proc.pid} ...")
            published: Counter[str] = Counter()
            sent_reports = 0
            # Generated while publishing, never all held at once (100,000 payloads are about
            # a gigabyte); what the accounting needs is kept per message.
            sent: list[tuple[str, str, str | None]] = []
            for i, msg in enumerate(generator.messages(count, only)):
                if msg.family == REPORTS:
                    _wait_backlog(receipts, sent_reports, worker, idle_timeout_s)
                    sent_reports += 1
                pubs.publish(i, msg)
                published[msg.family] += 1
                sent.append((msg.family, msg.kind, msg.device_id))
            for msg in too_big:
                publish_over_broker_limit(broker.port, msg)
            _wait_done(engine, receipts, pubs, published, worker, len(sent), idle_timeout_s)
            time.sleep(1.0)  # a second receipt for any message would arrive by now
            seconds = time.monotonic() - started
            figures = database_figures(engine)
            rss_after = rss_kib(worker.proc.pid)
            exits = 0 if worker.proc.poll() is None else 1
            worker_metrics = [
                line
                for line in metrics(health_port).splitlines()
                if line.startswith("sr_worker_messages_total")
            ]
        finally:
            watch.stop()
            pubs.close()
            receipts.close()
            engine.dispose()
            worker.terminate()
        families = {f: FamilyFigures(published[f], *figures[f]) for f in FAMILIES}
        kinds: dict[str, dict[str, int]] = {}
        for family, kind, device_id in sent:
            if family != REPORTS or device_id is None:
                continue
            row = kinds.setdefault(
                kind, {"published": 0, "accepted": 0, "rejected": 0, "missing": 0, "extra": 0}
            )
            row["published"] += 1
            n = receipts.counts.get(device_id, 0)
            status = receipts.statuses.get(device_id)
            row["missing"] += n == 0
            row["extra"] += n > 1
            if status in ("accepted", "rejected"):
                row[status] += 1
        return FuzzResult(
            count=len(sent),
            seed=seed,
            seconds=seconds,
            families=families,
            report_kinds=kinds,
            receipts_missing=sum(r["missing"] for r in kinds.values()),
            receipts_extra=sum(r["extra"] for r in kinds.values()),
            refused_by_broker=len(too_big),
            worker_exits=exits,
            health_failures=len(watch.failures),
            health_probes=watch.probes,
            rss_before_kib=rss_before,
            rss_after_kib=rss_after,
            rss_peak_kib=watch.peak_kib or None,
            worker_log_tail=worker.log()[-3000:],
            metrics=worker_metrics,
        )


def _wait_backlog(
    receipts: ReceiptCounter, sent: int, worker: WorkerProcess, idle_timeout_s: float
) -> None:
    """Hold the publisher while too many reports wait for their receipt."""
    last_total, last_change = receipts.total, time.monotonic()
    while sent - receipts.total > BACKLOG:
        if worker.proc.poll() is not None:
            return
        if receipts.total != last_total:
            last_total, last_change = receipts.total, time.monotonic()
        elif time.monotonic() - last_change > idle_timeout_s:
            return  # no progress: stop holding back, the final check will tell
        time.sleep(0.01)


def _wait_done(
    engine: Engine,
    receipts: ReceiptCounter,
    pubs: Publishers,
    published: Counter[str],
    worker: WorkerProcess,
    total: int,
    idle_timeout_s: float,
) -> None:
    """Until everything is answered and accounted for, the worker died, or nothing moved
    for ``idle_timeout_s``."""
    last: tuple[Any, ...] = ()
    last_change = time.monotonic()
    while worker.proc.poll() is None:
        figures = database_figures(engine)
        state = (pubs.acked, receipts.total, tuple(figures.values()))
        done = (
            pubs.acked >= total
            and receipts.total >= published[REPORTS]
            and all(sum(figures[f][:2]) >= published[f] for f in DURABLE)
        )
        if done:
            return
        if state != last:
            last, last_change = state, time.monotonic()
        elif time.monotonic() - last_change > idle_timeout_s:
            return
        time.sleep(0.25)
