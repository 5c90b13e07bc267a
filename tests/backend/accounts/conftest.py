"""A real Mosquitto with the production configuration: certificates made by
scripts/dev-tls.sh into a temporary folder, TLS and websockets-over-TLS listeners and the
loopback plain listener on free ports, the accounts of ``backend.accounts``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.accounts import Account, AccountKind
from tests.support.services import Mosquitto, make_dev_tls, mosquitto

ADMIN_PASSWORD = "admin-pw"
KIOSK_PASSWORD = "kiosk-pw"
ACCOUNTS = (
    Account("admin", ADMIN_PASSWORD, AccountKind.ADMIN),
    Account("kiosk-SH-001", KIOSK_PASSWORD, AccountKind.KIOSK),
    Account("kiosk-SH-002", KIOSK_PASSWORD, AccountKind.KIOSK),
    Account("kiosk-SH-003", KIOSK_PASSWORD, AccountKind.KIOSK),
    Account("backend-worker-1", "worker-pw", AccountKind.WORKER),
)


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_dev_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def other_ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another CA with its own server certificate for the same names."""
    return make_dev_tls(tmp_path_factory.mktemp("other-tls"))


@pytest.fixture
def prod_broker(tls_dir: Path) -> Iterator[Mosquitto]:
    with mosquitto(accounts=ACCOUNTS, tls_dir=tls_dir) as broker:
        yield broker
