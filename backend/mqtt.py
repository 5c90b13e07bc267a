"""One place that makes MQTT clients: MQTT 5, persistent session, TCP_NODELAY, reconnection."""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from backend.settings import get_settings

log = logging.getLogger(__name__)


def _set_nodelay(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    # Without it a QoS 1 round trip costs about 40 ms of Nagle + delayed-ACK (FIELD_NOTES).
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # websockets/TLS wrappers may not expose it
        log.debug("could not set TCP_NODELAY on %r", sock)


def use_tls(client: mqtt.Client, ca_file: str | None) -> None:
    """TLS verifying the broker's certificate and host name against ``ca_file``
    (``SR_MQTT_CA_FILE``); nothing when it is unset."""
    if ca_file:
        client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)


def make_client(
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    manual_ack: bool = False,
) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv5,
        manual_ack=manual_ack,
    )
    if username is not None:
        client.username_pw_set(username, password)
    use_tls(client, get_settings().mqtt_ca_file)
    client.on_socket_open = _set_nodelay
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)  # unbounded: never drop a receipt or alert locally
    return client


def connect_properties(session_expiry_s: int) -> Properties:
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = session_expiry_s
    return props
