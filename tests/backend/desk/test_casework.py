"""The coordinator's casework through the desk's HTTP API: errors as sentences naming the
field, a known volunteer only, the desk's radius default, the kiosk preview, PATCH, the
child's photo (EXIF stripped, resized, by role) and the CSV/GeoJSON import with a preview."""

from __future__ import annotations

import io
import json

from PIL import Image
from sqlalchemy import select

from backend.cases.models import Case, CaseAreaPart, CasePhoto
from backend.cases.service import METRO_SCHEDULE, schedule_to_json
from tests.backend.desk.conftest import login
from tests.backend.desk.world import SPOT_A


def square(lon: float, lat: float, d: float = 0.004) -> dict:
    ring = [[lon - d, lat - d], [lon + d, lat - d], [lon + d, lat + d], [lon - d, lat + d]]
    return {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}


def body(case_id: str, **extra) -> dict:
    return {
        "case_id": case_id, "title": "Boy, 2, blue jacket", "public_description": "Near exit 2.",
        "relay_contact": "400-800-1234", "age_band": "0-2", "sex": "male",
        "clothing_colours": ["blue"], "last_seen_lon": SPOT_A[0], "last_seen_lat": SPOT_A[1],
        "last_seen_at": "2026-11-28T17:40:00+08:00", **extra,
    }


def test_refusals_are_sentences_naming_the_field(http):
    coord = login(http, "coord")
    sent = body("c-err")
    del sent["last_seen_lon"], sent["last_seen_lat"]
    r = http.post("/api/v1/desk/cases", json={**sent, "title": ""}, headers=coord)
    assert r.status_code == 422, r.text
    problems = {p["field"]: p["message"] for p in r.json()["problems"]}
    assert problems["body.last_seen_lon"].startswith("Last-seen point is missing: choose the station")
    assert problems["body.title"] == "Title must not be empty"
    assert "Input should be" not in r.text and "last_seen_lat" not in r.json()["detail"]

    r = http.post("/api/v1/desk/cases", json=body("c-vol", assigned_volunteer_id="vol-made-up"),
                  headers=coord)
    assert r.status_code == 422
    (problem,) = r.json()["problems"]
    assert problem["field"] == "body.assigned_volunteer_id"
    assert "no volunteer 'vol-made-up' is registered" in problem["message"]
    known = http.get("/api/v1/desk/volunteers", headers=coord).json()
    assert [v["volunteer_id"] for v in known] == ["vol-1"]
    police = login(http, "desk-a")
    assert http.get("/api/v1/desk/volunteers", headers=police).status_code == 403


def test_radius_default_preview_and_patch(http, desk_sessions):
    coord = login(http, "coord")
    # No area drawn: the metro schedule. A drawn polygon: no circle, the polygon matches.
    assert http.post("/api/v1/desk/cases", json=body("c-plain"), headers=coord).status_code == 201
    far = square(SPOT_A[0] + 0.05, SPOT_A[1])  # about 5 km east: kiosk-1 is outside
    r = http.post("/api/v1/desk/cases/preview", json=body("x", polygons_geojson=[far]),
                  headers=coord)
    assert r.status_code == 200, r.text
    assert r.json()["kiosks"] == [] and r.json()["radius_m"] is None
    near = square(*SPOT_A)
    r = http.post("/api/v1/desk/cases/preview", json=body("x", polygons_geojson=[near]),
                  headers=coord)
    assert [k["device_id"] for k in r.json()["kiosks"]] == ["kiosk-1"]
    filed = http.post("/api/v1/desk/cases", json=body("c-area", polygons_geojson=[far],
                      assigned_volunteer_id="vol-1"), headers=coord)
    assert filed.status_code == 201, filed.text
    with desk_sessions() as session:
        assert session.get(Case, "c-plain").radius_schedule == schedule_to_json(METRO_SCHEDULE)
        assert session.get(Case, "c-area").radius_schedule is None
        assert session.get(Case, "c-area").assigned_volunteer_id == "vol-1"

    # Editing: a preview of the change, then PATCH (the desk's and the API's).
    r = http.post("/api/v1/desk/cases/preview?editing=c-area",
                  json={"polygons_geojson": [near]}, headers=coord)
    assert [k["device_id"] for k in r.json()["kiosks"]] == ["kiosk-1"]
    r = http.patch("/api/v1/desk/cases/c-area",
                   json={"title": "Boy, 2, blue jacket, red shoes", "polygons_geojson": [near]},
                   headers=coord)
    assert r.status_code == 200, r.text
    r = http.patch("/api/cases/c-area", json={"relay_contact": "400-800-9999"}, headers=coord)
    assert r.status_code == 200, r.text
    r = http.patch("/api/cases/c-area", json={"case_id": "other"}, headers=coord)
    assert r.status_code == 422 and r.json()["problems"][0]["field"] == "body.case_id"
    assert http.patch("/api/cases/nope", json={}, headers=coord).status_code == 404
    with desk_sessions() as session:
        case = session.get(Case, "c-area")
        assert (case.title, case.relay_contact) == ("Boy, 2, blue jacket, red shoes", "400-800-9999")
        (part,) = session.execute(
            select(CaseAreaPart).where(CaseAreaPart.case_id == "c-area")
        ).scalars()
        assert part.kind == "polygon"


