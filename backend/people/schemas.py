"""API shapes of the people endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from backend.http_common import Identifier, Line


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Identifier
    password: Annotated[Line, Field(min_length=1, max_length=200)]


class SubjectOut(BaseModel):
    username: str
    role: str
    station_ids: list[str]


class LoginOut(SubjectOut):
    """``token`` is shown once; the console keeps the cookie instead (HttpOnly)."""

    token: str
    expires_at: datetime
