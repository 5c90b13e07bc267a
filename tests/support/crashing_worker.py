"""The real worker, except that a report containing ``CRASH-THE-WORKER`` kills the process
(``os._exit``) the way a segfault or the OOM killer would: for the quarantine test."""

from __future__ import annotations

import os

from backend.messaging import handlers
from backend.messaging.worker import main
from protocol.topics import TopicKind

MARKER = b"CRASH-THE-WORKER"
_real = handlers.HANDLERS[TopicKind.DEVICE_REPORTS]


def _crash_on_marker(session, message, ctx):  # type: ignore[no-untyped-def]
    if MARKER in message.payload:
        os._exit(70)
    return _real(session, message, ctx)


handlers.HANDLERS[TopicKind.DEVICE_REPORTS] = _crash_on_marker

if __name__ == "__main__":
    main()
