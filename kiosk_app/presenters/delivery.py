"""What the person who sent a report is told about it: sending, waiting, delivered, or not
accepted and why. A rate-limited receipt is not a refusal: the report stays in the outbox
and is sent again, so it reads as waiting."""

from __future__ import annotations

from enum import StrEnum

from kiosk_app.i18n import N_, tr
from protocol import Receipt, ReceiptStatus


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


def delivery_after_send(online: bool) -> Delivery:
    return Delivery.SENDING if online else Delivery.WAITING


def delivery_of(receipt: Receipt) -> Delivery:
    if receipt.retryable:
        return Delivery.RETRYING
    if receipt.status is ReceiptStatus.REJECTED:
        return Delivery.REJECTED
    return Delivery.DELIVERED


def delivery_text(delivery: str, lang: str) -> str:
    text = DELIVERY_TEXT.get(delivery, "")  # type: ignore[call-overload]
    return tr(text, lang) if text else ""


def reasons(receipt: Receipt) -> str:
    """The backend's reasons, as it wrote them (one per problem)."""
    return "; ".join(p.message for p in receipt.problems) or receipt.status.value


def receipt_detail(receipt: Receipt | None, lang: str) -> str:
    """The line under the delivery state: the reason of a refusal, or when a retry comes."""
    if receipt is None:
        return ""
    delivery = delivery_of(receipt)
    if delivery is Delivery.REJECTED:
        return f"{tr('Reason', lang)}: {reasons(receipt)}"
    if delivery is Delivery.RETRYING:
        return tr("Next try in %(s)d s", lang) % {"s": round(receipt.retry_after_s or 0)}
    return ""


def rejection_message(receipt: Receipt, lang: str) -> str:
    """The phone user's message on the home screen; empty unless the report was refused."""
    if delivery_of(receipt) is not Delivery.REJECTED:
        return ""
    reference = receipt.reference or "-"
    return (
        f"{tr('Your report was not accepted', lang)} ({reference}). "
        f"{tr('Reason', lang)}: {reasons(receipt)}"
    )
