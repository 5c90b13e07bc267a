"""A worker's metrics live in its own registry: two workers in one process (as in tests)
count apart, and the exposition carries the readiness flags, the histograms and the
process's own metrics."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from backend.messaging.health import BATCH_SECONDS, MESSAGES, UP, Health


def samples(health: Health) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = health.exposition().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_two_workers_in_one_process_count_apart():
    first, second = Health(), Health()
    first.count(MESSAGES, kind="device_reports", outcome="accepted")
    first.count(MESSAGES, 2, kind="device_reports", outcome="accepted")
    second.count(MESSAGES, kind="device_reports", outcome="rejected")
    assert first.counter(MESSAGES, kind="device_reports", outcome="accepted") == 3
    assert second.counter(MESSAGES, kind="device_reports", outcome="accepted") == 0
    assert second.counter(MESSAGES, kind="device_reports", outcome="rejected") == 1


def test_the_exposition_has_flags_histograms_and_the_process():
    health = Health()
    health.set(connected=True, database=True)
    health.batch_seconds.observe(0.02)
    got = samples(health)
    assert got[(UP, (("dependency", "connected"),))] == 1
    assert got[(UP, (("dependency", "subscribed"),))] == 0
    assert got[(f"{BATCH_SECONDS}_count", ())] == 1
    assert got[(f"{BATCH_SECONDS}_bucket", (("le", "0.025"),))] == 1
    assert got[("process_resident_memory_bytes", ())] > 0
