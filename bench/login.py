"""``python -m bench.login``: does a flood of logins slow everyone else down?

Starts the real API (``uvicorn backend.api:create_app --factory``, its own process, on
loopback) on a fresh SpatiaLite database with one desk account, then measures the latency
of a cheap authenticated call (``GET /api/v1/desk/me`` with a session token), one request
at a time:

1. idle: nothing else running;
2. flood: meanwhile, another process keeps ``--logins`` (16) logins with the right
   password in flight at all times (each costs an Argon2id check).

Prints one JSON line per phase and a summary line, then a table; writes the results to
``bench/results/<date>-<host>-login.json``. The target (issue 18): the flood's median
within 2x the idle median. Figures never fail a run (machines are noisy).

``--app-dir`` runs the API from another checkout (e.g. a ``git worktree`` of an older
commit) to compare with the code before the password pool.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
USERNAME = "coordinator"  # the demo account (devstack.seed.seed_demo_people)
PASSWORD = "coordinator-demo"
LOGIN = "/api/v1/desk/login"
ME = "/api/v1/desk/me"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prepare_database(path: Path) -> str:
    """A migrated SpatiaLite file holding the demo accounts of ``make run``."""
    from backend.db.engine import make_engine, make_sessionmaker
    from backend.db.migrate import upgrade
    from devstack.seed import seed_demo_people

    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine).begin() as session:
            accounts = {name: password for name, password, _ in seed_demo_people(session)}
    finally:
        engine.dispose()
    assert accounts[USERNAME] == PASSWORD, "the demo coordinator's password changed"
    return url


@contextmanager
def api_process(db_url: str, app_dir: Path, env: dict[str, str]) -> Iterator[str]:
    """The API as a real uvicorn process; yields its base URL."""
    port = _free_port()
    log = Path(tempfile.mkstemp(prefix="bench-login-api-", suffix=".log")[1])
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "backend.api:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
            ],
            cwd=app_dir,
            env={**os.environ, **env, "SR_DATABASE_URL": db_url, "PYTHONPATH": str(app_dir)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start; its log: {log}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _flood(base: str, logins: int, stop: Any, out: Any) -> None:
    """In its own process: ``logins`` threads, each logging in again as soon as answered."""
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()

    def one_client() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while not stop.is_set():
                started = time.perf_counter()
                got = client.post(LOGIN, json={"username": USERNAME, "password": PASSWORD})
                took = time.perf_counter() - started
                with lock:
                    statuses[got.status_code] += 1
                    latencies.append(took)

    threads = [threading.Thread(target=one_client) for _ in range(logins)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put({"statuses": dict(statuses), "latencies": latencies})


def measure(client: httpx.Client, token: str, requests: int) -> list[float]:
    """Latencies (s) of ``requests`` calls of ``GET /me``, one after another."""
    headers = {"Authorization": f"Bearer {token}"}
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        got = client.get(ME, headers=headers)
        took.append(time.perf_counter() - started)
        if got.status_code != 200:
            raise RuntimeError(f"GET {ME} answered {got.status_code}: {got.text}")
    return took


def _ms(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(values),
        "median_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    env = {}
    if args.hash_threads is not None:
        env["SR_LOGIN_HASH_THREADS"] = str(args.hash_threads)
    if args.hash_queue is not None:
        env["SR_LOGIN_HASH_QUEUE"] = str(args.hash_queue)
    with tempfile.TemporaryDirectory(prefix="bench-login-") as tmp:
        db_url = prepare_database(Path(tmp) / "sightings.db")
        with api_process(db_url, args.app_dir, env) as base, httpx.Client(base_url=base) as c:
            login = c.post(LOGIN, json={"username": USERNAME, "password": PASSWORD})
            login.raise_for_status()
            token = login.json()["token"]
            measure(c, token, 20)  # warm up
            idle = measure(c, token, args.requests)

            ctx = mp.get_context("spawn")
            stop, out = ctx.Event(), ctx.Queue()
            flood = ctx.Process(target=_flood, args=(base, args.logins, stop, out))
            flood.start()
            time.sleep(args.warmup)  # every flood client has a login in flight
            flooded = measure(c, token, args.requests)
            stop.set()
            logins = out.get(timeout=120)
            flood.join(30)
    idle_s, flood_s = _ms(idle), _ms(flooded)
    ratio = round(flood_s["median_ms"] / idle_s["median_ms"], 2)
    login_ms = _ms(logins["latencies"]) if logins["latencies"] else {}
    return {
        "meta": {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": "python -m bench.login " + " ".join(sys.argv[1:]),
            "machine": {
                "host": socket.gethostname(),
                "cores": os.cpu_count(),
                "python": platform.python_version(),
                "kernel": platform.release(),
            },
            "load_average": list(os.getloadavg()),
            "app_dir": str(args.app_dir),
            "logins_in_flight": args.logins,
            "hash_threads": args.hash_threads,
            "hash_queue": args.hash_queue,
        },
        "idle": idle_s,
        "flood": flood_s | {"login_statuses": logins["statuses"], "logins": login_ms},
        "ratio_median": ratio,
        "target_met": ratio <= 2.0,
    }


def table(result: dict[str, Any]) -> str:
    idle, flood = result["idle"], result["flood"]
    logins = flood.get("logins", {})
    lines = [
        f"{'GET /api/v1/desk/me':<28} {'median ms':>10} {'p90 ms':>9} {'max ms':>9} {'n':>6}",
        f"{'idle':<28} {idle['median_ms']:>10} {idle['p90_ms']:>9} {idle['max_ms']:>9} "
        f"{idle['n']:>6}",
        f"{'during ' + str(result['meta']['logins_in_flight']) + ' parallel logins':<28} "
        f"{flood['median_ms']:>10} {flood['p90_ms']:>9} {flood['max_ms']:>9} {flood['n']:>6}",
        f"ratio of medians: {result['ratio_median']} (target <= 2: "
        f"{'met' if result['target_met'] else 'NOT met'})",
        f"logins during the flood: {flood['login_statuses']}, "
        f"median {logins.get('median_ms', '-')} ms, max {logins.get('max_ms', '-')} ms",
    ]
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.login",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--logins", type=int, default=16, help="logins kept in flight (16)")
    p.add_argument("--requests", type=int, default=300, help="measured calls per phase (300)")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of flood before measuring")
    p.add_argument("--hash-threads", type=int, help="SR_LOGIN_HASH_THREADS for the API")
    p.add_argument("--hash-queue", type=int, help="SR_LOGIN_HASH_QUEUE for the API")
    p.add_argument("--app-dir", type=Path, default=REPO, help="checkout the API runs from")
    p.add_argument("--output", type=Path, help="results JSON (default bench/results/...)")
    p.add_argument("--no-output", action="store_true", help="write no results file")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result = run(args)
    print(json.dumps({"phase": "idle", **result["idle"]}))
    print(json.dumps({"phase": "flood", **result["flood"]}))
    print(
        json.dumps(
            {
                "summary": True,
                "ratio_median": result["ratio_median"],
                "target_met": result["target_met"],
                **result["meta"],
            }
        )
    )
    print(table(result))
    if not args.no_output:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        output = (
            args.output or REPO / "bench" / "results" / f"{day}-{socket.gethostname()}-login.json"
        )
        output.write_text(json.dumps(result, indent=1) + "\n")
        print(f"results: {output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
