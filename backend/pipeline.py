"""The report spine: what happens to a batch of reports, top to bottom, in one function.

:func:`run_batch` is the README's "After a report is accepted" list, in order. Each step is
one batch-shaped function of its domain, called once per batch, taking and returning plain
columns or frozen rows; the domains meet here and never call each other:

1. decode and validate every payload (``sightings``);
2. which report ids are stored already: a redelivered report is a duplicate (``sightings``);
3. rate limits and where each fresh report's device stands (``devices``);
4. store the admitted reports, dead-letter every refusal, a receipt for each (``sightings``);
5. score each accepted report against the open cases whose area holds it, in memory
   (``cases``), and find the police station responsible for its point (``stations``);
6. cluster into incidents under the cell locks (``incidents``);
7. route each touched incident once: station, volunteers, escalation timers (``alerts``);
8. write: incidents and their report links, match rows, alert rows and timers, one
   statement per table (``incidents``, ``cases``, ``alerts``).

The caller (``messaging.policy``) owns the transaction around it; after the commit the
worker hands the receipts and the alert revisions returned here to the connection and to
delivery (``messaging.worker``), without reading them back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from backend.alerts import service as alerts
from backend.alerts.channels import AlertRevision
from backend.alerts.config import AlertingConfig
from backend.cases import matching as cases
from backend.devices import service as devices
from backend.devices.ratelimit import DeviceKind, RateLimit
from backend.incidents import service as incidents
from backend.sightings import service as sightings
from backend.sightings.placement import KIOSK_TOLERANCE_M
from backend.stations import service as stations
from backend.world import World
from protocol import Receipt


@dataclass(frozen=True, slots=True)
class Answer:
    """What one report message got: its receipt (None: nobody to answer), the alert
    revisions to deliver with it, a label for the counters and the report id for the logs."""

    label: str
    receipt: Receipt | None
    alerts: tuple[AlertRevision, ...]
    report_id: str | None


@dataclass(frozen=True, slots=True)
class Settled:
    answers: tuple[Answer, ...]  # one per message, in order
    lock_wait_s: float  # time spent acquiring the incidents' cell locks


def run_batch(
    session: Session,
    messages: Sequence[sightings.ReportMessage],
    world: World,
    config: AlertingConfig,
    now: datetime,
    limits: Mapping[DeviceKind, RateLimit] | None,
    kiosk_tolerance_m: float = KIOSK_TOLERANCE_M,
) -> Settled:
    """Settle a batch of report messages inside the caller's transaction."""
    decoded = sightings.decode_reports(messages, now)
    valid = decoded.valid()
    earlier = sightings.stored_before(session, valid)
    # Each new report id counts once against its device: not a redelivery, not a resend of
    # it in the same batch (the first copy is stored, the others are duplicates).
    fresh: dict[str, str] = {}
    for r in valid:
        if r.report_id not in earlier:
            fresh.setdefault(r.report_id, r.device_id)
    admitted = devices.admit_reports(session, list(fresh.items()), now, limits)
    stored = sightings.store_reports(session, decoded, earlier, admitted, now, kiosk_tolerance_m)

    reports = [r for r in stored.accepted if not r.test]  # a test report alerts no one
    snapshot = world.snapshot
    scored = cases.score_reports(
        reports, snapshot.area_index, snapshot.cases, snapshot.case_table, now,
        config.matches_per_report,
    )
    responsible = stations.responsible_stations(snapshot.jurisdiction, reports)
    clustered = incidents.cluster_reports(
        session, reports, responsible, scored.best(), config.cluster,
        now - config.damper.window, config.spot_radius_m,
    )
    routed = alerts.route_incidents(session, clustered.touched, clustered.rounds, world,
                                    config, now)

    incidents.write_incidents(session, clustered, routed.rounds_started)
    cases.write_matches(session, scored, reports, clustered.incident_of)
    alerts.write_routed(session, routed, config)

    sent = {
        i: tuple(routed.by_report.get(r.report_id, ()))
        for i, r in zip(stored.accepted_index, stored.accepted, strict=True)
    }
    answers = tuple(
        Answer(label, receipt, sent.get(i, ()), report_id)
        for i, (label, receipt, report_id) in enumerate(
            zip(stored.labels, stored.receipts, stored.report_ids, strict=True)
        )
    )
    return Settled(answers, clustered.lock_wait_s)
