"""No missing-glyph boxes ("tofu"): every character the app can show (both gettext catalogues,
the literal texts of the kv layouts and of the app's Python, the station names) is drawn by
the font the app installs, not by that font's .notdef glyph.

How a missing glyph is found: FreeType (through Pillow) draws a character the font lacks as
the font's .notdef glyph, so its rendered mask equals the mask of a code point no font has
(U+10FFFD, private use). A real glyph never renders to exactly that mask. The method is
checked on a character this font lacks (⌫, once on the PIN pad's erase key)."""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from functools import cache
from pathlib import Path

from PIL import ImageFont

from kiosk_app import i18n
from kiosk_app.ui.fonts import find_cjk_font

APP_DIR = Path(i18n.__file__).parent
NOT_A_CHARACTER = "\U0010fffd"
KV_STRING = re.compile(r"'([^'\n]*)'|\"([^\"\n]*)\"")


@cache
def font() -> ImageFont.FreeTypeFont:
    path = find_cjk_font(None)
    assert path is not None, "no CJK font: the app would show Chinese as boxes"
    return ImageFont.truetype(str(path), 32)


def _mask(char: str) -> tuple[tuple[int, int], bytes]:
    mask = font().getmask(char)
    return mask.size, bytes(mask)


def missing(char: str) -> bool:
    return _mask(char) == _mask(NOT_A_CHARACTER)


def shown_texts() -> dict[str, str]:
    """Every text the app can show -> where it comes from."""
    texts: dict[str, str] = {}
    for po in sorted((APP_DIR / "locale").glob("*/LC_MESSAGES/*.po")):
        for msgid, msgstr in i18n.parse_po(po.read_text(encoding="utf-8")).items():
            for text in (msgid, msgstr):
                texts.setdefault(text, str(po.relative_to(APP_DIR)))
    for kv in sorted((APP_DIR / "ui" / "kv").glob("*.kv")):
        for match in KV_STRING.finditer(kv.read_text(encoding="utf-8")):
            texts.setdefault(match.group(1) or match.group(2) or "", kv.name)
    for py in sorted(APP_DIR.rglob("*.py")):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                texts.setdefault(node.value, str(py.relative_to(APP_DIR)))
    stations = json.loads((APP_DIR / "data" / "stations.json").read_text(encoding="utf-8"))
    for station in stations["stations"]:
        texts.setdefault(station["name"], "data/stations.json")
    return texts


def test_the_method_finds_a_missing_glyph():
    assert missing("⌫") and missing("\U0001f6a8")  # not in WenQuanYi / Noto CJK
    assert not missing("删") and not missing("除") and not missing("A") and not missing("✓")


def test_every_character_the_app_shows_has_a_glyph():
    texts = shown_texts()
    assert len(texts) > 300 and any("删除" in t for t in texts)  # the catalogues were read
    chars: dict[str, str] = {}
    for text, source in texts.items():
        for char in text:
            if not char.isspace() and unicodedata.category(char)[0] != "C":
                chars.setdefault(char, f"{source}: {text[:40]!r}")
    tofu = {char: where for char, where in chars.items() if missing(char)}
    assert not tofu, "characters drawn as a missing-glyph box: " + "; ".join(
        f"{c!r} (U+{ord(c):04X}) in {w}" for c, w in tofu.items()
    )
