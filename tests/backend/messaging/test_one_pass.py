"""Issue 9: a report goes from the message callback to its receipt through one topic parse
and one decode, whether it is accepted or rejected. The real callback, handlers and policy
run against a real database; the parser and the decoder are wrapped to count their calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

import backend.messaging.connection as connection_module
import protocol.decoding as decoding_module
from backend.alerts.config import AlertingConfig
from backend.db.engine import make_engine, make_sessionmaker
from backend.messaging.connection import BrokerSettings, Connection
from backend.messaging.health import Health
from backend.messaging.policy import Policy
from backend.world import Memory
from protocol import Receipt, ReceiptStatus
from tests.backend.helpers import report_dict

DEVICE = "kiosk-SH-013"


class Counting:
    def __init__(self, real):
        self.real, self.calls = real, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return self.real(*args, **kwargs)


@pytest.mark.parametrize(
    "payload, status",
    [
        (json.dumps(report_dict(DEVICE)).encode(), ReceiptStatus.ACCEPTED),
        (b'{"report_id": "x", "location": {"lat": NaN}}', ReceiptStatus.REJECTED),
    ],
    ids=["accepted", "rejected"],
)
def test_one_parse_and_one_decode_from_callback_to_receipt(db_url, monkeypatch, payload, status):
    parse = Counting(connection_module.parse_topic)
    decode = Counting(decoding_module.json.loads)
    monkeypatch.setattr(connection_module, "parse_topic", parse)
    monkeypatch.setattr(decoding_module, "json", SimpleNamespace(loads=decode))
    engine = make_engine(db_url)
    sessions = make_sessionmaker(engine)
    taken = []
    settings = BrokerSettings("127.0.0.1", 1, "w", None, None, 60, 10)
    conn = Connection(settings, [], Health(), on_inbound=taken.append, on_delivered=lambda *a: None)
    message = SimpleNamespace(
        topic=f"sr/v1/devices/{DEVICE}/reports", payload=payload, qos=1, mid=7, dup=False
    )
    conn._message(conn.client, None, message)  # paho's on_message, as the network thread calls it
    policy = Policy(sessions, Memory(), AlertingConfig(), lambda: datetime.now(UTC))
    (handled,) = policy.run(taken)
    engine.dispose()
    parses, decodes = parse.calls, decode.calls
    (receipt_pub,) = handled.outcome.publications
    assert Receipt.from_json(receipt_pub.payload).status is status  # the test's own read
    assert parses == 1, "the topic is parsed once, in the callback"
    assert decodes == 1, "the payload is decoded once"
