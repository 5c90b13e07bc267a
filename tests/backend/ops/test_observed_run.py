"""A real run, watched as an operator would: the worker (``python -m backend.worker``) and the
API (uvicorn) against a real broker and PostGIS, a kiosk sending a good and a bad report.

- every line either process wrote is one JSON object with the expected keys, a report's
  lines carry its report id, device id and batch id, and health probes leave no access line;
- every metric the shipped alert rules and dashboard read is one the two processes export,
  and the receipt-time and batch-time histograms counted the reports."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.backend.conftest import DEVICE, REPORTS
from tests.backend.helpers import report_bytes, report_dict
from tests.backend.ops.shipped import used_metric_names
from tests.support.mqtt_client import TestClient, wait_until
from tests.support.services import REPO, free_port
from tests.support.stack import start_worker

LINE_KEYS = {"time", "level", "logger", "message", "service"}
PROBES = ("/healthz", "/readyz", "/health", "/metrics")


@contextlib.contextmanager
def api_process(db_url: str, log_path: Path) -> Iterator[str]:
    """``uvicorn backend.api:create_app --factory`` as compose runs it; yields its base URL
    once /readyz answers 200."""
    port = free_port()
    env = dict(os.environ, SR_DATABASE_URL=db_url, PYTHONUNBUFFERED="1", SR_LOG_FORMAT="")
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "backend.api:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, env=env, stdout=out, stderr=out,
        )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert proc.poll() is None, log_path.read_text(errors="replace")
        try:
            return httpx.get(f"{base}/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 30, "the API to be ready")
        yield base
    finally:
        proc.terminate()
        proc.wait(15)


def exported_names(exposition: str) -> set[str]:
    """Every series name an exposition offers, counted from its families (a labelled counter
    with no sample yet still offers its name)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names |= {sample.name for sample in family.samples}
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= {f"{family.name}_{part}" for part in ("bucket", "count", "sum")}
        else:
            names.add(family.name)
    return names


def sample(exposition: str, name: str) -> float:
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            if s.name == name:
                return float(s.value)
    return 0.0


def json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for number, text in enumerate(path.read_text().splitlines(), 1):
        try:
            line = json.loads(text)
        except ValueError:
            raise AssertionError(f"{path.name} line {number} is not JSON: {text!r}") from None
        assert isinstance(line, dict), f"{path.name} line {number}: {text!r}"
        assert set(line) >= LINE_KEYS, f"{path.name} line {number} lacks {LINE_KEYS - set(line)}"
        lines.append(line)
    assert lines, f"{path.name} is empty"
    return lines


def test_a_run_logs_json_lines_and_exports_every_metric_the_monitoring_reads(
    broker, postgis_url, tmp_path: Path
):
    health_port = free_port()
    # SR_LOG_FORMAT empty, as if unset: JSON is the default
    env = {"SR_WORKER_HEALTH_PORT": str(health_port), "SR_LOG_FORMAT": ""}
    good = report_dict(DEVICE)
    bad = report_bytes(DEVICE, schema_version=2)
    api_log = tmp_path / "api.log"
    worker = start_worker(broker, postgis_url, logdir=tmp_path, extra_env=env)
    kiosk = TestClient(broker.port, DEVICE)
    try:
        kiosk.subscribe(f"sr/v1/devices/{DEVICE}/receipts")
        kiosk.publish(REPORTS, json.dumps(good).encode())
        kiosk.publish(REPORTS, bad)
        kiosk.wait_for(lambda ms: len(ms) >= 2, timeout_s=20)
        worker_metrics = f"http://127.0.0.1:{health_port}/metrics"

        def receipts_timed() -> bool:
            text = httpx.get(worker_metrics, timeout=2).text
            return sample(text, "sr_worker_receipt_seconds_count") >= 2

        wait_until(receipts_timed, 20, "both receipts acknowledged by the broker")
        worker_exposition = httpx.get(worker_metrics, timeout=2).text
        with api_process(postgis_url, api_log) as api:
            assert httpx.get(f"{api}/healthz").status_code == 200
            api_exposition = httpx.get(f"{api}/metrics").text
            assert httpx.get(f"{api}/api/reports").status_code == 401  # logged
    finally:
        kiosk.close()
        worker.terminate()

    # --- metrics: what the rules and the dashboard read exists
    exported = exported_names(worker_exposition) | exported_names(api_exposition)
    missing = used_metric_names() - exported
    assert not missing, f"the rules or the dashboard read metrics nobody exports: {missing}"
    assert sample(worker_exposition, "sr_worker_batch_seconds_count") >= 1
    assert sample(worker_exposition, "process_resident_memory_bytes") > 0
    assert sample(api_exposition, "process_resident_memory_bytes") > 0
    assert sample(api_exposition, "sr_reports_accepted_total") == 1

    # --- the worker's log
    lines = json_lines(worker.log_path)
    # the worker and its positions child (backend.messaging.position_process), each named
    assert {line["service"] for line in lines} == {"worker", "positions"}
    messages = [line["message"] for line in lines]
    assert any(m.startswith("subscribed to ") for m in messages)
    assert any(m.startswith("worker ready") for m in messages)
    mine = [line for line in lines if line.get("report_id") == good["report_id"]]
    assert [line["outcome"] for line in mine] == ["accepted"], lines
    assert mine[0]["device_id"] == DEVICE and mine[0]["batch_id"]
    refused = [
        line for line in lines if line.get("kind") == "device_reports" and line is not mine[0]
    ]
    assert refused and all(line["device_id"] == DEVICE for line in refused), lines

    # --- the API's log: JSON, the request to /api there, no probe or scrape
    lines = json_lines(api_log)
    assert {line["service"] for line in lines} == {"api"}
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(
        line["path"] == "/api/reports" and line["status"] == 401 and line["method"] == "GET"
        for line in access
    ), access
    assert not [line for line in access if line["path"].split("?")[0] in PROBES], access
