"""The PostGIS peer: the same world in one table, checked with one prepared query.

Load: ``COPY`` (text format, geometries as hex EWKB) into an UNLOGGED table
with the footprint (``geom``, SRID 4326), a stored ``geography`` copy of it
(a generated column, so the cast is paid once at load), ``radius_m``, the
altitude band (``numrange``, ``[)``, NULL bounds for open ends), the time
window (``tstzrange``, ``[)``), kind, party, shape, category, purpose,
``applies_to`` and ``exempt`` (``text[]``) and a 4D box (``box4d``: a two-point
LINESTRING ZM from (xmin, ymin, alt/10 km, days) to (xmax, ymax, ...), only
used by the ``box4d`` index variants).

Index variants (the table is loaded once; each variant builds its indexes,
runs, and drops them):

- ``gist3``: one multi-column GiST on ``(geom, alt, during)`` over every row.
- ``gist3-partial``: the same GiST, one partial index per kind group the query
  asks for (area zones and boundaries; sites, movements and lines; circular
  zones; intents), so an index scan for sites never walks the intents.
- ``box4d-partial``: an n-D GiST (``gist_geometry_ops_nd``) on ``box4d``, one
  partial index per kind group, queried with ``&&&``; exact range tests are
  rechecked after the index.

The query takes the 5 volumes of an intent at once (``unnest`` of arrays, one
round trip) and answers with (volume, type, kind, id, other volume) per the
rules of SEMANTICS.md: time overlap ``&&`` on ``[)`` ranges; altitude overlap
``&&`` on ``[)`` ranges, or for separation ``alt && (lo - V, hi + V)`` (a gap
< V); areas ``ST_Relate(a, b, '2********')`` on lon/lat geometry (positive
shared area, exact); distances ``ST_DWithin(geography, geography, d)`` on the
WGS84 spheroid, with an index pre-filter of the query box grown by the
branch's largest distance.

Where PostGIS answers a slightly different question than the spec:

- geography edges are great-circle arcs, not straight lines in lon/lat; for
  long edges the two differ by metres to tens of metres (about
  L^2 tan(lat) / 8R for an edge of length L);
- ``ST_DWithin`` is ``<=``; the spec wants ``<`` for separation and for
  circular zones (the two differ only at exact equality);
- geography distances use the spheroid, like the spec (``use_spheroid`` is
  the default).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import psycopg
import shapely

from detente.domain.model import Category, Minima, Party, Role, WorldObject

try:  # run as a script from bench/ or imported as bench.peers_postgis
    from workload import BASE, Workload
except ImportError:  # pragma: no cover
    from bench.workload import BASE, Workload

DEFAULT_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=detente_bench"
TABLE = "bench_vol"
VARIANTS = ("gist3", "gist3-partial", "box4d-partial")

#: Kind groups, one per branch of the query (and per partial index).
GROUPS = {
    "area": "kind IN ('nfz', 'boundary') AND shape = 'area'",
    "near": "kind IN ('site', 'movement', 'line')",
    "nfzc": "kind = 'nfz' AND shape = 'point'",
    "intent": "kind = 'intent'",
}

#: 4D box scales: altitude in units of 10 km, time in days since BASE.
Z_SCALE = 10_000.0
Z_OPEN = 10.0
M_OPEN = 1_000.0

Key = tuple[int, str, str, str, int]

#: No degree of lon/lat anywhere is longer than this on WGS84 (a degree of
#: latitude at the pole is 111,694 m), so a planar lon/lat distance of
#: ``d / SURE_M_PER_DEG`` degrees is surely within ``d`` metres.
SURE_M_PER_DEG = 111_700.0

_DDL = f"""
DROP TABLE IF EXISTS {TABLE};
CREATE UNLOGGED TABLE {TABLE} (
    kind text NOT NULL,
    id text NOT NULL,
    vol int NOT NULL,
    party text NOT NULL,
    shape text NOT NULL,
    category text,
    purpose text,
    applies_to text[],
    exempt text[] NOT NULL,
    radius_m float8 NOT NULL,
    alt numrange NOT NULL,
    during tstzrange NOT NULL,
    z0 float8 NOT NULL, z1 float8 NOT NULL, m0 float8 NOT NULL, m1 float8 NOT NULL,
    geom geometry(Geometry, 4326) NOT NULL,
    geog geography(Geometry, 4326) GENERATED ALWAYS AS (geom::geography) STORED,
    box4d geometry GENERATED ALWAYS AS (
        ST_MakeLine(
            ST_MakePoint(ST_XMin(geom::box3d), ST_YMin(geom::box3d), z0, m0),
            ST_MakePoint(ST_XMax(geom::box3d), ST_YMax(geom::box3d), z1, m1))) STORED
)
"""

_COLUMNS = (
    "kind, id, vol, party, shape, category, purpose, applies_to, exempt, radius_m, alt, during, z0, z1, m0, m1, geom"
)

_BINDS = (
    "(((w.applies_to IS NULL AND %(military)s::bool) OR %(party)s::text = ANY(w.applies_to))"
    " AND NOT (%(purpose)s::text = ANY(w.exempt)))"
)


def _query(variant: str) -> str:
    """The check query for one intent (its volumes unnested) under ``variant``."""
    box4d = variant.startswith("box4d")

    def join(box: str, alt: str) -> str:
        if box4d:
            return f"w.box4d &&& q.{box}4 AND w.alt && q.{alt} AND w.during && q.during"
        return f"w.geom && q.{box} AND w.alt && q.{alt} AND w.during && q.during"

    def where(group: str) -> str:
        return " AND ".join(f"w.{c.strip()}" for c in GROUPS[group].split(" AND "))

    def box4(name: str, x: str, y: str, z0: str, z1: str) -> str:
        return (
            f"ST_MakeLine(ST_MakePoint(ST_XMin(b.bb) - {x}, ST_YMin(b.bb) - {y}, {z0}, u.m0),"
            f" ST_MakePoint(ST_XMax(b.bb) + {x}, ST_YMax(b.bb) + {y}, {z1}, u.m1)) AS {name}4"
        )

    boxes4 = ""
    if box4d:
        boxes4 = ",\n".join(
            [
                "",
                box4("geom", "0", "0", "u.z0", "u.z1"),
                box4("near_box", "u.nx", "u.ny", "u.z0", "u.z1"),
                box4("nfzc_box", "u.cx", "u.cy", "u.z0", "u.z1"),
                box4("sep_box", "u.sx", "u.sy", "u.sz0", "u.sz1"),
            ]
        )
    return f"""
