"""CPU time of processes from /proc/<pid>/stat (user + system, all threads)."""

from __future__ import annotations

import os
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far; 0.0 when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may contain spaces: the fields after it start past ")".
    fields = raw[raw.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def children_of(pid: int) -> list[int]:
    """Direct children of ``pid`` (PostgreSQL's backends of its postmaster)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == pid:
            out.append(int(entry.name))
    return out


class CpuMeter:
    """CPU seconds of named process groups, sampled at the start and end of a step. A group
    is a root pid, optionally with its children (PostgreSQL forks a backend per connection;
    a backend that exits between two samples loses its share, which the bench avoids by
    keeping its connections open)."""

    def __init__(self) -> None:
        self.groups: dict[str, tuple[list[int], bool]] = {}

    def add(self, name: str, pids: list[int], with_children: bool = False) -> None:
        self.groups[name] = (pids, with_children)

    def sample(self) -> dict[str, dict[int, float]]:
        out: dict[str, dict[int, float]] = {}
        for name, (roots, with_children) in self.groups.items():
            pids = list(roots)
            if with_children:
                for root in roots:
                    pids += children_of(root)
            out[name] = {pid: cpu_seconds(pid) for pid in pids}
        return out

    @staticmethod
    def percent(
        before: dict[str, dict[int, float]], after: dict[str, dict[int, float]], wall_s: float
    ) -> dict[str, float]:
        """Per group, CPU used between two samples in % of one core (200 % = both cores)."""
        out = {}
        for name, now in after.items():
            then = before.get(name, {})
            used = sum(max(0.0, t - then.get(pid, 0.0)) for pid, t in now.items())
            out[name] = round(100.0 * used / max(wall_s, 1e-9), 1)
        return out
