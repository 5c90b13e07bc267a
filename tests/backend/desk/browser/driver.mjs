// A headless Chromium driven line by line from a Python test: one JSON command per line on
// stdin, one JSON answer per line on stdout ({"ok": true, "value": ...} or {"ok": false, "error"}).
// Uses playwright-core from node_modules/ (npm ci) and the system's Chromium, never a download.
import { chromium } from "playwright-core";
import readline from "node:readline";

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
// BROWSER_LOCALE: the browser's language (navigator.languages), e.g. zh-CN.
const context = await browser.newContext({ viewport: { width: 1280, height: 800 },
  locale: process.env.BROWSER_LOCALE || "en-GB" });
const page = await context.newPage();
const consoleLines = [];
page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
// What the page's Content-Security-Policy refused (Chromium reports each on the console).
const cspViolations = [];
page.on("console", (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
const requests = [];
page.on("request", (r) => { if (!r.url().startsWith(process.env.BASE_URL || "http://127.0.0.1")) requests.push(r.url()); });

const ops = {
  goto: async (c) => { await page.goto(c.url); return page.url(); },
  fill: async (c) => { await page.fill(c.selector, c.value); },
  upload: async (c) => { await page.setInputFiles(c.selector, c.path); },
  click: async (c) => { await page.click(c.selector, { timeout: c.timeout_ms ?? 10000 }); },
  click_map: async (c) => {
    // a click at a longitude/latitude on the Leaflet map
    const point = await page.evaluate(([lat, lon]) => {
      const p = window.desk.map.latLngToContainerPoint([lat, lon]);
      const box = document.getElementById("map").getBoundingClientRect();
      return { x: box.left + p.x, y: box.top + p.y };
    }, [c.lat, c.lon]);
    await page.mouse.click(point.x, point.y);
  },
  wait: async (c) => { await page.waitForSelector(c.selector, { timeout: c.timeout_ms ?? 15000, state: c.state ?? "visible" }); },
  wait_fn: async (c) => {
    // page.waitForFunction would run the expression through eval() in the page, which the
    // desk's CSP (no 'unsafe-eval') refuses; page.evaluate goes through the DevTools protocol.
    const timeout = c.timeout_ms ?? 15000;
    const deadline = Date.now() + timeout;
    while (!(await page.evaluate(c.expr))) {
      if (Date.now() > deadline) throw new Error(`${c.expr} still false after ${timeout} ms`);
      await page.waitForTimeout(50);
    }
  },
  eval: async (c) => page.evaluate(c.expr),
  press: async (c) => { await page.keyboard.press(c.key); },
  select: async (c) => { await page.selectOption(c.selector, c.value); },
  count: async (c) => page.locator(c.selector).count(),
  text: async (c) => page.locator(c.selector).first().innerText(),
  screenshot: async (c) => { await page.screenshot({ path: c.path, fullPage: false }); return c.path; },
  console: async () => consoleLines.splice(0),
  csp_violations: async () => cspViolations.slice(),
  outside_requests: async () => requests.slice(),
};

const rl = readline.createInterface({ input: process.stdin });
for await (const line of rl) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  if (command.op === "quit") break;
  try {
    const value = await ops[command.op](command);
    process.stdout.write(JSON.stringify({ ok: true, value: value ?? null }) + "\n");
  } catch (error) {
    process.stdout.write(JSON.stringify({ ok: false, error: String(error && error.message || error) }) + "\n");
  }
}
await browser.close();
