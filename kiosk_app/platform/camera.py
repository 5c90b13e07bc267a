"""Taking a photo: plyer's camera on Android; on a desktop a configured image file, or a
generated test card so the flow can be tried without a camera."""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from kiosk_app.platform import is_android


class Camera(Protocol):
    def take(self, on_done: Callable[[bytes | None], None]) -> None: ...


class DesktopCamera:
    def __init__(self, image_path: str | None = None) -> None:
        self.image_path = image_path

    def take(self, on_done: Callable[[bytes | None], None]) -> None:
        if self.image_path:
            on_done(Path(self.image_path).read_bytes())
            return
        on_done(test_card())


class AndroidCamera:
    def take(self, on_done: Callable[[bytes | None], None]) -> None:
        from plyer import camera  # Android only

        target = Path(tempfile.gettempdir()) / f"sighting-{datetime.now():%H%M%S}.jpg"

        def done(filename: str) -> bool:
            path = Path(filename)
            data = path.read_bytes() if path.exists() else None
            path.unlink(missing_ok=True)  # the original keeps EXIF: do not leave it around
            on_done(data)
            return False

        camera.take_picture(filename=str(target), on_complete=done)


def test_card(width: int = 1600, height: int = 1200) -> bytes:
    """A JPEG with the kind of EXIF a phone writes (GPS, make), to exercise the stripping."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (40, 90, 140))
    draw = ImageDraw.Draw(image)
    for i in range(0, width, 80):
        draw.rectangle((i, 0, i + 40, height), fill=(60, 120, 170))
    draw.ellipse((width // 3, height // 4, 2 * width // 3, 3 * height // 4), fill=(230, 200, 60))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    exif[0x0110] = "Model X"  # Model
    gps = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 11.0)}
    exif[0x8825] = gps  # GPSInfo
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90, exif=exif.tobytes())
    return buffer.getvalue()


def camera_for(image_path: str | None) -> Camera:
    return AndroidCamera() if is_android() else DesktopCamera(image_path)
