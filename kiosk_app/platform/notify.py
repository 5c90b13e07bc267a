"""Getting a volunteer's attention: a system notification and vibration on Android; on a
desktop the terminal bell and a log line (the in-app banner is always shown)."""

from __future__ import annotations

import logging
import sys
from typing import Protocol

from kiosk_app.platform import is_android

log = logging.getLogger(__name__)


class Notifier(Protocol):
    def notify(self, title: str, message: str) -> None: ...


class DesktopNotifier:
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
            notification.notify(title=title, message=message, app_name="Sighting report")
            vibrator.pattern([0, 0.4, 0.2, 0.4])
        except Exception:  # a missing permission must not lose the in-app alert
            log.exception("system notification failed")


def notifier_for() -> Notifier:
    return AndroidNotifier() if is_android() else DesktopNotifier()
