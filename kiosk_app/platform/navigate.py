"""Opening a ``geo:`` URI in a map app: an Android intent; on a desktop the system's URL
handler (which may have nothing for ``geo:``: then the coordinates stay on screen)."""

from __future__ import annotations

import logging
from typing import Protocol

from kiosk_app.platform import is_android

log = logging.getLogger(__name__)


class Navigator(Protocol):
    def open(self, uri: str) -> bool: ...


class DesktopNavigator:
    def __init__(self, launch: bool = True) -> None:
        self.launch = launch
        self.opened: list[str] = []

    def open(self, uri: str) -> bool:
        self.opened.append(uri)
        if not self.launch:
            return True
        import webbrowser

        return webbrowser.open(uri)


class AndroidNavigator:
    def open(self, uri: str) -> bool:
        try:
            from jnius import autoclass  # Android only

            intent_cls = autoclass("android.content.Intent")
            uri_cls = autoclass("android.net.Uri")
            activity = autoclass("org.kivy.android.PythonActivity").mActivity
            activity.startActivity(intent_cls(intent_cls.ACTION_VIEW, uri_cls.parse(uri)))
            return True
        except Exception:  # no map app: the coordinates stay on screen
            log.exception("could not open %s", uri)
            return False


def navigator_for() -> Navigator:
    return AndroidNavigator() if is_android() else DesktopNavigator()
