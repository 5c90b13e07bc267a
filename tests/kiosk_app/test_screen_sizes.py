"""The walk of every flow (tests/kiosk_app/test_walk.py) at the other window sizes: every mode
at 1920x1080, 540x960 and 360x640 (the walk itself runs every mode at 1280x800).
Offscreen SDL cannot resize a window once made, so each size is its own pytest process
(``KIOSK_TEST_WINDOW``); the three run side by side."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.support.services import REPO

pytestmark = pytest.mark.ui

EVERY_FLOW = (
    "test_kiosk_flows_at_this_size or test_phone_flows_at_this_size"
    " or test_volunteer_flows_at_this_size"
)
SIZES = dict.fromkeys(("1920x1080", "540x960", "360x640"), EVERY_FLOW)
# 9 kiosk, 7 phone and 4 volunteer screens, each in two languages
SHOTS = dict.fromkeys(SIZES, 40)


def test_every_flow_at_every_other_size(tmp_path):
    env = dict(
        os.environ,
        SDL_VIDEODRIVER="offscreen",
        KIVY_NO_ARGS="1",
        KIVY_NO_CONSOLELOG="1",
    )
    runs = {}
    for size in SIZES:  # only this run's screenshots count below
        shutil.rmtree(REPO / "test-artifacts" / "screens" / size, ignore_errors=True)
    for size, selection in SIZES.items():
        log = (tmp_path / f"{size}.log").open("wb")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command += ["tests/kiosk_app/test_walk.py", "-k", selection]
        runs[size] = (
            subprocess.Popen(
                command,
                cwd=REPO,
                env=env | {"KIOSK_TEST_WINDOW": size},
                stdout=log,
                stderr=subprocess.STDOUT,
            ),
            log,
        )
    deadline = time.monotonic() + 420
    failures = []
    for size, (proc, log) in runs.items():
        try:
            code = proc.wait(max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        log.close()
        output = (tmp_path / f"{size}.log").read_text(errors="replace")
        if code != 0 or f"{SIZES[size].count('test_')} passed" not in output:
            failures.append(f"--- {size} (exit {code})\n{output[-4000:]}")
    assert not failures, "\n".join(failures)
    for size in SIZES:
        shots = list((REPO / "test-artifacts" / "screens" / size).glob("*.png"))
        assert len(shots) == SHOTS[size], f"{size}: {len(shots)} screenshots, not {SHOTS[size]}"
