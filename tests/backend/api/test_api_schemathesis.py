"""schemathesis against the app in-process (ASGI): every operation of the OpenAPI schema,
with data that fits the schema and data that does not, with the API token of a person of
each role and without one, on PostGIS and on SpatiaLite. Checks: no server error, every status documented,
every response body and content type as the schema says."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.api import create_app
from tests.backend.api.test_http_api import CALLERS
from tests.support.people import seed_callers

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    response_schema_conformance,
    content_type_conformance,
]
# About 45 operations x 2 modes x 4 callers x 2 databases: three examples each (plus the
# explicit ones) keep the whole file near four minutes on a 2-core machine; derandomised, so
# a run is reproducible. `SR_SCHEMATHESIS_EXAMPLES=50` digs deeper by hand.
_EACH = int(os.environ.get("SR_SCHEMATHESIS_EXAMPLES", "3"))
EXAMPLES = {GenerationMode.POSITIVE: _EACH, GenerationMode.NEGATIVE: _EACH}


def _exercise(schema: schemathesis.BaseSchema, headers: dict[str, str]) -> list[str]:
    """Run every operation in both modes; return one line per failing operation and mode."""
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                # no parameters and no body: nothing can be made invalid (e.g. GET /healthz)
                assert mode is GenerationMode.NEGATIVE, operation.label
            except Exception as exc:  # schemathesis raises a group of check failures
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures


@pytest.mark.parametrize("role", [*CALLERS, None])
def test_the_api_keeps_its_openapi_promises(db_url: str, role: str | None):
    seed_callers(db_url, CALLERS.values())
    app = create_app(db_url)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        headers = CALLERS[role].headers if role else {}
        operations = [r.ok().label for r in schema.get_all_operations()]
        assert "POST /api/cases" in operations and "GET /metrics" in operations
        failures = _exercise(schema, headers)
    finally:
        asgi.shutdown_lifespans()  # disposes of this app's engine
    assert not failures, "\n\n".join(failures)
