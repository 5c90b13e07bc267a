"""The MQTT channel: the alert goes to the recipient's topic with QoS 1; the broker's
acknowledgement (PUBACK) is the confirmation."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backend.alerts.channels import AlertRevision

# publish(topic, payload, track): the worker's connection; `track` comes back with the PUBACK
Publish = Callable[[str, bytes, Hashable], None]


class MqttChannel:
    name = "mqtt"

    def __init__(self, publish: Publish) -> None:
        self._publish = publish

    def deliver(self, alert: AlertRevision) -> None:
        self._publish(alert.topic, alert.payload, (alert.alert_id, alert.revision, self.name))
