"""Acting on a trail's prediction: ``pursuit`` alerts written to the alert outbox (the
``alerts`` table), which the workers' publisher sweep delivers like any other revision.

- **Police**: the station whose jurisdiction holds each predicted metro station reached with
  at least ``min_probability`` (``geo.pursuit.alert_stops``) gets one alert per trail naming
  its stations and their windows, soonest first, with the why-text of the first
  (``geo.pursuit.explain``). It expires when the last of its windows has passed.
- **Volunteers**: on duty, sharing their position, outside quiet hours, whose stored coarse
  position (about 1 km) lies within ``volunteer_radius_m`` (and their own alert radius) of a
  predicted station: the nearest ``volunteers_per_trail`` get an alert with the stations near
  them. The exact positions live in the workers' memory only; this process never sees them.
- **Moves**: a later sighting changes the prediction; a recipient whose stations or windows
  changed gets the next revision of the same alert (same ``alert_id``); one no longer
  concerned gets a last revision with ``pursuit.withdrawn`` true.
- **No line fits** (``on_metro`` False): no alert, and earlier ones are withdrawn.
- **Resolved**: when the trail's incidents are closed on the desk (:func:`withdraw_resolved`)
  every alert of the trail is withdrawn and the trail with them.

Alerts hang on the trail's first incident (``alerts.incident_id`` is required); the trail
owns them through ``pursuit_alerts``.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.alerts.models import AlertRow
from backend.desk.states import StateCode, incident_states
from backend.pursuit.models import PursuitAlert, PursuitSighting, PursuitTrail
from backend.pursuit.settings import PursuitSettings
from backend.pursuit.trails import OPEN, WITHDRAWN, station_sighting, trail_sightings
from backend.volunteers.models import Volunteer
from backend.volunteers.preferences import QuietHours
from geo import Jurisdiction
from geo.distance import fast_distance_m
from geo.metro import MetroNetwork
from geo.pursuit import DEFAULT_PURSUIT, PredictedStop, Prediction, alert_stops, explain, predict
from protocol import (
    AgeBand,
    Alert,
    AlertKind,
    ChildDescription,
    Colour,
    Pursuit,
    PursuitStop,
    Sex,
    WhatSeen,
)
from protocol.topics import station_alerts, volunteer_alerts

log = logging.getLogger(__name__)

STATION, VOLUNTEER = "station", "volunteer"
MAX_STOPS = 20  # per alert (Pursuit.stops)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What one recipient should hold now."""

    kind: str  # station | volunteer
    recipient_id: str
    stops: tuple[PredictedStop, ...]  # soonest first
    reason: str
    distance_m: float | None = None


@dataclass(frozen=True, slots=True)
class Acted:
    written: int  # new alerts and revisions
    withdrawn: int


def act_on_trail(
    session: Session,
    net: MetroNetwork,
    jurisdiction: Jurisdiction | None,
    trail: PursuitTrail,
    now: datetime,
    cfg: PursuitSettings,
) -> Acted:
    """Predict the trail's next stations and bring its alerts in line with the prediction."""
    rows = trail_sightings(session, [trail.trail_id])[trail.trail_id]
    recent = [station_sighting(r) for r in rows[-DEFAULT_PURSUIT.max_visits :]]
    if len({s.station_id for s in recent}) < 2:
        return Acted(0, 0)
    prediction = predict(net, recent, max(now, recent[-1].at))
    trail.predicted_at = now
    trail.on_metro = prediction.on_metro
    wanted: list[Wanted] = []
    stops: tuple[PredictedStop, ...] = ()
    if prediction.on_metro:
        stops = alert_stops(prediction, cfg.min_probability)
        wanted = _police(net, jurisdiction, recent, stops) + _volunteers(
            session, net, recent, stops, now, cfg
        )
    trail.prediction = _desk_view(net, jurisdiction, rows, prediction, stops)
    trail.expires_at = max((s.latest for s in stops), default=None)
    why = (
        "no longer expected in your area"
        if prediction.on_metro
        else "no metro line fits the sightings"
    )
    return _apply(session, net, trail, rows, wanted, why, now, cfg)


def _police(
    net: MetroNetwork,
    jurisdiction: Jurisdiction | None,
    recent: Sequence[Any],
    stops: Sequence[PredictedStop],
) -> list[Wanted]:
    if jurisdiction is None:
        return []
    by_station: dict[str, list[PredictedStop]] = {}
    for stop in stops:
        station = net.station(stop.station_id)
        police, inside = jurisdiction.station_for(station.lon, station.lat)
        if inside:
            by_station.setdefault(police, []).append(stop)
        else:
            log.warning("pursuit: metro station %s lies in no jurisdiction", stop.station_id)
    out = []
    for police, mine in sorted(by_station.items()):
        mine.sort(key=lambda s: (s.expected, s.station_id))
        out.append(Wanted(STATION, police, tuple(mine[:MAX_STOPS]), explain(net, recent, mine[0])))
    return out


