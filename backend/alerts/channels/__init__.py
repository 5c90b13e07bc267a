"""Delivery channels: how a committed alert revision leaves the system.

A channel gets each revision once (``deliver``) and later reports, through the callback it
was built with, whether its destination accepted it. The worker marks a revision delivered
when every configured channel has confirmed it; until then the outbox sweeper hands it out
again after the claim expires (channels must therefore tolerate a repeat: the alert id and
revision identify it). MQTT is the first channel (``alerts.channels.mqtt``); a webhook to a
police system or SMS to a duty phone is one new module registered in ``FACTORIES`` and named
in ``SR_ALERT_CHANNELS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from backend.alerts.channels.mqtt import MqttChannel, Publish


@dataclass(frozen=True, slots=True)
class AlertRevision:
    alert_id: str
    revision: int
    recipient_kind: str  # volunteer | station
    recipient_id: str
    topic: str  # the MQTT topic of the recipient (channels that are not MQTT may ignore it)
    payload: bytes  # the Alert JSON (protocol.Alert)


# (alert id, revision, channel name, accepted by its destination)
Confirm = Callable[[str, int, str, bool], None]


class DeliveryChannel(Protocol):
    name: str

    def deliver(self, alert: AlertRevision) -> None:
        """Hand the revision over; never block for long, never raise for a refusal (report
        it through the confirm callback instead)."""


@dataclass(frozen=True, slots=True)
class ChannelContext:
    publish: Publish  # the worker's MQTT publish (topic, payload, track)
    confirm: Confirm


FACTORIES: dict[str, Callable[[ChannelContext], DeliveryChannel]] = {
    "mqtt": lambda ctx: MqttChannel(ctx.publish),
}


class ChannelError(ValueError):
    """A channel name that is not registered; the message lists the known ones."""


def build_channels(names: str, ctx: ChannelContext) -> list[DeliveryChannel]:
    """The channels named in a comma-separated setting such as ``mqtt`` or ``mqtt,webhook``."""
    chosen = [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in FACTORIES]
    if unknown or not chosen:
        raise ChannelError(
            f"SR_ALERT_CHANNELS={names!r}: unknown channel(s) {unknown or '(none given)'}; "
            f"known: {', '.join(sorted(FACTORIES))}"
        )
    return [FACTORIES[n](ctx) for n in chosen]
