"""Where the report comes from: the kiosk's configured point, GPS on a phone, or a manually
placed point on a desktop."""

from __future__ import annotations

import logging
import threading
from typing import Any, Protocol

from kiosk_app.platform import is_android
from protocol import Location, LocationSource

log = logging.getLogger(__name__)


class LocationProvider(Protocol):
    def current(self) -> Location | None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


class FixedLocation:
    """A kiosk: the configured position of its station, entrance or platform. Never asked."""

    def __init__(
        self,
        lat: float,
        lon: float,
        accuracy_m: float | None,
        source: LocationSource = LocationSource.FIXED,
    ) -> None:
        self._location = Location(lat=lat, lon=lon, accuracy_m=accuracy_m, source=source)

    def current(self) -> Location | None:
        return self._location

    def place(self, lat: float, lon: float, accuracy_m: float | None = None) -> None:
        """Desktop phone mode: the person moves the point by hand."""
        self._location = Location(
            lat=lat, lon=lon, accuracy_m=accuracy_m, source=self._location.source
        )

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class GpsFacade(Protocol):
    """The part of ``plyer.gps`` used here (``on_location`` gets lat, lon, accuracy, ...)."""

    def configure(self, on_location: Any, on_status: Any = None) -> None: ...
    def start(self, minTime: int, minDistance: float) -> None: ...  # noqa: N803 (plyer's names)
    def stop(self) -> None: ...


class GpsLocation:
    """Android: plyer's GPS facade; the latest fix wins. Thread-safe (plyer calls back on
    the Java thread). ``gps`` is plyer's facade unless another one with the same interface
    is given (a simulated receiver in tests)."""

    def __init__(
        self, min_time_ms: int = 5000, min_distance_m: float = 5.0, gps: GpsFacade | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._location: Location | None = None
        self._min_time_ms = min_time_ms
        self._min_distance_m = min_distance_m
        self._facade = gps
        self._gps: Any = None

    def _on_location(self, **kwargs: Any) -> None:
        try:
            location = Location(
                lat=float(kwargs["lat"]),
                lon=float(kwargs["lon"]),
                accuracy_m=float(kwargs["accuracy"]) if kwargs.get("accuracy") else None,
                source=LocationSource.GPS,
            )
        except (KeyError, TypeError, ValueError):
            return
        with self._lock:
            self._location = location

    def current(self) -> Location | None:
        with self._lock:
            return self._location

    def start(self) -> None:
        gps = self._facade
        if gps is None:
            from plyer import gps  # Android only; not installed on desktops

        gps.configure(on_location=self._on_location)
        gps.start(minTime=self._min_time_ms, minDistance=self._min_distance_m)
        self._gps = gps

    def stop(self) -> None:
        if self._gps is not None:
            self._gps.stop()


def provider_for(mode: str, lat: float, lon: float, accuracy_m: float | None) -> LocationProvider:
    if mode == "kiosk":
        return FixedLocation(lat, lon, accuracy_m, LocationSource.FIXED)
    if is_android():
        return GpsLocation()
    return FixedLocation(lat, lon, accuracy_m, LocationSource.MANUAL)
