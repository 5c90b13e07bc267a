"""Matching a report against the open cases whose area contains it: score every one, keep
the best few with their reasons, and the best match per case over an incident's reports.

The containment test is the caller's (the worker's in-memory ``geo.AreaIndex``); this module
scores the hits and writes them down."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from backend.cases.models import CaseMatchRow
from backend.cases.ranking import CaseTable, best_pairs
from backend.cases.scoring import score_sighting
from backend.cases.service import OpenCase
from backend.db.dialect import copy_rows
from geo import AreaIndex, fast_distance_m
from protocol import SightingReport


@dataclass(frozen=True, slots=True)
class BestMatch:
    case: OpenCase
    score: float
    distance_m: float  # from the case's last-seen point


BestByCase = dict[str, list[float]]  # case_id -> [score, distance_m]

# A point in a dense city lies in about a hundred case areas (10,000 open cases around
# Shanghai): a person reads the best few, and routing alerts the assigned volunteer of each
# case kept, so keeping them all would be noise to the coordinator and an alert storm.
DEFAULT_MATCHES_PER_REPORT = 10


@dataclass(frozen=True, slots=True)
class Scored:
    """The cases step's answer: each report's kept ``case_matches`` rows (best first,
    ``incident_id`` empty until :func:`write_matches`)."""

    rows: tuple[list[dict[str, Any]], ...]

    def best(self) -> list[list[tuple[str, float, float]]]:
        """Per report: (case id, score, distance_m) of each kept match."""
        return [[(r["case_id"], r["score"], r["distance_m"]) for r in rows] for rows in self.rows]


def score_reports(
    reports: Sequence[SightingReport],
    area_index: AreaIndex,
    cases: Mapping[str, OpenCase],
    table: CaseTable,
    now: datetime,
    keep: int = DEFAULT_MATCHES_PER_REPORT,
) -> Scored:
    """The cases step of the report spine: the open cases whose area holds each report at its
    observed time (the worker's in-memory ``area_index``), every one scored, the ``keep``
    best kept with their reasons (:func:`score_batch`). Memory only: no database, no lock."""
    hits = [area_index.match(r.location.lon, r.location.lat, r.observed_at) for r in reports]
    return Scored(tuple(score_batch(reports, hits, cases, now, keep, table)))


def write_matches(
    session: Session, scored: Scored, reports: Sequence[SightingReport],
    incident_of: Mapping[str, str],
) -> None:
    """All of a batch's match rows, each with its report's incident, at once."""
    rows: list[dict[str, Any]] = []
    for report, kept in zip(reports, scored.rows, strict=True):
        incident_id = incident_of[report.report_id]
        for row in kept:
            row["incident_id"] = incident_id
        rows += kept
    insert_matches(session, rows)


def score_batch(
    reports: Sequence[SightingReport],
    hits: Sequence[Sequence[tuple[str, float]]],
    cases: Mapping[str, OpenCase],
    now: datetime,
    keep: int = DEFAULT_MATCHES_PER_REPORT,
    table: CaseTable | None = None,
) -> list[list[dict[str, Any]]]:
    """The ``case_matches`` rows of each report (``incident_id`` left empty for the caller):
    every hit (case id, distance from its last-seen point) is scored, and the ``keep`` best
    are kept with their reasons, highest score first (nearer last-seen point, then case id,
    break ties). ``table``: the :class:`CaseTable` of ``cases`` (built here when None).

    A case the reporter named (``report.case_id``, from its public notice) is always kept,
    and scored when the point lies outside its area: the passenger recognised the child,
    and the coordinator must see it; the reasons say it was named."""
    if keep < 1:
        raise ValueError(f"keep={keep}: at least the best match per report must be kept")
    if table is None:
        table = CaseTable(cases)
    all_hits = [
        _with_named(report, list(h), cases) for report, h in zip(reports, hits, strict=True)
    ]
    best = best_pairs(table, [(r.observed_at, r.child) for r in reports], all_hits, keep)
    out: list[list[dict[str, Any]]] = []
    for report, report_hits, kept in zip(reports, all_hits, best, strict=True):
        named = report.case_id
        if named is not None and named in table.position and all(c != named for c, _ in kept):
            kept += [h for h in report_hits if h[0] == named]
        out.append([_explained(report, cases[cid], d, now) for cid, d in kept])
    return out


def _with_named(
    report: SightingReport, hits: list[tuple[str, float]], cases: Mapping[str, OpenCase]
) -> list[tuple[str, float]]:
    named = report.case_id
    if named is None or named not in cases or any(cid == named for cid, _ in hits):
        return hits
    case = cases[named]
    loc = report.location
    d = fast_distance_m(case.last_seen_lon, case.last_seen_lat, loc.lon, loc.lat)
    return [*hits, (named, d)]


def _explained(
    report: SightingReport, case: OpenCase, distance_m: float, now: datetime
) -> dict[str, Any]:
    elapsed = report.observed_at - case.last_seen_at
    explained = score_sighting(
        distance_m=distance_m,
        elapsed=elapsed,
        reported=report.child,
        case=case.description,
        area_radius_m=case.radius_after(elapsed),
    )
    return {
        "report_id": report.report_id,
        "case_id": case.case_id,
        "incident_id": "",
        "score": explained.score,
        "distance_m": distance_m,
        "reasons": [
            *explained.reasons,
            *(["named by the reporter"] if case.case_id == report.case_id else []),
        ],
        "created_at": now,
    }


def insert_matches(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """All of a batch's match rows at once (COPY on PostgreSQL)."""
    copy_rows(session, cast(Table, CaseMatchRow.__table__), rows)


def merge_best(best: BestByCase, rows: Sequence[Mapping[str, Any]]) -> BestByCase:
    """``best`` with the higher score per case of ``rows`` (a new dict)."""
    out = dict(best)
    for row in rows:
        held = out.get(row["case_id"])
        if held is None or row["score"] > held[0]:
            out[row["case_id"]] = [row["score"], row["distance_m"]]
    return out


def best_from_rows(session: Session, incident_id: str) -> BestByCase:
    """Best score per case over the incident's stored match rows (for an incident made
    before the best matches were kept on it)."""
    rows = session.execute(
        select(CaseMatchRow.case_id, CaseMatchRow.score, CaseMatchRow.distance_m).where(
            CaseMatchRow.incident_id == incident_id
        )
    )
    return merge_best(
        {}, [{"case_id": c, "score": s, "distance_m": d} for c, s, d in rows]
    )


def best_matches(best: BestByCase, cases: Mapping[str, OpenCase]) -> list[BestMatch]:
    """The incident's best match per case, open cases only."""
    return [
        BestMatch(cases[cid], score, distance_m)
        for cid, (score, distance_m) in best.items()
        if cid in cases
    ]
