"""Platform facades (location, camera, notification) with desktop fallbacks.

On Android the implementations use plyer; on a desktop and in tests they are fixed or
configured stand-ins, chosen once by :func:`is_android`.
"""

from __future__ import annotations

import os


def is_android() -> bool:
    return "ANDROID_ARGUMENT" in os.environ or "ANDROID_PRIVATE" in os.environ
