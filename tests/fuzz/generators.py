"""Generators of hostile MQTT messages: hypothesis-generated JSON structures and mutated
real payloads, on every topic a device or a volunteer's phone may write.

Every reports message goes to a device id of its own (``fz-<run>-<n>``), so the receipt for
it is recognised by its topic even when the mutation destroyed the report id: each device
must receive exactly one receipt. Photos carry a report id of their own in the topic.
"""

from __future__ import annotations

import io
import json
import random
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from protocol.example import example_report
from protocol.messages import ResponseKind, VolunteerLocation, VolunteerResponse
from protocol.payloads import MAX_REPORT_BYTES
from protocol.topics import (
    device_photos,
    device_reports,
    owntracks,
    volunteer_location,
    volunteer_responses,
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

REPORT_KEYS = [
    "schema_version",
    "report_id",
    "device_id",
    "observed_at",
    "location",
    "what_seen",
    "child",
    "station_id",
    "direction",
    "free_text",
    "has_photo",
    "contact",
    "app_version",
    "test",
    "lat",
    "lon",
    "accuracy_m",
    "source",
    "age_band",
    "sex",
    "clothing_colours",
]
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


# --------------------------------------------------------------------------- hypothesis


def _json_values() -> st.SearchStrategy[Any]:
    keys = st.sampled_from(REPORT_KEYS) | st.text(max_size=12)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**80), max_value=2**80)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=40)
        | st.sampled_from(["", "0-2", "female", "red", "gps", "1970-01-01T00:00:00Z"])
    )
    return st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=6) | st.dictionaries(keys, children, max_size=8)
        ),
        max_leaves=25,
    )


def hypothesis_pool(size: int, seed: int) -> list[Any]:
    """``size`` JSON-like values drawn by hypothesis (reproducible for one seed)."""
    pool: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=size,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(_json_values())
    def collect(value: Any) -> None:
        pool.append(value)

    collect()
    return pool


# --------------------------------------------------------------------------- builders


def _dumps(value: Any, rng: random.Random) -> bytes:
    text = json.dumps(value, allow_nan=True, ensure_ascii=rng.random() < 0.5)
    return text.encode("utf-8", "surrogatepass")


def _random_point(rng: random.Random) -> dict[str, Any]:
    # Spread over Shanghai so valid reports make many small incidents, not one huge one.
    return {
        "lat": round(rng.uniform(31.0, 31.4), 6),
        "lon": round(rng.uniform(121.2, 121.7), 6),
        "accuracy_m": 30.0,
        "source": "gps",
    }


def real_report(device_id: str, rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(example_report(device_id).to_json())
    data["location"] = _random_point(rng)
    data.pop("station_id", None)
    return data


def _set_path(data: dict[str, Any], path: list[str], value: Any) -> None:
    target: Any = data
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value


_FIELD_PATHS = [
    ["schema_version"],
    ["report_id"],
    ["device_id"],
    ["observed_at"],
    ["location"],
    ["location", "lat"],
    ["location", "lon"],
    ["location", "accuracy_m"],
    ["location", "source"],
    ["what_seen"],
    ["child"],
    ["child", "age_band"],
    ["child", "sex"],
    ["child", "clothing_colours"],
    ["direction"],
    ["free_text"],
    ["has_photo"],
    ["contact"],
    ["test"],
    ["unknown_field"],
]


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


# --------------------------------------------------------------------------- images


@lru_cache(maxsize=1)
def small_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 200)).save(out, format="JPEG")
    return out.getvalue()


def jpeg_claiming(side_px: int) -> bytes:
    """A tiny JPEG whose frame header claims ``side_px`` x ``side_px`` pixels."""
    raw = bytearray(small_jpeg())
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = raw.find(marker)
        if at >= 0:
            # SOFn: marker, length (2), precision (1), height (2), width (2)
            struct.pack_into(">HH", raw, at + 5, side_px, side_px)
            return bytes(raw)
    raise RuntimeError("the test JPEG has no SOF0/SOF2 frame header to rewrite")


@lru_cache(maxsize=1)
def flat_jpeg_bomb() -> bytes:
    """A real 6000 x 6000 JPEG of one colour: small on the wire, 108 MB once decoded, and
    under the worker's pixel limit, so it is really decoded."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (6000, 6000), (250, 250, 250)).save(out, format="JPEG", quality=20)
    return out.getvalue()


@lru_cache(maxsize=1)
def png_bomb() -> bytes:
    """A PNG claiming 50,000 x 50,000 pixels (a classic decompression bomb header)."""
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 50_000, 50_000, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 1_000_000, 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )
