"""OASIS CAP 1.2 documents of case notices and station alerts, and the redaction every
public text goes through (pure: no database, no network; imports only ``protocol``)."""

from backend.cap.render import (
    CapArea,
    CapCircle,
    CapError,
    CapHeader,
    CapPolygon,
    MsgType,
    case_cancel_to_cap,
    case_notice_to_cap,
    format_cap_time,
    redact_phone_numbers,
    station_alert_to_cap,
    to_xml,
)

# Who signs the documents (CAP <sender>).
CAP_SENDER = "sighting-report@volunteers.example"

__all__ = [
    "CAP_SENDER",
    "CapArea",
    "CapCircle",
    "CapError",
    "CapHeader",
    "CapPolygon",
    "MsgType",
    "case_cancel_to_cap",
    "case_notice_to_cap",
    "format_cap_time",
    "redact_phone_numbers",
    "station_alert_to_cap",
    "to_xml",
]