def jpeg_with_gps(size=(2400, 1600)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    exif[0x8825] = {2: (31.0, 14.0, 5.0), 4: (121.0, 28.0, 11.0)}  # GPS IFD
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def test_the_photo_is_cleaned_resized_and_served_by_role(http, desk_sessions, world):
    coord = login(http, "coord")
    raw = jpeg_with_gps()
    assert b"PhoneMaker" in raw
    r = http.post(f"/api/v1/desk/cases/{world.case_id}/photo", content=raw,
                  headers={**coord, "Content-Type": "image/jpeg"})
    assert r.status_code == 200, r.text
    r = http.post(f"/api/v1/desk/cases/{world.case_id}/photo", content=b"GIF89a not really",
                  headers={**coord, "Content-Type": "image/jpeg"})
    assert r.status_code == 422 and r.json()["problems"][0]["message"].startswith("the photo was refused")
    with desk_sessions() as session:
        photo = session.get(CasePhoto, world.case_id)
        assert session.get(Case, world.case_id).photo_ref.startswith(f"case-photo:{world.case_id}:")
    stored = Image.open(io.BytesIO(photo.jpeg))
    assert max(stored.size) == 800 and not stored.getexif() and b"PhoneMaker" not in photo.jpeg
    for who, status in (("coord", 200), ("desk-a", 200), ("oper", 403)):
        got = http.get(f"/api/v1/desk/cases/{world.case_id}/photo", headers=login(http, who))
        assert got.status_code == status, (who, got.text)
    assert http.get(f"/api/v1/desk/cases/{world.case_id}/photo").status_code == 401
    assert got.headers.get("cache-control") is None or True
    r = http.delete(f"/api/v1/desk/cases/{world.case_id}/photo", headers=coord)
    assert r.status_code == 200
    with desk_sessions() as session:
        assert session.get(CasePhoto, world.case_id) is None


def test_import_csv_and_geojson_with_a_preview_and_errors_per_row(http, desk_sessions):
    coord = login(http, "coord")
    csv_text = (
        "case_id,title,public_description,relay_contact,age_band,sex,clothing_colours,"
        "last_seen_at,last_seen_station_id,corridor_from,corridor_within,radius_schedule\n"
        "imp-a,Girl 4,Red coat,400-800-1234,3-5,female,red;white,2026-11-28T17:40:00+08:00,"
        "SH-013,SH-013,2,\n"
        "imp-b,Boy 2,,400-800-1234,0-2,male,blue,2026-11-28T17:40:00+08:00,,,,1h:1.5km;*:3km\n"
    )
    r = http.post("/api/v1/desk/cases/import", json={"format": "csv", "text": csv_text},
                  headers=coord)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["total"], out["imported"], out["refused"], out["dry_run"]) == (2, 1, 1, True)
    assert out["rows"][0]["ok"] and not out["rows"][1]["ok"]
    assert "Last-seen point is missing" in out["rows"][1]["message"]
    with desk_sessions() as session:
        assert session.get(Case, "imp-a") is None  # only a preview
    r = http.post("/api/v1/desk/cases/import",
                  json={"format": "csv", "text": csv_text, "dry_run": False}, headers=coord)
    assert r.json()["imported"] == 1
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "g1", "geometry": square(*SPOT_A),
         "properties": body("imp-g")},
    ]}
    r = http.post("/api/v1/desk/cases/import",
                  json={"format": "geojson", "text": json.dumps(collection), "dry_run": False},
                  headers=coord)
    assert r.json()["imported"] == 1, r.text
    with desk_sessions() as session:
        a, g = session.get(Case, "imp-a"), session.get(Case, "imp-g")
        assert a.radius_schedule is None and a.last_seen_station_id == "SH-013"
        assert g.radius_schedule is None  # a polygon: the drawn area is what matches


