"""Checks of what a person can read and touch, over a screen's real widgets: the contrast of
every visible text against what is drawn under it (WCAG AA, 4.5:1) and the size of every
touch target (48 dp). The background of a text is its button's colour, else the nearest
``Panel`` under it, else the window's clear colour: the app draws no other backgrounds."""

from __future__ import annotations

from typing import Any

from kiosk_app.ui import theme

MIN_CONTRAST = 4.5


def _shown(widget: Any) -> bool:
    node = widget
    while node is not None:
        if getattr(node, "opacity", 1) <= 0 or getattr(node, "disabled", False):
            return False
        node = node.parent if node.parent is not node else None
    return widget.width > 1 and widget.height > 1


def background_of(widget: Any, window_bg: Any) -> list[float]:
    from kivy.uix.button import Button

    node = widget
    while node is not None:
        if isinstance(node, Button):
            return list(node.background_color)
        if hasattr(node, "bg_color"):
            return list(node.bg_color)
        parent = node.parent
        node = parent if parent is not node else None
    return list(window_bg)


def problems(screen: Any) -> list[str]:
    """Every text below 4.5:1 and every touch target under 48 dp on ``screen``."""
    from kivy.core.window import Window
    from kivy.metrics import dp
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    found: list[str] = []
    target = dp(theme.TARGET_DP) - 0.5
    for widget in screen.walk(restrict=True):
        if not _shown(widget):
            continue
        name = f"{type(widget).__name__} {getattr(widget, 'text', '')[:40]!r}"
        if isinstance(widget, Label) and widget.text.strip():
            bg = background_of(widget, Window.clearcolor)
            if bg[3] < 1:
                found.append(f"{name}: translucent background {bg}")
            ratio = theme.contrast(widget.color, bg)
            if ratio < MIN_CONTRAST:
                found.append(f"{name}: contrast {ratio:.2f}:1 (colour {widget.color} on {bg})")
        if isinstance(widget, (ButtonBehavior, TextInput)) and (
            widget.width < target or widget.height < target
        ):
            found.append(f"{name}: touch target {widget.width:.0f}x{widget.height:.0f} px")
    return found


def assert_readable_and_touchable(screen: Any) -> None:
    found = problems(screen)
    assert not found, f"screen {screen.name}: " + "; ".join(found)