WITH q AS MATERIALIZED (
  SELECT u.vi, g.geom, g.geom::geography AS geog,
         numrange(u.lo::numeric, u.hi::numeric, '[)') AS alt,
         numrange((u.lo - %(vertical)s::float8)::numeric, (u.hi + %(vertical)s::float8)::numeric, '()') AS salt,
         tstzrange(u.ts, u.te, '[)') AS during, u.kx, u.sx,
         ST_Expand(g.geom, u.nx, u.ny) AS near_box,
         ST_Expand(g.geom, u.cx, u.cy) AS nfzc_box,
         ST_Expand(g.geom, u.sx, u.sy) AS sep_box{boxes4}
  FROM unnest(%(vi)s::int[], %(wkb)s::bytea[], %(lo)s::float8[], %(hi)s::float8[],
              %(ts)s::timestamptz[], %(te)s::timestamptz[],
              %(nx)s::float8[], %(ny)s::float8[], %(cx)s::float8[], %(cy)s::float8[],
              %(sx)s::float8[], %(sy)s::float8[], %(kx)s::float8[],
              %(z0)s::float8[], %(z1)s::float8[], %(sz0)s::float8[], %(sz1)s::float8[],
              %(m0)s::float8[], %(m1)s::float8[])
       AS u(vi, wkb, lo, hi, ts, te, nx, ny, cx, cy, sx, sy, kx, z0, z1, sz0, sz1, m0, m1)
  CROSS JOIN LATERAL (SELECT ST_GeomFromWKB(u.wkb, 4326) AS geom) AS g
  CROSS JOIN LATERAL (SELECT g.geom::box3d AS bb) AS b
)
SELECT q.vi, w.kind AS ctype, w.kind, w.id, w.vol
FROM q JOIN {TABLE} w ON {join("geom", "alt")}
WHERE {where("area")} AND w.party <> %(party)s::text
  AND (w.kind = 'boundary' OR {_BINDS})
  AND ST_Intersects(w.geom, q.geom) AND ST_Relate(w.geom, q.geom, '2********')
