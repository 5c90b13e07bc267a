"""``python -m bench --baseline REF``: the same steps against another commit, in one run.

The baseline commit is checked out into a temporary ``git worktree`` and measured by its own
``python -m bench`` (its own worker, migrations and seeding: the system of that commit),
with the options both benches understand: the same rates, durations, world size, worker
count and seed. This checkout is measured right after, on the same machine, and each step
is compared by name: stored/s, receipt p50 and p99, and their ratios. Both runs measure
their own broker ceiling, so the ratio of each to its ceiling is shown as well (the
machine's state between the two runs shows there).

Steps only this checkout has (the grown world, lock waits) have no baseline figure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.services import REPO

# Options a bench of any commit since the end-to-end bench exists understands.
SHARED_OPTIONS = (
    ("--workers", "workers"),
    ("--rates", "rates"),
    ("--step-seconds", "step_seconds"),
    ("--max-seconds", "max_seconds"),
    ("--cases", "cases"),
    ("--volunteers", "volunteers"),
)


class BaselineError(RuntimeError):
    """The baseline commit could not be checked out or measured."""


def resolve(ref: str) -> str:
    """The full commit id of ``ref`` in this checkout's repository."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--verify", f"{ref}^{{commit}}"],
            cwd=REPO, capture_output=True, text=True, check=True,
        )
    except subprocess.CalledProcessError as exc:
        raise BaselineError(
            f"--baseline {ref!r}: not a commit of this repository ({exc.stderr.strip()}); "
            "give a commit id, tag or branch that `git log` shows"
        ) from None
    return out.stdout.strip()


def shared_arguments(args: Any) -> list[str]:
    """The command-line options of this run that the baseline's bench takes too."""
    out: list[str] = ["--quick"] if args.quick else []
    for flag, attr in SHARED_OPTIONS:
        value = getattr(args, attr, None)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(f"{v:g}" for v in value)
        elif isinstance(value, float):
            value = f"{value:g}"
        out += [flag, str(value)]
    if args.all_steps:
        out.append("--all-steps")
    return out


def with_grow_to(arguments: list[str], tree: Path, grow_to: int | None) -> list[str]:
    """``arguments`` with ``--grow-to`` when the baseline's bench has the grown-world step
    (then it runs it as this checkout does, or not at all); older benches have no such
    step and no such option."""
    main = tree / "bench" / "__main__.py"
    if grow_to is None or not main.exists() or "--grow-to" not in main.read_text():
        return arguments
    return [*arguments, "--grow-to", str(grow_to)]


def measure_baseline(
    ref: str, arguments: list[str], say: Callable[[str], None], grow_to: int | None = None
) -> dict[str, Any]:
    """Check out ``ref`` in a temporary worktree, run its bench with ``arguments`` (and
    this run's ``grow_to`` when it knows the option); its results JSON (with
    ``meta.commit`` the baseline's)."""
    commit = resolve(ref)
    with tempfile.TemporaryDirectory(prefix="sr-baseline-") as tmp_name:
        tmp = Path(tmp_name)
        tree = tmp / "tree"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "--quiet", str(tree), commit],
            cwd=REPO, check=True, capture_output=True,
        )
        try:
            arguments = with_grow_to(arguments, tree, grow_to)
            output = tmp / "baseline.json"
            # The worktree first on the path: its packages, not this checkout's (the
            # editable install's finder comes after the path).
            env = dict(os.environ, PYTHONPATH=str(tree))
            command = [sys.executable, "-m", "bench", *arguments, "--output", str(output)]
            say(f"[baseline {commit[:10]}] {' '.join(command[1:])}")
            proc = subprocess.Popen(
                command, cwd=tree, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                say(f"[baseline {commit[:10]}] {line.rstrip()}")
            code = proc.wait()
            if not output.exists():
                raise BaselineError(
                    f"the bench of {commit[:10]} ended with status {code} and no results; "
                    "its output is above"
                )
            results: dict[str, Any] = json.loads(output.read_text())
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(tree)],
                cwd=REPO, capture_output=True,
            )
            subprocess.run(["git", "worktree", "prune"], cwd=REPO, capture_output=True)
    results.setdefault("meta", {})["commit"] = commit
    return results