def _volunteers(
    session: Session,
    net: MetroNetwork,
    recent: Sequence[Any],
    stops: Sequence[PredictedStop],
    now: datetime,
    cfg: PursuitSettings,
) -> list[Wanted]:
    if not stops or cfg.volunteers_per_trail == 0:
        return []
    rows = session.execute(
        select(Volunteer).where(
            Volunteer.on_duty.is_(True),
            Volunteer.location_opt_in.is_(True),
            Volunteer.coarse_lon.is_not(None),
            Volunteer.coarse_lat.is_not(None),
            Volunteer.location_expires_at > now,
        )
    ).scalars()
    found: list[tuple[float, str, tuple[PredictedStop, ...]]] = []
    for v in rows:
        if v.coarse_lon is None or v.coarse_lat is None or _quiet(v, now):
            continue
        radius = min(cfg.volunteer_radius_m, v.max_alert_radius_m)
        near = []
        for stop in stops:
            st = net.station(stop.station_id)
            d = fast_distance_m(v.coarse_lon, v.coarse_lat, st.lon, st.lat)
            if d <= radius:
                near.append((d, stop))
        if near:
            near.sort(key=lambda x: (x[1].expected, x[1].station_id))
            found.append((min(d for d, _ in near), v.volunteer_id, tuple(s for _, s in near)))
    found.sort()
    return [
        Wanted(VOLUNTEER, vid, mine[:MAX_STOPS], explain(net, recent, mine[0]), distance)
        for distance, vid, mine in found[: cfg.volunteers_per_trail]
    ]


def _quiet(v: Volunteer, now: datetime) -> bool:
    if not v.quiet_start or not v.quiet_end:
        return False
    try:
        start = datetime.strptime(v.quiet_start, "%H:%M").time()
        end = datetime.strptime(v.quiet_end, "%H:%M").time()
        return QuietHours(start, end, v.timezone).contains(now)
    except ValueError:
        return False


def _apply(
    session: Session,
    net: MetroNetwork,
    trail: PursuitTrail,
    rows: Sequence[PursuitSighting],
    wanted: Sequence[Wanted],
    no_longer: str,
    now: datetime,
    cfg: PursuitSettings,
) -> Acted:
    owned = _owned(session, trail.trail_id)
    written = 0
    keep = set()
    for w in wanted:
        keep.add((w.kind, w.recipient_id))
        row = owned.get((w.kind, w.recipient_id))
        pursuit = Pursuit(trail.trail_id, tuple(_wire_stop(net, s) for s in w.stops))
        expires = max(s.latest for s in w.stops)
        if row is not None and _same(row, pursuit):
            continue
        if _write(
            session,
            trail,
            rows,
            w.kind,
            w.recipient_id,
            row,
            pursuit,
            w.reason,
            expires,
            now,
            w.distance_m,
            net,
        ):
            written += 1
    gone = {key: row for key, row in owned.items() if key not in keep}
    withdrawn = _withdraw(session, net, trail, rows, gone, no_longer, now, cfg)
    return Acted(written, withdrawn)


def _withdraw(
    session: Session,
    net: MetroNetwork,
    trail: PursuitTrail,
    rows: Sequence[PursuitSighting],
    owned: dict[tuple[str, str], AlertRow],
    reason: str,
    now: datetime,
    cfg: PursuitSettings,
) -> int:
    """A final ``withdrawn`` revision of each alert in ``owned`` not withdrawn yet; how many."""
    done = 0
    for (kind, rid), row in owned.items():
        if _is_withdrawn(row):
            continue
        if _write(
            session,
            trail,
            rows,
            kind,
            rid,
            row,
            Pursuit(trail.trail_id, withdrawn=True),
            f"Withdrawn: {reason}.",
            now + timedelta(seconds=cfg.withdrawal_ttl_s),
            now,
            None,
            net,
        ):
            done += 1
    return done


def withdraw_trail(
    session: Session,
    net: MetroNetwork,
    trail: PursuitTrail,
    reason: str,
    now: datetime,
    cfg: PursuitSettings,
) -> int:
    """Withdraw every alert of the trail and the trail itself."""
    trail.state = WITHDRAWN
    trail.withdrawn_reason = reason[:200]
    rows = trail_sightings(session, [trail.trail_id])[trail.trail_id]
    return _withdraw(session, net, trail, rows, _owned(session, trail.trail_id), reason, now, cfg)


