"""Start-up of the app, from process start to the first frame shown, under Xvfb.

    .venv/bin/python scripts/bench_app_startup.py [--runs 7] [--modes kiosk,phone,volunteer]

Starts one Xvfb on a free display (``apt-get install xvfb``), then launches
``python -m kiosk_app`` once per run and mode with ``--first-frame-file`` and
``--exit-after-first-frame``: the app writes the wall-clock time of its first frame, the
script subtracts the moment it started the process. The broker address points at a closed
port: start-up never waits for the network. Prints each run and the median per mode."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZES = {"kiosk": "1280x800", "phone": "540x960", "volunteer": "540x960"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_xvfb() -> tuple[subprocess.Popen[bytes], int]:
    """An Xvfb on a free display (it picks one and writes its number to ``-displayfd``)."""
    if shutil.which("Xvfb") is None:
        raise SystemExit("Xvfb is not installed: apt-get install --no-install-recommends xvfb")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1920x1080x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    with os.fdopen(read_end) as numbers:
        line = numbers.readline().strip()  # written once the server accepts connections
    if not line.isdigit():
        proc.kill()
        raise SystemExit(f"Xvfb did not start (exit {proc.wait()})")
    return proc, int(line)


def one_run(mode: str, display: int, workdir: Path, port: int) -> float:
    ini = workdir / f"{mode}.ini"
    ini.write_text(
        f"[device]\nmode = {mode}\n[broker]\nport = {port}\n"
        f"[app]\ndata_dir = {workdir / ('data-' + mode)}\n",
        encoding="utf-8",
    )
    mark = workdir / f"{mode}.first-frame"
    mark.unlink(missing_ok=True)
    env = dict(os.environ, DISPLAY=f":{display}", KIVY_NO_CONSOLELOG="1")
    env.pop("SDL_VIDEODRIVER", None)
    command = [sys.executable, "-m", "kiosk_app", "--mode", mode, "--config", str(ini)]
    command += ["--first-frame-file", str(mark), "--exit-after-first-frame"]
    started = time.time()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=60)
    if done.returncode != 0 or not mark.exists():
        raise SystemExit(f"{mode}: no first frame (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return float(mark.read_text()) - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--modes", default="kiosk,phone,volunteer")
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]
    xvfb, display = start_xvfb()
    port = closed_port()
    results: dict[str, list[float]] = {m: [] for m in modes}
    try:
        with tempfile.TemporaryDirectory(prefix="sr-startup-") as tmp:
            one_run(modes[0], display, Path(tmp), port)  # warm the file cache once
            for _ in range(args.runs):
                for mode in modes:  # interleaved: a busy moment hits every mode alike
                    results[mode].append(one_run(mode, display, Path(tmp), port))
    finally:
        xvfb.terminate()
        xvfb.wait(10)
    load = os.getloadavg()[0]
    print(
        f"start-up to first frame, {args.runs} runs per mode, Xvfb; {platform.node()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load {load:.1f}, "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    for mode, values in results.items():
        runs = " ".join(f"{v:.2f}" for v in values)
        print(f"{mode:10} median {statistics.median(values):.2f} s  (runs: {runs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
