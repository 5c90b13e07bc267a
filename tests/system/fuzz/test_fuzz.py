"""5,000 hostile payloads through the real broker to the real worker on PostGIS
(``make fuzz`` runs 100,000)."""

from __future__ import annotations

import pytest

from tests.system.fuzz.generators import DURABLE, FAMILIES
from tests.system.fuzz.runner import run

COUNT = 5_000


@pytest.mark.timeout(240)
def test_5000_hostile_payloads_crash_nothing_and_each_is_answered_once(postgis_url: str) -> None:
    result = run(COUNT, seed=8, db_url=postgis_url, say=lambda _: None)
    print(result.table())
    assert not result.violations(), result.table() + "\n" + result.worker_log_tail
    assert result.crashes == 0
    assert result.health_probes > 0, "the health endpoint was never probed"
    assert result.receipts_missing == 0 and result.receipts_extra == 0
    for name in FAMILIES:
        assert result.families[name].published > 0, f"no {name} payload was generated"
    for name in DURABLE:
        fam = result.families[name]
        assert fam.stored + fam.dead_lettered == fam.published, name
    valid = result.report_kinds["valid"]
    assert valid["accepted"] == valid["published"], "a valid report among hostile ones was refused"
    assert result.families["reports"].stored == sum(
        row["accepted"] for row in result.report_kinds.values()
    ), "stored reports must be exactly the accepted ones"
    assert result.seconds < 120, f"5,000 payloads took {result.seconds:.0f} s"
