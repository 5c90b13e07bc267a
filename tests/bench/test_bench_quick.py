"""`python -m bench --quick` in make test: the real stack end to end, failing on loss or
duplicates only (figures are printed, never asserted: machines are noisy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from bench.cpu import CpuMeter, cpu_seconds
from bench.run import summarize_speedscope
from tests.support.services import REPO


@pytest.mark.timeout(240)
def test_quick_bench_loses_nothing_and_accepts_nothing_twice(tmp_path):
    out = tmp_path / "quick.json"
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--output", str(out), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=230,
    )
    report = f"stdout:\n{proc.stdout[-4000:]}\nstderr:\n{proc.stderr[-4000:]}"
    assert proc.returncode == 0, report
    result = json.loads(out.read_text())
    totals = result["totals"]
    assert totals["published"] > 0, report
    assert totals["lost"] == 0 and totals["stored"] == totals["published"], report
    assert totals["duplicates"] == 0, report
    assert totals["dead_letters"] == 0, report
    assert result["violations"] == []
    names = [s["name"] for s in result["end_to_end"]]
    # the steps, then the maximum step again in the world grown to 600 cases and volunteers
    assert "max" in names and names[-2].startswith("locations-") and names[-1] == "max-600"
    assert result["end_to_end"][-1]["stored"] > 0, report
    # every step says how long batches waited for each other's cell locks
    assert all(s.get("batches", 0) > 0 for s in result["end_to_end"]), report
    assert all(0 <= s["lock_wait_share"] <= 1 for s in result["end_to_end"]), report
    assert result["ceiling"][0]["name"] == "ceiling-max"
    measured = [s for s in result["end_to_end"] if not s.get("skipped")]
    assert all(s["receipted"] > 0 and s["receipt_ms"] for s in measured), report
    assert result["ceiling"][0]["receipted"] > 0, report
    moving = [s for s in measured if s["name"].startswith("locations-")]
    assert moving and moving[0]["locations_published"] > 0, report
    assert moving[0]["locations_puback_refused"] == 0, report  # volunteers' own topics
    assert "ratio end-to-end / ceiling" in proc.stdout
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert any("totals" in line for line in lines)


def test_cpu_meter_reads_this_process():
    before = cpu_seconds(os.getpid())
    deadline = time.monotonic() + 5.0  # the kernel counts in ticks (10 ms): spin past one
    while cpu_seconds(os.getpid()) <= before and time.monotonic() < deadline:
        sum(i * i for i in range(100_000))
    assert cpu_seconds(os.getpid()) > before
    assert cpu_seconds(2**22 + 12345) == 0.0  # no such process
    meter = CpuMeter()
    meter.add("me", [os.getpid()])
    a = {"me": {1: 1.0}}
    b = {"me": {1: 1.5, 2: 0.25}}  # a process that appeared between samples counts whole
    assert meter.percent(a, b, 1.0) == {"me": 75.0}


def test_speedscope_summary_counts_inclusive_and_self(tmp_path):
    doc = {
        "shared": {"frames": [{"name": "main", "file": "w.py", "line": 1},
                              {"name": "commit", "file": "/r/backend/db.py", "line": 9},
                              {"name": "parse", "file": "p.py", "line": 3}]},
        "profiles": [{"samples": [[0, 1], [0, 1], [0, 2], [0]], "weights": [1, 1, 1, 1]}],
    }
    path = tmp_path / "p.speedscope.json"
    path.write_text(json.dumps(doc))
    summary = summarize_speedscope(path)
    inclusive = {f["frame"]: f["percent"] for f in summary["top_inclusive"]}
    own = {f["frame"]: f["percent"] for f in summary["top_self"]}
    assert summary["samples"] == 4
    assert inclusive["main (w.py:1)"] == 100.0
    assert inclusive["commit (db.py:9)"] == 50.0
    assert own["commit (db.py:9)"] == 50.0 and own["main (w.py:1)"] == 25.0
    project = {f["frame"]: f["percent"] for f in summary["top_project"]}
    assert project == {"commit (backend/db.py)": 50.0}

