"""What a volunteer asked for: when not to be woken, and how fresh a position must be to
count for proximity alerts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# A position older than this no longer says where the volunteer is (proximity alerts and the
# in-memory index ignore it).
MAX_LOCATION_AGE_S: Final = 15 * 60.0


class PreferenceError(ValueError):
    """A volunteer preference that cannot be used; the message says what to pass."""


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window in the volunteer's local time; may wrap midnight (22:00-07:00).
    ``start == end`` means no quiet hours."""

    start: time
    end: time
    timezone: str  # IANA name, e.g. "Asia/Shanghai"

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise PreferenceError(
                f"quiet hours timezone {self.timezone!r} is not an IANA zone name "
                "such as 'Asia/Shanghai'"
            ) from None
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise PreferenceError("quiet hours start/end are local wall times: pass naive times")

    def contains(self, moment: datetime) -> bool:
        local = moment.astimezone(ZoneInfo(self.timezone)).time().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end
