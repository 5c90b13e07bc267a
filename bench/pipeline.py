"""The worker's batch path alone, in this process: ``Policy.run`` over batches of report
messages on durable PostgreSQL + PostGIS with the bench's world (10,000 open cases and
10,000 on-duty volunteers around Shanghai, a kiosk per metro station, phones).

No broker: this is where a worker's time goes once a batch is in its hands, and how many SQL
statements a report costs. ``python -m bench.pipeline --batches 20 --batch 500 [--profile]``.
The end-to-end figures are ``make bench``'s.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import event

from backend.alerts.config import AlertingConfig
from backend.db.engine import make_engine, make_sessionmaker
from backend.devices.ratelimit import UNLIMITED
from backend.messaging.connection import Inbound
from backend.messaging.policy import Policy
from backend.world import Memory, Position
from bench import world
from bench.loader import Device
from protocol import SightingReport
from protocol.payloads import (
    AgeBand,
    ChildDescription,
    Colour,
    Location,
    LocationSource,
    Sex,
    WhatSeen,
)
from protocol.topics import device_reports, parse_topic


@dataclass(frozen=True)
class BatchFigure:
    reports: int
    seconds: float
    statements: int


def report_message(device: Device, rng: random.Random, now: datetime, seq: int) -> Inbound:
    """A report like the load generator's: kiosks at their station, phones where they are."""
    report = SightingReport(
        report_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        device_id=device.username,
        observed_at=now,
        location=Location(
            round(device.lat, 6),
            round(device.lon, 6),
            50.0 if device.station_id else 12.0,
            LocationSource.FIXED if device.station_id else LocationSource.GPS,
        ),
        what_seen=WhatSeen.CARRIED_BY_BEGGAR,
        child=ChildDescription(AgeBand.INFANT, Sex.FEMALE, (Colour.RED, Colour.WHITE)),
        station_id=device.station_id,
        direction="exit 2" if device.station_id else None,
    )
    topic = device_reports(device.username)
    return Inbound(topic, parse_topic(topic), report.to_json(), 1, seq, False, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, default=12)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--volunteers", type=int, default=10_000)
    ap.add_argument("--profile", type=Path, default=None, help="write cProfile stats here")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sr-pipeline-") as tmp:
        Path(tmp).chmod(0o755)  # PostgreSQL runs as its own user below it
        server, url = world.start_database(Path(tmp) / "pg")
        try:
            profile = cProfile.Profile() if args.profile else None
            figures = run(url, args.cases, args.volunteers, [args.batch] * args.batches,
                          args.seed, profile)
        finally:
            server.stop()
    _print(figures, args)
    if args.profile is not None and profile is not None:
        profile.dump_stats(args.profile)
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


def run(
    url: str,
    cases: int,
    volunteers: int,
    batches: list[int],
    seed: int = 1,
    profile: cProfile.Profile | None = None,
) -> list[BatchFigure]:
    """Seed the bench world into the (migrated, empty) database at ``url``, then hand the
    worker's policy one batch of reports per entry of ``batches`` (its size); a figure per
    batch. Every report must be accepted."""
    rng = random.Random(seed)
    size = world.WorldSize(cases, volunteers, 100, 1)
    accounts = world.make_accounts(size, rng)
    world.seed(url, accounts, size, rng)
    engine = make_engine(url)
    statements = [0]

    @event.listens_for(engine, "before_cursor_execute")
    def _count(*_: object) -> None:
        statements[0] += 1

    sessions = make_sessionmaker(engine)
    memory = Memory(freeze_heap=True)  # as the worker does
    now = datetime.now(UTC)
    with sessions.begin() as session:
        memory.refresh(session)
    for vid, _ in accounts.volunteers:
        lon, lat = world.around_shanghai(rng, 30_000)
        memory.set_position(vid, Position(lon, lat, now, True), now=now)
    policy = Policy(sessions, memory, AlertingConfig(), lambda: datetime.now(UTC),
                    rate_limits=UNLIMITED)
    figures = []
    seq = 0
    try:
        for n in batches:
            batch = []
            for _ in range(n):
                device = accounts.devices[seq % len(accounts.devices)]
                batch.append(report_message(device, rng, datetime.now(UTC), seq))
                seq += 1
            before = statements[0]
            if profile:
                profile.enable()
            t = time.perf_counter()
            handled = policy.run(batch)
            elapsed = time.perf_counter() - t
            if profile:
                profile.disable()
            labels = {h.outcome.label for h in handled}
            if labels != {"accepted"}:
                raise RuntimeError(f"a bench report was not accepted: {sorted(labels)}")
            figures.append(BatchFigure(len(batch), elapsed, statements[0] - before))
    finally:
        engine.dispose()
    return figures


def _print(figures: list[BatchFigure], args: argparse.Namespace) -> None:
    for i, f in enumerate(figures):
        print(json.dumps({"batch": i, "reports": f.reports, "seconds": round(f.seconds, 3),
                          "reports_per_s": round(f.reports / f.seconds, 1),
                          "statements_per_report": round(f.statements / f.reports, 2)}))
    rates = [f.reports / f.seconds for f in figures]
    print(f"{'batches':>8} {'batch':>6} {'median reports/s':>17} {'min':>8} {'max':>8} "
          f"{'statements/report':>18}")
    print(f"{len(figures):>8} {args.batch:>6} {statistics.median(rates):>17.1f} "
          f"{min(rates):>8.1f} {max(rates):>8.1f} "
          f"{statistics.median(f.statements / f.reports for f in figures):>18.2f}")


if __name__ == "__main__":
    main()
