"""Photos of reports: checked, re-encoded without any metadata (again, after the device did),
stored for the case file and never served publicly.

A photo arrives on ``sr/v1/devices/{device_id}/photos/{report_id}``, usually just before its
report; it is kept by report id. Anything that is not a sane image is dead-lettered whole.
"""

from __future__ import annotations

import io
from datetime import datetime

from PIL import Image, ImageOps
from sqlalchemy.orm import Session

from backend.db.dialect import insert
from backend.sightings.models import ReportPhoto
from backend.sightings.rejection import Rejection, write_dead_letters
from protocol import Problem
from protocol import errors as codes

MAX_PHOTO_BYTES = 2_000_000  # the broker's packet limit is a little above this
MAX_PIXELS = 40_000_000  # refuse decompression bombs long before they hurt
MAX_SIDE_PX = 2048


class PhotoError(ValueError):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def clean_photo(
    raw: bytes,
    *,
    max_bytes: int = MAX_PHOTO_BYTES,
    max_side_px: int = MAX_SIDE_PX,
    quality: int = 85,
) -> tuple[bytes, int, int]:
    """Re-encode from pixels: returns (JPEG bytes without EXIF/XMP/ICC, width, height), at
    most ``max_side_px`` on the longer side."""
    if len(raw) > max_bytes:
        raise PhotoError(
            Problem("", codes.TOO_LARGE, f"photo is {len(raw)} bytes; the limit is {max_bytes}")
        )
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            if opened.format not in ("JPEG", "PNG"):
                raise PhotoError(
                    Problem("", codes.FORMAT, f"photo is {opened.format}; send a JPEG")
                )
            if opened.width * opened.height > MAX_PIXELS:
                raise PhotoError(Problem("", codes.TOO_LARGE, "photo has too many pixels"))
            image = (ImageOps.exif_transpose(opened) or opened).convert("RGB")
    except PhotoError:
        raise
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError(Problem("", codes.FORMAT, f"not a readable image: {exc}")) from None
    image.thumbnail((max_side_px, max_side_px))
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    out = io.BytesIO()
    clean.save(out, format="JPEG", quality=quality, exif=b"")
    return out.getvalue(), clean.width, clean.height


def ingest_photo(
    session: Session, device_id: str, report_id: str, topic: str, payload: bytes, now: datetime
) -> bool:
    """Store the photo of ``report_id`` from ``device_id`` (idempotently, by report id) or
    dead-letter it; True when stored. The caller parsed the topic."""
    try:
        jpeg, width, height = clean_photo(payload)
    except PhotoError as exc:
        # a photo is not answered (no receipt): the device id is kept, not addressed
        rejection = Rejection(topic, payload, (exc.problem,), None, report_id)
        write_dead_letters(session, [rejection], now, device_id=device_id)
        return False
    session.execute(
        insert(session, ReportPhoto)
        .values(
            report_id=report_id,
            device_id=device_id,
            jpeg=jpeg,
            width=width,
            height=height,
            received_at=now,
        )
        .on_conflict_do_nothing(index_elements=["report_id"])
    )
    return True