UNION ALL
SELECT q.vi, CASE w.kind WHEN 'site' THEN 'protected_site'
                         WHEN 'movement' THEN 'humanitarian_movement' ELSE 'line' END,
       w.kind, w.id, w.vol
FROM q JOIN {TABLE} w ON {join("near_box", "alt")}
WHERE {where("near")} AND (w.kind = 'line' OR w.party <> %(party)s::text)
  AND ST_DWithin(w.geom, q.geom, w.radius_m * q.kx)
  AND (ST_DWithin(w.geom, q.geom, w.radius_m / {SURE_M_PER_DEG}) OR ST_DWithin(w.geog, q.geog, w.radius_m))
UNION ALL
SELECT q.vi, 'nfz', w.kind, w.id, w.vol
FROM q JOIN {TABLE} w ON {join("nfzc_box", "alt")}
WHERE {where("nfzc")} AND w.party <> %(party)s::text AND {_BINDS}
  AND ST_DWithin(w.geom, q.geom, w.radius_m * q.kx)
  AND (ST_DWithin(w.geom, q.geom, w.radius_m / {SURE_M_PER_DEG}) OR ST_DWithin(w.geog, q.geog, w.radius_m))
UNION ALL
SELECT q.vi, 'separation', w.kind, w.id, w.vol
FROM q JOIN {TABLE} w ON {join("sep_box", "salt")}
WHERE {where("intent")} AND w.party <> %(party)s::text AND COALESCE(w.category, 'air') = %(category)s::text
  AND ST_DWithin(w.geom, q.geom, q.sx)
  AND (ST_DWithin(w.geom, q.geom, %(horizontal)s::float8 / {SURE_M_PER_DEG})
       OR ST_DWithin(w.geog, q.geog, %(horizontal)s::float8))
