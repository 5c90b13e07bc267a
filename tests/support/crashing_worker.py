"""The real worker, except that a report containing ``CRASH-THE-WORKER`` kills the process
(``os._exit``) the way a segfault or the OOM killer would: for the quarantine test."""

from __future__ import annotations

import os

from backend import pipeline
from backend.messaging.worker import main

MARKER = b"CRASH-THE-WORKER"
_real = pipeline.run_batch


def _crash_on_marker(session, messages, *args, **kwargs):  # type: ignore[no-untyped-def]
    if any(MARKER in m.payload for m in messages):
        os._exit(70)
    return _real(session, messages, *args, **kwargs)


pipeline.run_batch = _crash_on_marker

if __name__ == "__main__":
    main()
