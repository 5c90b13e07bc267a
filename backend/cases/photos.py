"""The child's photo of a case: checked, re-encoded from pixels (no EXIF, GPS or device
data), made small enough for a kiosk, stored with the case.

The case's ``photo_ref`` (``case-photo:<case id>:<digest>``) names the stored version; it goes
into the public notice and into volunteer alerts, so a kiosk (or an app) can tell which
photo it holds. The bytes themselves are never served publicly: the desk shows them to
those who may read the case, and the worker publishes them retained on
``sr/v1/devices/{kiosk}/notices/{case_id}/photo`` of the kiosks showing the notice (an empty
retained message withdraws them when the case ends or leaves the kiosk's area).
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from backend.cases.models import Case, CasePhoto
from backend.cases.service import CaseError, CaseFieldError
from backend.db.versions import CASES_VERSION, bump_version
from backend.sightings.photos import PhotoError, clean_photo
from protocol.topics import MAX_NOTICE_PHOTO_BYTES

MAX_UPLOAD_BYTES = 10_000_000  # a phone's photo, as the family sent it
MAX_SIDE_PX = 800  # a kiosk's notice shows it at most this large
QUALITIES = (82, 70, 55)  # tried in turn until the photo fits a kiosk's limit
PHOTO_REF_PREFIX = "case-photo:"  # a reference to a photo stored here (not one an API client gave)


def prepare_case_photo(raw: bytes) -> tuple[bytes, int, int]:
    """(JPEG bytes, width, height): re-encoded without metadata, at most ``MAX_SIDE_PX`` a
    side and ``MAX_NOTICE_PHOTO_BYTES`` long; raises CaseFieldError saying what is wrong."""
    if not raw:
        raise CaseFieldError("body", "the photo is empty: send the image file's bytes")
    try:
        for quality in QUALITIES:
            jpeg, width, height = clean_photo(
                raw, max_bytes=MAX_UPLOAD_BYTES, max_side_px=MAX_SIDE_PX, quality=quality
            )
            if len(jpeg) <= MAX_NOTICE_PHOTO_BYTES:
                return jpeg, width, height
    except PhotoError as exc:
        raise CaseFieldError(
            "body",
            f"the photo was refused ({exc.problem.message}): send a JPEG or PNG image of at "
            f"most {MAX_UPLOAD_BYTES // 1_000_000} MB",
        ) from None
    raise CaseFieldError("body", "the photo stays too large for a kiosk even when re-encoded")


def photo_reference(case_id: str, sha256: str) -> str:
    return f"{PHOTO_REF_PREFIX}{case_id}:{sha256[:16]}"


def store_case_photo(
    session: Session, case_id: str, raw: bytes, uploaded_by: str, now: datetime
) -> CasePhoto:
    """Replace the case's photo; workers see the new reference and republish the notices."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise CaseError(f"no case {case_id!r}")
    jpeg, width, height = prepare_case_photo(raw)
    digest = hashlib.sha256(jpeg).hexdigest()
    photo = session.get(CasePhoto, case_id)
    if photo is None:
        photo = CasePhoto(case_id=case_id)
        session.add(photo)
    photo.jpeg, photo.sha256, photo.width, photo.height = jpeg, digest, width, height
    photo.uploaded_at, photo.uploaded_by = now, uploaded_by
    case.photo_ref = photo_reference(case_id, digest)
    case.updated_at = now
    bump_version(session, CASES_VERSION)
    return photo


def remove_case_photo(session: Session, case_id: str, now: datetime) -> None:
    """Delete the case's photo: kiosks get an empty retained message on the next refresh."""
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        raise CaseError(f"no case {case_id!r}")
    photo = session.get(CasePhoto, case_id)
    if photo is not None:
        session.delete(photo)
    case.photo_ref = None
    case.updated_at = now
    bump_version(session, CASES_VERSION)


def photo_jpegs(session: Session, case_ids: list[str]) -> dict[str, CasePhoto]:
    """The stored photos of these cases, by case id."""
    out = {}
    for case_id in case_ids:
        photo = session.get(CasePhoto, case_id)
        if photo is not None:
            out[case_id] = photo
    return out
