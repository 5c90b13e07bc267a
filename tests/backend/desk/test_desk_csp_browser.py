"""The desk and /docs under their Content-Security-Policy in a real headless Chromium against
a real uvicorn: every role's page and the Swagger UI render, and the browser reports no
refused script, style, image or connection."""

from __future__ import annotations

import httpx
import pytest

from tests.backend.desk.browser.support import api_server, browser, browser_missing
from tests.backend.desk.world import PASSWORDS

pytestmark = [
    pytest.mark.skipif(browser_missing() is not None, reason=str(browser_missing())),
]


@pytest.mark.parametrize("db_url", ["spatialite"], indirect=True)
def test_every_role_and_the_docs_render_without_a_csp_violation(db_url, world):
    with api_server(db_url) as base, browser(base) as b:
        head = httpx.get(f"{base}/desk/")
        assert "script-src 'self';" in head.headers["content-security-policy"]
        assert head.headers["x-frame-options"] == "DENY"

        for username, view in [
            ("coord", "#coordinator-view"),
            ("oper", "#operator-view"),
            ("desk-a", "#police-view"),
        ]:
            b.login(username, PASSWORDS[username])
            b("wait", selector=view)
            # the offline base map (Leaflet SVG paths of the metro) is drawn
            b("wait_fn", expr="document.querySelectorAll('.leaflet-overlay-pane path').length > 0")
            b.logout()
        b("goto", url=f"{base}/docs")
        b("wait", selector=".swagger-ui .information-container")
        violations = b("csp_violations")
        errors = [line for line in b("console") if line.startswith("pageerror")]
    assert violations == []
    assert errors == []
