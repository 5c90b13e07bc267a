"""Texts about the connection and the outbox, and the operator panel's PIN and facts."""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from dataclasses import dataclass

from kiosk_app.i18n import N_, ntr, tr
from kiosk_app.outbox import OutboxStats
from protocol import Receipt, ReceiptStatus

CONNECTION_TEXT = {
    "connecting": N_("Connecting…"),
    "online": N_("Connected"),
    "offline": N_("Offline: reports are kept and sent later"),
    "refused": N_("Broker refused the login"),
}


def connection_text(state: str, lang: str) -> str:
    return tr(CONNECTION_TEXT.get(state, state), lang)


def waiting_text(pending: int, lang: str) -> str:
    if pending == 0:
        return tr("All reports sent", lang)
    return ntr("%(n)d report waiting to send", "%(n)d reports waiting to send", pending, lang) % {
        "n": pending
    }


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def receipt_text(receipt: Receipt | None, lang: str, test: bool = False) -> str:
    """One receipt for the operator; a test report's is marked as a test, so its refusal by
    a backend that does not store tests never looks like a fault."""
    if receipt is None:
        return "-"
    status = {
        ReceiptStatus.ACCEPTED: tr("accepted", lang),
        ReceiptStatus.DUPLICATE: tr("duplicate", lang),
        ReceiptStatus.REJECTED: tr("rejected", lang),
    }[receipt.status]
    if receipt.retryable:  # kept in the outbox and sent again: not a refusal
        status = tr("rate limited, sent again later", lang)
    text = f"{receipt.reference or '-'} {status} {receipt.received_at:%H:%M:%S}"
    if test:
        text = f"[{tr('Test report', lang)}] {text}"
    if receipt.problems:
        text += " — " + "; ".join(f"{p.path}: {p.message}" for p in receipt.problems)
    return text


class PinGate:
    """The operator PIN: constant-time compare, locked for a while after repeated failures."""

    def __init__(
        self,
        pin: str | None,
        *,
        max_failures: int = 3,
        lockout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pin = pin
        self.max_failures = max_failures
        self.lockout_s = lockout_s
        self._clock = clock
        self.failures = 0
        self._locked_until = 0.0
        self.entered = ""

    @property
    def locked(self) -> bool:
        return self._clock() < self._locked_until

    def press(self, digit: str) -> None:
        if not self.locked and len(self.entered) < 12 and digit.isdigit():
            self.entered += digit

    def erase(self) -> None:
        self.entered = self.entered[:-1]

    def clear(self) -> None:
        self.entered = ""

    @property
    def provisioned(self) -> bool:
        """No PIN in this kiosk's configuration: the panel stays closed."""
        return bool(self._pin)

    def submit(self) -> bool:
        if self.locked or not self._pin:
            self.entered = ""
            return False
        ok = hmac.compare_digest(self.entered.encode(), (self._pin or "").encode())
        self.entered = ""
        if ok:
            self.failures = 0
            return True
        self.failures += 1
        if self.failures >= self.max_failures:
            self._locked_until = self._clock() + self.lockout_s
            self.failures = 0
        return False


@dataclass(frozen=True, slots=True)
class OperatorFacts:
    device_id: str
    broker: str
    connection: str
    outbox: OutboxStats
    last_receipt: Receipt | None
    rejected: tuple[str, ...]  # one line per rejected report, with its reason
    last_receipt_is_test: bool = False

    def lines(self, lang: str) -> list[tuple[str, str]]:
        return [
            (tr("Device", lang), self.device_id),
            (tr("Broker", lang), f"{self.broker} — {connection_text(self.connection, lang)}"),
            (tr("Outbox", lang), waiting_text(self.outbox.pending, lang)),
            (tr("Oldest pending", lang), age_text(self.outbox.oldest_pending_s)),
            (
                tr("Last receipt", lang),
                receipt_text(self.last_receipt, lang, self.last_receipt_is_test),
            ),
            (tr("Rejected", lang), "\n".join(self.rejected) if self.rejected else "-"),
        ]
