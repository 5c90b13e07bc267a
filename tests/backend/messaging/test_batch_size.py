"""A receipt waits for its batch's commit: the worker sizes batches by the recent cost per
message so a batch fits the latency target (SR_BATCH_TARGET_MS), within 1..SR_BATCH_MAX."""

from __future__ import annotations

import pytest

from backend.db.engine import make_engine, make_sessionmaker
from backend.messaging.worker import Worker
from backend.settings import Settings


@pytest.mark.parametrize(
    "cost_s, expected",
    [(0.0, 500), (0.00001, 500), (0.001, 100), (0.04, 2), (0.5, 1)],
)
def test_batch_fits_the_latency_target(tmp_path, cost_s, expected):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'x.db'}", batch_target_ms=100.0)
    engine = make_engine(settings.database_url)
    worker = Worker(settings, make_sessionmaker(engine))
    worker._cost_s = cost_s
    assert worker._batch_size() == expected
    engine.dispose()
