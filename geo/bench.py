"""Benchmark of ``geo`` on synthetic eastern-China data: ``python -m geo.bench [--quick]``.

Prints one JSON line per measure (``{"measure": ..., "value": ..., "unit": ...}``). Data:
case areas mixing expanding circles of all ages (city-scale schedules plus a few full
Tuanyuan ones), drawn polygons (some with holes) and metro-style corridors, spread over
about 1,000 km around Shanghai and denser near it, plus volunteers. With ``--postgis-url``
the same areas are loaded into PostGIS and matched one query per point, for the ratio.
Run it pinned to one core (``taskset -c 0``) to measure single-core figures.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from geo.area_index import AreaIndex
from geo.areas import (
    TUANYUAN_SCHEDULE,
    CaseArea,
    ExpandingCircle,
    PolygonArea,
    RadiusSchedule,
    corridor_area,
    polygon_area,
)
from geo.distance import GEOD, FloatArray
from geo.volunteers import VolunteerIndex

SHANGHAI = (121.4737, 31.2304)
REGION = (116.0, 26.5, 126.0, 35.5)  # lon/lat box, about 1,000 km across
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


# Area-matching targets of the issue (single-core figures): measure -> minimum.
TARGETS = {
    "single_matches_per_s": 100_000.0,
    "batch_matches_per_s": 500_000.0,
    "single_vs_postgis_ratio": 30.0,
}
_RESULTS: list[tuple[str, float, str]] = []


def emit(measure: str, value: float, unit: str, **extra: Any) -> None:
    print(json.dumps({"measure": measure, "value": round(value, 3), "unit": unit, **extra}),
          flush=True)
    _RESULTS.append((measure, value, unit))


def print_table(quick: bool) -> None:
    """The measures as a table on stderr (stdout stays one JSON object per line); targets
    are judged on full runs only."""

    def verdict(m: str, v: float) -> str:
        if m not in TARGETS:
            return ""
        return "n/a (--quick)" if quick else "met" if v >= TARGETS[m] else "NOT met"

    rows = [(m, f"{v:,.3f}", u, f">= {TARGETS[m]:,.0f}" if m in TARGETS else "", verdict(m, v))
            for m, v, u in _RESULTS if u != "info"]
    head = ("measure", "value", "unit", "target", "")
    print(file=sys.stderr)
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(5)]
    for r in [head, *rows]:
        print("  ".join(c.rjust(w) if i == 1 else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip(),
              file=sys.stderr)


def synthetic_points(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    """Half around Shanghai (sigma 1°, about 100 km), half uniform over the region."""
    near = rng.random(n) < 0.5
    lons = np.where(near, rng.normal(SHANGHAI[0], 1.0, n), rng.uniform(REGION[0], REGION[2], n))
    lats = np.where(near, rng.normal(SHANGHAI[1], 1.0, n), rng.uniform(REGION[1], REGION[3], n))
    return np.clip(lons, REGION[0], REGION[2]), np.clip(lats, REGION[1], REGION[3])


def _city_schedule(scale_m: float) -> RadiusSchedule:
    return RadiusSchedule(((1800.0, scale_m), (3600.0, 2 * scale_m), (7200.0, 3 * scale_m),
                           (math.inf, 5 * scale_m)))


def _random_polygon(rng: np.random.Generator, lon: float, lat: float) -> Polygon | MultiPolygon:
    r_deg = rng.uniform(0.004, 0.02)
    k = int(rng.integers(5, 14))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    rad = r_deg * rng.uniform(0.6, 1.0, k)
    poly = Polygon(np.column_stack((lon + rad * np.cos(ang) / math.cos(math.radians(lat)),
                                    lat + rad * np.sin(ang))))
    if not poly.is_valid:
        poly = shapely.make_valid(poly).convex_hull
    if rng.random() < 0.2:
        hole = shapely.Point(lon, lat).buffer(r_deg * 0.3, quad_segs=4)
        if poly.contains(hole):
            poly = Polygon(poly.exterior.coords, [hole.exterior.coords])
    return poly


def synthetic_cases(rng: np.random.Generator, n: int, tuanyuan: int = 3) -> list[CaseArea]:
    """``n`` cases: 60 % circles, 25 % polygons, 15 % corridors; ``tuanyuan`` default circles."""
    lons, lats = synthetic_points(rng, n)
    kinds = rng.random(n)
    out: list[CaseArea] = []
    for i in range(n):
        lon, lat = float(lons[i]), float(lats[i])
        part: ExpandingCircle | PolygonArea
        if i < tuanyuan:
            age_h = (0.5, 1.5, 5.0)[i % 3]
            part = ExpandingCircle(lon, lat, NOW - timedelta(hours=age_h), TUANYUAN_SCHEDULE,
                                   max_age_s=72 * 3600)
        elif kinds[i] < 0.60:
            age_s = float(rng.uniform(0, 4 * 3600))
            max_age = None if rng.random() < 0.7 else float(rng.uniform(3600, 6 * 3600))
            part = ExpandingCircle(lon, lat, NOW - timedelta(seconds=age_s),
                                   _city_schedule(float(rng.uniform(150, 800))), max_age)
        elif kinds[i] < 0.85:
            start = NOW - timedelta(seconds=float(rng.uniform(0, 6 * 3600)))
            until = None if rng.random() < 0.8 else start + timedelta(hours=8)
            part = polygon_area(_random_polygon(rng, lon, lat), start, until)
        else:
            k = int(rng.integers(1, 4))
            bearing = float(rng.uniform(0, 360))
            ids = [f"s{j}" for j in range(2 * k + 1)]
            dist = (np.arange(2 * k + 1) - k) * 1_200.0
            wiggle = bearing + rng.normal(0, 8, 2 * k + 1)
            slon, slat, _ = GEOD.fwd(np.full(2 * k + 1, lon), np.full(2 * k + 1, lat), wiggle,
                                     dist)
            coords = {sid: (float(x), float(y)) for sid, x, y in zip(ids, slon, slat,
                                                                      strict=True)}
            part = corridor_area(coords, [ids], ids[k], k, float(rng.uniform(200, 500)),
                                 NOW - timedelta(seconds=float(rng.uniform(0, 6 * 3600))))
        out.append(CaseArea(f"case-{i:06d}", lon, lat, (part,)))
    return out


def _rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else math.inf


def bench_areas(args: argparse.Namespace, rng: np.random.Generator) -> tuple[
    AreaIndex, list[CaseArea], float
]:
    t = time.perf_counter()
    cases = synthetic_cases(rng, args.areas)
    emit("synthetic_areas_generated", time.perf_counter() - t, "s", areas=len(cases))
    t = time.perf_counter()
    index = AreaIndex(cases)
    emit("area_index_build", time.perf_counter() - t, "s", areas=len(cases))

    lons, lats = synthetic_points(rng, args.batch_points)
    index.match_many(lons[:100], lats[:100], NOW)  # warm the radius memo
    t = time.perf_counter()
    batch = index.match_many(lons, lats, NOW)
    batch_s = time.perf_counter() - t
    emit("batch_matches_per_s", _rate(len(lons), batch_s), "points/s", points=len(lons))
    emit("mean_areas_per_point", len(batch) / len(lons), "areas",
         points_in_no_area=float(np.mean(batch.counts(len(lons)) == 0)))

    qlons = lons[: args.single_points].tolist()
    qlats = lats[: args.single_points].tolist()
    match = index.match
    t = time.perf_counter()
    for lon, lat in zip(qlons, qlats, strict=True):
        match(lon, lat, NOW)
    single_s = time.perf_counter() - t
    single_rate = _rate(len(qlons), single_s)
    emit("single_matches_per_s", single_rate, "points/s", points=len(qlons))
    return index, cases, single_rate


def bench_volunteers(args: argparse.Namespace, rng: np.random.Generator) -> None:
    n = args.volunteers
    lons, lats = synthetic_points(rng, n)
    ids = [f"vol-{i:06d}" for i in range(n)]
    index = VolunteerIndex()
    t = time.perf_counter()
    for vid, lon, lat in zip(ids, lons.tolist(), lats.tolist(), strict=True):
        index.update(vid, lon, lat, NOW)
    emit("volunteer_initial_load", time.perf_counter() - t, "s", volunteers=n)

    m = args.updates
    who = rng.integers(0, n, m).tolist()
    dlon = rng.normal(0, 0.002, m)
    dlat = rng.normal(0, 0.002, m)
    new_lon = np.clip(lons[who] + dlon, REGION[0], REGION[2]).tolist()
    new_lat = np.clip(lats[who] + dlat, REGION[1], REGION[3]).tolist()
    duty = (rng.random(m) < 0.8).tolist()
    times = [NOW + timedelta(milliseconds=i) for i in range(m)]
    update = index.update
    t = time.perf_counter()
    for i in range(m):
        update(ids[who[i]], new_lon[i], new_lat[i], times[i], duty[i])
    emit("volunteer_updates_per_s", _rate(m, time.perf_counter() - t), "updates/s", updates=m)

    # Every update is visible to the next query: check it on a sample, interleaved.
    stale = 0
    for i in range(min(m, 2_000)):
        at = times[-1] + timedelta(seconds=1)
        update(ids[who[i]], new_lon[i], new_lat[i], at, True)
        got = index.nearest(new_lon[i], new_lat[i], at, 1, 1.0, 60.0)
        stale += not got or got[0][0] != ids[who[i]]
    emit("volunteer_update_staleness", 0.0 if stale == 0 else math.inf, "s",
         stale_answers=stale)

    q = args.proximity_queries
    qlons, qlats = synthetic_points(rng, q)
    at = times[-1] + timedelta(seconds=2)
    nearest = index.nearest
    found = 0
    t = time.perf_counter()
    for lon, lat in zip(qlons.tolist(), qlats.tolist(), strict=True):
        found += len(nearest(lon, lat, at, 10, 3_000.0, 600.0))
    emit("proximity_queries_per_s", _rate(q, time.perf_counter() - t), "queries/s",
         queries=q, k=10, radius_m=3000, mean_found=found / q)


def _extent_polygon(lon: float, lat: float, radius_m: float) -> Polygon:
    dlat = math.degrees(radius_m / 6_335_000.0) * 1.001
    phi = math.radians(min(abs(lat) + dlat, 89.9))
    dlon = dlat / math.cos(phi) * 1.01
    return shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat)


POSTGIS_SQL = """
SELECT m.case_id,
       ST_Distance(c.last_seen, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography)
