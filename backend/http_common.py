"""HTTP conventions every router shares: the error body, the statuses each kind of endpoint
declares, identifier and text types that can never reach the database as something it
refuses (NUL, lone surrogates), and the handlers that turn every refusal into a 4xx that
can always be serialised."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, Field, Strict
from sqlalchemy.exc import DataError, OperationalError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ID_PATTERN: Final = r"^[A-Za-z0-9_.\-]{1,64}$"

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_CONTROL_OR_NEWLINE = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class Problem(BaseModel):
    """One thing wrong with a request: where (``body.last_seen_at``, ``path.case_id``), a
    stable code (pydantic's error type, or ours) and what to do."""

    field: str
    code: str
    message: str


class ErrorOut(BaseModel):
    """Every 4xx and 5xx answer of the API has this shape."""

    detail: str
    problems: list[Problem] = Field(default_factory=list)


def _described(what: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": what}


BAD_BODY: Final = {
    400: _described(
        "The body is not JSON: malformed (the position is given), not UTF-8, or sent with a "
        "Content-Type other than application/json."
    )
}
INVALID: Final = {422: _described("A parameter or the body is invalid; see `problems`.")}
NOT_FOUND: Final = {404: _described("No such resource.")}
CONFLICT: Final = {409: _described("The resource already exists.")}
UNAVAILABLE: Final = {503: _described("The database did not answer; retry later.")}
AUTH: Final = {
    401: _described(
        "No `Authorization: Bearer <token>` header (a person's API token or desk session "
        "token), or a token that is unknown, expired or revoked (see WWW-Authenticate)."
    ),
    403: _described("The person's role may not do this, or read no item of this kind."),
    503: _described("The database did not answer; retry later."),
}


def responses(*groups: dict[int, dict[str, Any]]) -> dict[int | str, dict[str, Any]]:
    """Merge the declared error statuses of an endpoint (``responses=responses(AUTH, ...)``)."""
    merged: dict[int | str, dict[str, Any]] = {}
    for group in groups:
        for status, spec in group.items():
            merged[status] = spec
    return merged


# --------------------------------------------------------------------------- text and ids


def _refuse(value: str, pattern: re.Pattern[str], what: str, hint: str) -> str:
    if (m := pattern.search(value)) is not None:
        raise ValueError(f"contains {what} U+{ord(m.group()):04X} at index {m.start()}; {hint}")
    return value


def _refuse_surrogates(value: str) -> str:
    return _refuse(value, _SURROGATE, "a lone surrogate", "send valid Unicode text")


def _one_line(value: str) -> str:
    _refuse_surrogates(value)
    hint = "a single line of printable text is expected"
    return _refuse(value, _CONTROL_OR_NEWLINE, "control character", hint)


def _multi_line(value: str) -> str:
    _refuse_surrogates(value)
    return _refuse(value, _CONTROL, "control character", "only tab and line breaks are allowed")


# The patterns are for the schema's readers (and schemathesis); the validators give the
# specific message and also refuse lone surrogates, which a JSON Schema cannot express.
Line = Annotated[
    str,
    Strict(),
    AfterValidator(_one_line),
    Field(json_schema_extra={"pattern": "^[^\\u0000-\\u001f\\u007f]*$"}),
]
"""One line of text: no control characters, no lone surrogates, never coerced from a number."""
Paragraphs = Annotated[
    str,
    Strict(),
    AfterValidator(_multi_line),
    Field(
        json_schema_extra={"pattern": "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"}
    ),
]
"""Free text: tabs and line breaks allowed, other control characters and surrogates not."""
Identifier = Annotated[str, Strict(), Field(pattern=ID_PATTERN)]
"""1-64 characters of ``[A-Za-z0-9_.-]``, as everywhere in the protocol."""
PathId = Annotated[str, Path(pattern=ID_PATTERN, description="1-64 characters of `[A-Za-z0-9_.-]`")]
Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
"""A JSON number (integer or not) that is finite; never a string or a boolean."""
StrictBool = Annotated[bool, Strict()]
StrictInt = Annotated[int, Strict()]

EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
FUTURE_TOLERANCE: Final = timedelta(minutes=5)


def _timestamp_text(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("a number is not a time: send an ISO 8601 string with a time zone")
    return value


def _plausible_past(value: datetime) -> datetime:
    # The year check comes first: comparing aware datetimes near year 1 or 9999 can overflow.
    if not 2000 <= value.year <= 2200:
        raise ValueError(f"year {value.year} is implausible; send a time after 2000-01-01")
    if value < EARLIEST or value > datetime.now(UTC) + FUTURE_TOLERANCE:
        raise ValueError("must be after 2000-01-01 and not in the future")
    return value.astimezone(UTC)


PastTime = Annotated[
    AwareDatetime,
    BeforeValidator(_timestamp_text),
    AfterValidator(_plausible_past),
    Field(json_schema_extra={"pattern": "^2[01][0-9]{2}-"}),
]
"""An ISO 8601 time with a zone (``2026-11-28T10:11:08Z``), not in the future."""


# --------------------------------------------------------------------------- handlers


def printable(text: str) -> str:
    """Text that always encodes as UTF-8 (a lone surrogate becomes ``\\udXXX``)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _field(loc: Sequence[Any]) -> str:
    return ".".join(printable(str(part)) for part in loc)


def _problem(error: dict[str, Any]) -> Problem:
    message = printable(str(error.get("msg", "invalid")))
    reason = (error.get("ctx") or {}).get("error")
    if error.get("type") == "json_invalid" and reason:
        message = f"{message}: {printable(str(reason))}"
    return Problem(field=_field(error.get("loc", ())), code=str(error.get("type")), message=message)


def _error(
    status: int,
    detail: str,
    problems: list[Problem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorOut(detail=printable(detail), problems=problems or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


def _position(doc: str, pos: int) -> str:
    line = doc.count("\n", 0, pos) + 1
    column = pos - (doc.rfind("\n", 0, pos) + 1) + 1
    return f"line {line}, column {column} (character {pos})"


def _not_json(request: Request, exc: RequestValidationError) -> JSONResponse | None:
    """400 when the body could not be read as JSON at all: malformed JSON (where), or a body
    sent with another Content-Type (FastAPI then hands the raw bytes to validation)."""
    for error in exc.errors():
        if error.get("type") != "json_invalid":
            continue
        loc = error.get("loc", ())
        pos = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
        reason = printable(str((error.get("ctx") or {}).get("error") or "malformed JSON"))
        doc = exc.body if isinstance(exc.body, str) else ""
        where = f" at {_position(doc, pos)}" if pos is not None else ""
        message = f"{reason}{where}"
        return _error(
            400,
            f"the body is not JSON: {message}",
            [Problem(field="body", code="json_invalid", message=message)],
        )
    body_refused = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())
    if isinstance(exc.body, bytes | bytearray) and exc.body and body_refused:
        # (an endpoint that takes raw bytes, e.g. a photo, has its body accepted: a refusal
        # of its path or query is a 422 like any other)
        sent = printable(request.headers.get("content-type", ""))
        message = f"sent as Content-Type {sent!r}; send JSON with Content-Type: application/json"
        return _error(
            400,
            f"the body is not JSON: {message}",
            [Problem(field="body", code="content_type", message=message)],
        )
    return None


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    # The input itself is never echoed: it may be NaN (not JSON), hold a lone surrogate
    # (not UTF-8) or personal data.
    assert isinstance(exc, RequestValidationError)
    if (not_json := _not_json(request, exc)) is not None:
        return not_json
    problems = [_problem(e) for e in exc.errors()]
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return _error(422, f"invalid request: {summary}", problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = str(exc.detail)
    cause = exc.__cause__
    if exc.status_code == 400 and isinstance(cause, RecursionError):
        detail = "the JSON body is nested too deeply to be a request of this API"
    elif exc.status_code == 400 and isinstance(cause, UnicodeDecodeError):
        detail = (
            f"the body is not JSON: byte 0x{cause.object[cause.start]:02x} at character "
            f"{cause.start} is not UTF-8; send the JSON text encoded as UTF-8"
        )
    return _error(exc.status_code, detail, headers=getattr(exc, "headers", None))


async def _database_refused(request: Request, exc: Exception) -> JSONResponse:
    # A value the validation let through but the database refuses is still the client's input.
    return _error(
        422,
        "the database refused a value of this request "
        f"({type(getattr(exc, 'orig', exc)).__name__}); check the text and numbers sent",
    )


async def _database_down(request: Request, exc: Exception) -> JSONResponse:
    return _error(503, "the database did not answer; retry later", headers={"Retry-After": "5"})


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(DataError, _database_refused)
    app.add_exception_handler(OperationalError, _database_down)


# --------------------------------------------------------------------------- browser hardening


def content_security_policy(img_sources: Sequence[str] = ()) -> str:
    """The policy of the desk and the API: everything from this origin only, no inline
    script or style, no plugins, never framed (``img_sources``: e.g. a tile server)."""
    images = " ".join(["'self'", *img_sources])
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {images}; connect-src 'self'; font-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def security_headers(csp: str) -> dict[str, str]:
    """The headers every response carries (a route may set its own CSP, e.g. /docs)."""
    return {
        "Content-Security-Policy": csp,
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


class SecurityHeaders:
    """ASGI middleware: ``headers`` on every HTTP response, streaming ones (server-sent
    events) included, without replacing a header the route set itself."""

    def __init__(self, app: ASGIApp, headers: Mapping[str, str]) -> None:
        self.app = app
        self.headers = dict(headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_hardened(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.headers.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_hardened)
