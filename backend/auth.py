"""Who may read or change what over HTTP: one bearer token per role, checked in one place.

Roles: ``coordinator`` (cases), ``operator`` (devices, reports, dead letters), ``police``
(reports, station alerts as CAP). A role whose token is not configured is simply closed.
No token is needed for the public case notice (CAP, public scope) and the operational
endpoints ``/health``, ``/healthz``, ``/readyz`` and ``/metrics`` (which hold no personal
data). Tokens travel only as ``Authorization: Bearer <token>`` (RFC 6750); any other form
is refused with 401 and a ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.settings import Settings, get_settings


class Role(StrEnum):
    COORDINATOR = "coordinator"
    OPERATOR = "operator"
    POLICE = "police"


def _token(settings: Settings, role: Role) -> str | None:
    return {
        Role.COORDINATOR: settings.coordinator_token,
        Role.OPERATOR: settings.operator_token,
        Role.POLICE: settings.police_token,
    }[role]


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is
    case-insensitive), or None for a missing header, another scheme or a bare token."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def role_of(authorization: str | None, settings: Settings) -> Role | None:
    """The role whose token was presented (constant-time comparison), or None."""
    token = bearer_token(authorization)
    if token is None:
        return None
    given = token.encode("utf-8", "surrogateescape")
    found = None
    for role in Role:
        expected = _token(settings, role)
        if expected and secrets.compare_digest(given, expected.encode()):
            found = role
    return found


# Documents the scheme in OpenAPI (Swagger's "Authorize" adds the "Bearer " itself); the
# raw header is checked below so that a bare token gets its own answer.
_bearer = HTTPBearer(
    bearerFormat="opaque token",
    description="The token of a role: SR_COORDINATOR_TOKEN, SR_OPERATOR_TOKEN or SR_POLICE_TOKEN",
    auto_error=False,
)
_REALM = 'Bearer realm="sighting-report"'


def require(*allowed: Role) -> Callable[..., Role]:
    names = ", ".join(r.value for r in allowed)

    def check(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
    ) -> Role:
        settings = get_settings()
        if not any(_token(settings, r) for r in allowed):
            raise HTTPException(
                503, f"disabled: configure a token for one of: {names} (SR_<ROLE>_TOKEN)"
            )
        authorization = request.headers.get("authorization")
        if authorization is None:
            raise HTTPException(
                401,
                f"a token of one of these roles is required: {names} "
                "(Authorization: Bearer <token>)",
                headers={"WWW-Authenticate": _REALM},
            )
        if bearer_token(authorization) is None:
            raise HTTPException(
                401,
                "the Authorization header must read 'Bearer <token>' (a bare token or another "
                f"scheme is refused); a token of one of these roles is required: {names}",
                headers={"WWW-Authenticate": f'{_REALM}, error="invalid_request"'},
            )
        role = role_of(authorization, settings)
        if role is None:
            raise HTTPException(
                401,
                "this token belongs to no role; "
                f"a token of one of these roles is required: {names}",
                headers={"WWW-Authenticate": f'{_REALM}, error="invalid_token"'},
            )
        if role not in allowed:
            raise HTTPException(403, f"role {role.value} may not do this; needs one of: {names}")
        return role

    return check


CoordinatorDep = Annotated[Role, Depends(require(Role.COORDINATOR))]
ReportReaderDep = Annotated[Role, Depends(require(Role.OPERATOR, Role.COORDINATOR, Role.POLICE))]
OperatorDep = Annotated[Role, Depends(require(Role.OPERATOR, Role.COORDINATOR))]
PoliceDep = Annotated[Role, Depends(require(Role.POLICE, Role.COORDINATOR))]
CaseReaderDep = Annotated[Role, Depends(require(Role.COORDINATOR, Role.POLICE))]
