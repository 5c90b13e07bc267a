"""Fixtures of the kiosk app tests: a broker with the project's accounts, a stand-in responder
for the backend, and a Kivy app fixture (offscreen, one window for the whole process,
a fresh App, Clock, Builder and Factory context per test)."""

from __future__ import annotations

import gc
import os
import shutil
import time
from pathlib import Path

import pytest
import pytest_asyncio

from tests.kiosk_app.helpers import ACCOUNTS, Responder
from tests.support.services import REPO, mosquitto

os.environ.setdefault("SDL_VIDEODRIVER", "offscreen")
os.environ.setdefault("KIVY_NO_ARGS", "1")
os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")

SCREENS_DIR = REPO / "test-artifacts" / "screens"


def _window_size() -> tuple[int, int]:
    """The one window of this process: 1280x800 unless ``KIOSK_TEST_WINDOW=WxH`` says
    otherwise (offscreen cannot resize a window, so each other size runs in its own pytest
    process: tests/kiosk_app/test_screen_sizes.py)."""
    text = os.environ.get("KIOSK_TEST_WINDOW", "1280x800")
    width, _, height = text.partition("x")
    return int(width), int(height)


WINDOW_SIZE = _window_size()


@pytest.fixture()
def broker():
    with mosquitto(accounts=ACCOUNTS) as server:
        yield server


@pytest.fixture()
def responder(broker):
    r = Responder(broker.port)
    yield r
    r.close()


def _window():
    """The process's one Kivy window, created at the kiosk size (offscreen cannot resize)."""
    from kivy.config import Config

    Config.set("graphics", "width", str(WINDOW_SIZE[0]))
    Config.set("graphics", "height", str(WINDOW_SIZE[1]))
    Config.set("graphics", "resizable", "0")
    for name, _ in Config.items("input"):
        Config.remove_option("input", name)
    from kivy.core.window import Window

    return Window


@pytest_asyncio.fixture()
async def kivy_app(request):
    """Run ``request.param[0]()`` (an App factory) under asyncio; stop it afterwards.
    Adapted from kivy.tests.fixtures.kivy_app, with our window size and strict asyncio."""
    window = _window()
    from kivy.base import stopTouchApp
    from kivy.clock import ClockBase
    from kivy.context import Context
    from kivy.factory import Factory, FactoryBase
    from kivy.lang.builder import Builder, BuilderBase

    context = Context(init=False)
    context["Clock"] = ClockBase(async_lib="asyncio")
    context["Factory"] = FactoryBase.create_from(Factory)
    context["Builder"] = BuilderBase.create_from(Builder)
    context.push()
    window.create_window()
    window.register()
    window.initialized = True
    window.canvas.clear()

    app = request.param[0](request)  # the factory may ask for other fixtures
    app.set_async_lib("asyncio")
    import asyncio

    task = asyncio.get_running_loop().create_task(app.async_run())
    from kivy.clock import Clock

    Clock._max_fps = 120  # no busy loop: a spinning clock starves the broker and the other sizes
    started = time.perf_counter()
    while not app.app_has_started:
        await app.async_sleep(0.05)
        if task.done():
            task.result()
        if time.perf_counter() - started > 15:
            raise TimeoutError("app did not start")
    await app.wait_clock_frames(5)
    try:
        yield app
    finally:
        stopTouchApp()
        started = time.perf_counter()
        while not app.app_has_stopped:
            await app.async_sleep(0.05)
            if time.perf_counter() - started > 15:
                raise TimeoutError("app did not stop")
        for child in window.children[:]:
            window.remove_widget(child)
        context.pop()
        del app
        gc.collect()


# Create the window and register the app's widget classes in the global Factory now, so every
# per-test Factory (copied from the global one) knows them.
_window()
import kiosk_app.ui.app  # noqa: E402, F401


@pytest.fixture(scope="session")
def screens_dir() -> Path:
    SCREENS_DIR.mkdir(parents=True, exist_ok=True)
    return SCREENS_DIR


def save_screenshot(app, name: str) -> Path:
    """``test-artifacts/screens/<name>.png`` (Window.screenshot appends 0001: renamed)."""
    from kivy.core.window import Window

    target = SCREENS_DIR / f"{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = target.parent / f".tmp-{target.stem}"
    written = Path(Window.screenshot(name=f"{stem}.png"))
    shutil.move(written, target)
    return target


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the flows meant for other window sizes than this process's."""
    keep, drop = [], []
    for item in items:
        marker = item.get_closest_marker("window_sizes")
        (drop if marker is not None and WINDOW_SIZE not in marker.args[0] else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
