"""One phase of a bench run (the broker's ceiling, or end to end): drives a ``loader load``
run and turns its events into step figures."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench.cpu import CpuMeter
from bench.loader import LoadRun
from bench.probes import count, lock_waits
from bench.report import row


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
        superseded_counts: Callable[[], list[int]] | None = None,
        position_metrics: Callable[[], list[list[str]]] | None = None,
        prefix: str = "",
        batch_counters: Callable[[], list[dict[str, float]]] | None = None,
    ) -> None:
        self.batch_counters = batch_counters
        self.location_counts = location_counts
        self.superseded_counts = superseded_counts
        self.position_metrics = position_metrics
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
                    "superseded": self.superseded_counts() if self.superseded_counts else None,
                    "batches": self.batch_counters() if self.batch_counters else None,
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
                    self.say(f"[{self.name}] {row(step)}")
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
            step["stored"] = count(
                self.db_url,
                "SELECT count(*) FROM reports WHERE report_id BETWEEN "
                f"'{self.prefix}{first:012x}' AND '{self.prefix}{last:012x}'",
            )
            step["stored_per_s"] = round(step["stored"] / span, 1)
            step["lost"] = step["published"] - step["stored"] if step["drained"] else None
        else:
            step["stored"] = step["stored_per_s"] = step["lost"] = None
        if self.batch_counters is not None and started.get("batches") is not None:
            step.update(lock_waits(started["batches"], self.batch_counters()))
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
        folded: dict[str, Any] = {}
        if self.superseded_counts is not None and started.get("superseded") is not None:
            now = self.superseded_counts()
            gone = sum(n - b for n, b in zip(now, started["superseded"], strict=True))
            # the share of positions taken that a newer fix replaced before it was applied
            folded["locations_superseded_share"] = round(gone / max(sum(latest), 1), 3)
        if not absorbed and self.position_metrics is not None:
            # what each worker says of its positions, to tell lost from still waiting
            folded["locations_worker_metrics"] = self.position_metrics()
        return {
            **folded,
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
