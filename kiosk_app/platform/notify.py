"""Getting a volunteer's attention: on Android a system notification (with its sound) and
vibration through plyer; on a desktop the terminal bell and a log line. The in-app
full-screen alert is always shown as well."""

from __future__ import annotations

import logging
import sys
from typing import Protocol

from kiosk_app.platform import is_android

log = logging.getLogger(__name__)

VIBRATION_PATTERN_S = [0, 0.6, 0.3, 0.6, 0.3, 0.6]


class Notifier(Protocol):
    def notify(self, title: str, message: str) -> None: ...


class DesktopNotifier:
    """The fallback: records what it was asked (tests read ``sent``), rings the bell."""

    def __init__(self, bell: bool = True) -> None:
        self.bell = bell
        self.sent: list[tuple[str, str]] = []

    def notify(self, title: str, message: str) -> None:
        self.sent.append((title, message))
        log.info("ALERT %s: %s", title, message)
        if self.bell and sys.stdout.isatty():
            sys.stdout.write("\a")
            sys.stdout.flush()


class AndroidNotifier:
    def notify(self, title: str, message: str) -> None:
        from plyer import notification, vibrator  # Android only

        try:
            notification.notify(
                title=title, message=message, app_name="Sighting report", timeout=30
            )
        except Exception:  # a missing permission must not lose the in-app alert
            log.exception("system notification failed")
        try:
            vibrator.pattern(VIBRATION_PATTERN_S)
        except Exception:
            log.exception("vibration failed")


def notifier_for() -> Notifier:
    return AndroidNotifier() if is_android() else DesktopNotifier()
