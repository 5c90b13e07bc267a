"""No frame ever shows two screens: every frame drawn while the kiosk moves from one screen to
the next is read back from the framebuffer (at the moment it is flipped to the display) and
must be exactly the pure rendering of the screen before or of the screen after.

Kivy's NoTransition fails this: its zero-length animation completes on the tick after the
change, and the frame drawn in between has both screens, one over the other."""

from __future__ import annotations

import numpy as np
import pytest

from kiosk_app.config import Mode
from tests.kiosk_app.helpers import app_config, make_app
from tests.kiosk_app.test_kiosk_ui import screen

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]


def kiosk(request):
    tmp = request.getfixturevalue("tmp_path")
    return make_app(app_config(Mode.KIOSK, 1, tmp / "kiosk"))  # no broker needed


class Frames:
    """Every frame the window draws, read back just before it is flipped to the display."""

    def __init__(self) -> None:
        from kivy.core.window import Window

        self.window = Window
        self.frames: list[np.ndarray] = []
        Window.fbind("on_flip", self._grab)

    def _grab(self, *_: object) -> None:
        from kivy.graphics.opengl import GL_RGB, GL_UNSIGNED_BYTE, glReadPixels

        width, height = self.window.size
        data = glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE)
        self.frames.append(np.frombuffer(data, np.uint8).reshape(height, width, 3).copy())

    def close(self) -> None:
        self.window.funbind("on_flip", self._grab)


async def settled(app, frames: Frames) -> np.ndarray:
    """The pure rendering of what is on screen now (forced redraws until two agree)."""
    for _ in range(50):
        app.root.canvas.ask_update()
        await app.wait_clock_frames(2)
        if len(frames.frames) >= 2 and np.array_equal(frames.frames[-1], frames.frames[-2]):
            return frames.frames[-1]
    raise AssertionError("the screen never settled")


def differing(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.any(a != b, axis=2).sum())


async def assert_clean_cut(app, frames: Frames, press, expect: str) -> None:
    before = await settled(app, frames)
    first = len(frames.frames)
    press()
    for _ in range(12):  # every tick of the change and well after it (0.1 s at 120 fps)
        app.root.canvas.ask_update()
        await app.wait_clock_frames(1)
    assert app.root.current == expect
    during = frames.frames[first:]
    after = await settled(app, frames)
    assert differing(before, after) > 1000, "the two screens look alike: nothing is tested"
    for n, frame in enumerate(during):
        assert np.array_equal(frame, before) or np.array_equal(frame, after), (
            f"frame {n} after the tap is neither screen: {differing(frame, before)} pixels "
            f"differ from the screen before, {differing(frame, after)} from the one after"
        )


@pytest.mark.parametrize("kivy_app", [[kiosk]], indirect=True)
async def test_no_frame_shows_two_screens(kivy_app):
    app = kivy_app
    frames = Frames()
    try:
        home, what, child = screen(app, "home"), screen(app, "what"), screen(app, "child")
        await assert_clean_cut(app, frames, home.ids.report_button.trigger_action, "what")
        await assert_clean_cut(app, frames, what.ids.what_child_alone.trigger_action, "child")
        await assert_clean_cut(app, frames, child.ids.more_button.trigger_action, "details")
        details = screen(app, "details")
        await assert_clean_cut(app, frames, details.ids.back_button.trigger_action, "child")
        await assert_clean_cut(app, frames, child.ids.cancel_button.trigger_action, "home")
    finally:
        frames.close()
