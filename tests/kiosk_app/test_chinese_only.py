"""A Chinese-only passenger completes a full report at the kiosk by touch alone: every detail
by pickers (age, sex, colours, direction, observations, photo), no text field anywhere, and
no keyboard (Kivy's docked VKeyboard types Latin only) is ever asked for."""

from __future__ import annotations

import re

import pytest

from kiosk_app.config import Mode
from protocol import AgeBand, Colour, Sex, WhatSeen
from tests.kiosk_app.helpers import app_config, make_app, wait_ui
from tests.kiosk_app.test_kiosk_ui import screen, tap

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]
HAN = re.compile(r"[\u4e00-\u9fff]")


def kiosk_docked_keyboard(request):
    """The kiosk as `python -m kiosk_app --mode kiosk` runs it: keyboard_mode dock."""
    from kivy.config import Config
    from kivy.core.window import Window

    broker = request.getfixturevalue("broker")
    request.getfixturevalue("responder")
    monkeypatch = request.getfixturevalue("monkeypatch")
    previous = Config.get("kivy", "keyboard_mode")
    Config.set("kivy", "keyboard_mode", "dock")
    request.addfinalizer(lambda: Config.set("kivy", "keyboard_mode", previous))
    asked: list[object] = []
    real = Window.request_keyboard

    def request_keyboard(*args, **kwargs):
        asked.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(Window, "request_keyboard", request_keyboard)
    app = make_app(app_config(Mode.KIOSK, broker.port, request.getfixturevalue("tmp_path")))
    app.test_keyboard_requests = asked
    return app


def no_keyboard(app) -> None:
    from kivy.core.window import Window
    from kivy.uix.textinput import TextInput
    from kivy.uix.vkeyboard import VKeyboard

    assert not app.test_keyboard_requests, "a keyboard was requested"
    assert not [w for w in Window.children if isinstance(w, VKeyboard)], "a VKeyboard is shown"
    fields = [w for s in app.root.screens for w in s.walk() if isinstance(w, TextInput)]
    assert not fields, f"text fields on the kiosk: {fields}"


def main_text_is_chinese(widget) -> None:
    assert HAN.search(widget.text), f"{widget.text!r} has no Chinese"
    assert widget.subtext and not HAN.search(widget.subtext), "English under it"


@pytest.mark.parametrize("kivy_app", [[kiosk_docked_keyboard]], indirect=True)
async def test_a_full_report_in_chinese_by_touch_without_any_keyboard(kivy_app, responder):
    app = kivy_app
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")
    assert app.shell.lang == "zh"
    home = screen(app, "home")
    main_text_is_chinese(home.ids.report_button)
    await tap(app, home.ids.report_button)
    what = screen(app, "what")
    main_text_is_chinese(what.ids.what_child_alone)
    await tap(app, what.ids.what_child_alone)
    child = screen(app, "child")
    by_name = {
        c.name: c for box in ("age_box", "sex_box", "colour_box") for c in child.ids[box].children
    }
    for name in ("age_6-9", "sex_male", "colour_blue", "colour_white"):
        assert HAN.search(by_name[name].text), by_name[name].text  # every choice in Chinese
        await tap(app, by_name[name])
    no_keyboard(app)
    main_text_is_chinese(child.ids.more_button)
    await tap(app, child.ids.more_button)
    details = screen(app, "details")
    directions = {c.value: c for c in details.ids.direction_box.children}
    assert directions["platform 2"].text == "2 号站台"
    await tap(app, directions["platform 2"])
    notes = {c.value: c for c in details.ids.notes_box.children}
    for key in ("adult_woman", "child_begging", "boarded_train"):
        assert HAN.search(notes[key].text), notes[key].text
        await tap(app, notes[key])
    await tap(app, details.ids.photo_button)
    await wait_ui(app, lambda: app.report.photo_attached, what="photo")
    no_keyboard(app)
    main_text_is_chinese(details.ids.send_button)
    await tap(app, details.ids.send_button)
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="delivered")
    assert screen(app, "confirm").ids.delivery_label.text == "处置团队已收到"
    no_keyboard(app)

    (report,) = responder.stored.values()
    assert report.what_seen is WhatSeen.CHILD_ALONE
    assert (report.child.age_band, report.child.sex) == (AgeBand.CHILD, Sex.MALE)
    assert report.child.clothing_colours == (Colour.BLUE, Colour.WHITE)
    assert report.direction == "platform 2" and report.has_photo
    assert report.free_text == (
        "和一名女子在一起 / With a woman; 孩子被迫乞讨 / The child is made to beg; "
        "他们上了列车 / They got on a train"
    )
    assert app.shell.lang == "zh"  # never had to switch language
