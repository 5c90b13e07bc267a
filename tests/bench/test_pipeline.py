"""The worker's batch path costs a fixed number of SQL statements per batch, not per report:
``bench.pipeline`` on the suite's PostGIS with a small bench world (the figures of time are
printed by ``python -m bench.pipeline``, never asserted)."""

from __future__ import annotations

from bench.pipeline import run


def test_statements_do_not_grow_with_the_batch(postgis_url):
    # A warm-up batch (every incident new), then batches of 40 and 400 reports around the
    # 302 kiosks and 100 phones: mostly joining incidents, matching cases, routing alerts.
    figures = run(postgis_url, cases=200, volunteers=200, batches=[100, 40, 400])
    small, large = figures[1], figures[2]
    assert small.reports == 40 and large.reports == 400
    # Ten times the reports, far less than ten times the statements (one per report would
    # be 400 more; the per-report ORM path issued about 9 per report).
    assert large.statements < small.statements + 40, (small, large)
    assert large.statements / large.reports < 0.5, large
