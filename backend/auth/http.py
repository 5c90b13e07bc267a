"""Who is asking over HTTP, checked in one place for ``/api`` and the desk alike.

Every caller is a person (see :mod:`backend.auth.subject`): a script sends
``Authorization: Bearer <token>`` with a per-person API token or a desk session token; the
console sends its ``sr_desk`` session cookie. Any other form of the header (a bare token,
another scheme) is refused with 401 and a ``WWW-Authenticate`` challenge (RFC 6750), as is
a token that is unknown, expired or revoked. A role that may not do something, or may read
no item of a kind, is refused with 403; an item of a kind the role may read but outside the
person's stations is not found (404) by the routers, which read through
``backend.desk.scope.readable`` (and ``backend.desk.http.reading``, the dependency that
refuses a role reading no item of a kind).

No token is needed for the public case notice (CAP, public scope), the desk's public feed
and the operational endpoints ``/health``, ``/healthz``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from backend.auth.subject import Role, Subject, TokenRefusedError, subject_for_token
from backend.deps import SessionDep
from protocol.payloads import utc_now

COOKIE: Final = "sr_desk"
REALM: Final = 'Bearer realm="sighting-report"'

# Documents the scheme in OpenAPI (Swagger's "Authorize" adds the "Bearer " itself); the
# raw header is checked below so that a bare token gets its own answer.
_bearer = HTTPBearer(
    scheme_name="PersonToken",
    bearerFormat="opaque token",
    description="A person's API token (python -m backend.people token create USERNAME, or "
    "POST /api/v1/desk/tokens) or desk session token (POST /api/v1/desk/login)",
    auto_error=False,
)
_HOW = (
    "send 'Authorization: Bearer <token>' with your API token "
    "(python -m backend.people token create USERNAME, or POST /api/v1/desk/tokens) "
    "or a desk session token (POST /api/v1/desk/login)"
)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme is
    case-insensitive), or None for a missing header, another scheme or a bare token."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def session_token(request: Request) -> str | None:
    """The token the request carries: the Authorization header's when there is one (even a
    malformed one: then None), else the desk's session cookie."""
    header = request.headers.get("authorization")
    if header is not None:
        return bearer_token(header)
    return request.cookies.get(COOKIE) or None


def _unauthorised(detail: str, error: str | None = None) -> HTTPException:
    challenge = REALM if error is None else f'{REALM}, error="{error}"'
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


def current_subject(
    request: Request,
    session: SessionDep,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Subject:
    """The person the request's token stands for, or 401 saying what was wrong."""
    header = request.headers.get("authorization")
    token = session_token(request)
    if token is None and header is None:
        raise _unauthorised(f"no credentials: {_HOW}")
    if token is None:
        raise _unauthorised(
            "the Authorization header must read 'Bearer <token>' (a bare token or another "
            f"scheme is refused): {_HOW}",
            "invalid_request",
        )
    try:
        return subject_for_token(session, token, utc_now())
    except TokenRefusedError as exc:
        raise _unauthorised(str(exc), "invalid_token") from exc


SubjectDep = Annotated[Subject, Depends(current_subject)]


def require(*allowed: Role) -> Callable[..., Subject]:
    """A dependency: the subject, if its role is one of `allowed`, else 403."""
    names = ", ".join(r.value for r in allowed)

    def check(subject: SubjectDep) -> Subject:
        if subject.role not in allowed:
            raise HTTPException(
                403, f"{subject.username} is {subject.role.value}; this needs one of: {names}"
            )
        return subject

    return check


CoordinatorDep = Annotated[Subject, Depends(require(Role.COORDINATOR))]
