"""The production Mosquitto of one machine, run as its own user.

:func:`write_broker` lays out one folder::

    ROOT/mosquitto.conf          root:mosquitto 0640  (backend.accounts.production.render)
    ROOT/certs/ca.crt            root:mosquitto 0644
    ROOT/certs/server.crt        root:mosquitto 0644
    ROOT/certs/server.key        root:mosquitto 0640  the broker reads it after dropping root
    ROOT/data/                   mosquitto      0700  persistence (mosquitto.db)
    ROOT/data/dynamic-security.json  mosquitto  0600  accounts; the broker rewrites it

``ca.key`` is never copied: whoever holds it can mint a broker certificate the devices trust.
Started as root (``mosquitto -c ROOT/mosquitto.conf``, or systemd), Mosquitto reads the
configuration, binds, and drops to ``user mosquitto`` before it opens the plugin's file and
the key, so every folder above ROOT must let that user pass (checked here).

Mosquitto 2.0.11 binds a ``protocol websockets`` listener to every interface whatever
address its ``listener`` line names (seen with ``ss -ltnp``): with a bind address, the
websockets port is reported by :func:`bind_warnings` and ``check`` so a firewall covers it,
or give no websockets port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from backend.accounts import Account, ensure_accounts, find_plugin
from backend.accounts.dynsec import update_passwords
from backend.accounts.production import ProductionPaths, render
from backend.deploy.files import (
    ROOT,
    DeployError,
    Owner,
    copy_file,
    make_dir,
    place,
    unreachable_parent,
    write_private,
)

TLS_FILES = ("ca.crt", "server.crt", "server.key")


@dataclass(frozen=True)
class BrokerLayout:
    root: Path

    @property
    def conf(self) -> Path:
        return self.root / "mosquitto.conf"

    @property
    def certs(self) -> Path:
        return self.root / "certs"

    @property
    def ca_file(self) -> Path:
        return self.certs / "ca.crt"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def dynsec(self) -> Path:
        return self.data / "dynamic-security.json"

    @property
    def persistence(self) -> Path:
        return self.data / "mosquitto.db"


@dataclass(frozen=True)
class BrokerOptions:
    tls_port: int = 8883
    websockets_port: int | None = 8884
    loopback_port: int | None = 1883
    bind_address: str | None = None
    plugin: Path | None = None  # None: found on this machine
    user: str = "mosquitto"
    log_dest: str = "syslog"


def bind_warnings(options: BrokerOptions) -> list[str]:
    if options.bind_address and options.websockets_port:
        return [
            f"websockets port {options.websockets_port}: Mosquitto 2.0.11 listens on every "
            f"interface there, not only {options.bind_address}; firewall it or use "
            "--ws-port 0"
        ]
    return []


def write_broker(
    root: Path, tls_source: Path, accounts: Sequence[Account], options: BrokerOptions
) -> BrokerLayout:
    """Write the broker's folder (see the module); add ``accounts`` that are missing and give
    the listed ones the passwords given (the others, provisioned later, are kept)."""
    user = Owner.of(options.user)
    layout = BrokerLayout(root.resolve())
    for name in TLS_FILES:
        if not (tls_source / name).is_file():
            raise DeployError(
                f"{tls_source / name} is missing: the TLS folder needs {', '.join(TLS_FILES)} "
                "(scripts/dev-tls.sh makes them, or use your PKI's)"
            )
    make_dir(layout.root, ROOT, user, 0o750)
    blocked = unreachable_parent(layout.conf, user)
    if blocked is not None:
        raise DeployError(
            f"the broker's user {user.name} cannot pass through {blocked} (mode "
            f"{blocked.stat().st_mode & 0o777:o}): chmod o+x {blocked}, or put the broker's "
            "folder elsewhere (e.g. /etc/sighting-report/broker)"
        )
    make_dir(layout.certs, ROOT, user, 0o750)
    copy_file(tls_source / "ca.crt", layout.ca_file, ROOT, user, 0o644)
    copy_file(tls_source / "server.crt", layout.certs / "server.crt", ROOT, user, 0o644)
    copy_file(tls_source / "server.key", layout.certs / "server.key", ROOT, user, 0o640)
    make_dir(layout.data, user, user, 0o700)
    ensure_accounts(layout.dynsec, accounts)
    update_passwords(layout.dynsec, accounts)
    place(layout.dynsec, user, user, 0o600)
    paths = ProductionPaths(
        certfile=layout.certs / "server.crt",
        keyfile=layout.certs / "server.key",
        dynsec_file=layout.dynsec,
        persistence_dir=layout.data,
        plugin=options.plugin or find_plugin(),
        tls_port=options.tls_port,
        websockets_port=options.websockets_port,
        loopback_port=options.loopback_port,
        bind_address=options.bind_address,
        log_dest=options.log_dest,
        extra_lines=(f"user {user.name}",),
    )
    write_private(layout.conf, render(paths), 0o640)
    place(layout.conf, ROOT, user, 0o640)
    return layout
