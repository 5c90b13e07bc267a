"""Line breaks a reader expects: Kivy wraps Chinese text at any character, so a narrow phone
shows a last line of one character ("…神情惊 / 恐"), a full stop alone, or a line that
starts with a comma; and a selected chip's tick alone under its text. After Kivy has laid a
label out, ``keep_together`` moves one more character (or word) down onto such a line with a
hard break, and lays it out again. The text the screens set is kept and restored when the
width changes, so the breaks always fit the current width."""

from __future__ import annotations

from typing import Any

# a line must not start with these (closing punctuation, Chinese and Latin)
NO_LINE_START = set("，。、；：？！）」』》〉】…,.;:?!)")


def _lines(label: Any) -> list[str]:
    # Kivy's CoreLabel keeps the laid-out lines of the last render (Kivy 2.3)
    return ["".join(w.text for w in line.words) for line in label._label._cached_lines]


def break_before(text: str, lines: list[str]) -> int | None:
    """Where to put a hard break in ``text``, laid out as ``lines``, so that no line is one
    lone character and none starts with closing punctuation; None if all is well."""
    cursor = 0
    starts = []
    for line in lines:
        found = text.find(line, cursor) if line else -1
        starts.append(found)
        if found >= 0:
            cursor = found + len(line)
    for n, (line, start) in enumerate(zip(lines, starts, strict=True)):
        if n == 0 or start <= 0 or text[start - 1] == "\n":
            continue  # the first line, or a break the text asked for
        shown = line.strip()
        last = n == len(lines) - 1
        if not ((last and len(shown) == 1) or (shown and shown[0] in NO_LINE_START)):
            continue
        head = text[:start].rstrip(" ")
        if head.endswith("\n") or not head:
            return None
        if head[-1].isascii() and head[-1].isalnum():  # a Latin word: move it whole
            at = max(head.rfind(" "), head.rfind("\n")) + 1
            return at if at > 0 else None
        return len(head) - 1  # one Chinese character joins the line
    return None


def keep_together(label: Any) -> None:
    """Watch ``label`` (a Label or Button with a wrapping ``text_size``) from now on."""
    from kivy.clock import Clock

    state: dict[str, str | None] = {"source": label.text, "ours": None}

    def check(*_: Any) -> None:
        if label.text != state["ours"]:
            state["source"], state["ours"] = label.text, None
        if state["ours"] is not None or not label.text.strip() or label.text_size[0] is None:
            return
        label.texture_update()  # lay it out now, at the current width
        at = break_before(label.text, _lines(label))
        if at is not None:
            text = label.text
            state["ours"] = text[:at].rstrip(" ") + "\n" + text[at:].lstrip(" ")
            label.text = state["ours"]

    def resized(*_: Any) -> None:
        if state["ours"] is not None and label.text == state["ours"]:
            state["ours"] = None
            label.text = state["source"]  # laid out again at the new width
        trigger()

    trigger = Clock.create_trigger(check, 0)
    label.bind(text=lambda *_: trigger(), width=resized, text_size=lambda *_: trigger())
    trigger()


def keep_all_together(root: Any) -> None:
    """``keep_together`` for every wrapping label and button under ``root``."""
    from kivy.uix.label import Label

    for widget in root.walk(restrict=True):
        if isinstance(widget, Label) and not getattr(widget, "_keeps_together", False):
            widget._keeps_together = True
            keep_together(widget)
