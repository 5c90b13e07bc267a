"""The people endpoints' view of who is asking: backend.auth.http's subject (a desk session
from the ``sr_desk`` cookie, or ``Authorization: Bearer`` with a session or API token), and
what those endpoints declare when it is missing or refused."""

from __future__ import annotations

from typing import Final

from backend.auth.http import COOKIE as COOKIE
from backend.auth.http import SubjectDep as SubjectDep
from backend.auth.http import session_token as session_token
from backend.http_common import ErrorOut

PERSON_AUTH: Final = {
    401: {
        "model": ErrorOut,
        "description": "No credentials, or a token that is unknown, expired or revoked: "
        "POST /api/v1/desk/login, or an API token (see WWW-Authenticate).",
    },
    403: {
        "model": ErrorOut,
        "description": "This person's role may not do this, or not for this station.",
    },
}
