"""Settings of matching, routing and escalation that the worker passes down."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from backend.alerts import escalation_policy as esc
from backend.alerts.damper import DEFAULT_DAMPER_POLICY, DamperPolicy
from backend.alerts.routing import RoutingPolicy
from backend.cases.matching import DEFAULT_MATCHES_PER_REPORT
from backend.incidents.service import ClusterRules


@dataclass(frozen=True)
class AlertingConfig:
    cluster: ClusterRules = field(default_factory=ClusterRules)
    alert_ttl: timedelta = timedelta(hours=2)
    candidate_radius_m: float = 20_000.0  # proximity search; each volunteer's own radius applies
    routing: RoutingPolicy = field(default_factory=RoutingPolicy)
    escalation: esc.EscalationPolicy = field(default_factory=esc.EscalationPolicy)
    damper: DamperPolicy = DEFAULT_DAMPER_POLICY
    spot_radius_m: float = 1_000.0  # the damper's "same spot"
    matches_per_report: int = DEFAULT_MATCHES_PER_REPORT  # the best cases kept per report
