"""Topics this app uses that ``protocol.topics`` does not define yet (requested of protocol/
and of the broker accounts; move them there once they land)."""

from __future__ import annotations

from protocol import topics


def notice_photo(device_id: str, case_id: str) -> str:
    """The retained photo of one case on this kiosk's notices (raw JPEG or PNG, at most
    400 KB; an empty retained message removes it)."""
    return f"{topics.device_notices(device_id)}/{topics.check_id(case_id, 'case id')}/photo"


def notice_photos_filter(device_id: str) -> str:
    """What a kiosk subscribes to for the photos of its notices."""
    return f"{topics.device_notices(device_id)}/+/photo"
