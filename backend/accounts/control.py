"""Talk to a running Mosquitto's dynamic security plugin as the admin account.

Requests go to ``$CONTROL/dynamic-security/v1`` and answers come back on
``.../v1/response`` (the plugin's control API, what ``mosquitto_ctrl dynsec`` uses). The
plugin applies a change at once, to every listener, and rewrites its file; deleting or
disabling a client disconnects it at once. Nothing here restarts the broker.
"""

from __future__ import annotations

import json
import ssl
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.subscribeoptions import SubscribeOptions

REQUEST_TOPIC: Final = "$CONTROL/dynamic-security/v1"
RESPONSE_TOPIC: Final = "$CONTROL/dynamic-security/v1/response"


class ControlError(RuntimeError):
    """The broker could not be reached as admin, or refused a command; says which and why."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where the admin connects: host, port, admin credentials, and the CA file for TLS
    (None: plain MQTT, e.g. the broker's loopback listener)."""

    host: str
    port: int
    username: str
    password: str
    ca_file: str | None = None
    timeout_s: float = 10.0

    def describe(self) -> str:
        scheme = "mqtts" if self.ca_file else "mqtt"
        return f"{scheme}://{self.username}@{self.host}:{self.port}"


def apply_tls(client: mqtt.Client, ca_file: str | None) -> None:
    """Verify the broker's certificate against ``ca_file`` (and its host name) when given."""
    if ca_file:
        client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)


class DynsecControl:
    """A connection to the plugin's control topics; use as a context manager."""

    def __init__(self, address: BrokerAddress) -> None:
        self.address = address
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=address.username,
            protocol=mqtt.MQTTv5,
        )
        self._client.username_pw_set(address.username, address.password)
        apply_tls(self._client, address.ca_file)
        self._lock = threading.Lock()
        self._answers: dict[str, dict[str, Any]] = {}
        self._answered = threading.Condition(self._lock)
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._refusal: str | None = None
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    # ------------------------------------------------------------------ connection

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if reason.is_failure:
            self._refusal = str(reason)
        else:
            client.subscribe(RESPONSE_TOPIC, options=SubscribeOptions(qos=1))
        self._connected.set()

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reasons: Any, props: Any) -> None:
        if any(r.is_failure for r in reasons):
            self._refusal = f"subscribing to {RESPONSE_TOPIC} refused: {reasons}"
        self._subscribed.set()

    def _on_message(self, client: Any, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            document = json.loads(msg.payload)
        except ValueError:
            return
        with self._answered:
            for response in document.get("responses", []):
                correlation = response.get("correlationData")
                if isinstance(correlation, str):
                    self._answers[correlation] = response
            self._answered.notify_all()

    def open(self) -> DynsecControl:
        a = self.address
        try:
            self._client.connect(a.host, a.port, keepalive=30)
        except (OSError, ssl.SSLError) as exc:
            raise ControlError(f"cannot reach the broker at {a.describe()}: {exc}") from exc
        self._client.loop_start()
        if not self._connected.wait(a.timeout_s) or (
            self._refusal is None and not self._subscribed.wait(a.timeout_s)
        ):
            self.close()
            raise ControlError(f"no answer from the broker at {a.describe()} in {a.timeout_s} s")
        if self._refusal is not None:
            refusal = self._refusal
            self.close()
            raise ControlError(
                f"the broker at {a.describe()} refused the admin account ({refusal}); check "
                "the admin username and password (SR_MQTT_ADMIN_PASSWORD)"
            )
        return self

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def __enter__(self) -> DynsecControl:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ commands

    def run(self, command: str, **fields: Any) -> dict[str, Any]:
        """One command; returns its ``data`` (empty for commands without). Raises
        ControlError with the plugin's own error text when it refuses."""
        return self.run_many([{"command": command, **fields}])[0]

    def run_many(self, commands: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Several commands in one request, answered in order; the first refusal raises."""
        tagged = [{**c, "correlationData": uuid.uuid4().hex} for c in commands]
        info = self._client.publish(REQUEST_TOPIC, json.dumps({"commands": tagged}), qos=1)
        info.wait_for_publish(self.address.timeout_s)
        wanted = [c["correlationData"] for c in tagged]
        with self._answered:
            done = self._answered.wait_for(
                lambda: all(w in self._answers for w in wanted), self.address.timeout_s
            )
            answers = [self._answers.pop(w, None) for w in wanted]
        if not done:
            raise ControlError(
                f"the broker at {self.address.describe()} did not answer "
                f"{[c['command'] for c in commands]} in {self.address.timeout_s} s; is the "
                "dynamic security plugin loaded and the account an admin?"
            )
        results: list[dict[str, Any]] = []
        for command, answer in zip(commands, answers, strict=True):
            assert answer is not None
            if answer.get("error"):
                raise ControlError(f"{command['command']}: {answer['error']}")
            data = answer.get("data")
            results.append(data if isinstance(data, dict) else {})
        return results
