"""Generators of hostile MQTT messages: hypothesis-generated JSON structures and mutated
real payloads, on every topic a device or a volunteer's phone may write.

Every reports message goes to a device id of its own (``fz-<run>-<n>``), so the receipt for
it is recognised by its topic even when the mutation destroyed the report id: each device
must receive exactly one receipt. Photos carry a report id of their own in the topic.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from protocol.messages import ResponseKind, VolunteerLocation, VolunteerResponse
from protocol.payloads import MAX_REPORT_BYTES
from protocol.topics import (
    device_photos,
    device_reports,
    owntracks,
    volunteer_location,
    volunteer_responses,
)
from tests.system.fuzz.material import (
    _FIELD_PATHS,
    _dumps,
    _random_point,
    _set_path,
    flat_jpeg_bomb,
    hypothesis_pool,
    jpeg_claiming,
    png_bomb,
    real_report,
    small_jpeg,
)

BROKER_MAX_PACKET = 2_100_000  # broker_config/mosquitto.conf: max_packet_size
OVER_BROKER_LIMIT = BROKER_MAX_PACKET + 100_000

REPORTS, PHOTOS, RESPONSES, LOCATION, OWNTRACKS = (
    "reports",
    "photos",
    "responses",
    "location",
    "owntracks",
)
FAMILIES = (REPORTS, PHOTOS, RESPONSES, LOCATION, OWNTRACKS)
# Where every message must end up stored or dead-lettered (QoS 1, shared subscription).
DURABLE = (REPORTS, PHOTOS, RESPONSES)
# How the families share the volume.
FAMILY_WEIGHTS = {REPORTS: 70, PHOTOS: 6, RESPONSES: 8, LOCATION: 8, OWNTRACKS: 8}

CONTROL = "\x00\x01\x07\x08\x0b\x0c\x1b\x7f\u0085\u2028\u202e\ufeff"


@dataclass(frozen=True)
class FuzzMessage:
    family: str  # one of FAMILIES
    kind: str  # the generator that made it
    topic: str
    payload: bytes
    device_id: str | None = None  # reports: the device whose receipts topic answers it

    @property
    def over_broker_limit(self) -> bool:
        """Larger than the broker's packet limit: the broker refuses it (and drops the
        client), so no worker ever sees it."""
        return len(self.payload) + len(self.topic) + 16 > BROKER_MAX_PACKET


class Generator:
    """Makes ``FuzzMessage``s; one instance per run (seeded, so a run can be repeated)."""

    def __init__(self, seed: int, run_id: str, pool_size: int) -> None:
        self.rng = random.Random(seed)
        self.run_id = run_id
        self.pool = hypothesis_pool(pool_size, seed)
        self.serial = 0
        self.report_kinds: dict[str, Callable[[str], bytes]] = {
            "valid": self._valid,
            "hypothesis_json": self._hypothesis_json,
            "hypothesis_field": self._hypothesis_field,
            "deep_nesting": self._deep_nesting,
            "near_limit": self._near_limit,
            "over_limit": self._over_limit,
            "truncated": self._truncated,
            "invalid_utf8": self._invalid_utf8,
            "non_finite": self._non_finite,
            "control_chars": self._control_chars,
            "bad_ids": self._bad_ids,
            "duplicate_keys": self._duplicate_keys,
            "random_bytes": self._random_bytes,
            "byte_flips": self._byte_flips,
            "empty": self._empty,
        }
        self.report_weights = [12, 14, 16, 5, 3, 2, 8, 6, 6, 6, 4, 4, 6, 6, 2]

    # -- reports ---------------------------------------------------------------------------

    def _valid(self, device: str) -> bytes:
        return _dumps(real_report(device, self.rng), self.rng)

    def _hypothesis_json(self, device: str) -> bytes:
        value = self.rng.choice(self.pool)
        if isinstance(value, dict) and self.rng.random() < 0.5:
            value = {**real_report(device, self.rng), **value}
        return _dumps(value, self.rng)

    def _hypothesis_field(self, device: str) -> bytes:
        data = real_report(device, self.rng)
        for _ in range(self.rng.choice([1, 1, 1, 2, 3])):
            path = self.rng.choice(_FIELD_PATHS)
            if self.rng.random() < 0.15 and path[0] in data and len(path) == 1:
                del data[path[0]]
            else:
                _set_path(data, path, self.rng.choice(self.pool))
        return _dumps(data, self.rng)

    def _deep_nesting(self, device: str) -> bytes:
        depth = self.rng.choice([64, 200, 1_000, 1_500, 10_000, 100_000])
        opener, closer = self.rng.choice([("[", "]"), ('{"a":', "}"), ('{"child":[', "]}")])
        closed = self.rng.random() < 0.5
        body = opener * depth + ("1" + closer * depth if closed else "")
        if self.rng.random() < 0.3:  # nesting inside an otherwise real report
            data = real_report(device, self.rng)
            text = json.dumps(data)
            return (text[:-1] + ', "child_extra": ' + body + "}").encode()
        return body.encode()

    def _near_limit(self, device: str) -> bytes:
        """A valid report padded to just under, at, or just over 16 KiB."""
        raw = self._valid(device)
        target = MAX_REPORT_BYTES + self.rng.choice([-2, -1, 0, 1, 2, 100])
        pad = max(0, target - len(raw))
        return raw[:-1] + b" " * pad + b"}"

    def _over_limit(self, device: str) -> bytes:
        size = self.rng.choices([20_000, 64 * 1024, 256 * 1024, 1_500_000], [8, 4, 2, 1])[0]
        data = real_report(device, self.rng)
        data["free_text"] = "x" * size
        return _dumps(data, self.rng)

    def _truncated(self, device: str) -> bytes:
        raw = self._valid(device)
        return raw[: self.rng.randrange(0, len(raw))]

    def _invalid_utf8(self, device: str) -> bytes:
        raw = bytearray(self._valid(device))
        bad = self.rng.choice(
            [b"\xff", b"\xc3\x28", b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf8\x88\x80\x80"]
        )
        # Inside a string value (after a quote) or anywhere.
        quotes = [i for i, c in enumerate(raw) if c == 0x22]
        at = self.rng.choice(quotes) + 1 if quotes and self.rng.random() < 0.7 else None
        at = at if at is not None else self.rng.randrange(len(raw))
        raw[at:at] = bad
        return bytes(raw)

    def _non_finite(self, device: str) -> bytes:
        data = real_report(device, self.rng)
        path = self.rng.choice(
            [
                ["location", "lat"],
                ["location", "lon"],
                ["location", "accuracy_m"],
                ["schema_version"],
            ]
        )
        token = self.rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
        _set_path(data, path, "__TOKEN__")
        return json.dumps(data).replace('"__TOKEN__"', token).encode()

    def _control_chars(self, device: str) -> bytes:
        data = real_report(device, self.rng)
        field_name = self.rng.choice(["free_text", "direction", "contact", "app_version"])
        chars = "".join(self.rng.choice(CONTROL) for _ in range(self.rng.randint(1, 6)))
        data[field_name] = "seen " + chars + " near exit"
        return _dumps(data, self.rng)

    def _bad_ids(self, device: str) -> bytes:
        data = real_report(device, self.rng)
        data[self.rng.choice(["report_id", "device_id"])] = self.rng.choice(
            ["\u0000", "\ud800", "\udfff", "nope", "", " " * 64, "A" * 10_000, 42, None, [], {}]
        )
        return _dumps(data, self.rng)

    def _duplicate_keys(self, device: str) -> bytes:
        data = real_report(device, self.rng)
        key = self.rng.choice(["report_id", "device_id", "location", "what_seen"])
        other = json.dumps(str(uuid.uuid4()) if key == "report_id" else data[key])
        text = json.dumps(data)
        return (text[:-1] + f', "{key}": {other}}}').encode()

    def _random_bytes(self, device: str) -> bytes:
        return self.rng.randbytes(self.rng.choice([1, 7, 64, 512, 4096, 20_000]))

    def _byte_flips(self, device: str) -> bytes:
        raw = bytearray(self._valid(device))
        for _ in range(self.rng.randint(1, 8)):
            raw[self.rng.randrange(len(raw))] = self.rng.randrange(256)
        return bytes(raw)

    def _empty(self, device: str) -> bytes:
        return self.rng.choice([b"", b" ", b"\n", b"null", b"{}", b"[]", b'""'])

    # -- other topics ------------------------------------------------------------------------

    def _junk_json(self, valid: dict[str, Any]) -> bytes:
        roll = self.rng.random()
        if roll < 0.1:
            return json.dumps(valid).encode()
        if roll < 0.4:
            data = dict(valid)
            data[self.rng.choice([*valid, "extra"])] = self.rng.choice(self.pool)
            return _dumps(data, self.rng)
        if roll < 0.55:
            return _dumps(self.rng.choice(self.pool), self.rng)
        if roll < 0.65:
            return b"[" * self.rng.choice([1_500, 50_000])
        if roll < 0.75:
            raw = json.dumps(valid).encode()
            return raw[: self.rng.randrange(len(raw))]
        if roll < 0.85:
            return self.rng.randbytes(self.rng.choice([3, 100, 3000]))
        data = dict(valid)
        data[self.rng.choice(list(valid))] = self.rng.choice(
            [float("nan"), float("inf"), 10**30, -(10**30), "\u0000", "\ud800", 300000000000]
        )
        return _dumps(data, self.rng)

    def _response(self) -> bytes:
        now = datetime.now(UTC)
        valid = json.loads(
            VolunteerResponse(
                str(uuid.uuid4()), self.rng.choice(list(ResponseKind)), now, "on my way"
            ).to_json()
        )
        return self._junk_json(valid)

    def _location(self) -> bytes:
        point = _random_point(self.rng)
        fix = VolunteerLocation(point["lat"], point["lon"], datetime.now(UTC), 10.0)
        return self._junk_json(json.loads(fix.to_json()))

    def _owntracks(self) -> bytes:
        point = _random_point(self.rng)
        tst = int((datetime.now(UTC) - timedelta(seconds=5)).timestamp())
        valid = {"_type": "location", "lat": point["lat"], "lon": point["lon"], "tst": tst}
        valid.update({"acc": 12, "batt": 80, "tid": "FZ"})
        if self.rng.random() < 0.15:
            valid["tst"] = self.rng.choice([300000000000, -1, 10**20, 0, 2**63])
        if self.rng.random() < 0.05:
            valid["_type"] = self.rng.choice(["transition", "waypoint", "", None])
        return self._junk_json(valid)

    def _photo(self) -> tuple[str, bytes]:
        kind = self.rng.choices(
            ["valid", "truncated", "header_bomb", "pixel_bomb", "png_bomb", "garbage", "empty"],
            [30, 20, 15, 1, 8, 20, 5],
        )[0]
        jpeg = small_jpeg()
        if kind == "valid":
            return kind, jpeg
        if kind == "truncated":
            return kind, jpeg[: self.rng.randrange(2, len(jpeg))]
        if kind == "header_bomb":
            return kind, jpeg_claiming(self.rng.choice([10_000, 30_000, 65_000]))
        if kind == "pixel_bomb":
            return kind, flat_jpeg_bomb()
        if kind == "png_bomb":
            return kind, png_bomb()
        if kind == "garbage":
            return kind, b"\xff\xd8\xff\xe0" + self.rng.randbytes(
                self.rng.choice([10, 1000, 50_000])
            )
        return kind, b""

    # -- the stream ----------------------------------------------------------------------------

    def messages(self, count: int, only: set[str] | None = None) -> Iterator[FuzzMessage]:
        families = list(FAMILY_WEIGHTS)
        weights = list(FAMILY_WEIGHTS.values())
        report_kinds = list(self.report_kinds)
        report_weights = list(self.report_weights)
        if only:
            keep = [i for i, k in enumerate(report_kinds) if k in only]
            report_kinds = [report_kinds[i] for i in keep]
            report_weights = [report_weights[i] for i in keep]
            families = [REPORTS] + [f for f in families if f != REPORTS and f in only]
            weights = [FAMILY_WEIGHTS[f] for f in families]
        produced = 0
        while produced < count:
            family = self.rng.choices(families, weights)[0]
            self.serial += 1
            msg = self._one(family, report_kinds, report_weights, self.serial)
            if msg is None or msg.over_broker_limit:
                continue  # those few go through over_broker_limit(), from throwaway clients
            yield msg
            produced += 1

    def _one(
        self, family: str, report_kinds: list[str], report_weights: list[int], n: int
    ) -> FuzzMessage | None:
        if family == REPORTS and report_kinds:
            device = f"fz-{self.run_id}-{n}"
            kind = self.rng.choices(report_kinds, report_weights)[0]
            payload = self.report_kinds[kind](device)
            return FuzzMessage(REPORTS, kind, device_reports(device), payload, device)
        if family == PHOTOS:
            kind, payload = self._photo()
            report_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
            topic = device_photos(f"fz-{self.run_id}-p", report_id)
            return FuzzMessage(PHOTOS, kind, topic, payload)
        if family == RESPONSES:
            topic = volunteer_responses(f"fzvol-{n % 50}")
            return FuzzMessage(RESPONSES, "junk", topic, self._response())
        if family == LOCATION:
            topic = volunteer_location(f"fzvol-{n % 50}")
            return FuzzMessage(LOCATION, "junk", topic, self._location())
        if family == OWNTRACKS:
            topic = owntracks(f"fzvol-{n % 50}", "phone")
            return FuzzMessage(OWNTRACKS, "junk", topic, self._owntracks())
        return None

    def over_broker_limit(self, count: int) -> list[FuzzMessage]:
        """Reports larger than the broker accepts at all (sent from throwaway clients)."""
        out = []
        for _ in range(count):
            self.serial += 1
            device = f"fz-{self.run_id}-{self.serial}"
            data = real_report(device, self.rng)
            data["free_text"] = "y" * OVER_BROKER_LIMIT
            payload = json.dumps(data).encode()
            out.append(
                FuzzMessage(REPORTS, "over_broker_limit", device_reports(device), payload, device)
            )
        return out