def _ceiling(results: dict[str, Any]) -> float:
    return max((s.get("receipts_per_s") or 0.0 for s in results.get("ceiling", [])), default=0.0)


def _p(step: dict[str, Any], key: str) -> float | None:
    latency = step.get("receipt_ms")
    return float(latency[key]) if latency else None


def _ratio(new: float | None, old: float | None) -> float | None:
    if new is None or not old:
        return None
    return round(new / old, 2)


def compare(current: dict[str, Any], baseline: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per end-to-end step of ``current``: its figures, the baseline's step of the
    same name, and the ratios (stored/s: current over baseline, more is better; latency:
    current over baseline, less is better)."""
    old_steps = {s["name"]: s for s in baseline.get("end_to_end", [])}
    rows = []
    for step in current.get("end_to_end", []):
        old = old_steps.get(step["name"], {})
        row = {
            "step": step["name"],
            "stored_per_s": step.get("stored_per_s"),
            "baseline_stored_per_s": old.get("stored_per_s"),
            "p50_ms": _p(step, "p50"),
            "baseline_p50_ms": _p(old, "p50") if old else None,
            "p99_ms": _p(step, "p99"),
            "baseline_p99_ms": _p(old, "p99") if old else None,
            "lock_wait_share": step.get("lock_wait_share"),
        }
        row["stored_ratio"] = _ratio(row["stored_per_s"], row["baseline_stored_per_s"])
        row["p50_ratio"] = _ratio(row["p50_ms"], row["baseline_p50_ms"])
        row["p99_ratio"] = _ratio(row["p99_ms"], row["baseline_p99_ms"])
        rows.append(row)
    return rows


def table(rows: list[dict[str, Any]], current: dict[str, Any], baseline: dict[str, Any]) -> str:
    def f(value: float | None, digits: int = 0) -> str:
        if value is None:
            return "-"
        return f"{value:.{digits}f}"

    new_commit = str(current.get("meta", {}).get("commit", "?"))[:10]
    old_commit = str(baseline.get("meta", {}).get("commit", "?"))[:10]
    lines = [
        f"this checkout ({new_commit}) against the baseline ({old_commit}), one run each",
        f"{'step':<22}{'stored/s':>10}{'base':>8}{'ratio':>7}"
        f"{'p50 ms':>9}{'base':>8}{'p99 ms':>9}{'base':>8}{'lock wait':>11}",
    ]
    for r in rows:
        share = r["lock_wait_share"]
        lines.append(
            f"{r['step']:<22}{f(r['stored_per_s']):>10}{f(r['baseline_stored_per_s']):>8}"
            f"{(f(r['stored_ratio'], 2) + '×') if r['stored_ratio'] else '-':>7}"
            f"{f(r['p50_ms'], 1):>9}{f(r['baseline_p50_ms'], 1):>8}"
            f"{f(r['p99_ms'], 1):>9}{f(r['baseline_p99_ms'], 1):>8}"
            f"{(f'{100 * share:.1f} %') if share is not None else '-':>11}"
        )
    new_ceiling, old_ceiling = _ceiling(current), _ceiling(baseline)
    best_new = max((r["stored_per_s"] or 0 for r in rows), default=0)
    best_old = max((r["baseline_stored_per_s"] or 0 for r in rows), default=0)
    lines.append(
        f"broker ceiling: {new_ceiling:.0f} receipts/s in this run, {old_ceiling:.0f} in the "
        f"baseline's; best stored/s over its ceiling: "
        f"{(best_new / new_ceiling) if new_ceiling else 0:.3f} against "
        f"{(best_old / old_ceiling) if old_ceiling else 0:.3f}"
    )
    old_totals = baseline.get("totals", {})
    lines.append(
        f"baseline: published {old_totals.get('published')}, lost {old_totals.get('lost')}, "
        f"accepted twice {old_totals.get('duplicates')}"
    )
    return "\n".join(lines)
