"""``python -m kiosk_app --mode kiosk|phone|volunteer [--config PATH]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from kiosk_app.config import ConfigError, Mode, load_config

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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        config = load_config(Mode(args.mode), args.config)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our flags are not Kivy's
    from kivy.config import Config

    # the window size is fixed when the window is created (offscreen cannot resize later)
    width, height = WINDOW_SIZE[config.mode]
    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    if config.mode is Mode.KIOSK:
        Config.set("kivy", "keyboard_mode", "dock")  # no physical keyboard at a kiosk
    from kiosk_app.ui.app import SightingApp

    SightingApp(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
