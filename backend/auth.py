"""Who may read or change what over HTTP: one bearer token per role, checked in one place.

Roles: ``coordinator`` (cases), ``operator`` (devices, reports, dead letters), ``police``
(reports, station alerts as CAP). A role whose token is not configured is simply closed;
the public case notice (CAP, public scope) and ``/health`` need no token.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from enum import StrEnum
from typing import Annotated

from fastapi import Depends, Header, HTTPException

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


def role_of(authorization: str | None, settings: Settings) -> Role | None:
    """The role whose token was presented (constant-time comparison), or None."""
    given = (authorization or "").removeprefix("Bearer ").strip().encode()
    if not given:
        return None
    for role in Role:
        token = _token(settings, role)
        if token and secrets.compare_digest(given, token.encode()):
            return role
    return None


def require(*allowed: Role) -> Callable[[str | None], Role]:
    names = ", ".join(r.value for r in allowed)

    def check(authorization: Annotated[str | None, Header()] = None) -> Role:
        settings = get_settings()
        if not any(_token(settings, r) for r in allowed):
            raise HTTPException(
                503, f"disabled: configure a token for one of: {names} (SR_<ROLE>_TOKEN)"
            )
        role = role_of(authorization, settings)
        if role is None:
            raise HTTPException(
                401,
                f"a token of one of these roles is required: {names} "
                "(Authorization: Bearer <token>)",
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
