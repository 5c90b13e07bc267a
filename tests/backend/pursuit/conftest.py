"""The seeded world of the alerting tests (kiosks at every metro station, police stations,
volunteers, one open case at 人民广场 with an assigned volunteer)."""

from tests.backend.alerts.conftest import world  # noqa: F401 (a fixture)
