"""What deploy/monitoring ships: the alert rules, their unit tests, the Prometheus
configuration and the Grafana dashboard, and the metric names their queries use."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from tests.support.services import REPO

MONITORING = REPO / "deploy" / "monitoring"
PROMETHEUS = MONITORING / "prometheus"
RULES = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts.test.yml"
PROMETHEUS_CONFIG = PROMETHEUS / "prometheus.yml"
DASHBOARDS = MONITORING / "grafana" / "dashboards"
DASHBOARD = DASHBOARDS / "sighting-reports.json"

# The metrics this project exports (sr_) and those prometheus_client adds for the process.
_OURS = re.compile(r"\b((?:sr|process|python)_[a-zA-Z0-9_]*)")


def rule_expressions(path: Path = RULES) -> dict[str, str]:
    """Alert name -> its PromQL."""
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule["alert"]: rule["expr"] for group in groups for rule in group["rules"]}


def dashboard(path: Path = DASHBOARD) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def dashboard_expressions(board: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
    ]


def metric_names(expressions: list[str]) -> set[str]:
    """The sr_/process_/python_ metric names the expressions read."""
    return {name for expr in expressions for name in _OURS.findall(expr)}


def used_metric_names() -> set[str]:
    return metric_names(list(rule_expressions().values()) + dashboard_expressions(dashboard()))
