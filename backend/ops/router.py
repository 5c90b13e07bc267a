"""HTTP for probes and scrapers: ``/healthz`` (the process serves), ``/readyz`` (and its
older name ``/health``: the database answers) and Prometheus ``/metrics``. No token: they
carry counts and states only, never personal data."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from backend.http_common import UNAVAILABLE, printable, responses
from backend.ops.metrics import CONTENT_TYPE, exposition
from backend.ops.service import database_answers, read_metrics
from protocol.payloads import utc_now

router = APIRouter(tags=["operations"])
READY_TIMEOUT_S = 3.0
PROMETHEUS_TEXT = CONTENT_TYPE


class Alive(BaseModel):
    status: Literal["alive"]


class Ready(BaseModel):
    status: Literal["ok"]


class NotReady(BaseModel):
    status: Literal["unavailable"]
    reason: str


async def _not_ready_reason(request: Request) -> str | None:
    try:
        await asyncio.wait_for(
            run_in_threadpool(database_answers, request.app.state.engine), READY_TIMEOUT_S
        )
    except TimeoutError:
        return f"database: no answer to SELECT 1 within {READY_TIMEOUT_S:g} s"
    except (SQLAlchemyError, OSError) as exc:
        cause = getattr(exc, "orig", None) or exc
        first_line = (str(cause).strip().splitlines() or [""])[0][:300]
        return printable(f"database: {type(cause).__name__}: {first_line}")
    return None


_READINESS: dict[int | str, dict[str, Any]] = {
    200: {"model": Ready, "description": "The database answers `SELECT 1`."},
    503: {"model": NotReady, "description": "The database does not answer; `reason` says why."},
}


@router.get("/healthz", summary="Liveness: the process serves requests (no token)")
def healthz() -> Alive:
    return Alive(status="alive")


@router.get(
    "/readyz",
    summary="Readiness: the database answers (no token)",
    response_model=Ready,
    responses=_READINESS,
)
async def readyz(request: Request) -> Ready | JSONResponse:
    reason = await _not_ready_reason(request)
    if reason is not None:
        return JSONResponse(
            NotReady(status="unavailable", reason=reason).model_dump(), status_code=503
        )
    return Ready(status="ok")


@router.get(
    "/health",
    summary="Readiness, under its older name (same as /readyz; no token)",
    response_model=Ready,
    responses=_READINESS,
)
async def health(request: Request) -> Ready | JSONResponse:
    return await readyz(request)


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics: the stored figures and the process (no token)",
    responses={
        200: {
            "content": {PROMETHEUS_TEXT: {"schema": {"type": "string"}}},
            "description": "Prometheus text exposition format 0.0.4",
        },
        **responses(UNAVAILABLE),
    },
)
def metrics(request: Request) -> Response:
    with request.app.state.sessions() as session:
        figures = read_metrics(session, utc_now())
    return Response(exposition(figures), media_type=PROMETHEUS_TEXT)
