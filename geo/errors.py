"""The one error type of ``geo``: bad input, said plainly, with the offending value attached."""

from __future__ import annotations

from typing import Any


class GeoError(ValueError):
    """Input that ``geo`` refuses: a naive time, a coordinate off the globe, an invalid polygon.

    ``value`` is the offending input so callers can log it; the message says what to do.
    """

    def __init__(self, message: str, value: Any = None) -> None:
        super().__init__(message)
        self.value = value
