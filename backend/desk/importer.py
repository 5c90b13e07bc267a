"""Import police stations or cases from a GeoJSON FeatureCollection, with a progress bar
and a summary of what was refused and why.

    python -m backend.desk.importer stations FILE.geojson
    python -m backend.desk.importer cases FILE.geojson

Stations: each feature a ``Polygon``/``MultiPolygon`` jurisdiction with ``station_id`` (or
the feature ``id``) and ``name``; an existing station of that id is replaced. Cases: each
feature's properties are the JSON body of ``POST /api/cases`` and its geometry (optional)
the case's area polygon. Geometry is checked before anything is written: coordinates in
range, rings closed and not self-intersecting, inside the service area; a ring wound the
wrong way (RFC 7946: exterior counter-clockwise) is repaired and reported. Each feature is
its own transaction, so a refusal never loses the others. Exit status: 0 when everything
was imported, 1 when something was refused, 2 when the file cannot be read.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from fastapi import HTTPException
from geoalchemy2.shape import from_shape
from pydantic import ValidationError
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity
from sqlalchemy.orm import Session, sessionmaker

from backend.auth.subject import Role, Subject
from backend.cases.router import create_case
from backend.cases.schemas import CaseIn
from backend.db.engine import make_engine, make_sessionmaker
from backend.db.models import PoliceStation
from backend.db.versions import STATIONS_VERSION, bump_version
from backend.http_common import ID_PATTERN
from backend.settings import get_settings

# Who files the imported cases: the command line, with a coordinator's rights.
COMMAND_LINE = Subject("backend.desk.importer", Role.COORDINATOR)
# Shanghai and its surroundings: what the service covers.
SERVICE_AREA = box(120.85, 30.67, 122.0, 31.88)


class GeometryRefusedError(ValueError):
    """A feature's geometry cannot be used; the message says what is wrong and where."""


@dataclass
class Summary:
    total: int = 0
    imported: list[str] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    refused: list[tuple[int, str, str]] = field(default_factory=list)  # index, id, why


def checked_area(
    geometry: Any, service_area: BaseGeometry = SERVICE_AREA
) -> tuple[BaseGeometry, list[str]]:
    """A usable (multi)polygon from GeoJSON, and what was repaired; raises
    GeometryRefusedError for what cannot be repaired safely."""
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        kind = geometry.get("type") if isinstance(geometry, dict) else type(geometry).__name__
        raise GeometryRefusedError(f"geometry must be a Polygon or MultiPolygon, not {kind}")
    polygons = (
        [geometry.get("coordinates")]
        if geometry["type"] == "Polygon"
        else list(geometry.get("coordinates") or [])
    )
    for p, rings in enumerate(polygons):
        if not isinstance(rings, list) or not rings:
            raise GeometryRefusedError(f"polygon {p} has no rings")
        for r, ring in enumerate(rings):
            if not isinstance(ring, list) or len(ring) < 4:
                raise GeometryRefusedError(f"polygon {p} ring {r} needs at least 4 positions")
            for i, pos in enumerate(ring):
                if (
                    not isinstance(pos, list)
                    or len(pos) < 2
                    or not all(
                        isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2]
                    )
                ):
                    raise GeometryRefusedError(
                        f"polygon {p} ring {r} position {i} is not [lon, lat]"
                    )
                lon, lat = pos[0], pos[1]
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise GeometryRefusedError(
                        f"polygon {p} ring {r} position {i}: ({lon}, {lat}) is out of range "
                        "(longitude first, within [-180, 180]; latitude within [-90, 90])"
                    )
            if ring[0][:2] != ring[-1][:2]:
                raise GeometryRefusedError(
                    f"polygon {p} ring {r} is not closed: its last position must repeat the first"
                )
    try:
        geom = shape(geometry)
    except (ValueError, TypeError, AttributeError) as exc:
        raise GeometryRefusedError(f"not a valid GeoJSON geometry ({exc})") from exc
    if not geom.is_valid:
        raise GeometryRefusedError(
            f"invalid geometry: {explain_validity(geom)} (e.g. a self-intersecting ring); "
            "fix the ring order of its positions"
        )
    repaired = []
    parts = [geom] if isinstance(geom, Polygon) else list(geom.geoms)
    fixed = []
    for n, part in enumerate(parts):
        good = orient(part, sign=1.0)  # exterior counter-clockwise, holes clockwise
        if list(good.exterior.coords) != list(part.exterior.coords) or any(
            list(a.coords) != list(b.coords)
            for a, b in zip(good.interiors, part.interiors, strict=True)
        ):
            repaired.append(
                f"polygon {n}: ring winding reversed to RFC 7946 (exterior counter-clockwise)"
            )
        fixed.append(good)
    area = fixed[0] if isinstance(geom, Polygon) else MultiPolygon(fixed)
    if not service_area.contains(area):
        b = service_area.bounds
        raise GeometryRefusedError(
            f"outside the service area (longitude {b[0]}–{b[2]}, latitude {b[1]}–{b[3]})"
        )
    return area, repaired


