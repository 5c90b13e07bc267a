"""The operator panel: the PIN pad and the facts about this kiosk. The PIN comes from this
kiosk's provisioning (``[kiosk] operator_pin``); without one the panel stays closed.
Messages are msgids, shown in the current language (a switch re-renders them)."""

from __future__ import annotations

import json
from collections.abc import Callable

from kivy.event import EventDispatcher
from kivy.properties import ListProperty, StringProperty

from kiosk_app.i18n import N_, tr
from kiosk_app.outbox import OutboxEntry, OutboxStats
from kiosk_app.presenters.shell import Shell
from kiosk_app.presenters.status import OperatorFacts, PinGate
from protocol import Receipt

WRONG_PIN = N_("Wrong PIN")
LOCKED = N_("Locked: try again later")
NOT_PROVISIONED = N_("No operator PIN is set for this kiosk (ask the provisioning team)")


def is_test_payload(payload: bytes) -> bool:
    try:
        return bool(json.loads(payload).get("test"))
    except (ValueError, AttributeError):
        return False


class OperatorPresenter(EventDispatcher):
    dots = StringProperty("")
    message = StringProperty("")  # a msgid; the screen translates it
    facts = ListProperty([])  # (name, value) in the current language
    last_error = StringProperty("")

    def __init__(self, shell: Shell, pin: str | None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.shell = shell
        self.gate = PinGate(pin)
        self.test_ids: set[str] = set()  # report ids of the test reports sent from here
        self.source: Callable[[], OperatorFacts] | None = None
        shell.bind(lang=lambda *_: self.refresh())

    def open(self) -> None:
        self.gate.clear()
        self.dots = ""
        self.message = "" if self.gate.provisioned else NOT_PROVISIONED
        self.shell.go("pin")

    def press(self, digit: str) -> None:
        self.gate.press(digit)
        self.dots = "•" * len(self.gate.entered)

    def erase(self) -> None:
        self.gate.erase()
        self.dots = "•" * len(self.gate.entered)

    def submit(self) -> bool:
        ok = self.gate.submit()
        self.dots = ""  # cleared whatever the outcome
        if ok:
            self.message = ""
            self.shell.go("operator")
            self.refresh(force=True)
            return True
        if not self.gate.provisioned:
            self.message = NOT_PROVISIONED
        else:
            self.message = LOCKED if self.gate.locked else WRONG_PIN
        return False

    def clear(self) -> None:
        self.gate.clear()
        self.dots = ""
        self.message = ""

    def refresh(self, force: bool = False) -> None:
        if self.source is None or not (force or self.shell.screen == "operator"):
            return
        lines = self.source().lines(self.shell.lang)
        if self.last_error:
            lines.append((tr("Last error", self.shell.lang), self.last_error))
        self.facts = lines

    def facts_of(
        self,
        device_id: str,
        broker: str,
        stats: OutboxStats,
        last_receipt: Receipt | None,
        rejected: list[OutboxEntry],
    ) -> OperatorFacts:
        lang = self.shell.lang

        def line(entry: OutboxEntry) -> str:
            mark = f"[{tr('Test report', lang)}] " if is_test_payload(entry.payload) else ""
            return f"{mark}{entry.reference}: " + "; ".join(entry.problems)

        is_test = last_receipt is not None and last_receipt.report_id in self.test_ids
        return OperatorFacts(
            device_id,
            broker,
            self.shell.connection,
            stats,
            last_receipt,
            tuple(line(e) for e in rejected),
            last_receipt_is_test=is_test,
        )
