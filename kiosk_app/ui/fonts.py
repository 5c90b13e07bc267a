"""A default font with CJK glyphs (Kivy's Roboto has none: Chinese would render as boxes)."""

from __future__ import annotations

from pathlib import Path

CANDIDATES = (
    Path(__file__).resolve().parent.parent / "fonts" / "cjk.ttf",  # bundled (Android build)
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),  # Debian fonts-wqy-microhei
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian fonts-noto-cjk
    Path("/system/fonts/NotoSansCJK-Regular.ttc"),  # Android
)


def find_cjk_font(configured: str | None = None) -> Path | None:
    if configured:
        path = Path(configured)
        return path if path.exists() else None
    return next((p for p in CANDIDATES if p.exists()), None)


def install_default_font(configured: str | None = None) -> Path | None:
    """Make the CJK font Kivy's default for every Label. Returns the font used, or None."""
    from kivy.core.text import DEFAULT_FONT, LabelBase

    path = find_cjk_font(configured)
    if path is not None:
        LabelBase.register(DEFAULT_FONT, str(path))
    return path
