"""``python -m kiosk_app --mode kiosk|phone|volunteer [--config PATH]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from kiosk_app.config import ConfigError, Mode, load_config
from kiosk_app.platform import is_android

WINDOW_SIZE = {Mode.KIOSK: (1280, 800), Mode.PHONE: (540, 960), Mode.VOLUNTEER: (540, 960)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kiosk_app", description=__doc__)
    parser.add_argument("--mode", choices=[m.value for m in Mode], default=Mode.KIOSK.value)
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="INI file (default: var/<mode>.ini when it exists, else demo)",
    )
    parser.add_argument(
        "--first-frame-file",
        type=Path,
        default=None,
        help="write the wall-clock time (time.time()) of the first frame shown to this file",
    )
    parser.add_argument(
        "--exit-after-first-frame",
        action="store_true",
        help="quit once the first frame is shown (start-up benchmark)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config(Mode(args.mode), args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our flags are not Kivy's
    # Kivy picks a clipboard on first use and tries xclip and xsel first (about 0.35 s when
    # they are missing); SDL2's own clipboard needs no external program.
    if not is_android():
        os.environ.setdefault("KIVY_CLIPBOARD", "sdl2")
    from kivy.config import Config

    # the window size is fixed when the window is created (offscreen cannot resize later)
    width, height = WINDOW_SIZE[config.mode]
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    if config.mode is Mode.KIOSK:
        Config.set("kivy", "keyboard_mode", "dock")  # no physical keyboard at a kiosk
    from kiosk_app.ui.app import SightingApp

    app = SightingApp(config)
    if args.first_frame_file is not None or args.exit_after_first_frame:
        _watch_first_frame(app, args.first_frame_file, args.exit_after_first_frame)
    app.run()
    return 0


def _watch_first_frame(app: object, mark: Path | None, stop: bool) -> None:
    """After the first frame that shows the app's screens: note the time, maybe quit."""
    import time

    from kivy.clock import Clock
    from kivy.core.window import Window

    def flipped(window: object) -> None:
        if getattr(app, "root", None) is None:
            return
        shown = time.time()
        Window.unbind(on_flip=flipped)
        if mark is not None:
            mark.write_text(f"{shown:.6f}\n", encoding="utf-8")
        if stop:
            Clock.schedule_once(lambda dt: app.stop(), 0)  # type: ignore[attr-defined]

    Window.bind(on_flip=flipped)


if __name__ == "__main__":
    sys.exit(main())
