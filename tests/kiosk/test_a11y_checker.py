"""The contrast and touch-target check (tests/kiosk/a11y.py) finds what it must find."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.ui]


def test_the_checker_finds_low_contrast_and_small_targets():
    """Guards the check itself: the issue's grey keys (dark text on mid grey, about 2.3:1)
    and a 30 px button must be reported."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import Screen

    from kiosk_app.ui.widgets import Panel
    from tests.kiosk.a11y import problems

    page = Screen(name="bad", size=(400, 400))
    box = BoxLayout(size=(400, 400))
    page.add_widget(box)
    grey_key = Button(text="Back", size_hint=(None, None), size=(120, 60))
    grey_key.background_color, grey_key.color = [0.5, 0.5, 0.5, 1], [0.1, 0.12, 0.15, 1]
    tiny = Button(text="OK", size_hint=(None, None), size=(30, 30))
    tiny.background_color, tiny.color = [0.04, 0.31, 0.61, 1], [1, 1, 1, 1]
    panel = Panel(size_hint=(None, None), size=(200, 100), bg_color=[0.2, 0.5, 0.35, 1])
    panel.add_widget(Label(text="on green", color=[0.1, 0.12, 0.15, 1]))
    for widget in (grey_key, tiny, panel):
        box.add_widget(widget)
    found = problems(page)
    assert any("'Back'" in p and "contrast" in p for p in found), found
    assert any("'OK'" in p and "touch target 30x30" in p for p in found), found
    assert any("'on green'" in p and "contrast" in p for p in found), found
    assert len(found) == 3, found
