"""Bytes the database grows by per accepted report (docs/operations.md, sizing).

``python -m bench.rowsize [--reports 2000] [--cases 10000] [--volunteers 10000]``: two
throwaway PostgreSQL+PostGIS databases seeded with the same bench world (bench.world); the
worker's policy stores ``--reports`` reports into one of them (bench.pipeline.run: scoring,
up to 10 matches kept per report, incidents, alerts). The difference of every table's
``pg_total_relation_size`` (heap, indexes, TOAST) after VACUUM, divided by the reports, is
the growth per report, per table and in all.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import psycopg

from bench import world
from bench.pipeline import run

SIZES = """
SELECT c.relname, pg_total_relation_size(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r'
"""


def sizes(url: str) -> dict[str, int]:
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        return {str(name): int(size) for name, size in conn.execute(SIZES).fetchall()}


def measure(reports: int, cases: int, volunteers: int) -> dict[str, int]:
    found: list[dict[str, int]] = []
    for batches in ([], [500] * (reports // 500)):
        with tempfile.TemporaryDirectory(prefix="sr-rowsize-") as tmp:
            Path(tmp).chmod(0o755)
            server, url = world.start_database(Path(tmp) / "pg")
            try:
                run(url, cases, volunteers, batches)
                found.append(sizes(url))
            finally:
                server.stop()
    empty, full = found
    return {t: full[t] - empty.get(t, 0) for t in full if full[t] != empty.get(t, 0)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--reports", type=int, default=2000)
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--volunteers", type=int, default=10_000)
    args = ap.parse_args()
    grown = measure(args.reports, args.cases, args.volunteers)
    n = (args.reports // 500) * 500
    for table, delta in sorted(grown.items(), key=lambda kv: -kv[1]):
        print(f"{table:<28} {delta / n:>10,.0f} bytes/report")
    print(f"{'all tables':<28} {sum(grown.values()) / n:>10,.0f} bytes/report ({n} reports)")


if __name__ == "__main__":
    main()
