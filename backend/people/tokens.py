"""HTTP: a logged-in person's own API tokens, ``/api/v1/desk/tokens``: create (the secret is
in the answer only), list, revoke. Creating needs a desk session: an API token cannot mint
more tokens (a leaked one could otherwise outlive its revocation); listing and revoking
work with either."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, HTTPException, Response
from pydantic import BaseModel, ConfigDict, Field

from backend.auth.http import SubjectDep
from backend.deps import SessionDep
from backend.http_common import BAD_BODY, INVALID, NOT_FOUND, Line, PathId, responses
from backend.people.api_tokens import (
    MAX_LABEL,
    NoSuchTokenError,
    create_api_token,
    list_api_tokens,
    revoke_api_token,
)
from backend.people.deps import PERSON_AUTH
from backend.people.models import PersonApiToken
from backend.people.service import PeopleError
from protocol.payloads import utc_now

router = APIRouter(prefix="/api/v1/desk/tokens", tags=["people"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: Annotated[Line, Field(min_length=1, max_length=MAX_LABEL)] = Field(
        description="What the token is for, e.g. 'nightly export'"
    )
    expires_in_days: Annotated[float, Field(gt=0, le=3650, allow_inf_nan=False)] | None = Field(
        default=None, description="Valid for this many days; null: until revoked"
    )


class TokenOut(BaseModel):
    token_id: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    """``token`` is shown once, only here: send it as ``Authorization: Bearer <token>``."""

    token: str


def _out(row: PersonApiToken) -> TokenOut:
    return TokenOut.model_validate(row, from_attributes=True)


@router.post(
    "",
    status_code=201,
    responses=responses(PERSON_AUTH, BAD_BODY, INVALID),
    summary="A new API token of yours, read-scoped like you; the secret is shown once",
)
def create_token(body: TokenIn, session: SessionDep, subject: SubjectDep) -> TokenCreatedOut:
    if subject.token_id is not None:
        raise HTTPException(
            403,
            f"an API token ({subject.token_id}) cannot create API tokens; log in "
            "(POST /api/v1/desk/login) and create it with the session",
        )
    valid_for = timedelta(days=body.expires_in_days) if body.expires_in_days else None
    try:
        row, secret = create_api_token(session, subject.username, body.label, utc_now(), valid_for)
    except PeopleError as exc:
        session.rollback()
        raise HTTPException(422, str(exc)) from exc
    out = TokenCreatedOut(**_out(row).model_dump(), token=secret)
    session.commit()
    return out


@router.get("", responses=responses(PERSON_AUTH), summary="Your API tokens, revoked ones too")
def list_tokens(session: SessionDep, subject: SubjectDep) -> list[TokenOut]:
    return [_out(r) for r in list_api_tokens(session, subject.username)]


@router.delete(
    "/{token_id}",
    status_code=204,
    responses=responses(PERSON_AUTH, INVALID, NOT_FOUND),
    summary="Revoke one of your API tokens (from the next request on)",
)
def revoke_token(token_id: PathId, session: SessionDep, subject: SubjectDep) -> Response:
    try:
        revoke_api_token(session, token_id, utc_now(), owner=subject.username)
    except NoSuchTokenError as exc:
        raise HTTPException(404, str(exc)) from exc
    session.commit()
    return Response(status_code=204)
