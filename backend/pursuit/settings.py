"""The pursuit process's configuration (environment, prefix ``SR_PURSUIT_``), built on demand."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.pursuit import PURSUIT_MIN_PROBABILITY


class PursuitSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SR_PURSUIT_", extra="ignore")

    # How often the pursuit process (`python -m backend.pursuit`) reads the reports stored
    # since its last pass, links them into trails and updates the trails' alerts.
    every_s: float = Field(default=2.0, gt=0)
    # Reports observed longer ago than this are not linked (a trail's gap is at most 30 min).
    lookback_s: float = Field(default=3600.0, gt=0)
    # A phone report's station_id counts only when its position lies within this of the
    # station (a kiosk's report is stored at its station, so it always counts).
    phone_station_tolerance_m: float = Field(default=500.0, gt=0)
    # A predicted station is alerted when the child reaches it with at least this probability.
    min_probability: float = Field(default=PURSUIT_MIN_PROBABILITY, gt=0, le=1)
    # On-duty volunteers whose stored coarse position (about 1 km) lies within this of a
    # predicted station, and within their own alert radius, get a pursuit alert.
    volunteer_radius_m: float = Field(default=1_500.0, gt=0)
    # At most this many volunteers per trail, the nearest first.
    volunteers_per_trail: int = Field(default=5, ge=0)
    # A withdrawn alert's last revision stays deliverable this long.
    withdrawal_ttl_s: float = Field(default=600.0, gt=0)


@lru_cache(maxsize=1)
def get_pursuit_settings() -> PursuitSettings:
    return PursuitSettings()
