"""The monitoring shipped in deploy/monitoring: the alert rules pass `promtool check rules`
and their own unit tests (`promtool test rules`), the Prometheus configuration is valid and
scrapes what docker-compose.yml runs, and the Grafana dashboard follows the schema of what
Grafana needs. (That every metric they name is exported: test_observed_run.py.)"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from backend.logs import AccessLog, TextFormatter, formatter
from tests.backend.ops.shipped import (
    DASHBOARD,
    MONITORING,
    PROMETHEUS,
    PROMETHEUS_CONFIG,
    RULE_TESTS,
    RULES,
    dashboard,
    dashboard_expressions,
    rule_expressions,
)
from tests.support.services import REPO

SCHEMA = Path(__file__).with_name("grafana-dashboard.schema.json")


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    """Run promtool in deploy/monitoring/prometheus; missing, the test fails (`make test` and
    `make check` install it first, through scripts/install-system-deps.sh)."""
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: run `make deps` (it installs the prometheus package)")
    return subprocess.run(
        [tool, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=60
    )


def test_promtool_accepts_the_alert_rules():
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rule_expressions())} rules found" in result.stdout


def test_the_alert_rules_fire_as_their_unit_tests_say():
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_would_refuse_a_broken_rule(tmp_path: Path):
    broken = tmp_path / "alerts.yml"
    broken.write_text(RULES.read_text().replace("expr: max(sr_alert_outbox_depth) > 0", "expr: max(", 1))
    result = promtool("check", "rules", str(broken))
    assert result.returncode != 0


def test_promtool_accepts_the_prometheus_configuration():
    result = promtool("check", "config", PROMETHEUS_CONFIG.name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_alerts_the_operators_asked_for_are_shipped():
    names = set(rule_expressions())
    assert {
        "SRIngestStopped",
        "SRDeadLettersRising",
        "SREscalationsUnacknowledged",
        "SRDatabaseDown",
        "SRBrokerDisconnected",
    } <= names
    tested = {
        case["alertname"]
        for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
        for case in test["alert_rule_test"]
    }
    assert tested <= names
    assert {"SRIngestStopped", "SRDatabaseDown", "SRBrokerDisconnected"} <= tested


def test_the_dashboard_follows_the_schema_and_uses_the_provisioned_datasource():
    board = dashboard()
    jsonschema.validate(board, json.loads(SCHEMA.read_text()))
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, f"{panel['title']} is wider than the grid"
    provisioned = yaml.safe_load(
        (MONITORING / "grafana/provisioning/datasources/prometheus.yml").read_text()
    )
    uids = {source["uid"] for source in provisioned["datasources"]}
    used = {
        target["datasource"]["uid"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    }
    assert used <= uids
    assert dashboard_expressions(board)


def test_the_schema_refuses_a_panel_without_a_query():
    board = dashboard()
    first = next(p for p in board["panels"] if p["type"] == "timeseries")
    first["targets"] = []
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(board, json.loads(SCHEMA.read_text()))


def test_compose_runs_prometheus_on_the_shipped_files_and_the_workers_can_be_scraped():
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {
        job["job_name"]: {t for c in job["static_configs"] for t in c["targets"]}
        for job in config["scrape_configs"]
    }
    assert targets["sr-worker"] == {
        f"{name}:{services[name]['environment']['SR_WORKER_HEALTH_PORT']}"
        for name in ("worker-1", "worker-2")
    }
    for name in ("worker-1", "worker-2"):
        # the health server listens on the compose network, not only inside the container
        assert services[name]["environment"]["SR_WORKER_HEALTH_HOST"] == "0.0.0.0"
    assert targets["sr-api"] == {"api:8000"}
    assert "./deploy/monitoring/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    grafana = services["grafana"]["volumes"]
    assert f"./{DASHBOARD.parent.relative_to(REPO)}:/var/lib/grafana/dashboards:ro" in grafana


# --------------------------------------------------------------------------- log format


def _access(path: str) -> logging.LogRecord:
    return logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", path, "1.1", 200),
        None,
    )


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/health", "/metrics", "/readyz?x=1"])
def test_probes_and_scrapes_leave_no_access_line(path: str):
    assert not AccessLog().filter(_access(path))


def test_an_access_line_is_json_with_its_request():
    record = _access("/api/reports?limit=5")
    assert AccessLog().filter(record)
    record.service = "api"
    line = json.loads(formatter("json").format(record))
    assert line["method"] == "GET" and line["path"] == "/api/reports?limit=5"
    assert line["status"] == 200 and line["logger"] == "uvicorn.access"
    assert {"time", "level", "message", "service"} <= set(line)


def test_the_text_format_keeps_the_context_after_the_message():
    record = logging.LogRecord("backend.x", logging.INFO, __file__, 1, "stored %s", ("r",), None)
    record.report_id = "r-1"
    assert TextFormatter().format(record).endswith("backend.x INFO stored r report_id=r-1")
    with pytest.raises(ValueError, match="SR_LOG_FORMAT"):
        formatter("xml")
