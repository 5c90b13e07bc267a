"""How the backend's processes log: one JSON object per line on standard error.

Every line has ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message`` and ``service``
(worker, api, retention), plus what the call site passed with ``extra=`` (``report_id``,
``device_id``, ``batch_id``, ...) and ``exc_info`` for a traceback. ``SR_LOG_FORMAT=text``
gives plain lines instead (the same fields, ``key=value`` after the message) for reading by
eye; ``SR_LOG_LEVEL`` (default ``INFO``) sets the threshold.

The API runs under uvicorn, which sets up its own loggers before it builds the app:
:func:`configure_uvicorn` (called from ``create_app``) sends them through the same handler,
writes each access line as JSON with ``method``, ``path``, ``status`` and ``client``, and
drops the lines of health probes and scrapes (``/healthz``, ``/readyz``, ``/health``,
``/metrics``): they come every few seconds and say nothing.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from types import TracebackType
from typing import Any, TextIO

from pythonjsonlogger.json import JsonFormatter

FORMAT_ENV = "SR_LOG_FORMAT"  # json (default) | text
LEVEL_ENV = "SR_LOG_LEVEL"  # DEBUG, INFO (default), WARNING, ERROR
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/health", "/metrics"})
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

# What every LogRecord has: the rest came with ``extra=`` and is context to print.
_STANDARD = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__
) | {"message", "asctime", "service"}


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is at the time of each line (a test runner may
    swap it), like logging's last-resort handler."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


class _Service(logging.Filter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def filter(self, record: logging.LogRecord) -> bool:
        record.service = self.service
        return True


class AccessLog(logging.Filter):
    """On uvicorn's access logger: probes and scrapes dropped, the rest given fields."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        client, method, path, _version, status = args
        if str(path).split("?", 1)[0] in QUIET_PATHS:
            return False
        record.client = client
        record.method = method
        record.path = path
        record.status = status
        return True


class TextFormatter(logging.Formatter):
    """``time logger level message key=value ...`` with the ``extra=`` fields."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{key}={value}" for key, value in record.__dict__.items() if key not in _STANDARD
        )
        if not context:
            return line
        head, newline, rest = line.partition("\n")  # a traceback stays below the line
        return f"{head} {context}{newline}{rest}"


def formatter(kind: str | None = None) -> logging.Formatter:
    """The formatter ``SR_LOG_FORMAT`` asks for (``kind`` overrides it)."""
    kind = (kind or os.environ.get(FORMAT_ENV) or "json").strip().lower()
    if kind == "text":
        return TextFormatter()
    if kind != "json":
        raise ValueError(f"{FORMAT_ENV} must be json or text, not {kind!r}")
    return JsonFormatter(
        "%(levelname)s %(name)s %(message)s %(service)s",
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
        json_ensure_ascii=False,
    )


def configure(service: str, *, kind: str | None = None, level: str | None = None) -> None:
    """Send every logger of this process, uvicorn's too, through one handler on standard
    error in the chosen format; log uncaught exceptions (main and other threads) as lines
    too. Calling it again replaces what the previous call installed."""
    handler = _Stderr()
    handler.set_name("sr")
    handler.setFormatter(formatter(kind))
    handler.addFilter(_Service(service))
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "sr"]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel((level or os.environ.get(LEVEL_ENV) or "INFO").strip().upper())
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, AccessLog) for f in access.filters):
        access.addFilter(AccessLog())
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_thread_uncaught


def configure_uvicorn(service: str = "api") -> bool:
    """Under uvicorn with its default logging (what ``create_app`` finds when uvicorn builds
    it), :func:`configure` this process; elsewhere (tests, an operator's own
    ``--log-config``) leave logging alone. True when it configured."""
    access = logging.getLogger("uvicorn.access")
    if not any(h.get_name() == "access" for h in access.handlers):
        return False
    configure(service)
    return True


def _log_uncaught(
    kind: type[BaseException], value: BaseException, tb: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("uncaught").critical(
        "uncaught exception: %s", value, exc_info=(kind, value, tb)
    )


def _log_thread_uncaught(args: Any) -> None:
    if args.exc_type is SystemExit or args.exc_value is None:
        return
    name = args.thread.name if args.thread is not None else "?"
    logging.getLogger("uncaught").error(
        "uncaught exception in thread %s: %s",
        name,
        args.exc_value,
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
