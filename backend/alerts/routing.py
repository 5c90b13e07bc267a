"""Who hears about an incident, and why: pure recipient selection.

The backend gathers the inputs (the incident with its case matches, the candidate
volunteers with their distance to the sighting measured by ``geo``, the station whose
jurisdiction contains the point) and writes one outbox row per returned
:class:`Recipient`. Rules:

- **Police** — the jurisdiction's station gets every accepted sighting, flagged with any
  case match (``STATION_SIGHTING``).
- **Assigned volunteer** — each matched case's assigned volunteer (``ASSIGNED_CASE``); one
  alert per person, for their best-scoring case. Quiet hours do not apply: it is their case.
- **Proximity** — up to ``k`` on-duty volunteers nearest to the sighting, each within *their
  own* maximum alert radius, with a location no older than ``max_location_age_s``, and not in
  their quiet hours (``PROXIMITY``). ``k`` bounds the volunteers alerted *for this incident
  in total*: volunteers already alerted take places first.
- **Nothing to volunteers** for an unmatched single report: volunteers are alerted only when
  a case matched or the incident is corroborated (``corroboration_min_devices`` distinct
  devices). The police still get it.
- **Updates, not new alerts** — anyone already alerted for this incident gets
  ``is_update=True`` (same alert id, higher revision), never a second alert.

:func:`escalation_recipients` picks the next nearest volunteers for escalation level 1.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import islice
from typing import Final

from backend.volunteers.preferences import MAX_LOCATION_AGE_S, QuietHours
from protocol.messages import AlertKind

__all__ = [
    "DEFAULT_POLICY",
    "CaseMatch",
    "IncidentView",
    "Recipient",
    "RecipientKind",
    "RoutingError",
    "RoutingPolicy",
    "VolunteerCandidate",
    "eligible",
    "escalation_recipients",
    "escalation_station_recipient",
    "route",
]


class RoutingError(ValueError):
    """A routing input is invalid (the message names it and says what to pass)."""


class RecipientKind(StrEnum):
    VOLUNTEER = "volunteer"
    STATION = "station"


@dataclass(frozen=True, slots=True)
class CaseMatch:
    case_id: str
    score: float  # in [0, 1], from backend.cases.scoring
    assigned_volunteer_id: str | None
    distance_from_last_seen_m: float | None = None


@dataclass(frozen=True, slots=True)
class IncidentView:
    incident_id: str
    lat: float
    lon: float
    distinct_reporters: int  # distinct devices, not reports
    matches: tuple[CaseMatch, ...] = ()
    # recipients already alerted for this incident (from the alert outbox)
    already_alerted: frozenset[tuple[RecipientKind, str]] = frozenset()


@dataclass(frozen=True, slots=True)
class VolunteerCandidate:
    volunteer_id: str
    distance_m: float  # from the volunteer's last location to the sighting
    on_duty: bool
    location_age_s: float
    max_alert_radius_m: float
    quiet_hours: QuietHours | None = None
    already_alerted: bool = False


@dataclass(frozen=True, slots=True)
class RoutingPolicy:
    k: int = 5
    max_location_age_s: float = MAX_LOCATION_AGE_S
    corroboration_min_devices: int = 2
    min_case_score: float = 0.0  # matches below do not count as matched for volunteers

    def __post_init__(self) -> None:
        if self.k < 0 or self.corroboration_min_devices < 1:
            raise RoutingError("k must be >= 0 and corroboration_min_devices >= 1")
        if not (math.isfinite(self.max_location_age_s) and self.max_location_age_s >= 0):
            raise RoutingError(f"max_location_age_s={self.max_location_age_s} must be >= 0")
        if not 0.0 <= self.min_case_score <= 1.0:
            raise RoutingError(f"min_case_score={self.min_case_score} must be in [0, 1]")


DEFAULT_POLICY: Final = RoutingPolicy()


@dataclass(frozen=True, slots=True)
class Recipient:
    kind: RecipientKind
    recipient_id: str
    alert_kind: AlertKind
    reason: str  # one sentence for a person: why you get this
    distance_m: float | None = None  # proximity: from the volunteer; case: from last seen
    is_update: bool = False
    case_id: str | None = None
    score: float | None = None
    escalation_level: int = 0
    other_case_ids: tuple[str, ...] = ()  # further matched cases (station alerts)


def _distance_text(distance_m: float) -> str:
    if distance_m < 999.5:
        return f"{distance_m:.0f} m"
    return f"{distance_m / 1000.0:.1f} km"


def _reporters_text(n: int) -> str:
    return "1 reporter" if n == 1 else f"{n} independent reporters"


def _match_text(match: CaseMatch) -> str:
    text = f"case {match.case_id} (score {match.score:.2f}"
    if match.distance_from_last_seen_m is not None:
        text += f", {_distance_text(match.distance_from_last_seen_m)} from last seen"
    return text + ")"


def _check_incident(incident: IncidentView) -> None:
    if incident.distinct_reporters < 1:
        raise RoutingError(
            f"incident {incident.incident_id}: distinct_reporters="
            f"{incident.distinct_reporters}; an incident has at least one reporting device"
        )
    for match in incident.matches:
        if not 0.0 <= match.score <= 1.0:
            raise RoutingError(f"case {match.case_id}: score={match.score} must be in [0, 1]")


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise RoutingError(f"now={now!r} must be timezone-aware")


def eligible(candidate: VolunteerCandidate, now: datetime, policy: RoutingPolicy) -> bool:
    return (
        candidate.on_duty
        and math.isfinite(candidate.distance_m)
        and 0.0 <= candidate.distance_m <= candidate.max_alert_radius_m
        and 0.0 <= candidate.location_age_s <= policy.max_location_age_s
        and not (candidate.quiet_hours is not None and candidate.quiet_hours.contains(now))
    )


def route(
    incident: IncidentView,
    candidates: Sequence[VolunteerCandidate],
    station_id: str | None,
    now: datetime,
    policy: RoutingPolicy = DEFAULT_POLICY,
) -> tuple[Recipient, ...]:
    """The recipients of this incident's alerts at ``now``, station first, then assigned
    volunteers (best score first), then proximity volunteers (nearest first).

    ``station_id`` None: no jurisdiction contains the point; the caller must log that (no
    station recipient is returned).
    """
    _require_aware(now)
    _check_incident(incident)
    out: list[Recipient] = []
    alerted = set(incident.already_alerted)
    reporters = _reporters_text(incident.distinct_reporters)
    matches = sorted(incident.matches, key=lambda m: (-m.score, m.case_id))

    if station_id is not None:
        if matches:
            flag = "matches " + "; ".join(_match_text(m) for m in matches)
        else:
            flag = "no open case matched"
        update = (RecipientKind.STATION, station_id) in alerted
        out.append(
            Recipient(
                kind=RecipientKind.STATION,
                recipient_id=station_id,
                alert_kind=AlertKind.STATION_SIGHTING,
                reason=f"{'Update: ' if update else ''}Accepted sighting in your jurisdiction; "
                f"{flag}; {reporters}.",
                is_update=update,
                case_id=matches[0].case_id if matches else None,
                score=matches[0].score if matches else None,
                other_case_ids=tuple(m.case_id for m in matches[1:]),
            )
        )

    strong = [m for m in matches if m.score >= policy.min_case_score]
    corroborated = incident.distinct_reporters >= policy.corroboration_min_devices
    if not strong and not corroborated:
        return tuple(out)

    flagged_candidates = {c.volunteer_id for c in candidates if c.already_alerted}
    assigned: set[str] = set()
    for match in strong:
        volunteer = match.assigned_volunteer_id
        if volunteer is None or volunteer in assigned:
            continue
        assigned.add(volunteer)
        update = (RecipientKind.VOLUNTEER, volunteer) in alerted or volunteer in flagged_candidates
        out.append(
            Recipient(
                kind=RecipientKind.VOLUNTEER,
                recipient_id=volunteer,
                alert_kind=AlertKind.ASSIGNED_CASE,
                reason=f"{'Update: ' if update else ''}Sighting matches your "
                f"{_match_text(match)}; {reporters}.",
                distance_m=match.distance_from_last_seen_m,
                is_update=update,
                case_id=match.case_id,
                score=match.score,
            )
        )

    about = f"matching {_match_text(strong[0])}" if strong else "with no case match"
    nearby = sorted(
        (c for c in candidates if c.volunteer_id not in assigned),
        key=lambda c: (c.distance_m, c.volunteer_id),
    )
    previously = [
        c
        for c in nearby
        if c.already_alerted or (RecipientKind.VOLUNTEER, c.volunteer_id) in alerted
    ]
    # A set answers ``in`` as the list did (equal candidates), without comparing each one
    # with every earlier one; eligibility is checked only until the k places are filled.
    earlier = set(previously)
    fresh = list(islice(
        (c for c in nearby if c not in earlier and eligible(c, now, policy)),
        max(0, policy.k - len(previously)),
    ))
    for candidate in sorted([*previously, *fresh], key=lambda c: (c.distance_m, c.volunteer_id)):
        update = candidate in earlier
        if update and candidate.quiet_hours is not None and candidate.quiet_hours.contains(now):
            continue  # quiet hours hold back proximity updates too
        out.append(
            Recipient(
                kind=RecipientKind.VOLUNTEER,
                recipient_id=candidate.volunteer_id,
                alert_kind=AlertKind.PROXIMITY,
                reason=f"{'Update: ' if update else ''}You are on duty "
                f"{_distance_text(candidate.distance_m)} from a sighting {about}; "
                f"{reporters}.",
                distance_m=candidate.distance_m,
                is_update=update,
                case_id=strong[0].case_id if strong else None,
                score=strong[0].score if strong else None,
            )
        )
    return tuple(out)


def escalation_recipients(
    incident: IncidentView,
    candidates: Sequence[VolunteerCandidate],
    exclude: Collection[str],
    n: int,
    now: datetime,
    policy: RoutingPolicy = DEFAULT_POLICY,
) -> tuple[Recipient, ...]:
    """Escalation level 1: the ``n`` nearest eligible volunteers not yet alerted for this
    incident (``exclude``: everyone already alerted, including the assigned volunteer)."""
    _require_aware(now)
    _check_incident(incident)
    if n < 0:
        raise RoutingError(f"n={n} must be >= 0")
    excluded = set(exclude) | {
        v for (kind, v) in incident.already_alerted if kind is RecipientKind.VOLUNTEER
    }
    chosen = sorted(
        (
            c
            for c in candidates
            if c.volunteer_id not in excluded
            and not c.already_alerted
            and eligible(c, now, policy)
        ),
        key=lambda c: (c.distance_m, c.volunteer_id),
    )[:n]
    top = max(incident.matches, key=lambda m: m.score, default=None)
    about = f"matching {_match_text(top)}" if top else "with no case match"
    reporters = _reporters_text(incident.distinct_reporters)
    return tuple(
        Recipient(
            kind=RecipientKind.VOLUNTEER,
            recipient_id=c.volunteer_id,
            alert_kind=AlertKind.ESCALATION,
            reason=f"Nobody has acknowledged yet: you are on duty {_distance_text(c.distance_m)} "
            f"from a sighting {about}; {reporters}.",
            distance_m=c.distance_m,
            case_id=top.case_id if top else None,
            score=top.score if top else None,
            escalation_level=1,
        )
        for c in chosen
    )


def escalation_station_recipient(incident: IncidentView, station_id: str) -> Recipient:
    """Escalation level 2: the police duty desk, told that no volunteer acknowledged."""
    _check_incident(incident)
    top = max(incident.matches, key=lambda m: (m.score, m.case_id), default=None)
    about = f"matching {_match_text(top)}" if top else "with no case match"
    return Recipient(
        kind=RecipientKind.STATION,
        recipient_id=station_id,
        alert_kind=AlertKind.ESCALATION,
        reason=f"Escalated: no volunteer acknowledged a sighting {about}; "
        f"{_reporters_text(incident.distinct_reporters)}.",
        case_id=top.case_id if top else None,
        score=top.score if top else None,
        escalation_level=2,
    )
