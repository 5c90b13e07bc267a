"""The wire contract shared by devices and the backend (standard library only)."""

from protocol.errors import Problem, TopicError, ValidationError
from protocol.payloads import (
    AgeBand,
    ChildDescription,
    Colour,
    DeviceState,
    DeviceStatus,
    Location,
    LocationSource,
    Receipt,
    ReceiptStatus,
    Sex,
    SightingReport,
    WhatSeen,
    new_report_id,
)

__all__ = [
    "AgeBand",
    "ChildDescription",
    "Colour",
    "DeviceState",
    "DeviceStatus",
    "Location",
    "LocationSource",
    "Problem",
    "Receipt",
    "ReceiptStatus",
    "Sex",
    "SightingReport",
    "TopicError",
    "ValidationError",
    "WhatSeen",
    "new_report_id",
]
