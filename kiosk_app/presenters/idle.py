"""Idle reset: after a quiet period the half-filled form is wiped (privacy for the next person).

``clock`` is the time source (seconds, monotonic); tests replace it to move time on while
the real Kivy clock keeps ticking the periodic check."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


class IdleTimer:
    def __init__(
        self,
        timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        confirm_timeout_s: float | None = None,
    ) -> None:
        self.timeout_s = timeout_s
        # a confirmation (reference number) is cleared sooner than a form being filled in
        self.confirm_timeout_s = timeout_s if confirm_timeout_s is None else confirm_timeout_s
        self.clock = clock
        self._last = clock()
        self.checked_at: float | None = None  # the time of the latest check (for tests)

    def touch(self) -> None:
        self._last = self.clock()

    def now(self, now: float | None = None) -> float:
        return self.clock() if now is None else now

    def idle_for(self, now: float | None = None) -> float:
        return self.now(now) - self._last

    def expired(self, now: float | None = None, *, confirming: bool = False) -> bool:
        """True once the timeout (the shorter one on a confirmation) has passed."""
        moment = self.now(now)
        self.checked_at = moment
        limit = self.confirm_timeout_s if confirming else self.timeout_s
        return moment - self._last >= limit


def at_rest(shell: Any, report: Any, notices: Any, help: Any = None) -> bool:
    """Nothing of the last person is left: home, default language, an empty form, no
    reference, no notice open and no call for staff on screen (the Shell, ReportPresenter,
    NoticePresenter and HelpPresenter)."""
    return (
        shell.screen == "home"
        and shell.lang == shell.default_lang
        and report.flow.draft.is_empty
        and not report.reference
        and notices.selected is None
        and not (help is not None and help.staff_call)
    )
