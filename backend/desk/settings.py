"""The desk's configuration (environment, prefix ``SR_DESK_``), built on demand."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO = Path(__file__).resolve().parents[2]


class DeskSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SR_DESK_", extra="ignore")

    # A raster tile URL template ({z}/{x}/{y}); empty = the offline metro base map only.
    tile_url: str = ""
    # The attribution the tile server requires, shown on the map.
    tile_attribution: str = ""
    # Kiosks offline longer than this are listed first.
    offline_after_min: float = 10.0
    # Leaflet, installed by `make deps` (npm ci) into node_modules/, never committed.
    vendor_dir: Path = REPO / "node_modules"
    # Personal data of a case is erased this long after the case ended.
    retention_days: float = 30.0
    # How often the retention job (`python -m backend.desk.retention --every`) runs a pass.
    retention_every_s: float = 3600.0
    # How often the live stream looks for changes.
    events_poll_s: float = 0.5


@lru_cache(maxsize=1)
def get_desk_settings() -> DeskSettings:
    return DeskSettings()
