"""The running dev stack, with its broker chosen by the test's parameter."""

from __future__ import annotations

import sys

import pytest

from tests.devstack.helpers import (
    stack_env,
    start_stack,
    stop_stack,
)


@pytest.fixture
def devstack(tmp_path, request):
    env, mqtt_port, http_port = stack_env(
        tmp_path, SR_DEV_BROKER=getattr(request, "param", "mosquitto")
    )
    out = tmp_path / "devstack.out"
    proc = start_stack([sys.executable, "-m", "devstack"], env, out)
    yield proc, out.read_text(), mqtt_port, http_port, tmp_path / "var"
    stop_stack(proc)
