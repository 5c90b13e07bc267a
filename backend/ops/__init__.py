"""Operational endpoints: liveness, readiness, Prometheus metrics."""
