"""Done-when of issue 5: the kiosk app against a real broker and the real backend worker.

A passenger taps through a report; the backend stores it, the receipt arrives, the outbox
empties. With the broker stopped, three reports queue and show as waiting, survive an app
restart (a new process: ``python -m kiosk_app``), and all arrive exactly once when the
broker returns."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest
from sqlalchemy import select

from kiosk_app.config import Mode
from tests.kiosk_app.helpers import USERS, app_config, make_app, wait_for, wait_ui
from tests.kiosk_app.test_kiosk_ui import screen, tap
from tests.support.services import REPO
from tests.support.stack import backend_worker

pytestmark = [pytest.mark.ui, pytest.mark.asyncio]


def stored_ids(db_url: str, ids: set[str]) -> list[str]:
    from backend.db.engine import make_engine, make_sessionmaker
    from backend.sightings.models import Report

    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine)() as session:
            rows = session.execute(select(Report.report_id).where(Report.report_id.in_(ids)))
            return [str(r) for r in rows.scalars()]
    finally:
        engine.dispose()


def provision_kiosks(db_url: str) -> None:
    """Kiosks are provisioned devices (kiosk rate limits apply to them, not phone ones)."""
    from backend.db.engine import make_engine, make_sessionmaker
    from backend.stations.metro import load_metro
    from devstack.seed import seed_demo_devices
    from protocol.payloads import utc_now

    engine = make_engine(db_url)
    try:
        with make_sessionmaker(engine).begin() as session:
            seed_demo_devices(session, load_metro()[0], [], utc_now())
    finally:
        engine.dispose()


def kiosk_with_backend(request):
    broker = request.getfixturevalue("broker")
    db_url = request.getfixturevalue("postgis_url")
    provision_kiosks(db_url)
    worker = backend_worker(broker, db_url, username="backend", password=USERS["backend"])
    request.node.worker = worker.__enter__()
    request.addfinalizer(lambda: worker.__exit__(None, None, None))
    tmp = request.getfixturevalue("tmp_path")
    return make_app(app_config(Mode.KIOSK, broker.port, tmp / "kiosk"))


def write_ini(path, port, data_dir):
    path.write_text(
        "[device]\nmode = kiosk\ndevice_id = kiosk-SH-013\npassword = kiosk-demo\n"
        f"[broker]\nport = {port}\nreconnect_min_s = 1\nreconnect_max_s = 1\n"
        f"[app]\ndata_dir = {data_dir}\n[outbox]\nretry_min_s = 0.5\nretry_max_s = 2\n",
        encoding="utf-8",
    )


def outbox_rows(data_dir) -> int:
    with sqlite3.connect(data_dir / "outbox.sqlite3") as db:
        return db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending'").fetchone()[0]


def rejected_rows(data_dir) -> list[tuple[str, str]]:
    with sqlite3.connect(data_dir / "outbox.sqlite3") as db:
        return db.execute(
            "SELECT report_id, problems FROM outbox WHERE state = 'rejected'"
        ).fetchall()


@pytest.mark.parametrize("kivy_app", [[kiosk_with_backend]], indirect=True)
async def test_kiosk_against_real_broker_and_backend(kivy_app, broker, postgis_url, tmp_path):
    app = kivy_app
    home = screen(app, "home")
    await wait_ui(app, lambda: app.shell.connection == "online", what="online")

    # 1. a passenger taps through a report; stored, receipted, outbox empty
    await tap(app, home.ids.report_button)
    await tap(app, screen(app, "what").ids.what_carried_by_beggar)
    await tap(app, screen(app, "child").ids.send_button)
    confirm = screen(app, "confirm")
    await wait_ui(app, lambda: app.report.delivery == "delivered", what="receipt from the backend")
    # "duplicate" when the outbox sent it again before the first receipt came (a slow
    # worker on a busy machine): the backend stored it once either way (checked below).
    assert app.last_receipt.status.value in ("accepted", "duplicate")
    first_id = app.last_receipt.report_id
    assert stored_ids(postgis_url, {first_id}) == [first_id]
    assert app.outbox.stats().pending == 0
    await tap(app, confirm.ids.done_button)

    # 2. broker stopped: three reports queue and show as waiting
    broker.stop()
    await wait_ui(app, lambda: app.shell.connection == "offline", what="offline")
    queued = set()
    for _ in range(3):
        await tap(app, home.ids.report_button)
        await tap(app, screen(app, "what").ids.what_child_alone)
        await tap(app, screen(app, "child").ids.send_button)
        queued.add(next(e.report_id for e in app.outbox.pending() if e.report_id not in queued))
        await tap(app, screen(app, "confirm").ids.done_button)
    assert home.ids.waiting_label.text == "3 条举报等待发送"
    data_dir = app.settings.data_dir

    # 3. the app quits while offline ...
    app.shutdown_link()
    assert outbox_rows(data_dir) == 3

    # ... and starts again as a new process; then the broker returns
    ini = tmp_path / "kiosk.ini"
    write_ini(ini, broker.port, data_dir)
    env = dict(os.environ, SDL_VIDEODRIVER="offscreen", KIVY_NO_ARGS="1", KIVY_NO_CONSOLELOG="1")
    log = open(tmp_path / "kiosk-restart.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "kiosk_app", "--mode", "kiosk", "--config", str(ini)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        broker.start()
        wait_for(
            lambda: outbox_rows(data_dir) == 0,
            timeout_s=60,
            what="restarted app drained its outbox (rows leave only on receipts)",
        )
        assert rejected_rows(data_dir) == []  # the backend refused none of them
        assert sorted(stored_ids(postgis_url, queued)) == sorted(queued)  # each exactly once
        assert proc.poll() is None, (tmp_path / "kiosk-restart.log").read_text()
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
