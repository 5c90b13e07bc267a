"""Matching a report against the open cases whose area contains it: score, reasons, and the
best match per case over an incident's reports.

The containment test is the caller's (the worker's in-memory ``geo.AreaIndex``); this module
scores the hits and writes them down."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from backend.cases.models import CaseMatchRow
from backend.cases.scoring import score_sighting
from backend.cases.service import OpenCase
from geo import fast_distance_m
from protocol import SightingReport


@dataclass(frozen=True, slots=True)
class BestMatch:
    case: OpenCase
    score: float
    distance_m: float  # from the case's last-seen point


def record_matches(
    session: Session,
    report: SightingReport,
    incident_id: str,
    hits: Sequence[tuple[str, float]],
    cases: Mapping[str, OpenCase],
    now: datetime,
) -> list[CaseMatchRow]:
    """Score the report against each hit (case id, distance from its last-seen point). A case
    the reporter named (``report.case_id``, from its public notice) is scored too when the
    point lies outside its area: the passenger recognised the child, and the coordinator
    must see it; the reasons say it was named."""
    hits = list(hits)
    named = report.case_id
    if named is not None and named in cases and all(cid != named for cid, _ in hits):
        case = cases[named]
        loc = report.location
        hits.append(
            (named, fast_distance_m(case.last_seen_lon, case.last_seen_lat, loc.lon, loc.lat))
        )
    rows: list[CaseMatchRow] = []
    for case_id, distance_m in hits:
        case = cases.get(case_id)
        if case is None:
            continue
        score = score_sighting(
            distance_m=distance_m,
            elapsed=report.observed_at - case.last_seen_at,
            reported=report.child,
            case=case.description,
            area_radius_m=case.radius_at(report.observed_at),
        )
        row = CaseMatchRow(
            report_id=report.report_id,
            case_id=case_id,
            incident_id=incident_id,
            score=score.score,
            distance_m=distance_m,
            reasons=[*score.reasons, *(["named by the reporter"] if case_id == named else [])],
            created_at=now,
        )
        session.add(row)
        rows.append(row)
    return rows


def best_matches(
    session: Session, incident_id: str, cases: Mapping[str, OpenCase]
) -> list[BestMatch]:
    """Best score per case over all reports of the incident (open cases only)."""
    best: dict[str, CaseMatchRow] = {}
    for row in session.execute(
        select(CaseMatchRow).where(CaseMatchRow.incident_id == incident_id)
    ).scalars():
        if row.case_id in cases and (
            row.case_id not in best or row.score > best[row.case_id].score
        ):
            best[row.case_id] = row
    return [BestMatch(cases[cid], row.score, row.distance_m) for cid, row in best.items()]
