"""The app's colours and sizes. Every text colour is paired with the background it is drawn
on; ``CONTRAST_PAIRS`` lists them and a test checks each at WCAG AA (4.5:1) or better."""

from __future__ import annotations

RGBA = tuple[float, float, float, float]

WHITE: RGBA = (1.0, 1.0, 1.0, 1.0)
BLACK: RGBA = (0.0, 0.0, 0.0, 1.0)
BG: RGBA = (0.96, 0.97, 0.98, 1.0)  # the window
TEXT: RGBA = (0.10, 0.12, 0.15, 1.0)
MUTED: RGBA = (0.28, 0.30, 0.34, 1.0)  # secondary text on BG
DANGER: RGBA = (0.69, 0.0, 0.13, 1.0)  # "report", "send", refused: white text on it
PRIMARY: RGBA = (0.04, 0.31, 0.61, 1.0)  # main actions and selected choices
SECONDARY: RGBA = (0.86, 0.89, 0.93, 1.0)  # back, cancel, language, keys: TEXT on it
GO: RGBA = (0.07, 0.40, 0.20, 1.0)  # a volunteer's primary action
OK_TEXT: RGBA = (0.05, 0.40, 0.15, 1.0)
WARN_TEXT: RGBA = (0.55, 0.24, 0.0, 1.0)
ERROR_TEXT: RGBA = (0.65, 0.0, 0.10, 1.0)
HELP_BG: RGBA = (1.0, 0.93, 0.72, 1.0)
HELP_TEXT: RGBA = (0.22, 0.15, 0.0, 1.0)
CARD_BG: RGBA = (1.0, 0.97, 0.88, 1.0)
MAP_BG: RGBA = (1.0, 1.0, 1.0, 1.0)  # the alert's small map
SELECTED_FRAME: RGBA = (0.04, 0.31, 0.61, 1.0)
# The edge of a control or a coloured area: at least 3:1 against the window, so a light
# button, a white swatch, a card or the help bar stands out from the page.
EDGE: RGBA = (0.36, 0.39, 0.44, 1.0)
HELP_EDGE: RGBA = (0.55, 0.24, 0.0, 1.0)
MIN_EDGE_CONTRAST = 3.0
EDGE_PAIRS: dict[str, tuple[RGBA, RGBA]] = {
    "control edge on window": (EDGE, BG),
    "control edge on card": (EDGE, CARD_BG),
    "help bar edge on window": (HELP_EDGE, BG),
    "help button edge on the help bar": (EDGE, HELP_BG),
    "help button on the red help bar": (WHITE, DANGER),
    "map edge on window": (EDGE, BG),
}

TARGET_DP = 48  # the smallest touch target

CONTRAST_PAIRS: dict[str, tuple[RGBA, RGBA]] = {
    "text on window": (TEXT, BG),
    "muted text on window": (MUTED, BG),
    "ok text on window": (OK_TEXT, BG),
    "warning text on window": (WARN_TEXT, BG),
    "error text on window": (ERROR_TEXT, BG),
    "white on danger": (WHITE, DANGER),
    "white on primary": (WHITE, PRIMARY),
    "text on secondary": (TEXT, SECONDARY),
    "white on go": (WHITE, GO),
    "help text": (HELP_TEXT, HELP_BG),
    "text on card": (TEXT, CARD_BG),
    "error text on card": (ERROR_TEXT, CARD_BG),
    "muted text on card": (MUTED, CARD_BG),
    "help button": (ERROR_TEXT, WHITE),  # white, so it stands out on the yellow and the red bar
    "station names on the map": (MUTED, MAP_BG),
    "you on the map": (PRIMARY, MAP_BG),
    "sighting on the map": (ERROR_TEXT, MAP_BG),
}


def luminance(rgba: RGBA | list[float]) -> float:
    """WCAG 2 relative luminance of an sRGB colour."""

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(float(c)) for c in rgba[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(fg: RGBA | list[float], bg: RGBA | list[float]) -> float:
    """WCAG 2 contrast ratio, 1 to 21."""
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def readable_on(bg: RGBA | list[float]) -> RGBA:
    """Black or white, whichever reads better on ``bg`` (a colour swatch): never below 4.5."""
    return BLACK if contrast(BLACK, bg) >= contrast(WHITE, bg) else WHITE