FROM (
  SELECT ci.case_id FROM bench_circles ci
   WHERE ci.extent && ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)
     AND %(t)s >= ci.t_from AND %(t)s < ci.t_until
     AND ST_DWithin(ci.center,
                    ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography,
                    (SELECT s.r FROM unnest(ci.withins, ci.radii) AS s(w, r)
                      WHERE %(t)s - ci.t_from <= s.w ORDER BY s.w LIMIT 1))
  UNION
  SELECT p.case_id FROM bench_polys p
   WHERE ST_Intersects(p.geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326))
     AND %(t)s >= p.t_from AND %(t)s < p.t_until
) m JOIN bench_cases c ON c.case_id = m.case_id
ORDER BY 2
"""


def bench_postgis(
    url: str, cases: list[CaseArea], index: AreaIndex, single_rate: float, n_points: int,
    rng: np.random.Generator,
) -> None:
    import psycopg  # only the benchmark talks to a database

    t_build = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        for table in ("bench_cases", "bench_circles", "bench_polys"):
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute("CREATE TABLE bench_cases (case_id text PRIMARY KEY, "
                     "last_seen geography(Point, 4326))")
        conn.execute("CREATE TABLE bench_circles (case_id text, center geography(Point, 4326), "
                     "extent geometry(Polygon, 4326), t_from float8, t_until float8, "
                     "withins float8[], radii float8[])")
        conn.execute("CREATE TABLE bench_polys (case_id text, geom geometry(MultiPolygon, 4326), "
                     "t_from float8, t_until float8)")
        with conn.cursor() as cur:
            with cur.copy("COPY bench_cases FROM STDIN") as copy:
                for c in cases:
                    copy.write_row((c.case_id,
                                    f"SRID=4326;POINT({c.last_seen_lon} {c.last_seen_lat})"))
            with cur.copy("COPY bench_circles FROM STDIN") as copy:
                for c in cases:
                    for part in c.parts:
                        if isinstance(part, ExpandingCircle):
                            start, end = part.interval_s
                            steps = part.schedule.steps
                            withins = [w for w, _ in steps[:-1]] + [math.inf]
                            copy.write_row((
                                c.case_id, f"SRID=4326;POINT({part.lon} {part.lat})",
                                "SRID=4326;" + _extent_polygon(
                                    part.lon, part.lat, part.schedule.max_radius_m).wkt,
                                start, end if math.isfinite(end) else math.inf,
                                withins, [r for _, r in steps]))
            with cur.copy("COPY bench_polys FROM STDIN") as copy:
                for c in cases:
                    for part in c.parts:
                        if isinstance(part, PolygonArea):
                            geom = part.geometry
                            if isinstance(geom, Polygon):
                                geom = MultiPolygon([geom])
                            start, end = part.interval_s
                            copy.write_row((c.case_id, shapely.to_wkb(geom, hex=True,
                                                                      include_srid=False),
                                            start, end))
        conn.execute("UPDATE bench_polys SET geom = ST_SetSRID(geom, 4326)")
        conn.execute("CREATE INDEX ON bench_circles USING gist (extent)")
        conn.execute("CREATE INDEX ON bench_polys USING gist (geom)")
        conn.execute("ANALYZE")
    emit("postgis_load_and_index", time.perf_counter() - t_build, "s", areas=len(cases))

    lons, lats = synthetic_points(rng, n_points)
    t_now = NOW.timestamp()
    mismatches = 0
    with psycopg.connect(url, autocommit=True, prepare_threshold=0) as conn:
        conn.execute(POSTGIS_SQL, {"lon": 121.0, "lat": 31.0, "t": t_now}).fetchall()
        results = []
        t = time.perf_counter()
        for lon, lat in zip(lons.tolist(), lats.tolist(), strict=True):
            results.append(conn.execute(POSTGIS_SQL, {"lon": lon, "lat": lat, "t": t_now})
                           .fetchall())
        pg_s = time.perf_counter() - t
    for lon, lat, rows in zip(lons.tolist(), lats.tolist(), results, strict=True):
        ours = {c for c, _ in index.match(lon, lat, NOW)}
        mismatches += ours != {r[0] for r in rows}
    pg_rate = _rate(n_points, pg_s)
    emit("postgis_single_matches_per_s", pg_rate, "points/s", points=n_points,
         result_mismatches=mismatches)
    emit("single_vs_postgis_ratio", single_rate / pg_rate, "x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m geo.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--postgis-url", help="postgresql://... to compare with PostGIS")
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--areas", type=int)
    parser.add_argument("--volunteers", type=int)
    parser.add_argument("--points", type=int, help="query points (default 1,000,000)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.areas = args.areas or (2_000 if quick else 100_000)
    args.volunteers = args.volunteers or (2_000 if quick else 100_000)
    args.batch_points = args.points or (20_000 if quick else 1_000_000)
    args.single_points = min(args.batch_points, 5_000 if quick else 200_000)
    args.updates = 5_000 if quick else 200_000
    args.proximity_queries = 2_000 if quick else 20_000
    pg_points = 200 if quick else 2_000
    rng = np.random.default_rng(args.seed)
    emit("run", 1, "info", quick=quick, python=platform.python_version(),
         shapely=shapely.__version__, numpy=np.__version__, machine=platform.machine(),
         cpus=os.cpu_count(), affinity=len(os.sched_getaffinity(0)),
         load_avg=[round(x, 2) for x in os.getloadavg()])
    index, cases, single_rate = bench_areas(args, rng)
    bench_volunteers(args, rng)
    if args.postgis_url:
        bench_postgis(args.postgis_url, cases, index, single_rate, pg_points, rng)
    emit("peak_memory", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "MiB")
    print_table(quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
