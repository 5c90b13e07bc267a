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


# --------------------------------------------------------------------------- line breaks


def line_break_problems(screen: Any) -> list[str]:
    """Every wrapped text with a lone last character or a line starting with punctuation."""
    from kivy.uix.label import Label

    from kiosk_app.ui.wrap import _lines, break_before

    found = []
    for widget in screen.walk(restrict=True):
        if isinstance(widget, Label) and _shown(widget) and widget.text.strip():
            lines = _lines(widget)
            if len(lines) > 1 and break_before(widget.text, lines) is not None:
                found.append(f"{type(widget).__name__}: badly broken lines {lines}")
    return found


# --------------------------------------------------------------------------- nothing cut


def cut_problems(screen: Any) -> list[str]:
    """Every text drawn larger than its box (it spills over its neighbours or past the
    window) and every text or control outside the window where no scroll view can bring it
    into view: on a small screen, nothing is cut."""
    from kivy.core.window import Window
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label
    from kivy.uix.scrollview import ScrollView

    found = []
    for widget in screen.walk(restrict=True):
        if not _shown(widget):
            continue
        name = f"{type(widget).__name__} {getattr(widget, 'text', '')[:30]!r}"
        if isinstance(widget, Label) and widget.text.strip():
            tw, th = widget.texture_size
            needed = _whole_height(widget)
            if tw > widget.width + 2 or th > widget.height + 2 or needed > th + 2:
                found.append(
                    f"{name}: text of {tw:.0f}x{max(th, needed):.0f} px in"
                    f" {widget.width:.0f}x{widget.height:.0f}"
                )
        if not isinstance(widget, (Label, ButtonBehavior)):
            continue
        node, scrolled = widget.parent, False
        while node is not None and node.parent is not node and not scrolled:
            scrolled = isinstance(node, ScrollView)
            node = node.parent
        x0, y0 = widget.to_window(widget.x, widget.y)
        if not scrolled and (
            x0 < -1
            or y0 < -1
            or x0 + widget.width > Window.width + 1
            or y0 + widget.height > Window.height + 1
        ):
            found.append(f"{name}: outside the window at {x0:.0f},{y0:.0f}")
    return found


def _whole_height(label: Any) -> float:
    """The height of all of a label's lines at its width: Kivy drops the lines that do not
    fit a ``text_size`` height, or draws them past the texture's edge."""
    from kivy.core.text import Label as CoreLabel
    from kivy.core.text.markup import MarkupLabel

    width = label.text_size[0]
    if width is None:
        return 0.0
    core = (MarkupLabel if label.markup else CoreLabel)(
        text=label.text,
        font_size=label.font_size,
        font_name=label.font_name,
        bold=label.bold,
        italic=label.italic,
        halign=label.halign,
        line_height=label.line_height,
        padding=label.padding,
        text_size=(width, None),
    )
    core.refresh()
    return float(core.texture.height) if core.texture is not None else 0.0


# --------------------------------------------------------------------------- rendered pixels

MIN_EDGE_CONTRAST = 3.0


