"""What one bench run does: its steps, rates and durations, and where its results go."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.loader import PlanStep
from tests.support.services import REPO

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
    # After the steps: the world grown to this many cases and volunteers, and the maximum
    # step again (cost per report as the world grows); 0, or not above the world: no step.
    grow_to: int = 100_000
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
            grow_to=600,
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

    def grown_plan(self) -> list[PlanStep]:
        """The maximum step once more, in the grown world."""
        name = f"max-{self.grow_to // 1000}k" if self.grow_to >= 1000 else f"max-{self.grow_to}"
        return [PlanStep(name, 0.0, self.max_s, 2 * self.drain_s, self.window)]

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


def profile_file(config: BenchConfig, started_at: datetime) -> Path:
    base = config.output.parent if config.output else RESULTS_DIR
    return base / f"{started_at:%Y-%m-%d}-{socket.gethostname()}-worker.speedscope.json"


def default_output(quick: bool) -> Path:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d")
    return RESULTS_DIR / f"{stamp}-{socket.gethostname()}{'-quick' if quick else ''}.json"
