"""HTTP: a person logs in and out of the desk console."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response

from backend.deps import SessionDep
from backend.http_common import BAD_BODY, INVALID, responses
from backend.people.deps import COOKIE, PERSON_AUTH, SubjectDep, session_token
from backend.people.schemas import LoginIn, LoginOut, SubjectOut
from backend.people.service import authenticate, close_session, open_session, subject_of
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk", tags=["people"])


@router.post(
    "/login",
    responses=responses(
        BAD_BODY, INVALID, {401: PERSON_AUTH[401] | {"description": "Wrong username or password."}}
    ),
    summary="Log in: a session cookie (sr_desk) and the same token for scripts",
)
def login(body: LoginIn, session: SessionDep, response: Response) -> LoginOut:
    person = authenticate(session, body.username, body.password)
    if person is None:
        session.rollback()
        raise HTTPException(401, "wrong username or password, or the account is disabled")
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
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/me", responses=responses({401: PERSON_AUTH[401]}))
def me(subject: SubjectDep) -> SubjectOut:
    return SubjectOut(
        username=subject.username, role=subject.role.value, station_ids=sorted(subject.station_ids)
    )
