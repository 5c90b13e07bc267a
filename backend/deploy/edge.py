"""The public face of the API: ``uvicorn backend.deploy.edge:public_app --factory --ssl-...``.

The same application as ``backend.api:create_app``, except that ``/metrics`` answers 404:
Prometheus scrapes the internal listener (``uvicorn backend.api:create_app --factory --host
127.0.0.1 --port 9100``, or the API container's port 8000 on the compose network), never
the address the desk's users reach. Run it with uvicorn's TLS options (``--ssl-certfile``,
``--ssl-keyfile``) or behind a TLS proxy that forwards only to it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from backend.api import create_app

INTERNAL_ONLY = ("/metrics",)


class HideInternal:
    """404 for the internal-only paths; everything else passes through."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") in INTERNAL_ONLY:
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"detail":"Not Found"}'})
            return
        await self.app(scope, receive, send)


def public_app(**kwargs: Any) -> FastAPI:
    app = create_app(**kwargs)
    app.add_middleware(HideInternal)
    return app