def _import_station(session: Session, index: int, feature: dict[str, Any]) -> tuple[str, list[str]]:
    props = feature.get("properties") or {}
    station_id = props.get("station_id", feature.get("id"))
    name = props.get("name")
    if not isinstance(station_id, str) or not re.match(ID_PATTERN, station_id):
        raise GeometryRefusedError(
            "properties.station_id (or the feature id) must be 1-64 characters of [A-Za-z0-9_.-]"
        )
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise GeometryRefusedError("properties.name must be a text of 1-200 characters")
    area, repaired = checked_area(feature.get("geometry"))
    session.merge(PoliceStation(station_id=station_id, name=name, area=from_shape(area, 4326)))
    bump_version(session, STATIONS_VERSION)  # every worker reloads its jurisdictions
    return station_id, repaired


def _import_case(session: Session, index: int, feature: dict[str, Any]) -> tuple[str, list[str]]:
    props = dict(feature.get("properties") or {})
    repaired: list[str] = []
    if feature.get("geometry") is not None:
        area, repaired = checked_area(feature["geometry"])
        props["polygons_geojson"] = [*props.get("polygons_geojson", []), mapping(area)]
        props["polygons_geojson"] = json.loads(json.dumps(props["polygons_geojson"]))
    try:
        body = CaseIn.model_validate_json(json.dumps(props))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise GeometryRefusedError(f"properties.{where}: {first['msg']}") from exc
    try:
        create_case(body, session, COMMAND_LINE)
    except HTTPException as exc:
        raise GeometryRefusedError(str(exc.detail)) from exc
    return body.case_id, repaired


IMPORTERS: dict[str, Callable[[Session, int, dict[str, Any]], tuple[str, list[str]]]] = {
    "stations": _import_station,
    "cases": _import_case,
}


def _bar(done: int, total: int, refused: int, out: TextIO, width: int = 30) -> None:
    filled = width * done // max(total, 1)
    out.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  refused {refused}")
    out.flush()


def import_features(
    sessions: sessionmaker[Session],
    kind: str,
    features: list[Any],
    progress: TextIO | None = None,
) -> Summary:
    summary = Summary(total=len(features))
    importer = IMPORTERS[kind]
    for index, feature in enumerate(features):
        label = str(feature.get("id", "")) if isinstance(feature, dict) else ""
        try:
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                raise GeometryRefusedError("not a GeoJSON Feature")
            with sessions.begin() as session:
                item_id, repaired = importer(session, index, feature)
            summary.imported.append(item_id)
            summary.repaired += [f"{item_id}: {r}" for r in repaired]
        except GeometryRefusedError as exc:
            summary.refused.append((index, label, str(exc)))
        if progress is not None:
            _bar(index + 1, len(features), len(summary.refused), progress)
    if progress is not None:
        progress.write("\n")
    return summary


def read_features(path: Path) -> list[Any]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        raise ValueError(f"{path} is not a GeoJSON FeatureCollection")
    features = data.get("features")
    if not isinstance(features, list):
        raise ValueError(f"{path}: 'features' must be a list")
    return features


def main(argv: list[str] | None = None, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m backend.desk.importer",
        description="Import police stations or cases from a GeoJSON FeatureCollection.",
    )
    parser.add_argument("kind", choices=sorted(IMPORTERS))
    parser.add_argument("file", type=Path)
    parser.add_argument("--database-url", default=None, help="default: SR_DATABASE_URL")
    args = parser.parse_args(argv)
    try:
        features = read_features(args.file)
    except (OSError, ValueError) as exc:
        err.write(f"cannot read {args.file}: {exc}\n")
        return 2
    engine = make_engine(args.database_url or get_settings().database_url)
    try:
        summary = import_features(make_sessionmaker(engine), args.kind, features, progress=err)
    finally:
        engine.dispose()
    out.write(
        f"{args.kind}: {len(summary.imported)} of {summary.total} imported, "
        f"{len(summary.repaired)} repaired, {len(summary.refused)} refused\n"
    )
    for line in summary.repaired:
        out.write(f"  repaired {line}\n")
    for index, label, why in summary.refused:
        out.write(f"  refused feature {index}{f' ({label})' if label else ''}: {why}\n")
    return 1 if summary.refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
