"""One pass of the pursuit process, and the loop that repeats it.

A pass reads the reports at metro stations stored since the last pass (never the worker's
hot path: the worker has committed them), links each into a trail in its own transaction
and acts on the trail's new prediction (:mod:`backend.pursuit.acting`); then withdraws the
trails whose incidents were resolved on the desk, and records the pass
(``job_runs``, name ``pursuit``: ``/metrics`` shows when it last ran).

Failures: a sighting that raises is logged and set aside for the life of the process (the
others go on); a database that goes away fails the pass, which is logged and tried again
with backoff (up to 30 s) until the database is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from backend.db.jobs import record_run
from backend.db.versions import STATIONS_VERSION, current_versions
from backend.pursuit.acting import act_on_trail, withdraw_resolved
from backend.pursuit.settings import PursuitSettings
from backend.pursuit.trails import link, unlinked_reports
from backend.stations.models import PoliceStation
from geo import Jurisdiction
from geo.metro import MetroNetwork

log = logging.getLogger(__name__)

PURSUIT_JOB = "pursuit"
MAX_BACKOFF_S = 30.0


@dataclass
class PursuitState:
    """What the process keeps between passes: the jurisdiction (reloaded when the police
    stations change) and the reports it set aside."""

    net: MetroNetwork
    jurisdiction: Jurisdiction | None = None
    stations_version: int | None = None
    set_aside: set[str] = field(default_factory=set)
    passes: int = 0


@dataclass(frozen=True, slots=True)
class PassResult:
    linked: int = 0
    alerts: int = 0
    withdrawn: int = 0
    failed: int = 0


def refresh_jurisdiction(session: Session, state: PursuitState) -> None:
    version = current_versions(session).get(STATIONS_VERSION, 0)
    if version == state.stations_version and state.jurisdiction is not None:
        return
    rows = list(session.execute(select(PoliceStation)).scalars())
    state.jurisdiction = (
        Jurisdiction([r.station_id for r in rows], [to_shape(r.area) for r in rows])
        if rows
        else None
    )
    state.stations_version = version


def run_pass(
    sessions: sessionmaker[Session],
    state: PursuitState,
    now: datetime,
    cfg: PursuitSettings,
) -> PassResult:
    lookback = timedelta(seconds=cfg.lookback_s)
    with sessions() as session:
        refresh_jurisdiction(session, state)
        new, refused = unlinked_reports(
            session, state.net, now, lookback, cfg.phone_station_tolerance_m
        )
    for report_id in refused:
        if report_id not in state.set_aside:
            state.set_aside.add(report_id)
            log.info("pursuit: report %s names no station it stands at; not linked", report_id)
    linked = alerts = withdrawn = failed = 0
    for sighting in new:
        if sighting.report_id in state.set_aside:
            continue
        try:
            with sessions.begin() as session:
                trail = link(session, state.net, sighting, now)
                session.flush()
                acted = act_on_trail(session, state.net, state.jurisdiction, trail, now, cfg)
            linked += 1
            alerts += acted.written
            withdrawn += acted.withdrawn
        except SQLAlchemyError:
            raise  # the database: the pass fails and is tried again
        except Exception:
            failed += 1
            state.set_aside.add(sighting.report_id)
            log.exception("pursuit: report %s could not be linked; set aside", sighting.report_id)
    with sessions.begin() as session:
        trails = withdraw_resolved(session, state.net, now, cfg, lookback)
        record_run(
            session,
            PURSUIT_JOB,
            now,
            {"linked": linked, "alerts": alerts, "withdrawn": withdrawn + trails},
        )
    state.passes += 1
    return PassResult(linked, alerts, withdrawn + trails, failed)


def run(
    sessions: sessionmaker[Session],
    state: PursuitState,
    clock: Callable[[], datetime],
    cfg: PursuitSettings,
    stop: threading.Event,
    on_pass: Callable[[PassResult], None] | None = None,
) -> None:
    """Passes every ``cfg.every_s`` until ``stop`` is set; a failed pass is logged and tried
    again with backoff, so the process outlives a database outage."""
    delay = cfg.every_s
    while not stop.is_set():
        started = time.monotonic()
        try:
            result = run_pass(sessions, state, clock(), cfg)
        except SQLAlchemyError as exc:
            delay = min(max(delay * 2, 1.0), MAX_BACKOFF_S)
            log.warning(
                "pursuit pass failed on the database (%s); next try in %g s",
                str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                delay,
            )
        except Exception:
            delay = min(max(delay * 2, 1.0), MAX_BACKOFF_S)
            log.exception("pursuit pass failed; next try in %g s", delay)
        else:
            delay = cfg.every_s
            if on_pass is not None:
                on_pass(result)
            if state.passes == 1:
                log.info("pursuit ready: a pass every %g s", cfg.every_s)
        stop.wait(max(0.0, delay - (time.monotonic() - started)))
