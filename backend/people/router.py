"""HTTP: a person logs in and out of the desk console. Logins are throttled per account
and per client address (backend.people.throttle) and their Argon2 work runs in a bounded,
low-priority pool (backend.people.hashing)."""

from __future__ import annotations

import threading
from typing import Final

from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
from starlette.datastructures import State

from backend.deps import SessionDep
from backend.http_common import BAD_BODY, INVALID, ErrorOut, responses
from backend.people.deps import COOKIE, PERSON_AUTH, SubjectDep, session_token
from backend.people.hashing import HashingBusyError, HashingPool
from backend.people.schemas import LoginIn, LoginOut, SubjectOut
from backend.people.service import authenticate, close_session, open_session, subject_of
from backend.people.settings import get_login_settings
from backend.people.throttle import LoginThrottle
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk", tags=["people"])
_SETUP_LOCK: Final = threading.Lock()
THROTTLED: Final = {
    429: {
        "model": ErrorOut,
        "description": "Too many failed logins for this account or from this address; "
        "the Retry-After header says in how many seconds to try again.",
    },
    503: {
        "model": ErrorOut,
        "description": "Too many password checks waiting, or the database did not answer; "
        "retry after the Retry-After header's seconds.",
    },
}


def install_login_guards(
    app: FastAPI, throttle: LoginThrottle | None = None, pool: HashingPool | None = None
) -> None:
    """The app's login throttle and password-hashing pool (tests pass their own, with an
    injected clock); what is not given is made from backend.people.settings."""
    if throttle is not None:
        app.state.login_throttle = throttle
    if pool is not None:
        app.state.password_pool = pool


def _guards(state: State) -> tuple[LoginThrottle, HashingPool]:
    with _SETUP_LOCK:
        if getattr(state, "login_throttle", None) is None:
            state.login_throttle = LoginThrottle()
        if getattr(state, "password_pool", None) is None:
            settings = get_login_settings()
            state.password_pool = HashingPool(
                settings.login_hash_threads, settings.login_hash_queue
            )
        return state.login_throttle, state.password_pool


def client_address(request: Request) -> str:
    """The client's address as the server sees it (behind a proxy trusted by uvicorn's
    ``--forwarded-allow-ips``: the address in X-Forwarded-For)."""
    return request.client.host if request.client is not None else "unknown"


def cookie_secure(request: Request) -> bool:
    """Whether the session cookie carries Secure (``SR_COOKIE_SECURE``)."""
    mode = get_login_settings().cookie_secure
    return mode == "always" or (mode == "auto" and request.url.scheme == "https")


@router.post(
    "/login",
    responses=responses(
        BAD_BODY,
        INVALID,
        {401: PERSON_AUTH[401] | {"description": "Wrong username or password."}},
        THROTTLED,
    ),
    summary="Log in: a session cookie (sr_desk) and the same token for scripts",
)
def login(body: LoginIn, request: Request, session: SessionDep, response: Response) -> LoginOut:
    throttle, pool = _guards(request.app.state)
    address = client_address(request)
    lockout = throttle.check(body.username, address)
    if lockout is not None:
        raise HTTPException(
            429, lockout.message(), headers={"Retry-After": lockout.retry_after_header}
        )
    try:
        person = authenticate(session, body.username, body.password, run=pool.run)
    except HashingBusyError as busy:
        session.rollback()
        raise HTTPException(
            503, str(busy), headers={"Retry-After": busy.retry_after_header}
        ) from None
    if person is None:
        session.rollback()
        throttle.failed(body.username, address)
        raise HTTPException(401, "wrong username or password, or the account is disabled")
    throttle.succeeded(body.username, address)
    now = utc_now()
    token, expires_at = open_session(session, person, now)
    subject = subject_of(session, person)
    session.commit()
    response.set_cookie(
        COOKIE,
        token,
        max_age=int((expires_at - now).total_seconds()),
        httponly=True,
        samesite="strict",
        secure=cookie_secure(request),
        path="/",
    )
    return LoginOut(
        username=subject.username,
        role=subject.role.value,
        station_ids=sorted(subject.station_ids),
        token=token,
        expires_at=expires_at,
    )


@router.post("/logout", status_code=204, responses=responses({401: PERSON_AUTH[401]}))
def logout(request: Request, session: SessionDep, _: SubjectDep) -> Response:
    token = session_token(request)
    if token:
        close_session(session, token)
        session.commit()
    response = Response(status_code=204)
    response.delete_cookie(
        COOKIE, path="/", httponly=True, samesite="strict", secure=cookie_secure(request)
    )
    return response


@router.get("/me", responses=responses({401: PERSON_AUTH[401]}))
def me(subject: SubjectDep) -> SubjectOut:
    return SubjectOut(
        username=subject.username, role=subject.role.value, station_ids=sorted(subject.station_ids)
    )
