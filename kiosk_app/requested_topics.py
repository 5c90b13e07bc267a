"""Topics this app once asked of ``protocol.topics``; they have landed there, and these names
stay for the app's callers."""

from __future__ import annotations

from protocol import topics


def notice_photo(device_id: str, case_id: str) -> str:
    """The retained photo of one case on this kiosk's notices (raw JPEG or PNG, at most
    400 KB; an empty retained message removes it)."""
    return topics.device_notice_photo(device_id, case_id)


def notice_photos_filter(device_id: str) -> str:
    """What a kiosk subscribes to for the photos of its notices."""
    return topics.device_notice_photos(device_id)
