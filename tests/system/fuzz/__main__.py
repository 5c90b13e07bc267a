"""``python -m tests.system.fuzz [--count N] [--seed S]``: the fuzz run with its table (``make fuzz``)."""

from __future__ import annotations

import argparse
import sys

from tests.system.fuzz.runner import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.system.fuzz",
        description="Publish hostile payloads through a real Mosquitto to the real worker on "
        "a real PostGIS and check that nothing crashes and everything is answered.",
    )
    parser.add_argument("--count", type=int, default=100_000, help="payloads (default 100000)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (default 1)")
    parser.add_argument("--publishers", type=int, default=4, help="MQTT publisher clients")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated report kinds / topic families to keep (e.g. valid,truncated)",
    )
    parser.add_argument("--json", action="store_true", help="also print JSON lines")
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    only = {k.strip() for k in args.only.split(",") if k.strip()} or None
    result = run(args.count, args.seed, publishers=args.publishers, only=only)
    print(result.table())
    if args.json:
        for line in result.json_lines():
            print(line)
    if result.violations():
        print("\nworker log (end):\n" + result.worker_log_tail, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
