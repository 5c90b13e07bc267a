"""What the fuzz generators are made of: hypothesis-generated JSON values, real reports
and their field paths to mutate, and hostile JPEG/PNG images."""

from __future__ import annotations

import io
import json
import random
import struct
from functools import lru_cache
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from protocol.example import example_report

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
