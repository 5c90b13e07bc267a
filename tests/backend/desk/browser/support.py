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


# Runs in the page: colours as the browser computed them, backgrounds composed up the tree
# (with opacity), WCAG contrast ratios. Text inside the map's panes (tiles, markers' own
# glyphs) is checked like any other text.
CONTRAST_JS = r"""(() => {
  const parse = (c) => { const m = c.match(/rgba?\(([^)]+)\)/); if (!m) return [0, 0, 0, 0];
    const p = m[1].split(/[ ,\/]+/).filter(Boolean).map(Number); return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1]; };
  const over = (top, bottom) => { const a = top[3] + bottom[3] * (1 - top[3]); if (!a) return [255, 255, 255, 1];
    return [0, 1, 2].map((i) => (top[i] * top[3] + bottom[i] * bottom[3] * (1 - top[3])) / a).concat([a]); };
  const lum = (c) => { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const background = (node) => { const layers = []; for (let n = node; n && n.nodeType === 1; n = n.parentElement) {
      const bg = parse(getComputedStyle(n).backgroundColor); if (bg[3] > 0) layers.push(bg); if (bg[3] >= 1) break; }
    let c = [255, 255, 255, 1]; for (const l of layers.reverse()) c = over(l, c); return c; };
  const opacity = (node) => { let o = 1; for (let n = node; n && n.nodeType === 1; n = n.parentElement) o *= Number(getComputedStyle(n).opacity); return o; };
  const visible = (n) => { const r = n.getBoundingClientRect(); const s = getComputedStyle(n);
    return r.width > 0 && r.height > 0 && s.visibility === "visible" && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth; };
  const name = (n) => (n.id ? "#" + n.id : n.tagName.toLowerCase() + (n.className && typeof n.className === "string" ? "." + n.className.trim().split(/\s+/).join(".") : ""));
  const out = [];
  for (const n of document.querySelectorAll("body *")) {
    if (!visible(n) || n.closest("[hidden]")) continue;
    const own = [...n.childNodes].some((c) => c.nodeType === 3 && c.textContent.trim());
    const s = getComputedStyle(n);
    const bg = background(n.parentElement || n);
    if (own && !n.closest("button:disabled, input:disabled, select:disabled")) {
      const self = background(n);
      const fg = parse(s.color); fg[3] *= opacity(n);
      const size = parseFloat(s.fontSize); const bold = Number(s.fontWeight) >= 700;
      const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
      const r = ratio(over(fg, self), self);
      if (r < need) out.push({ kind: "text", element: name(n), text: n.textContent.trim().slice(0, 40), ratio: Math.round(r * 100) / 100, need, color: s.color, background: "rgb(" + self.slice(0, 3).map(Math.round).join(",") + ")" });
    }
    if (n.matches("button:not(:disabled), input:not([type=hidden]):not(:disabled), select:not(:disabled), textarea:not(:disabled)")) {
      const own_bg = over(parse(s.backgroundColor), bg);
      const border = parseFloat(s.borderTopWidth) > 0 ? over(parse(s.borderTopColor), bg) : own_bg;
      const best = Math.max(ratio(own_bg, bg), ratio(border, bg));
      const link = s.borderTopWidth === "0px" && parse(s.backgroundColor)[3] === 0 && s.textDecorationLine.includes("underline");
      if (best < 3 && !link) out.push({ kind: "control", element: name(n), text: (n.textContent || n.name || "").trim().slice(0, 40), ratio: Math.round(best * 100) / 100, need: 3, border: s.borderTopColor, background: s.backgroundColor });
    }
  }
  return out;
})()"""


class Browser:
    def __init__(self, base_url: str, locale: str = "en-GB") -> None:
        env = dict(os.environ, BASE_URL=base_url, BROWSER_LOCALE=locale)
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

    def screenshots(self, name: str, languages: tuple[str, ...] = ("en", "zh")) -> list[Path]:
        """``<name>-<lang>.png`` (1280x800) in each language, after the page's refresh has
        settled; the page is left in the last language."""
        paths = []
        for lang in languages:
            self.set_language(lang)
            self("wait_fn", expr="!window.desk || window.desk.refreshing === null")
            paths.append(self.screenshot(f"{name}-{lang}"))
        return paths

    def contrast_failures(self) -> list[dict[str, Any]]:
        """Every visible text below 4.5:1 (3:1 when large) and every enabled control whose
        border and background are both below 3:1 against what is behind it, from the
        computed styles of the page as shown (WCAG 2.1 relative luminance)."""
        failures: list[dict[str, Any]] = self("eval", expr=CONTRAST_JS)
        return failures

    def login(self, username: str, password: str) -> None:
        self("goto", url=f"{self.base_url}/desk/")
        self("wait", selector="#login-form")
        self("fill", selector="#username", value=username)
        self("fill", selector="#password", value=password)
        self("click", selector="#login-button")
        self("wait", selector="#work-page")

    def logout(self) -> None:
        """Log out and wait for the login form: the desk shows it only once the server has
        ended the session, so a following ``login`` cannot land on the old session."""
        self("click", selector="#logout")
        self("wait", selector="#login-form")

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
def browser(base_url: str, locale: str = "en-GB") -> Iterator[Browser]:
    b = Browser(base_url, locale)
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