"""


def _index_ddl(variant: str) -> list[str]:
    if variant == "gist3":
        return [f"CREATE INDEX {TABLE}_gist3 ON {TABLE} USING gist (geom, alt, during)"]
    if variant == "gist3-partial":
        return [
            f"CREATE INDEX {TABLE}_{g} ON {TABLE} USING gist (geom, alt, during) WHERE {pred}"
            for g, pred in GROUPS.items()
        ]
    if variant == "box4d-partial":
        return [
            f"CREATE INDEX {TABLE}_{g}_nd ON {TABLE} USING gist (box4d gist_geometry_ops_nd) WHERE {pred}"
            for g, pred in GROUPS.items()
        ]
    raise ValueError(f"unknown variant {variant!r}")


# --------------------------------------------------------------------------- encoding


def _z(v: float, open_value: float) -> float:
    return open_value if math.isinf(v) else v / Z_SCALE


def _m(t: float, open_value: float) -> float:
    return open_value if math.isinf(t) else (t - BASE.timestamp()) / 86_400.0


class _TimeText:
    """Whole-minute epochs to COPY text, memoised (worlds use ~10^4 instants)."""

    def __init__(self) -> None:
        self.cache: dict[float, str] = {}

    def __call__(self, t: float) -> str:
        s = self.cache.get(t)
        if s is None:
            s = "" if math.isinf(t) else datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S+00")
            self.cache[t] = s
        return s


def _num(v: float) -> str:
    return "" if math.isinf(v) else repr(float(v))


def _arr(values: frozenset[str] | None) -> str:
    if values is None:
        return r"\N"
    return "{" + ",".join(sorted(values)) + "}"


def copy_chunks(wl: Workload, chunk: int = 20_000) -> Iterator[str]:
    """The world as COPY text, ``chunk`` rows at a time."""
    ttext = _TimeText()
    for start in range(0, wl.n_volumes, chunk):
        stop = min(start + chunk, wl.n_volumes)
        hexes = shapely.to_wkb(shapely.set_srid(wl.geom[start:stop], 4326), hex=True, include_srid=True)
        lines = []
        for r in range(start, stop):
            o = int(wl.obj[r])
            lo, hi, t0, t1 = float(wl.alt_lo[r]), float(wl.alt_hi[r]), float(wl.t0[r]), float(wl.t1[r])
            cat, purpose = wl.categories[o], wl.purposes[o]
            lines.append(
                "\t".join(
                    (
                        wl.kinds[o],
                        wl.ids[o],
                        str(int(wl.vol[r])),
                        wl.owners[o],
                        wl.shape[r],
                        r"\N" if cat is None else cat,
                        r"\N" if purpose is None else purpose,
                        _arr(wl.applies_to[o]),
                        _arr(wl.exempt[o]),
                        repr(float(wl.radius_m[r])),
                        f"[{_num(lo)},{_num(hi)})",
                        f"[{ttext(t0)},{ttext(t1)})",
                        repr(_z(lo, -Z_OPEN)),
                        repr(_z(hi, Z_OPEN)),
                        repr(_m(t0, -M_OPEN)),
                        repr(_m(t1, M_OPEN)),
                        hexes[r - start],
                    )
                )
            )
        yield "\n".join(lines) + "\n"


def _margins(geom: Any, d: float) -> tuple[float, float]:
    """Degrees of (lon, lat) that surely cover ``d`` metres around ``geom``'s box."""
    if d <= 0:
        return 0.0, 0.0
    _, miny, _, maxy = geom.bounds
    dlat = d / 110_574.0 * 1.01
    lat = min(89.9, max(abs(miny), abs(maxy)) + dlat)
    return d / (111_319.49 * math.cos(math.radians(lat))) * 1.01, dlat


# --------------------------------------------------------------------------- peer


