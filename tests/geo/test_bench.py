import json
import subprocess
import sys

from tests.geo.conftest import REPO

EXPECTED = {
    "area_index_build",
    "batch_matches_per_s",
    "single_matches_per_s",
    "mean_areas_per_point",
    "volunteer_updates_per_s",
    "proximity_queries_per_s",
    "peak_memory",
}


def test_quick_benchmark_runs_and_reports_every_measure():
    proc = subprocess.run(
        [sys.executable, "-m", "geo.bench", "--quick"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    measures = {line["measure"]: line for line in lines}
    assert set(measures) >= EXPECTED
    for name in EXPECTED:
        assert measures[name]["value"] > 0, name
    assert measures["volunteer_update_staleness"]["value"] == 0
    assert measures["volunteer_update_staleness"]["stale_answers"] == 0
