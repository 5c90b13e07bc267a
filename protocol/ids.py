"""The two identifier forms of the contract, each defined once.

- an *id* (device, volunteer, station, case, topic segment): 1-64 of ``[A-Za-z0-9_.-]``;
- a *UUID* (report and alert ids): the canonical lower-case form. A report id may arrive in
  upper case and is stored in lower case, so its check lower-cases first (:func:`is_uuid`).
"""

from __future__ import annotations

import re
from typing import Final

ID_PATTERN: Final = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
ID_HINT: Final = "1-64 of [A-Za-z0-9_.-]"
UUID_PATTERN: Final = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_id(value: object) -> bool:
    """True for 1-64 characters of ``[A-Za-z0-9_.-]`` (no newline, unlike ``$`` allows)."""
    return isinstance(value, str) and ID_PATTERN.fullmatch(value) is not None


def is_uuid(value: object, *, any_case: bool = False) -> bool:
    """True for a canonical lower-case UUID; with `any_case`, upper-case letters too."""
    if not isinstance(value, str):
        return False
    return UUID_PATTERN.fullmatch(value.lower() if any_case else value) is not None
