"""Prepare a photo for sending: downscale, strip every EXIF/metadata field, enforce a size cap.

Re-encoding from pixels (not copying the file) is what strips the metadata: GPS position,
camera make and serial, thumbnails. Orientation is applied to the pixels first so the
picture stays upright without its EXIF tag.
"""

from __future__ import annotations

import io

from PIL import Image, ImageOps

MAX_SIDE_PX = 1280
MAX_BYTES = 400_000


class PhotoError(ValueError):
    """The image cannot be prepared (unreadable, or too large even at low quality)."""


def prepare_photo(
    raw: bytes, *, max_side_px: int = MAX_SIDE_PX, max_bytes: int = MAX_BYTES
) -> bytes:
    """Return a JPEG no larger than `max_bytes`, longest side at most `max_side_px`, no EXIF."""
    try:
        with Image.open(io.BytesIO(raw)) as opened:
            image = ImageOps.exif_transpose(opened) or opened
            image = image.convert("RGB")  # drops alpha and palette; a new image has no info
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PhotoError(f"not a readable image: {exc}") from None
    image.thumbnail((max_side_px, max_side_px), Image.Resampling.LANCZOS)
    clean = Image.new("RGB", image.size)
    clean.paste(image)
    side = max(clean.size)
    for quality in (85, 75, 65, 50, 40):
        out = _encode(clean, quality)
        if len(out) <= max_bytes:
            return out
    while side > 320:
        side = int(side * 0.75)
        smaller = clean.copy()
        smaller.thumbnail((side, side), Image.Resampling.LANCZOS)
        out = _encode(smaller, 50)
        if len(out) <= max_bytes:
            return out
    raise PhotoError(f"photo stays above {max_bytes} bytes even at {side} px")


def _encode(image: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=quality, optimize=True, exif=b"")
    return buffer.getvalue()
