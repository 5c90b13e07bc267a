"""What the person who sent a report is told about it: sending, waiting, delivered, or not
accepted, why and what to do now. A receipt is read by its stable problem codes
(``protocol.errors``), never by the server's English text, so it reads in the person's
language. A rate-limited receipt is not a refusal: the report stays in the outbox and is
sent again, so it reads as waiting."""

from __future__ import annotations

from enum import StrEnum

from kiosk_app.i18n import N_, tr
from protocol import Receipt, ReceiptStatus
from protocol import errors as codes


class Delivery(StrEnum):
    NONE = ""
    SENDING = "sending"
    WAITING = "waiting"  # offline: kept on the device
    RETRYING = "retrying"  # rate limited: kept, sent again after retry_after_s
    DELIVERED = "delivered"
    REJECTED = "rejected"


DELIVERY_TEXT = {
    Delivery.NONE: "",
    Delivery.SENDING: N_("Sending…"),
    Delivery.WAITING: N_("Saved on this device; it will be sent when the connection returns"),
    Delivery.RETRYING: N_("Waiting to send: the service is busy, it will be sent again shortly"),
    Delivery.DELIVERED: N_("Received by the response team"),
    Delivery.REJECTED: N_("The report was not accepted"),
}

# The title of the confirmation screen: it never says "recorded" before it is.
HEADLINE = {
    Delivery.NONE: N_("Sending your report"),
    Delivery.SENDING: N_("Sending your report"),
    Delivery.WAITING: N_("Your report is waiting to be sent"),
    Delivery.RETRYING: N_("Your report is waiting to be sent"),
    Delivery.DELIVERED: N_("Thank you. Your report was received."),
    Delivery.REJECTED: N_("Your report did not get through"),
}

# Why a report was refused, by stable problem code; a code not listed (a refusal this app
# version does not know) reads as NOT_ACCEPTED.
NOT_ACCEPTED = N_("The service did not accept this report.")
UNREADABLE = N_("The service could not read this report.")
VALIDATION_CODES = (
    codes.MISSING,
    codes.TYPE,
    codes.RANGE,
    codes.NOT_FINITE,
    codes.TOO_LONG,
    codes.UNKNOWN_FIELD,
    codes.SCHEMA_VERSION,
    codes.FORMAT,
    codes.ENUM,
    codes.MALFORMED_JSON,
    codes.EMPTY,
    codes.NOT_UTF8,
    codes.TOO_DEEP,
    codes.DUPLICATE_KEY,
    codes.NUL_CHARACTER,
    codes.LONE_SURROGATE,
    codes.CONTROL_CHARACTER,
)
PROBLEM_TEXT = {
    **dict.fromkeys(VALIDATION_CODES, UNREADABLE),
    codes.FUTURE: N_("This device's clock is wrong, so the service refused the report."),
    codes.TOO_OLD: N_("The report waited too long on this device to be accepted."),
    codes.INTERNAL: N_("The service had a fault while taking the report."),
    codes.QUARANTINED: N_("The service had a fault while taking the report."),
    codes.MISMATCH: N_("This device is not set up correctly for the service."),
    codes.TOPIC: N_("This device is not set up correctly for the service."),
    codes.TOO_LARGE: N_("The report was too large (a photo may be too big)."),
    codes.RATE_LIMITED: N_("Too many reports were sent from here just now."),
}
WHAT_TO_DO = N_(
    "It was NOT passed on. If the child is in danger now, call 110 or tell station staff."
)
WAITING_TO_DO = N_("Help is not on its way yet. If the child is in danger now, call 110.")


def delivery_after_send(online: bool) -> Delivery:
    return Delivery.SENDING if online else Delivery.WAITING


def delivery_of(receipt: Receipt) -> Delivery:
    if receipt.retryable:
        return Delivery.RETRYING
    if receipt.status is ReceiptStatus.REJECTED:
        return Delivery.REJECTED
    return Delivery.DELIVERED


def delivery_text(delivery: str, lang: str) -> str:
    text = DELIVERY_TEXT.get(Delivery(delivery), "")
    return tr(text, lang) if text else ""


def headline(delivery: str, lang: str) -> str:
    return tr(HEADLINE[Delivery(delivery)], lang)


def problem_text(receipt: Receipt, lang: str) -> str:
    """Why it was refused, in ``lang``: the first problem whose code has words."""
    for problem in receipt.problems:
        if problem.code in PROBLEM_TEXT:
            return tr(PROBLEM_TEXT[problem.code], lang)
    return tr(NOT_ACCEPTED, lang)


def urgent(delivery: str) -> bool:
    """The report is not with the response team: the help line must stand out."""
    return Delivery(delivery) in (Delivery.WAITING, Delivery.RETRYING, Delivery.REJECTED)


def receipt_detail(receipt: Receipt | None, lang: str, delivery: str = "") -> str:
    """The lines under the delivery state: why and what to do, or when a retry comes."""
    if receipt is None:
        return tr(WAITING_TO_DO, lang) if Delivery(delivery) is Delivery.WAITING else ""
    state = delivery_of(receipt)
    if state is Delivery.REJECTED:
        return f"{problem_text(receipt, lang)}\n{tr(WHAT_TO_DO, lang)}"
    if state is Delivery.RETRYING:
        retry = tr("Next try in %(s)d s", lang) % {"s": round(receipt.retry_after_s or 0)}
        return f"{retry}\n{tr(WAITING_TO_DO, lang)}"
    return ""


def rejection_message(receipt: Receipt | None, lang: str) -> str:
    """The phone user's message on the home screen; empty unless the report was refused."""
    if receipt is None or delivery_of(receipt) is not Delivery.REJECTED:
        return ""
    reference = receipt.reference or "-"
    return (
        f"{tr('Your report was not accepted', lang)} ({reference}). "
        f"{problem_text(receipt, lang)} {tr(WHAT_TO_DO, lang)}"
    )


def server_reasons(receipt: Receipt) -> str:
    """The backend's own words with their codes: for the operator, never a passenger."""
    return "; ".join(f"{p.code}: {p.message}" for p in receipt.problems) or receipt.status.value
