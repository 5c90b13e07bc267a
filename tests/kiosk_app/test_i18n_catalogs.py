"""The gettext catalogs are complete and compiled: every text the app shows (``tr``, ``ntr`` and
``N_`` in Python, ``app.tr`` in kv, and the protocol values shown through their words) has a
non-empty translation in every language, with the same placeholders; and the committed
``.mo`` files are what the project's own compiler makes of the ``.po`` sources today."""

from __future__ import annotations

import ast
import re
import shutil
from pathlib import Path

import pytest

from kiosk_app import i18n
from kiosk_app.config import LANGUAGES
from kiosk_app.presenters.report_flow import AGE_CHOICES, COLOUR_CHOICES, SEX_CHOICES
from protocol import AgeBand, Sex, WhatSeen

APP_DIR = Path(i18n.__file__).parent
KV_DIR = APP_DIR / "ui" / "kv"
TRANSLATORS = {"tr", "ntr", "N_", "tr_main", "tr_sub"}
KV_TRANSLATED = re.compile(r"\btr(_main|_sub)?\(")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]")

# Shown through their words (chips, swatches, alert cards): the wire value is the msgid.
ENUM_MSGIDS = {
    *(w.value for w in WhatSeen),
    *(a.value for a in (*AGE_CHOICES, AgeBand.UNKNOWN)),
    *(s.value for s in (*SEX_CHOICES, Sex.UNKNOWN)),
    *(c.value for c in COLOUR_CHOICES),
}


def _texts(node: ast.AST) -> set[str]:
    """The literal texts an expression can evaluate to: a constant, either branch of
    ``a if c else b``, ``a or b``, and the values of ``{...}.get(k)`` / ``{...}[k]``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _texts(node.body) | _texts(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_texts(v) for v in node.values))
    if isinstance(node, ast.Dict):
        return set().union(*(_texts(v) for v in node.values))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
    ):
        return _texts(node.func.value)
    if isinstance(node, ast.Subscript):
        return _texts(node.value)
    return set()


def _translator(call: ast.Call) -> str | None:
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
    return name if name in TRANSLATORS else None


def _msgids_in(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = _translator(node)
        if name == "ntr" and len(node.args) >= 2:
            found |= {f"{s}\0{p}" for s in _texts(node.args[0]) for p in _texts(node.args[1])}
        elif name in ("tr", "N_", "tr_main", "tr_sub"):
            found |= _texts(node.args[0])
    return found


def python_msgids() -> set[str]:
    found: set[str] = set()
    for path in sorted(APP_DIR.rglob("*.py")):
        found |= _msgids_in(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return found


def kv_msgids() -> set[str]:
    """Every ``name: value`` line of a kv rule that calls ``tr`` is a Python expression."""
    found: set[str] = set()
    for path in sorted(KV_DIR.glob("*.kv")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not KV_TRANSLATED.search(line) or line.lstrip().startswith("#"):
                continue
            _, _, value = line.partition(":")
            try:
                tree = ast.parse(value.strip(), mode="eval")
            except SyntaxError as exc:  # a value this test cannot read must not be skipped
                raise AssertionError(f"{path.name}:{number}: cannot read {value!r}") from exc
            found |= _msgids_in(tree)
    return found


def used_msgids() -> set[str]:
    return (python_msgids() | kv_msgids() | ENUM_MSGIDS) - {""}


def po_entries(lang: str) -> dict[str, str]:
    po = i18n.LOCALE_DIR / lang / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    return i18n.parse_po(po.read_text(encoding="utf-8"))


def test_the_extractor_finds_texts_of_python_kv_and_tables():
    """Guards the test itself: if the extractor found nothing, completeness would be empty."""
    py, kv = python_msgids(), kv_msgids()
    assert "Your report was not accepted" in py  # tr(...) in a presenter
    assert "Received by the response team" in py  # N_(...) in a table
    assert "%(n)d report waiting to send\0%(n)d reports waiting to send" in py  # ntr
    assert "Report a child at risk" in kv  # shell.tr_main in kv
    assert "Cancel" in kv  # shell.tr in kv
    assert "Your contact (optional)" in kv  # the phone branch of `a if mode else ''`
    assert len(py | kv) > 80


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_text_the_app_shows_is_translated(lang):
    entries = po_entries(lang)  # parse_po leaves out empty and fuzzy translations
    missing = sorted(m.replace("\0", " | ") for m in used_msgids() if m not in entries)
    assert not missing, f"{lang}: {len(missing)} texts without a translation: {missing}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_catalog_entry_is_left_over(lang):
    """A text changed in the app but not in the catalog leaves its old entry behind."""
    used = used_msgids()
    stale = sorted(m for m in po_entries(lang) if m and m not in used)
    assert not stale, f"{lang}: entries no screen uses any more: {stale}"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translations_keep_the_placeholders(lang):
    for msgid, msgstr in po_entries(lang).items():
        if not msgid:
            continue  # the header
        wanted = sorted(PLACEHOLDER.findall(msgid.split("\0")[0]))
        for form in msgstr.split("\0"):
            assert sorted(PLACEHOLDER.findall(form)) == wanted, (lang, msgid, form)


def test_committed_mo_files_match_their_po_sources(tmp_path):
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy)
    for mo in copy.glob("*/LC_MESSAGES/*.mo"):
        mo.unlink()
    try:
        written = i18n.compile_all(copy)
    finally:
        i18n.catalog.cache_clear()  # compile_all clears it; leave no catalog of tmp behind
    assert sorted(p.parent.parent.name for p in written) == sorted(LANGUAGES)
    for fresh in written:
        committed = i18n.LOCALE_DIR / fresh.relative_to(copy)
        assert committed.read_bytes() == fresh.read_bytes(), (
            f"{committed} is stale: run `python -m kiosk_app.i18n` and commit the .mo"
        )


def test_the_app_reads_the_committed_catalogs():
    assert i18n.tr("Report a child at risk", "zh") == "举报疑似被拐/处境危险的儿童"
    assert i18n.tr("carried_by_beggar", "en") == "A child carried by a beggar"
    assert i18n.ntr("%(n)d report waiting to send", "%(n)d reports waiting to send", 3, "zh") == (
        "%(n)d 条举报等待发送"
    )