@dataclass
class PostgisPeer:
    parties: dict[str, Party]
    separation: dict[Category, Minima]
    dsn: str = DEFAULT_DSN
    variant: str = "gist3-partial"
    #: ``plan_cache_mode`` of the checking session; generic plans skip the
    #: per-execution planning (about 0.5 ms for this 4-branch query).
    plan_cache_mode: str = "force_generic_plan"
    timings: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.name = f"postgis:{self.variant}"
        self.military = frozenset(p.id for p in self.parties.values() if p.role is Role.MILITARY)
        self.conn: psycopg.Connection[Any] | None = None
        self.near_m = 0.0
        self.nfzc_m = 0.0

    # -- loading -----------------------------------------------------------

    @staticmethod
    def session(conn: psycopg.Connection[Any]) -> None:
        conn.execute("SET jit = off")
        conn.execute("SET max_parallel_workers_per_gather = 0")
        conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET work_mem = '64MB'")

    def load_table(self, wl: Workload) -> dict[str, float]:
        """Create the table and COPY the world in; returns timings (s)."""
        t = time.perf_counter()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            self.session(conn)
            conn.execute(_DDL)
            with conn.cursor() as cur, cur.copy(f"COPY {TABLE} ({_COLUMNS}) FROM STDIN") as copy:
                for text in copy_chunks(wl):
                    copy.write(text)
            t_copy = time.perf_counter() - t
            t = time.perf_counter()
            conn.execute(f"ANALYZE {TABLE}")
            t_analyze = time.perf_counter() - t
            size = conn.execute(f"SELECT pg_total_relation_size('{TABLE}')").fetchone()
        self.set_world_radii(wl)
        return {"copy_s": t_copy, "analyze_s": t_analyze, "table_bytes": float(size[0] if size else 0)}

    def set_world_radii(self, wl: Workload) -> None:
        """Largest distance per branch, for the index pre-filter boxes."""
        kinds = np.array([wl.kinds[o] for o in wl.obj]) if wl.n_volumes else np.array([])
        shape = np.array(wl.shape)
        near = np.isin(kinds, ["site", "movement", "line"])
        nfzc = (kinds == "nfz") & (shape == "point")
        self.near_m = float(wl.radius_m[near].max()) if near.any() else 0.0
        self.nfzc_m = float(wl.radius_m[nfzc].max()) if nfzc.any() else 0.0

    def build_indexes(self) -> dict[str, float]:
        """Drop every index of the table, build this variant's, and connect."""
        t = time.perf_counter()
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            self.session(conn)
            rows = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = %s", (TABLE,)).fetchall()
            for (name,) in rows:
                conn.execute(f"DROP INDEX {name}")
            for ddl in _index_ddl(self.variant):
                conn.execute(ddl)
            conn.execute(f"ANALYZE {TABLE}")
            size = conn.execute(
                "SELECT coalesce(sum(pg_relation_size(indexrelid)), 0) FROM pg_index WHERE indrelid = %s::regclass",
                (TABLE,),
            ).fetchone()
        elapsed = time.perf_counter() - t
        self.connect()
        return {"index_s": elapsed, "index_bytes": float(size[0] if size else 0)}

    def connect(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = psycopg.connect(self.dsn, autocommit=True)
        self.session(self.conn)
        self.conn.execute(f"SET plan_cache_mode = {self.plan_cache_mode}")
        self.sql = _query(self.variant)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- checking ----------------------------------------------------------

    def params(self, intent: WorldObject) -> dict[str, Any]:
        cat = intent.category or Category.AIR
        minima = self.separation[cat]
        v_sep = minima.vertical_m
        p: dict[str, list[Any]] = {k: [] for k in ("vi", "wkb", "lo", "hi", "ts", "te", "nx", "ny", "cx", "cy")}
        p.update({k: [] for k in ("sx", "sy", "kx", "z0", "z1", "sz0", "sz1", "m0", "m1")})
        for i, v in enumerate(intent.volumes):
            g = v.footprint.geometry
            lo, hi = v.altitude.lower_m, v.altitude.upper_m
            t0, t1 = v.time.start_s, v.time.end_s
            p["vi"].append(i)
            p["wkb"].append(shapely.to_wkb(g))
            p["lo"].append(v.altitude.lower)
            p["hi"].append(v.altitude.upper)
            p["ts"].append(v.time.start)
            p["te"].append(v.time.end)
            for key, d in (("n", self.near_m), ("c", self.nfzc_m), ("s", minima.horizontal_m)):
                dx, dy = _margins(g, d)
                p[key + "x"].append(dx)
                p[key + "y"].append(dy)
            p["kx"].append(_margins(g, 1.0)[0])
            p["z0"].append(_z(lo, -Z_OPEN))
            p["z1"].append(_z(hi, Z_OPEN))
            p["sz0"].append(-Z_OPEN if v_sep is None else _z(lo - v_sep, -Z_OPEN))
            p["sz1"].append(Z_OPEN if v_sep is None else _z(hi + v_sep, Z_OPEN))
            p["m0"].append(_m(t0, -M_OPEN))
            p["m1"].append(_m(t1, M_OPEN))
        out: dict[str, Any] = dict(p)
        out.update(
            party=intent.party,
            purpose=intent.purpose or "armed",
            category=cat.value,
            military=intent.party in self.military,
            horizontal=minima.horizontal_m,
            vertical=v_sep,
        )
        return out

    def check(self, intent: WorldObject) -> list[Key]:
        assert self.conn is not None, "build_indexes() or connect() first"
        rows = self.conn.execute(self.sql, self.params(intent), prepare=True).fetchall()
        return sorted((int(r[0]), r[1], r[2], r[3], int(r[4])) for r in rows)

    def explain(self, intent: WorldObject) -> str:
        assert self.conn is not None
        rows = self.conn.execute("EXPLAIN (ANALYZE, COSTS OFF) " + self.sql, self.params(intent)).fetchall()
        return "\n".join(r[0] for r in rows)
