"""``python -m backend.pursuit``: the pursuit process (one per deployment, like the retention
job): a pass every ``SR_PURSUIT_EVERY_S`` seconds until SIGTERM or SIGINT; ``--once`` for
one pass."""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from datetime import UTC, datetime

from backend.db.engine import make_engine, make_sessionmaker
from backend.logs import configure as configure_logging
from backend.pursuit.service import PassResult, PursuitState, run, run_pass
from backend.pursuit.settings import get_pursuit_settings
from backend.settings import get_settings
from backend.stations.metro import DEFAULT_STATIONS_FILE
from geo.metro import load_network

log = logging.getLogger("backend.pursuit")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.pursuit",
        description="Link reports at metro stations into trails and alert the stations ahead.",
    )
    parser.add_argument("--database-url", default=get_settings().database_url)
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    configure_logging("pursuit")
    cfg = get_pursuit_settings()
    state = PursuitState(load_network(DEFAULT_STATIONS_FILE))
    engine = make_engine(args.database_url)
    sessions = make_sessionmaker(engine)
    try:
        if args.once:
            result = run_pass(sessions, state, datetime.now(UTC), cfg)
            print(f"linked {result.linked}, alerts {result.alerts}, withdrawn {result.withdrawn}")
            return 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        log.info("pursuit scheduled: a pass every %g s", cfg.every_s)
        run(sessions, state, lambda: datetime.now(UTC), cfg, stop, _log_pass)
    finally:
        engine.dispose()
    return 0


def _log_pass(result: PassResult) -> None:
    if result.linked or result.withdrawn or result.failed:
        log.info(
            "pursuit pass: %d linked, %d alert revisions, %d withdrawn, %d set aside",
            result.linked,
            result.alerts,
            result.withdrawn,
            result.failed,
        )


if __name__ == "__main__":
    raise SystemExit(main())