def withdraw_resolved(
    session: Session,
    net: MetroNetwork,
    now: datetime,
    cfg: PursuitSettings,
    lookback: timedelta,
) -> int:
    """Withdraw open trails whose incidents are closed on the desk (resolved, false alarm,
    false report): all of them, or the one of the trail's latest sighting. Returns how many
    trails were withdrawn."""
    trails = list(
        session.execute(
            select(PursuitTrail).where(
                PursuitTrail.state == OPEN,
                PursuitTrail.stations >= 2,
                PursuitTrail.last_seen_at >= now - lookback,
            )
        ).scalars()
    )
    if not trails:
        return 0
    sightings = trail_sightings(session, [t.trail_id for t in trails])
    incident_ids = {s.incident_id for rows in sightings.values() for s in rows if s.incident_id}
    states = incident_states(session, incident_ids, now)
    done = 0
    for trail in trails:
        rows = sightings[trail.trail_id]
        ids = [s.incident_id for s in rows if s.incident_id]
        if not ids:
            continue
        closed = [states[i].code is StateCode.CLOSED for i in ids if i in states]
        latest_closed = ids[-1] in states and states[ids[-1]].code is StateCode.CLOSED
        if latest_closed or (closed and all(closed)):
            withdraw_trail(
                session, net, trail, "the trail's incidents were resolved on the desk", now, cfg
            )
            log.info("pursuit: trail %s withdrawn (incidents resolved)", trail.trail_id)
            done += 1
    return done


# --------------------------------------------------------------------------- outbox rows


def _owned(session: Session, trail_id: str) -> dict[tuple[str, str], AlertRow]:
    rows = session.execute(
        select(PursuitAlert, AlertRow)
        .join(AlertRow, AlertRow.alert_id == PursuitAlert.alert_id)
        .where(PursuitAlert.trail_id == trail_id)
    ).all()
    return {(p.recipient_kind, p.recipient_id): a for p, a in rows}


def _wire_stop(net: MetroNetwork, stop: PredictedStop) -> PursuitStop:
    return PursuitStop(
        station_id=stop.station_id,
        station_name=net.station(stop.station_id).name[:100],
        line=stop.line,
        earliest=stop.earliest,
        expected=stop.expected,
        latest=stop.latest,
        probability=round(min(max(stop.probability, 0.0), 1.0), 3),
        towards_station_id=stop.towards_id,
    )


def _key(pursuit: dict[str, Any] | None) -> object:
    """What a person would want a new revision for: the stations, their windows to the half
    minute, their probability to 0.05, withdrawn or not."""
    if not pursuit:
        return None
    stops = tuple(
        (
            s["station_id"],
            round(datetime.fromisoformat(s["earliest"]).timestamp() / 30),
            round(datetime.fromisoformat(s["latest"]).timestamp() / 30),
            round(s["probability"] * 20),
        )
        for s in pursuit.get("stops", ())
    )
    return stops, bool(pursuit.get("withdrawn"))


def _same(row: AlertRow, pursuit: Pursuit) -> bool:
    old = json.loads(row.payload).get("pursuit")
    return _key(old) == _key(pursuit.to_dict())


def _is_withdrawn(row: AlertRow) -> bool:
    return bool((json.loads(row.payload).get("pursuit") or {}).get("withdrawn"))


def _child(last: PursuitSighting) -> ChildDescription:
    try:
        return ChildDescription(
            AgeBand(last.age_band),
            Sex(last.sex),
            tuple(Colour(c) for c in last.clothing_colours[:5]),
        )
    except ValueError:
        return ChildDescription()


