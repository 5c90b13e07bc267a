"""The API's ``/metrics``: the stored figures (``service.read_metrics``, the same for every
API process) and this process's own (CPU, memory, open files, garbage collection), in the
Prometheus text format written by ``prometheus_client``.

The figures are read at each scrape: a registry is built for the one answer, so nothing is
kept between scrapes and no two apps in one process (tests) share a metric.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from backend.ops.service import Metrics

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
RETENTION_ERASED = ("cases", "report_contacts", "report_photos")


class StoredFigures(Collector):
    """One snapshot of :class:`Metrics` as metric families."""

    def __init__(self, figures: Metrics) -> None:
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        m = self.figures
        yield _counter(
            "sr_reports_received_total",
            "Messages on report topics that were stored or dead-lettered.",
            m.reports_received,
        )
        yield _counter(
            "sr_reports_accepted_total",
            "Reports stored (operator test reports excluded).",
            m.reports_accepted,
        )
        yield _counter("sr_reports_test_total", "Operator test reports stored.", m.reports_test)
        yield _counter(
            "sr_reports_rejected_total",
            "Messages on report topics refused and dead-lettered (quarantined ones excluded).",
            m.reports_rejected,
        )
        yield _counter(
            "sr_quarantined_total",
            "Messages set aside after repeated failed processing (problem code quarantined).",
            m.quarantined,
        )
        yield _counter("sr_dead_letters_total", "Dead letters on all topics.", m.dead_letters)
        by_code = CounterMetricFamily(
            "sr_dead_letters_by_code_total",
            "Dead letters per problem code (a letter with several codes counts under each).",
            labels=("code",),
        )
        for code, n in sorted(m.dead_letters_by_code.items()):
            by_code.add_metric((code,), n)
        yield by_code
        yield _counter(
            "sr_alerts_sent_total",
            "Alerts the broker acknowledged at least once (delivered_revision > 0).",
            m.alerts_sent,
        )
        yield _counter(
            "sr_alerts_acknowledged_total",
            "Alerts whose recipient answered ack or on_my_way.",
            m.alerts_acknowledged,
        )
        yield _counter(
            "sr_alerts_escalated_total", "Alerts sent by escalation.", m.alerts_escalated
        )
        yield GaugeMetricFamily(
            "sr_alert_outbox_depth",
            "Alert revisions committed but not yet delivered, and not expired.",
            value=m.alert_outbox_depth,
        )
        yield GaugeMetricFamily(
            "sr_escalations_unacknowledged",
            "Incidents with an unexpired escalation alert that nobody has acknowledged "
            "(ack or on_my_way).",
            value=m.escalations_unacknowledged,
        )
        yield _counter(
            "sr_reports_placed_at_station_total",
            "Kiosk reports stored at the kiosk's station, not at the place they claimed "
            "(farther than SR_KIOSK_LOCATION_TOLERANCE_M, or another station).",
            m.reports_placed_at_station,
        )
        yield from self._retention()

    def _retention(self) -> Iterator[Metric]:
        """When the retention job last ran (0: never) and what it erased."""
        run = self.figures.retention
        last = run.last_counts if run is not None else {}
        total = run.total_counts if run is not None else {}
        yield GaugeMetricFamily(
            "sr_retention_last_run_timestamp_seconds",
            "Unix time of the last retention pass that committed (0: never ran).",
            value=run.last_run_at.timestamp() if run is not None else 0,
        )
        yield _counter(
            "sr_retention_runs_total",
            "Retention passes that committed.",
            run.runs if run is not None else 0,
        )
        last_erased = GaugeMetricFamily(
            "sr_retention_last_erased",
            "What the last retention pass erased: cases' personal data, reporters' contacts "
            "and photos.",
            labels=("what",),
        )
        erased = CounterMetricFamily(
            "sr_retention_erased_total",
            "What every retention pass erased, summed.",
            labels=("what",),
        )
        for what in RETENTION_ERASED:
            last_erased.add_metric((what,), last.get(what, 0))
            erased.add_metric((what,), total.get(what, 0))
        yield last_erased
        yield erased


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def exposition(figures: Metrics) -> bytes:
    """The stored figures and this process's metrics, in the text format 0.0.4."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoredFigures(figures))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return generate_latest(registry)
