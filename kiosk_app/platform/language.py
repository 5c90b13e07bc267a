"""The device's own language: Android's default locale, or the desktop's locale variables."""

from __future__ import annotations

import os

from kiosk_app.platform import is_android


def language_tag(value: str | None) -> str | None:
    """``zh_CN.UTF-8`` -> ``zh``, ``en-GB`` -> ``en``; None for C/POSIX or nothing."""
    if not value:
        return None
    tag = value.split(".")[0].replace("-", "_").split("_")[0].lower()
    return None if tag in ("", "c", "posix") else tag


def system_language() -> str | None:
    if is_android():
        try:
            from jnius import autoclass  # Android only

            return language_tag(str(autoclass("java.util.Locale").getDefault().getLanguage()))
        except Exception:
            return None
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        found = language_tag(os.environ.get(name))
        if found:
            return found
    return None
