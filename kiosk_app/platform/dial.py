"""Calling for help from a phone: the system dialer with the number already typed (Android
``ACTION_DIAL`` through jnius, else plyer's call facade); on a desktop and in tests a fake
that records each call, so a test can assert the number.

``ACTION_DIAL`` (not ``ACTION_CALL``) needs no permission, and Android refuses to place an
emergency call by ``ACTION_CALL`` anyway: the person presses the green key once more."""

from __future__ import annotations

import logging
from typing import Protocol

from kiosk_app.platform import is_android

log = logging.getLogger(__name__)

EMERGENCY_NUMBER = "110"  # the police in mainland China


class Dialer(Protocol):
    def dial(self, number: str) -> bool: ...


class DesktopDialer:
    """The desktop stand-in: nothing to dial with, so it records the number (tests read
    ``calls``) and logs it."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def dial(self, number: str) -> bool:
        self.calls.append(number)
        log.info("dial %s (desktop: no telephone)", number)
        return True


class AndroidDialer:
    def dial(self, number: str) -> bool:
        try:
            from jnius import autoclass  # Android only

            intent_cls = autoclass("android.content.Intent")
            uri_cls = autoclass("android.net.Uri")
            activity = autoclass("org.kivy.android.PythonActivity").mActivity
            tel = uri_cls.parse(f"tel:{number}")
            activity.startActivity(intent_cls(intent_cls.ACTION_DIAL, tel))
            return True
        except Exception:  # no jnius or no dialer: try plyer's facade
            log.exception("dialer intent for %s", number)
        try:
            from plyer import call  # Android only

            call.makecall(tel=number)
            return True
        except Exception:
            log.exception("could not dial %s", number)
            return False


def dialer_for() -> Dialer:
    return AndroidDialer() if is_android() else DesktopDialer()
