"""Building valid report payloads for backend tests."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

PEOPLES_SQUARE = (121.469971, 31.234826)  # SH-013 人民广场, (lon, lat)


def report_dict(device_id: str = "kiosk-SH-013", **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema_version": 1,
        "report_id": str(uuid.uuid4()),
        "device_id": device_id,
        "observed_at": (datetime.now(UTC) - timedelta(seconds=30)).isoformat(),
        "location": {"lat": PEOPLES_SQUARE[1], "lon": PEOPLES_SQUARE[0], "source": "fixed"},
        "what_seen": "carried_by_beggar",
        "child": {"age_band": "0-2", "sex": "female", "clothing_colours": ["red", "white"]},
        "station_id": "SH-013",
        "direction": "exit 3",
        "has_photo": False,
    }
    data.update(overrides)
    return data


def report_bytes(device_id: str = "kiosk-SH-013", **overrides: Any) -> bytes:
    return json.dumps(report_dict(device_id, **overrides)).encode()
