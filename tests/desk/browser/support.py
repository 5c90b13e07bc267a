"""Headless Chromium (Debian's, through playwright-core from node_modules/) driven from a
Python test, and the HTTP API as a real uvicorn process."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.services import REPO, free_port

DRIVER = Path(__file__).resolve().parent / "driver.mjs"
ARTIFACTS = REPO / "test-artifacts" / "desk"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed (make deps)"
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        return "node_modules/playwright-core is missing: run make deps (npm ci)"
    if not Path(os.environ.get("CHROMIUM", "/usr/bin/chromium")).exists():
        return "chromium is not installed (make deps)"
    return None


class BrowserError(AssertionError):
    pass


class Browser:
    def __init__(self, base_url: str) -> None:
        env = dict(os.environ, BASE_URL=base_url)
        self.base_url = base_url
        self.proc = subprocess.Popen(
            ["node", str(DRIVER)],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put("")

    def __call__(self, op: str, timeout_s: float = 40.0, **args: Any) -> Any:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            raise BrowserError(f"the browser did not answer {op} within {timeout_s} s") from None
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise BrowserError(f"the browser driver exited during {op}: {err}")
        answer = json.loads(line)
        if not answer["ok"]:
            console = self("console") if op != "console" else []
            raise BrowserError(f"{op} {args}: {answer['error']}\nconsole: {console}")
        return answer["value"]

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self("screenshot", path=str(path))
        assert path.stat().st_size > 10_000, f"{path} looks empty"
        return path

    def login(self, username: str, password: str) -> None:
        self("goto", url=f"{self.base_url}/desk/")
        self("wait", selector="#login-form")
        self("fill", selector="#username", value=username)
        self("fill", selector="#password", value=password)
        self("click", selector="#login-button")
        self("wait", selector="#work-page")

    def set_language(self, lang: str) -> None:
        if self("eval", expr="window.desk.lang") != lang:
            self("click", selector="#lang")
            self("wait_fn", expr=f"window.desk.lang === '{lang}'")

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.proc.stdin.flush()
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(5)


@contextmanager
def browser(base_url: str) -> Iterator[Browser]:
    b = Browser(base_url)
    try:
        yield b
    finally:
        b.close()


@contextmanager
def api_server(db_url: str, extra_env: dict[str, str] | None = None) -> Iterator[str]:
    """``uvicorn backend.api:create_app --factory`` on a free port; yields its base URL."""
    port = free_port()
    env = dict(os.environ, SR_DATABASE_URL=db_url, PYTHONUNBUFFERED="1", **(extra_env or {}))
    log = ARTIFACTS.parent / "desk-api.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "backend.api:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=out,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
