"""gettext catalogs for the app (``locale/<lang>/LC_MESSAGES/kiosk_app.po``).

English text is the msgid; ``zh`` translates it. The ``.mo`` files are committed and are
rebuilt from the ``.po`` sources with ``python -m kiosk_app.i18n`` (a pure-Python msgfmt,
so no gettext tools are needed on a kiosk or in CI). A test checks they are up to date and
that every text the screens use has a translation.
"""

from __future__ import annotations

import ast
import gettext
import struct
from functools import cache
from pathlib import Path

DOMAIN = "kiosk_app"
LOCALE_DIR = Path(__file__).with_name("locale")


@cache
def catalog(lang: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang], fallback=True)


def tr(msgid: str, lang: str) -> str:
    return catalog(lang).gettext(msgid)


def ntr(singular: str, plural: str, n: int, lang: str) -> str:
    return catalog(lang).ngettext(singular, plural, n)


def N_(msgid: str) -> str:  # noqa: N802 (the gettext convention)
    """Marks a text kept in a table and translated later with ``tr``; returns it unchanged.
    The catalog test finds every msgid through ``tr``, ``ntr`` and ``N_``."""
    return msgid


# --------------------------------------------------------------------------- msgfmt


def parse_po(text: str) -> dict[str, str]:
    """Entries of a .po file as msgid -> msgstr; plural entries as ``id\\0plural`` -> ``s0\\0s1``.
    Untranslated and fuzzy entries are left out, as msgfmt does."""
    entries: dict[str, str] = {}
    msgid: list[str] = []
    plural: list[str] | None = None
    strs: dict[int, list[str]] = {}
    current: list[str] | None = None
    fuzzy = False

    def flush() -> None:
        nonlocal msgid, plural, strs, fuzzy, current
        if current is not None and strs:
            key = "".join(msgid)
            values = ["".join(strs[i]) for i in sorted(strs)]
            if plural is not None:
                key = key + "\0" + "".join(plural)
            if (all(values) and not fuzzy) or key == "":
                entries[key] = "\0".join(values)
        msgid, plural, strs, current, fuzzy = [], None, {}, None, False

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#,") and "fuzzy" in line:
            flush()
            fuzzy = True
            continue
        if not line or line.startswith("#"):
            continue
        if line.startswith("msgctxt"):
            raise ValueError("msgctxt is not supported by this catalog compiler")
        if line.startswith("msgid_plural"):
            plural = [ast.literal_eval(line[len("msgid_plural") :].strip())]
            current = plural
        elif line.startswith("msgid"):
            if strs:
                keep_fuzzy = fuzzy
                flush()
                fuzzy = keep_fuzzy
            msgid = [ast.literal_eval(line[len("msgid") :].strip())]
            current = msgid
        elif line.startswith("msgstr["):
            index = int(line[len("msgstr[") : line.index("]")])
            strs[index] = [ast.literal_eval(line[line.index("]") + 1 :].strip())]
            current = strs[index]
        elif line.startswith("msgstr"):
            strs[0] = [ast.literal_eval(line[len("msgstr") :].strip())]
            current = strs[0]
        elif line.startswith('"') and current is not None:
            current.append(ast.literal_eval(line))
    flush()
    return entries


def build_mo(entries: dict[str, str]) -> bytes:
    """The GNU .mo binary format (little-endian, no hash table)."""
    keys = sorted(entries)
    ids = b""
    strs = b""
    offsets: list[tuple[int, int, int, int]] = []
    for key in keys:
        k = key.encode("utf-8")
        v = entries[key].encode("utf-8")
        offsets.append((len(ids), len(k), len(strs), len(v)))
        ids += k + b"\0"
        strs += v + b"\0"
    n = len(keys)
    key_table_start = 7 * 4
    value_table_start = key_table_start + n * 8
    ids_start = value_table_start + n * 8
    strs_start = ids_start + len(ids)
    key_table: list[int] = []
    value_table: list[int] = []
    for id_off, id_len, str_off, str_len in offsets:
        key_table += [id_len, ids_start + id_off]
        value_table += [str_len, strs_start + str_off]
    header = struct.pack("Iiiiiii", 0x950412DE, 0, n, key_table_start, value_table_start, 0, 0)
    tables = struct.pack(f"{len(key_table)}i", *key_table) + struct.pack(
        f"{len(value_table)}i", *value_table
    )
    return header + tables + ids + strs


def compile_all(locale_dir: Path = LOCALE_DIR) -> list[Path]:
    written = []
    for po in sorted(locale_dir.glob(f"*/LC_MESSAGES/{DOMAIN}.po")):
        mo = po.with_suffix(".mo")
        mo.write_bytes(build_mo(parse_po(po.read_text(encoding="utf-8"))))
        written.append(mo)
    catalog.cache_clear()
    return written


if __name__ == "__main__":
    for path in compile_all():
        print(path)
