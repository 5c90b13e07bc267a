"""The GeoJSON import CLI: police stations and cases, each refusal named with its reason, a
wrongly wound ring repaired and said so, a progress bar, the exit status."""

from __future__ import annotations

import io
import json

from geoalchemy2.shape import to_shape
from sqlalchemy import select

from backend.desk.importer import main
from backend.tables import Case, CaseAreaPart, PoliceStation

CCW = [[121.40, 31.20], [121.50, 31.20], [121.50, 31.26], [121.40, 31.26], [121.40, 31.20]]
CW = list(reversed(CCW))
BOWTIE = [[121.40, 31.20], [121.50, 31.26], [121.50, 31.20], [121.40, 31.26], [121.40, 31.20]]
BEIJING = [[116.3, 39.9], [116.4, 39.9], [116.4, 40.0], [116.3, 40.0], [116.3, 39.9]]


def feature(fid, props, ring):
    return {"type": "Feature", "id": fid, "properties": props,
            "geometry": {"type": "Polygon", "coordinates": [ring]} if ring else None}


def run(tmp_path, db_url, kind, features):
    path = tmp_path / f"{kind}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    out, err = io.StringIO(), io.StringIO()
    status = main([kind, str(path), "--database-url", db_url], out=out, err=err)
    return status, out.getvalue(), err.getvalue()


def test_police_stations(tmp_path, db_url, desk_sessions):
    status, out, err = run(tmp_path, db_url, "stations", [
        feature("PS-1", {"name": "人民广场派出所"}, CCW),
        feature("PS-2", {"station_id": "PS-2", "name": "wound clockwise"}, CW),
        feature("PS-3", {"name": "bow tie"}, BOWTIE),
        feature("PS-4", {"name": "Beijing"}, BEIJING),
        feature("PS-5", {"name": "lat first"}, [[31.2, 121.4], [31.3, 121.4], [31.3, 121.5], [31.2, 121.4]]),
        feature("bad id!", {"name": "x"}, CCW),
        {"type": "Feature", "id": "PS-7", "properties": {"name": "a point"},
         "geometry": {"type": "Point", "coordinates": [121.4, 31.2]}},
        feature("PS-8", {"name": "open ring"}, [*CCW[:-1], [121.41, 31.2]]),
    ])
    assert status == 1
    assert "[##############################] 8/8  refused 6" in err
    assert out.startswith("stations: 2 of 8 imported, 1 repaired, 6 refused")
    assert "repaired PS-2: polygon 0: ring winding reversed" in out
    assert "refused feature 2 (PS-3): invalid geometry: Self-intersection" in out
    assert "refused feature 3 (PS-4): outside the service area" in out
    assert "refused feature 4 (PS-5): polygon 0 ring 0 position 0: (31.2, 121.4) is out of range" in out
    assert "refused feature 5 (bad id!): properties.station_id" in out
    assert "refused feature 6 (PS-7): geometry must be a Polygon or MultiPolygon, not Point" in out
    assert "refused feature 7 (PS-8): polygon 0 ring 0 is not closed" in out
    with desk_sessions() as session:
        stations = {s.station_id: s for s in session.execute(select(PoliceStation)).scalars()}
        assert set(stations) == {"PS-1", "PS-2"}
        assert to_shape(stations["PS-2"].area).exterior.is_ccw
        assert stations["PS-1"].name == "人民广场派出所"


def test_cases_and_an_unreadable_file(tmp_path, db_url, desk_sessions):
    base = {"title": "Girl, 4", "public_description": "Red coat.", "relay_contact": "400-800-1234",
            "family_contact": "13900000000", "age_band": "3-5", "sex": "female",
            "clothing_colours": ["red"], "last_seen_lon": 121.45, "last_seen_lat": 31.23,
            "last_seen_at": "2026-11-28T17:40:00+08:00"}
    status, out, _ = run(tmp_path, db_url, "cases", [
        feature("a", {**base, "case_id": "imp-1"}, CCW),
        feature("b", {**base, "case_id": "imp-1"}, CCW),  # the same id again
        feature("c", {**base, "case_id": "imp-3", "age_band": "ancient"}, None),
        feature("d", {**base, "case_id": "imp-4"}, BOWTIE),
        feature("e", {**base, "case_id": "imp-5"}, None),
    ])
    assert status == 1, out
    assert out.startswith("cases: 2 of 5 imported, 0 repaired, 3 refused"), out
    assert "refused feature 1 (b): properties.case_id: case 'imp-1' already exists" in out
    assert "refused feature 2 (c): properties.age_band" in out
    assert "refused feature 3 (d): invalid geometry" in out
    with desk_sessions() as session:
        assert {c.case_id for c in session.execute(select(Case)).scalars()} == {"imp-1", "imp-5"}
        (part,) = session.execute(select(CaseAreaPart)).scalars()
        assert part.case_id == "imp-1"

    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json")
    err = io.StringIO()
    assert main(["cases", str(bad), "--database-url", "sqlite://"], out=io.StringIO(), err=err) == 2
    assert "cannot read" in err.getvalue()
