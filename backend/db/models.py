"""Every table, imported in one place so Alembic and tests see the whole metadata."""

from backend.db.base import Base
from backend.devices.models import Device
from backend.sightings.models import DeadLetter, Report

__all__ = ["Base", "DeadLetter", "Device", "Report"]
