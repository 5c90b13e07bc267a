"""The contrast and touch-target check (tests/kiosk_app/a11y.py) finds what it must find."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ui


def test_the_checker_finds_low_contrast_and_small_targets():
    """Guards the check itself: the issue's grey keys (dark text on mid grey, about 2.3:1)
    and a 30 px button must be reported."""
    from kivy.uix.boxlayout import BoxLayout
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import Screen

    from kiosk_app.ui.widgets import Panel
    from tests.kiosk_app.a11y import problems

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


def test_the_pixel_checker_finds_faint_text_and_edges_that_do_not_stand_out():
    """Guards the rendered-pixel check: a light button with no edge on the light page (the
    issue's 1.2:1) and light grey text on white are reported; a dark edge is not."""
    import numpy as np
    from kivy.uix.button import Button
    from kivy.uix.label import Label
    from kivy.uix.screenmanager import Screen

    from tests.kiosk_app.a11y import edge_pixel_problems, text_pixel_problems

    page = Screen(name="bad", size=(400, 400))
    flat = Button(text="", size_hint=(None, None), pos=(40, 40), size=(120, 60))
    edged = Button(text="", size_hint=(None, None), pos=(40, 200), size=(120, 60))
    faint = Label(text="faint", size_hint=(None, None), pos=(220, 200), size=(120, 60))
    for widget in (flat, edged, faint):
        page.add_widget(widget)
    faint.texture_size = [80, 30]
    image = np.full((400, 400, 3), (245, 247, 250), np.uint8)  # rows top-down

    def paint(x0, y0, x1, y1, rgb):
        image[400 - y1 : 400 - y0, x0:x1] = rgb

    paint(40, 40, 160, 100, (219, 227, 237))  # the light grey button, no edge
    paint(40, 200, 160, 260, (92, 99, 112))  # the edged button: its edge ...
    paint(42, 202, 158, 258, (219, 227, 237))  # ... around a light body
    paint(240, 215, 320, 245, (255, 255, 255))  # a white text box ...
    paint(260, 225, 300, 235, (200, 200, 200))  # ... with light grey strokes
    edges = edge_pixel_problems(page, image)
    assert edges and all("Button ''" in p for p in edges)
    assert len(edges) == 4, edges  # the four sides of the flat one, none of the edged one
    texts = text_pixel_problems(page, image)
    assert len(texts) == 1 and "'faint'" in texts[0], texts
