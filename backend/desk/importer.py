"""Import police stations or cases from a GeoJSON FeatureCollection, with a progress bar
and a summary of what was refused and why.

    python -m backend.desk.importer stations FILE.geojson
    python -m backend.desk.importer cases FILE.geojson

Stations: each feature a ``Polygon``/``MultiPolygon`` jurisdiction with ``station_id`` (or
the feature ``id``) and ``name``; an existing station of that id is replaced. Cases: each
feature's properties are the JSON body of ``POST /api/cases`` and its geometry (optional)
the case's area polygon; the desk's radius default applies (README, "Cases in the desk",
which also gives the CSV format the desk imports). Geometry is checked before anything is
written: coordinates in range, rings closed and not self-intersecting, inside the service
area; a ring wound the wrong way (RFC 7946: exterior counter-clockwise) is repaired and
reported. Each feature is its own transaction, so a refusal never loses the others. Exit
status: 0 when everything was imported, 1 when something was refused, 2 when the file cannot
be read.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from geoalchemy2.shape import from_shape
from shapely.geometry import MultiPolygon, Polygon, box, mapping, shape
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity
from sqlalchemy.orm import Session, sessionmaker

from backend.cases.service import METRO_SCHEDULE, schedule_to_json
from backend.db.engine import make_engine, make_sessionmaker
from backend.db.versions import STATIONS_VERSION, bump_version
from backend.desk.api.cases import CaseRefusedError, file_case, parse_case
from backend.http_common import ID_PATTERN
from backend.settings import get_settings
from backend.stations.metro import load_metro
from backend.stations.models import PoliceStation

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
    if "_error" in feature:  # a CSV row that could not be read as a case's fields
        raise GeometryRefusedError(str(feature["_error"]))
    repaired: list[str] = []
    if feature.get("geometry") is not None:
        area, repaired = checked_area(feature["geometry"])
        props["polygons_geojson"] = [*props.get("polygons_geojson", []), mapping(area)]
        props["polygons_geojson"] = json.loads(json.dumps(props["polygons_geojson"]))
    try:
        body = parse_case(desk_defaults(props))
        file_case(session, body)
    except CaseRefusedError as exc:
        raise GeometryRefusedError(
            "; ".join(
                f"properties.{p.field.removeprefix('body.')}: {p.message}"
                if p.field.startswith("body.")
                else p.message
                for p in exc.problems
            )
        ) from exc
    return body.case_id, repaired


def desk_defaults(props: dict[str, Any]) -> dict[str, Any]:
    """A case from the desk (its form, its import) without a radius given: no circle when a
    polygon or corridor is drawn (the drawn area is what matches), else the metro schedule
    (``backend.cases.service.METRO_SCHEDULE``). The last-seen point defaults to the
    last-seen station's position."""
    out = dict(props)
    if "radius_schedule" not in out and "use_circle" not in out:
        if out.get("polygons_geojson") or out.get("corridor"):
            out["use_circle"] = False
        else:
            out["radius_schedule"] = schedule_to_json(METRO_SCHEDULE)
    station = out.get("last_seen_station_id")
    if "last_seen_lon" not in out and "last_seen_lat" not in out and isinstance(station, str):
        for s in load_metro()[0]:
            if s.station_id == station:
                out["last_seen_lon"], out["last_seen_lat"] = s.lon, s.lat
    return out


# The columns of a CSV of cases (README, "Importing cases"); the first row names them.
CSV_LISTS = {"clothing_colours"}
CSV_NUMBERS = {"last_seen_lon", "last_seen_lat", "circle_max_age_s"}


def _schedule_cell(text: str) -> list[list[float | None]]:
    """``1h:1.5km;3h:3km;*:5km`` or seconds and metres ``3600:1500;*:5000``."""
    steps: list[list[float | None]] = []
    for step in filter(None, (p.strip() for p in text.split(";"))):
        within, _, radius = step.partition(":")
        w = within.strip().lower()
        r = radius.strip().lower()
        w_s = None if w in ("*", "") else float(w[:-1]) * 3600 if w.endswith("h") else float(w)
        r_m = float(r[:-2]) * 1000 if r.endswith("km") else float(r.removesuffix("m"))
        steps.append([w_s, r_m])
    return steps


def case_from_csv_row(row: dict[str, str]) -> dict[str, Any]:
    """One CSV row as the properties of a case feature; raises ValueError naming the column."""
    props: dict[str, Any] = {}
    for column, raw in row.items():
        if column is None:
            raise ValueError("the row has more cells than the header has columns")
        value = (raw or "").strip()
        name = column.strip()
        if not value:
            continue
        try:
            if name in CSV_LISTS:
                props[name] = [v.strip() for v in value.replace(",", ";").split(";") if v.strip()]
            elif name in CSV_NUMBERS:
                props[name] = float(value)
            elif name == "radius_schedule":
                props[name] = _schedule_cell(value) if value.lower() != "none" else None
                if props[name] is None:
                    props["use_circle"] = False
                    del props[name]
            elif name == "corridor_from":
                props.setdefault("corridor", {})["from_station"] = value
            elif name == "corridor_within":
                props.setdefault("corridor", {})["within_stations"] = int(value)
            elif name == "corridor_buffer_m":
                props.setdefault("corridor", {})["buffer_m"] = float(value)
            elif name == "area_geojson":
                props["polygons_geojson"] = [json.loads(value)]
            else:
                props[name] = value
        except ValueError as exc:
            raise ValueError(f"column {name}: {value!r} cannot be read ({exc})") from None
    if "corridor" in props:
        props["corridor"].setdefault("within_stations", 3)
        props["corridor"].setdefault("buffer_m", 500.0)
    return props


def features_from_csv(text: str) -> list[dict[str, Any]]:
    """Each CSV row as a case feature (a row that cannot be read carries its error)."""
    out: list[dict[str, Any]] = []
    for n, row in enumerate(csv.DictReader(io.StringIO(text))):
        feature: dict[str, Any] = {"type": "Feature", "id": f"row {n + 2}", "geometry": None}
        try:
            feature["properties"] = case_from_csv_row(row)
            feature["id"] = str(feature["properties"].get("case_id") or feature["id"])
        except ValueError as exc:
            feature["_error"] = str(exc)
        out.append(feature)
    return out


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
    *,
    dry_run: bool = False,
) -> Summary:
    """Each feature in its own transaction; ``dry_run``: each is checked and written as it
    would be, then rolled back (the desk's preview)."""
    summary = Summary(total=len(features))
    importer = IMPORTERS[kind]
    for index, feature in enumerate(features):
        label = str(feature.get("id", "")) if isinstance(feature, dict) else ""
        try:
            if not isinstance(feature, dict) or feature.get("type") != "Feature":
                raise GeometryRefusedError("not a GeoJSON Feature")
            with sessions() as session:
                item_id, repaired = importer(session, index, feature)
                if dry_run:
                    session.rollback()
                else:
                    session.commit()
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
