"""Delivery channels: one small interface; a revision counts as delivered only when every
configured channel confirmed it."""

from __future__ import annotations

import pytest

from backend.alerts.channels import (
    FACTORIES,
    AlertRevision,
    ChannelContext,
    ChannelError,
    build_channels,
)
from backend.alerts.delivery import AlertDelivery
from backend.messaging.health import Health

REVISION = AlertRevision("a-1", 2, "station", "PS-1", "sr/v1/stations/PS-1/alerts", b"{}")


class Recording:
    """A second channel (as a webhook would be): remembers what it was handed."""

    name = "recording"

    def __init__(self) -> None:
        self.handed: list[AlertRevision] = []

    def deliver(self, alert: AlertRevision) -> None:
        self.handed.append(alert)


def test_unknown_channel_names_are_refused_with_the_known_ones():
    ctx = ChannelContext(publish=lambda *a: None, confirm=lambda *a: None)
    with pytest.raises(ChannelError, match="known: mqtt"):
        build_channels("mqtt,pager", ctx)
    with pytest.raises(ChannelError):
        build_channels(" , ", ctx)


def test_mqtt_channel_publishes_to_the_recipient_topic_and_tracks_the_revision():
    published = []
    ctx = ChannelContext(publish=lambda *a: published.append(a), confirm=lambda *a: None)
    (channel,) = build_channels("mqtt", ctx)
    channel.deliver(REVISION)
    assert published == [(REVISION.topic, b"{}", ("a-1", 2, "mqtt"))]


def test_a_revision_is_delivered_when_every_channel_confirmed(monkeypatch):
    recording = Recording()
    monkeypatch.setitem(FACTORIES, "recording", lambda ctx: recording)
    publisher = AlertDelivery(sessions=None, counters=Health())  # type: ignore[arg-type]
    sent = []
    ctx = ChannelContext(publish=lambda *a: sent.append(a), confirm=publisher.confirm)
    publisher.use(build_channels("mqtt,recording", ctx))
    publisher._hand_out(REVISION)
    assert recording.handed == [REVISION] and len(sent) == 1
    publisher.on_mqtt_ack(("a-1", 2, "mqtt"), True)
    assert publisher._confirmed.empty(), "the recording channel has not confirmed yet"
    publisher.confirm("a-1", 2, "recording", False)  # a refusal is counted, not a confirmation
    assert publisher._confirmed.empty()
    publisher.confirm("a-1", 2, "recording", True)
    assert publisher._confirmed.get_nowait() == ("a-1", 2)