def _visible_rect(widget: Any, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """(x0, y0, x1, y1) in window coordinates: the window clipped by every scroll view above."""
    from kivy.uix.scrollview import ScrollView

    x0, y0, x1, y1 = 0.0, 0.0, float(size[0]), float(size[1])
    node = widget.parent
    while node is not None and node.parent is not node:
        if isinstance(node, ScrollView):
            ax, ay = node.to_window(node.x, node.y)
            x0, y0 = max(x0, ax), max(y0, ay)
            x1, y1 = min(x1, ax + node.width), min(y1, ay + node.height)
        node = node.parent
    return x0, y0, x1, y1


def _rgb(pixel: Any) -> list[float]:
    return [float(c) / 255 for c in pixel[:3]]


def _median(pixels: Any) -> list[float]:
    import numpy as np

    return _rgb(np.median(pixels.reshape(-1, 3), axis=0))


def text_pixel_problems(screen: Any, image: Any) -> list[str]:
    """The contrast of every visible text measured on the rendered frame (``image``: rows
    top-down, RGB): its most common colour (the background) against the pixel that differs
    most from it (the text's own colour, where a stroke covers a whole pixel)."""
    import numpy as np
    from kivy.uix.label import Label

    height, width = image.shape[:2]
    found = []
    for widget in screen.walk(restrict=True):
        if not (isinstance(widget, Label) and _shown(widget) and widget.text.strip()):
            continue
        tw, th = widget.texture_size
        cx, cy = widget.to_window(widget.center_x, widget.center_y)
        vx0, vy0, vx1, vy1 = _visible_rect(widget, (width, height))
        x0, x1 = max(cx - tw / 2 + 3, vx0), min(cx + tw / 2 - 3, vx1)
        y0, y1 = max(cy - th / 2 + 3, vy0), min(cy + th / 2 - 3, vy1)
        if x1 - x0 < 4 or y1 - y0 < 4 or y1 - y0 < (th - 6) / 2:
            continue  # scrolled (mostly) out of view: the visible slice may hold no stroke
        box = image[height - round(y1) : height - round(y0), round(x0) : round(x1), :3]
        colours, counts = np.unique(box.reshape(-1, 3), axis=0, return_counts=True)
        bg = _rgb(colours[counts.argmax()])
        best = max(theme.contrast(_rgb(c), bg) for c in colours)
        if best < MIN_CONTRAST:
            found.append(f"{type(widget).__name__} {widget.text[:30]!r}: {best:.2f}:1 rendered")
    return found


def _side_line(side: str, o: int, box: tuple[float, float, float, float]) -> tuple[float, ...]:
    """(x0, x1, y0, y1) of a one-pixel line along ``side`` of ``box``, ``o`` px inside it
    (negative: outside), leaving out the corners."""
    x0, y0, x1, y1 = box
    return {
        "left": (x0 + o, x0 + o + 1, y0 + 4, y1 - 4),
        "right": (x1 - o - 1, x1 - o, y0 + 4, y1 - 4),
        "bottom": (x0 + 4, x1 - 4, y0 + o, y0 + o + 1),
        "top": (x0 + 4, x1 - 4, y1 - o - 1, y1 - o),
    }[side]


def edge_pixel_problems(screen: Any, image: Any) -> list[str]:
    """The edge of every visible control (buttons, choices, cards, text fields) and of the
    help bar against the page right outside it, measured on the rendered frame: the median
    colour just inside each side against the median colour just outside it, 3:1 or more."""
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.textinput import TextInput

    from kiosk_app.ui.widgets import HelpBar

    height, width = image.shape[:2]
    found = []
    for widget in screen.walk(restrict=True):
        if not isinstance(widget, (ButtonBehavior, TextInput, HelpBar)) or not _shown(widget):
            continue
        x0, y0 = widget.to_window(widget.x, widget.y)
        x1, y1 = x0 + widget.width, y0 + widget.height
        vx0, vy0, vx1, vy1 = _visible_rect(widget, (width, height))
        for side in ("left", "right", "bottom", "top"):
            rects = [_side_line(side, o, (x0, y0, x1, y1)) for o in (-3, 0, 1, 2)]
            if any(
                rx0 < vx0 or ry0 < vy0 or rx1 > vx1 or ry1 > vy1 or rx1 - rx0 < 1
                for rx0, rx1, ry0, ry1 in rects
            ):
                continue  # that side is outside the window or scrolled out of view
            pixels = [
                image[height - round(ry1) : height - round(ry0), round(rx0) : round(rx1)]
                for rx0, rx1, ry0, ry1 in rects
            ]
            if any(p.size == 0 for p in pixels):
                continue
            outer, *inner = (_median(p) for p in pixels)
            # the edge: the most distinct of the three pixel lines along the inside of the side
            ratio = max(theme.contrast(edge, outer) for edge in inner)
            if ratio < MIN_EDGE_CONTRAST:
                name = f"{type(widget).__name__} {getattr(widget, 'text', '')[:30]!r}"
                found.append(
                    f"{name}: {side} edge {ratio:.2f}:1 against the page"
                    f" ({_hex(outer)} outside, at {x0:.0f},{y0:.0f})"
                )
    return found


def assert_rendered_readable(screen: Any, png: Any) -> None:
    """Text 4.5:1, control edges 3:1 and whole lines, from the screenshot file ``png``;
    nothing cut (from the widgets)."""
    import numpy as np
    from PIL import Image

    with Image.open(png) as shot:
        image = np.asarray(shot.convert("RGB"))
    found = (
        text_pixel_problems(screen, image)
        + edge_pixel_problems(screen, image)
        + line_break_problems(screen)
        + cut_problems(screen)
    )
    assert not found, f"screen {screen.name} ({png}): " + "; ".join(found)


def _hex(rgb: list[float]) -> str:
    return "#" + "".join(f"{round(c * 255):02x}" for c in rgb[:3])
