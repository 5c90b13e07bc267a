"""The start-up benchmark runs: the app under Xvfb reaches its first frame and the script
prints the median (the figure itself is in the README; a loaded test machine says nothing
about it, so only a generous bound is checked here)."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.support.services import REPO

pytestmark = pytest.mark.ui


def test_the_startup_benchmark_prints_medians():
    done = subprocess.run(
        [sys.executable, "scripts/bench_app_startup.py", "--runs", "1", "--modes", "kiosk"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    found = re.search(r"^kiosk\s+median (\d+\.\d+) s", done.stdout, re.MULTILINE)
    assert found, done.stdout
    assert 0.1 < float(found.group(1)) < 15.0
