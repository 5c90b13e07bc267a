"""``python -m bench [--quick] [--workers N] [--profile] ...``: see bench/README in the
project README's "Performance" section. Exit status 1 when a report was lost or accepted
twice (figures never fail a run: machines are noisy)."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
from pathlib import Path

from bench.compare import BaselineError, compare, measure_baseline, shared_arguments
from bench.compare import table as comparison_table
from bench.run import BenchConfig, default_output, run


def _rates(text: str) -> tuple[float, ...]:
    try:
        rates = tuple(float(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give rates as 100,500,1000") from None
    if not rates or any(r <= 0 for r in rates):
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one positive rate")
    return rates


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small world, short steps (< 2 min)")
    p.add_argument("--workers", type=int, help="worker processes (default 1)")
    p.add_argument("--rates", type=_rates, help="fixed steps in reports/s, e.g. 100,500,1000")
    p.add_argument("--step-seconds", type=float, help="duration of each fixed step")
    p.add_argument("--max-seconds", type=float, help="duration of the maximum step")
    p.add_argument("--cases", type=int, help="open cases seeded (default 10,000)")
    p.add_argument("--volunteers", type=int, help="on-duty volunteers (default 10,000)")
    p.add_argument("--profile", action="store_true",
                   help="py-spy on a worker during the maximum step (speedscope file)")
    p.add_argument("--all-steps", action="store_true",
                   help="run every fixed step, even above a rate that already saturated")
    p.add_argument("--output", type=Path, help="results JSON (default bench/results/...)")
    p.add_argument("--json", action="store_true", help="JSON lines on stdout after the table")
    p.add_argument("--baseline", metavar="REF",
                   help="measure this commit first (a temporary git worktree, its own bench "
                        "with the same steps), then this checkout; ratios per step")
    p.add_argument("--grow-to", type=int, metavar="N",
                   help="after the steps, grow the world to N cases and N volunteers and run "
                        "the maximum step again (default 100,000; 0: no such step)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    config = BenchConfig.quick_config() if args.quick else BenchConfig()
    for name, attr in (("workers", "workers"), ("rates", "rates"), ("step_seconds", "step_s"),
                       ("max_seconds", "max_s"), ("cases", "cases"),
                       ("volunteers", "volunteers")):
        value = getattr(args, name)
        if value is not None:
            setattr(config, attr, value)
    if args.grow_to is not None:
        config.grow_to = args.grow_to
    config.profile = args.profile
    config.all_steps = args.all_steps
    config.output = args.output or default_output(config.quick)
    command = "python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    # SIGTERM (also what a background job gets instead of Ctrl-C) stops the stack it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    baseline = None
    if args.baseline:
        try:
            baseline = measure_baseline(
                args.baseline, shared_arguments(args), say, config.grow_to
            )
        except BaselineError as exc:
            print(f"python -m bench: {exc}", file=sys.stderr)
            return 2
    result = run(config, say=say)
    result.meta["command"] = command.strip()
    if baseline is not None:
        result.baseline = baseline
        result.comparison = compare(result.to_json(), baseline)
    print(result.table())
    if baseline is not None:
        print()
        print(comparison_table(result.comparison, result.to_json(), baseline))
    if args.json:
        for line in result.json_lines():
            print(line)
    config.output.parent.mkdir(parents=True, exist_ok=True)
    config.output.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    print(f"results: {config.output}")
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