def _write(
    session: Session,
    trail: PursuitTrail,
    rows: Sequence[PursuitSighting],
    kind: str,
    recipient_id: str,
    row: AlertRow | None,
    pursuit: Pursuit,
    reason: str,
    expires_at: datetime,
    now: datetime,
    distance_m: float | None,
    net: MetroNetwork,
) -> bool:
    """Insert the alert or write its next revision; False when it cannot be written (no
    incident to hang it on, or that incident already has a pursuit alert for this
    recipient from another trail)."""
    incident_id = row.incident_id if row is not None else trail.anchor_incident_id
    if incident_id is None:
        log.warning("pursuit: trail %s has no incident to hang its alerts on", trail.trail_id)
        return False
    if row is None:
        taken = session.execute(
            select(AlertRow.alert_id).where(
                AlertRow.incident_id == incident_id,
                AlertRow.recipient_kind == kind,
                AlertRow.recipient_id == recipient_id,
                AlertRow.kind == AlertKind.PURSUIT.value,
            )
        ).first()
        if taken is not None:
            log.warning(
                "pursuit: %s %s already has a pursuit alert on incident %s; trail %s skipped",
                kind,
                recipient_id,
                incident_id,
                trail.trail_id,
            )
            return False
    last = rows[-1]
    station = net.station(last.metro_station_id)
    alert_id = row.alert_id if row is not None else str(uuid.uuid4())
    revision = row.revision + 1 if row is not None else 1
    try:
        what_seen = WhatSeen(last.what_seen)
    except ValueError:
        what_seen = WhatSeen.OTHER
    alert = Alert(
        alert_id=alert_id,
        kind=AlertKind.PURSUIT,
        recipient_id=recipient_id,
        incident_id=incident_id,
        lat=station.lat,
        lon=station.lon,
        observed_at=last.observed_at,
        what_seen=what_seen,
        reporters=max(1, len({s.device_id for s in rows})),
        sent_at=now,
        expires_at=expires_at,
        reason=reason[:500],
        case_id=trail.case_id,
        distance_m=None if distance_m is None else round(distance_m, 1),
        station_id=last.metro_station_id,
        child=_child(last),
        revision=revision,
        pursuit=pursuit,
    )
    topic = station_alerts(recipient_id) if kind == STATION else volunteer_alerts(recipient_id)
    is_new = row is None
    if row is None:
        row = AlertRow(
            alert_id=alert_id,
            incident_id=incident_id,
            recipient_kind=kind,
            recipient_id=recipient_id,
            kind=AlertKind.PURSUIT.value,
            topic=topic,
            escalation_level=0,
            created_at=now,
            delivered_revision=0,
        )
        session.add(row)
    row.revision = revision
    row.payload = alert.to_json().decode("utf-8")
    row.case_id = trail.case_id
    row.expires_at = expires_at
    row.claimed_until = None  # the next sweep of any worker hands it out
    if is_new:
        session.flush()  # the alert row before the trail's row that refers to it
        session.add(
            PursuitAlert(
                alert_id=alert_id,
                trail_id=trail.trail_id,
                recipient_kind=kind,
                recipient_id=recipient_id,
            )
        )
    log.info(
        "pursuit: trail %s -> %s %s revision %d%s",
        trail.trail_id,
        kind,
        recipient_id,
        revision,
        " (withdrawn)" if pursuit.withdrawn else "",
    )
    return True


# --------------------------------------------------------------------------- the desk


def _desk_view(
    net: MetroNetwork,
    jurisdiction: Jurisdiction | None,
    rows: Sequence[PursuitSighting],
    prediction: Prediction,
    alerted: Sequence[PredictedStop],
) -> dict[str, Any]:
    """What the desk draws: the sightings, the stations ahead with their windows (alerted or
    not) and the most likely path from the last station seen."""
    alerted_ids = {s.station_id for s in alerted}

    def police(sid: str) -> str | None:
        if jurisdiction is None:
            return None
        st = net.station(sid)
        found, inside = jurisdiction.station_for(st.lon, st.lat)
        return found if inside else None

    stops = [
        {
            "station_id": s.station_id,
            "name": net.station(s.station_id).name,
            "lon": net.station(s.station_id).lon,
            "lat": net.station(s.station_id).lat,
            "line": s.line,
            "towards_id": s.towards_id,
            "earliest": s.earliest.isoformat(),
            "expected": s.expected.isoformat(),
            "latest": s.latest.isoformat(),
            "probability": round(s.probability, 3),
            "alerted": s.station_id in alerted_ids,
            "police_station_id": police(s.station_id) if s.station_id in alerted_ids else None,
        }
        for s in prediction.stops[:30]
    ]
    path: list[list[float]] = []
    if prediction.branches:
        best = max(
            (b for b in prediction.branches if b.parent is None),
            key=lambda b: b.probability,
            default=None,
        )
        if best is not None:
            for sid in [best.start_id, *(s.station_id for s in best.stops)]:
                st = net.station(sid)
                path.append([st.lon, st.lat])
    seen = [
        {
            "report_id": r.report_id,
            "station_id": r.metro_station_id,
            "name": net.station(r.metro_station_id).name,
            "lon": net.station(r.metro_station_id).lon,
            "lat": net.station(r.metro_station_id).lat,
            "at": r.observed_at.isoformat(),
            "incident_id": r.incident_id,
            "police_station_id": r.police_station_id,
        }
        for r in rows
    ]
    why = explain(net, [station_sighting(r) for r in rows[-4:]], alerted[0]) if alerted else None
    return {
        "on_metro": prediction.on_metro,
        "seen": seen,
        "stops": stops,
        "path": path,
        "why": why,
        "hypotheses": [
            {"line": h.line, "towards_id": h.towards_id, "probability": round(h.probability, 3)}
            for h in prediction.hypotheses[:5]
        ],
    }
