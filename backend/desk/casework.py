"""The coordinator's work on a case in the desk, ``/api/v1/desk/...``: file and edit a case
(human sentences naming the field for every refusal), preview which kiosks would show its
notice before saving, the known volunteers to assign, the child's photo (upload, view,
remove) and importing cases from CSV or GeoJSON with a preview and one line per row."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Body, HTTPException, Query, Response
from fastapi.responses import JSONResponse
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, ConfigDict, Field
from shapely.geometry import mapping
from sqlalchemy import select

from backend.auth.http import CoordinatorDep, SubjectDep
from backend.cases.models import Case, CaseAreaPart, CasePhoto
from backend.cases.notices import kiosks_in_area
from backend.cases.photos import MAX_UPLOAD_BYTES, remove_case_photo, store_case_photo
from backend.cases.schemas import CaseOut
from backend.cases.service import CaseError, case_area
from backend.db.engine import make_sessionmaker
from backend.deps import SessionDep
from backend.desk.api.cases import (
    CaseRefusedError,
    case_problem,
    committed,
    edit_case,
    file_case,
    parse_case,
    patched,
)
from backend.desk.http import AUTHZ, answers
from backend.desk.importer import (
    Summary,
    desk_defaults,
    features_from_csv,
    import_features,
)
from backend.desk.scope import readable
from backend.desk.service import DeskNotFoundError
from backend.http_common import (
    BAD_BODY,
    CONFLICT,
    INVALID,
    NOT_FOUND,
    PathId,
    Problem,
    responses,
)
from backend.volunteers.models import Volunteer
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk", tags=["desk"])
MAX_IMPORT_CHARS: Final = 2_000_000
PREVIEW_ID: Final = "desk-preview"


# --------------------------------------------------------------------------- file and edit


@router.post(
    "/cases",
    status_code=201,
    response_model=CaseOut,
    responses=responses(AUTHZ, BAD_BODY, INVALID, CONFLICT),
    summary="File a case (coordinator): the body of POST /api/cases, the desk's radius default",
)
def file_desk_case(
    body: Annotated[dict[str, Any], Body()], session: SessionDep, _: CoordinatorDep
) -> CaseOut | JSONResponse:
    """Without ``radius_schedule`` or ``use_circle``: no circle when a polygon or corridor is
    drawn, else the metro schedule (README). Every refusal names its field in a sentence."""

    def work() -> Case:
        return file_case(session, parse_case(desk_defaults(body)))

    return committed(session, work)


@router.patch(
    "/cases/{case_id}",
    response_model=CaseOut,
    responses=responses(AUTHZ, BAD_BODY, INVALID, NOT_FOUND),
    summary="Edit a case (coordinator): the fields sent replace the stored ones",
)
def edit_desk_case(
    case_id: PathId,
    body: Annotated[dict[str, Any], Body()],
    session: SessionDep,
    _: CoordinatorDep,
) -> CaseOut | JSONResponse:
    return committed(session, lambda: edit_case(session, case_id, patched(session, case_id, body)))


class KioskOut(BaseModel):
    device_id: str
    lon: float
    lat: float


class PreviewOut(BaseModel):
    kiosks: list[KioskOut]
    radius_m: float | None  # the circle's radius now (None: no circle)
    areas: list[dict[str, Any]]  # GeoJSON geometries of the polygon and corridor parts


@router.post(
    "/cases/preview",
    response_model=PreviewOut,
    responses=responses(AUTHZ, BAD_BODY, INVALID, NOT_FOUND),
    summary="Which kiosks would show the notice: a new case's body, or the changes to a case",
)
def preview_case(
    body: Annotated[dict[str, Any], Body()],
    session: SessionDep,
    _: CoordinatorDep,
    editing: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")] = None,
) -> PreviewOut | JSONResponse:
    """The case is written as saving would write it, its area built by the function the
    workers use (``case_area``), the kiosks tested by the index matching and the notice
    boards use; then everything is rolled back."""
    now = utc_now()
    try:
        if editing is not None:
            case = edit_case(session, editing, patched(session, editing, body))
        else:
            case = file_case(session, parse_case(desk_defaults({**body, "case_id": PREVIEW_ID})))
        parts = list(
            session.execute(
                select(CaseAreaPart).where(CaseAreaPart.case_id == case.case_id)
            ).scalars()
        )
        area = case_area(case, parts)
        kiosks = kiosks_in_area(session, area, now)
        radius = None
        for part in area.parts:
            radius = getattr(part, "radius_m_at", lambda _: None)(now) or radius
        out = PreviewOut(
            kiosks=[KioskOut(device_id=k.device_id, lon=k.lon, lat=k.lat) for k in kiosks],
            radius_m=radius,
            areas=[{"kind": p.kind, "geometry": mapping(to_shape(p.geom))} for p in parts],
        )
    except CaseRefusedError as exc:
        return exc.response()
    finally:
        session.rollback()
    return out


# --------------------------------------------------------------------------- volunteers


class VolunteerChoice(BaseModel):
    volunteer_id: str
    display_name: str
    on_duty: bool


@router.get(
    "/volunteers",
    responses=AUTHZ,
    summary="The known volunteers a case may be assigned to (coordinator)",
)
def volunteers(session: SessionDep, _: CoordinatorDep) -> list[VolunteerChoice]:
    rows = session.execute(select(Volunteer).order_by(Volunteer.volunteer_id)).scalars()
    return [
        VolunteerChoice(volunteer_id=v.volunteer_id, display_name=v.display_name, on_duty=v.on_duty)
        for v in rows
    ]


# --------------------------------------------------------------------------- photo


@router.post(
    "/cases/{case_id}/photo",
    response_model=CaseOut,
    responses=responses(AUTHZ, INVALID, NOT_FOUND, {413: {"description": "Too large"}}),
    summary="The child's photo (coordinator): a JPEG or PNG as the body, re-encoded "
    "without metadata, at most 800 px a side",
    openapi_extra={
        "requestBody": {
            "content": {
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
            },
            "required": True,
        }
    },
)
def upload_photo(
    case_id: PathId,
    photo: Annotated[bytes, Body(media_type="image/jpeg")],
    session: SessionDep,
    subject: CoordinatorDep,
) -> CaseOut | JSONResponse:
    if len(photo) > MAX_UPLOAD_BYTES:
        message = f"The photo is {len(photo)} bytes; at most {MAX_UPLOAD_BYTES} are accepted"
        return CaseRefusedError(
            413, [Problem(field="body", code="too_large", message=message)]
        ).response()

    def work() -> Case:
        try:
            store_case_photo(session, case_id, photo, subject.username, utc_now())
        except CaseError as exc:
            raise _as_refusal(exc) from exc
        case = session.get(Case, case_id)
        assert case is not None
        return case

    return committed(session, work)


def _as_refusal(exc: CaseError) -> CaseRefusedError:
    refused = case_problem(exc)
    if str(exc).startswith("no case"):
        refused.status = 404
    return refused


@router.delete(
    "/cases/{case_id}/photo",
    response_model=CaseOut,
    responses=responses(AUTHZ, NOT_FOUND),
    summary="Remove the child's photo (coordinator); kiosks get it withdrawn",
)
def delete_photo(case_id: PathId, session: SessionDep, _: CoordinatorDep) -> CaseOut | JSONResponse:
    def work() -> Case:
        try:
            remove_case_photo(session, case_id, utc_now())
        except CaseError as exc:
            raise _as_refusal(exc) from exc
        case = session.get(Case, case_id)
        assert case is not None
        return case

    return committed(session, work)


@router.get(
    "/cases/{case_id}/photo",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {"schema": {"type": "string", "format": "binary"}}}},
        **responses(AUTHZ, NOT_FOUND),
    },
    summary="The child's photo, for those who may read the case (never public)",
)
def case_photo(case_id: PathId, session: SessionDep, subject: SubjectDep) -> Response:
    with answers():
        case = session.execute(
            readable(subject, Case).where(Case.case_id == case_id)
        ).scalar_one_or_none()
        photo = session.get(CasePhoto, case_id) if case is not None else None
        if photo is None:
            raise DeskNotFoundError(f"no photo of a case {case_id!r} you may read")
    return Response(
        photo.jpeg,
        media_type="image/jpeg",
        headers={"Cache-Control": "private, no-store", "ETag": f'"{photo.sha256[:32]}"'},
    )


# --------------------------------------------------------------------------- import


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["csv", "geojson"]
    text: Annotated[str, Field(max_length=MAX_IMPORT_CHARS)]
    dry_run: bool = True


class ImportRow(BaseModel):
    index: int  # 0-based feature (GeoJSON) or data row (CSV: line index + 2)
    label: str
    ok: bool
    message: str


class ImportOut(BaseModel):
    total: int
    imported: int
    refused: int
    dry_run: bool
    rows: list[ImportRow]


@router.post(
    "/cases/import",
    responses=responses(AUTHZ, BAD_BODY, INVALID),
    summary="Import cases from CSV or GeoJSON (coordinator); dry_run (the default) previews",
)
def import_cases(body: ImportIn, session: SessionDep, _: CoordinatorDep) -> ImportOut:
    """The format is the README's ("Importing cases"); each row in its own transaction, so
    one refusal never loses the others; ``dry_run`` checks and rolls every row back."""
    if body.format == "csv":
        features = features_from_csv(body.text)
    else:
        try:
            data = json.loads(body.text)
        except ValueError as exc:
            raise HTTPException(422, f"the GeoJSON text is not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
            raise HTTPException(422, "the GeoJSON text must be a FeatureCollection of cases")
        features = data.get("features") if isinstance(data.get("features"), list) else []
    bind = session.get_bind()
    session.close()
    summary = import_features(make_sessionmaker(bind), "cases", features, dry_run=body.dry_run)
    return _import_out(summary, features, body.dry_run)


def _import_out(summary: Summary, features: list[Any], dry_run: bool) -> ImportOut:
    refused = {index: why for index, _, why in summary.refused}
    rows = []
    ok_ids = iter(summary.imported)
    for index, feature in enumerate(features):
        label = str(feature.get("id", "")) if isinstance(feature, dict) else ""
        if index in refused:
            rows.append(ImportRow(index=index, label=label, ok=False, message=refused[index]))
        else:
            case_id = next(ok_ids)
            rows.append(
                ImportRow(
                    index=index,
                    label=label or case_id,
                    ok=True,
                    message="would be filed" if dry_run else "filed",
                )
            )
    return ImportOut(
        total=summary.total,
        imported=len(summary.imported),
        refused=len(summary.refused),
        dry_run=dry_run,
        rows=rows,
    )
