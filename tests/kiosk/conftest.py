from __future__ import annotations

import os

import pytest

from tests.kiosk.helpers import ACL, USERS, Responder
from tests.support.services import mosquitto

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")


@pytest.fixture()
def broker():
    with mosquitto(users=USERS, acl=ACL) as server:
        yield server


@pytest.fixture()
def responder(broker):
    r = Responder(broker.port)
    yield r
    r.close()