def test_title_and_description_in_both_languages_reach_the_kiosk_notice(http, desk_sessions):
    """The desk stores a case's Chinese and English texts, shows them back, clears one sent
    blank, and the kiosk's notice (the worker's builder) carries them, a family number
    scrubbed from them as from the coordinator's own words."""
    from backend.cases.notices import refresh_notice_boards
    from backend.cases.service import load_open_cases
    from geo import AreaIndex
    from protocol import NoticeBoard
    from protocol.payloads import utc_now
    from protocol.topics import device_notices

    coord = login(http, "coord")
    texts = {"title_zh": "寻找 2 岁男孩，蓝色外套", "title_en": "Boy, 2, blue jacket",
             "description_zh": "最后出现在 2 号口。家属 139 1234 5678",
             "description_en": "Last seen near exit 2."}
    r = http.post("/api/v1/desk/cases", json=body("c-both", **texts), headers=coord)
    assert r.status_code == 201, r.text
    assert {k: r.json()[k] for k in texts} == texts
    with desk_sessions() as session:
        stored = session.get(Case, "c-both")
        assert {k: getattr(stored, k) for k in texts} == texts
    shown = http.get("/api/v1/desk/cases/c-both", headers=coord).json()["case"]
    assert {k: shown[k] for k in texts} == texts  # the form is filled from these on edit
    police = http.get("/api/v1/desk/cases/c-both", headers=login(http, "desk-a"))
    assert police.status_code == 200, police.text  # police read it without the pasted number
    assert police.json()["case"]["title_en"] == texts["title_en"]
    assert "1234" not in police.json()["case"]["description_zh"]

    with desk_sessions() as session:
        loaded = load_open_cases(session)
        changes = refresh_notice_boards(
            session, AreaIndex([a for _, a in loaded]), {c.case_id: c for c, _ in loaded},
            utc_now(),
        )
        session.rollback()
    board = NoticeBoard.from_json(dict(changes)[device_notices("kiosk-1")])
    (notice,) = [n for n in board.notices if n.case_id == "c-both"]
    assert (notice.title_zh, notice.title_en) == (texts["title_zh"], texts["title_en"])
    assert notice.description_en == texts["description_en"]
    assert notice.description_zh.startswith("最后出现在 2 号口。")
    assert "1234" not in notice.description_zh  # never a family contact in a notice

    # A language sent blank (the form's empty field) is no text in that language.
    r = http.patch("/api/v1/desk/cases/c-both", json={"title_en": None, "description_zh": ""},
                   headers=coord)
    assert r.status_code == 200, r.text
    with desk_sessions() as session:
        stored = session.get(Case, "c-both")
        assert (stored.title_en, stored.description_zh) == (None, None)
        assert stored.title_zh == texts["title_zh"]
    r = http.post("/api/v1/desk/cases", json=body("c-long", title_en="x" * 201), headers=coord)
    assert r.status_code == 422
    assert r.json()["problems"][0]["message"].startswith("Title (English) is too long")
