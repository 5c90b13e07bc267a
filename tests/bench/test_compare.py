"""``python -m bench --baseline REF``: the options passed on, the ref checked, the steps
compared by name (the runs themselves are real benches: see the README's Performance)."""

from __future__ import annotations

import pytest

from bench.__main__ import parser
from bench.compare import (
    BaselineError,
    compare,
    resolve,
    shared_arguments,
    table,
    with_grow_to,
)
from bench.probes import lock_waits


def _step(name: str, stored: float, p50: float, p99: float, **extra: float) -> dict:
    return {"name": name, "stored_per_s": stored, "receipt_ms": {"p50": p50, "p99": p99},
            **extra}


def test_the_baseline_gets_the_options_it_understands_and_nothing_else():
    args = parser().parse_args(
        ["--rates", "100,1000", "--max-seconds", "20", "--workers", "2", "--profile",
         "--grow-to", "50000", "--baseline", "HEAD", "--json"]
    )
    assert shared_arguments(args) == [
        "--workers", "2", "--rates", "100,1000", "--max-seconds", "20"
    ]
    assert shared_arguments(parser().parse_args(["--quick", "--all-steps"])) == [
        "--quick", "--all-steps"
    ]


def test_a_ref_that_is_no_commit_is_refused_with_what_to_give():
    with pytest.raises(BaselineError, match="not a commit of this repository"):
        resolve("no-such-branch-or-tag-anywhere")
    assert len(resolve("HEAD")) == 40


def test_steps_are_compared_by_name_with_ratios():
    current = {
        "meta": {"commit": "b" * 40},
        "ceiling": [{"receipts_per_s": 8000.0}],
        "end_to_end": [
            _step("fixed-100", 100.0, 5.0, 20.0, lock_wait_share=0.01),
            _step("max", 2500.0, 400.0, 900.0),
            _step("max-100k", 2100.0, 450.0, 1000.0),
        ],
    }
    baseline = {
        "meta": {"commit": "a" * 40},
        "ceiling": [{"receipts_per_s": 7000.0}],
        "end_to_end": [_step("fixed-100", 99.0, 25.0, 280.0), _step("max", 500.0, 2000.0, 4000.0)],
        "totals": {"published": 10, "lost": 0, "duplicates": 0},
    }
    rows = {r["step"]: r for r in compare(current, baseline)}
    assert rows["max"]["stored_ratio"] == 5.0
    assert rows["fixed-100"]["p50_ratio"] == 0.2 and rows["fixed-100"]["p99_ratio"] == round(
        20 / 280, 2
    )
    assert rows["max-100k"]["baseline_stored_per_s"] is None
    assert rows["max-100k"]["stored_ratio"] is None
    text = table(list(rows.values()), current, baseline)
    assert "5.00×" in text and "1.0 %" in text and "aaaaaaaaaa" in text


def test_lock_wait_share_is_waiting_over_batch_time_across_workers():
    before = [{"batch_seconds": 10.0, "batches": 100.0, "lock_wait_seconds": 1.0}] * 2
    after = [
        {"batch_seconds": 20.0, "batches": 200.0, "lock_wait_seconds": 1.5},
        {"batch_seconds": 30.0, "batches": 300.0, "lock_wait_seconds": 2.5},
    ]
    waits = lock_waits(before, after)
    assert waits["lock_wait_share"] == round(2.0 / 30.0, 4)
    assert waits["batches"] == 300
    assert waits["lock_wait_per_batch_ms"] == round(1000 * 2.0 / 300, 3)


def test_the_grown_world_step_is_asked_of_a_baseline_whose_bench_has_it(tmp_path):
    (tmp_path / "bench").mkdir()
    main = tmp_path / "bench" / "__main__.py"
    main.write_text('p.add_argument("--quick")\n')
    assert with_grow_to(["--quick"], tmp_path, 600) == ["--quick"]  # an older bench
    main.write_text('p.add_argument("--grow-to", type=int)\n')
    assert with_grow_to(["--quick"], tmp_path, 600) == ["--quick", "--grow-to", "600"]
    assert with_grow_to(["--quick"], tmp_path, None) == ["--quick"]
