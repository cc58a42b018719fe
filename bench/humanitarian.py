"""Humanitarian notification (issue 5): the hot paths beside their peers, same run, same data.

Usage::

    DETENTE_PG_URL=postgresql://postgres@127.0.0.1:5432/detente_test .venv/bin/python bench/humanitarian.py
    .venv/bin/python bench/humanitarian.py --quick        # smoke run, under a minute
    .venv/bin/python bench/humanitarian.py --skip-corridor --sizes 10000   # notices only, SQLite only

Two parts.

1. **Filed intents in conflict with a newly notified site or movement**
   (``detente.services.notices._filed_conflicts(tx, obj)``: candidates from the
   store's 4D index, then the engine decides each against a world holding just
   the new object).  For each size N a world of N filed intents (1-3
   consecutive star-polygon volumes each, 70 % air, from ``workload.py``'s
   generators: a 500 x 500 km region, windows over a week) is stored with
   ``Store.replace_world`` in a fresh SQLite file and, when ``DETENTE_PG_URL``
   (or ``--pg-url``) is given, a fresh PostgreSQL schema (dropped afterwards).
   Then the same ``--lookups`` new objects (half sites: a point + 1-3 km,
   windows of 1-7 days, a fifth open-ended; half movements: routes of
   20-100 km with 3-4 km legs, corridor 1 km, windows of 2-12 h) are looked
   up one at a time, each in its own ``store.read()``; warm-up lookups from
   another stream first.  Peers, same run, same stored world:

   - **naive**: every intent in memory (``store.load_world()``, timed
     apart), a ``World`` holding only the new object, ``world.check(intent)``
     for every intent: the O(n) scan.  It runs on a sample of the lookups
     (``--naive-budget`` seconds per size) since one lookup takes seconds.
   - **PostGIS**: one SQL query on the store's own ``volumes`` table (the
     generated ``geom``/``reach``/``during`` columns of migration 0001):
     ``reach && <object box grown by its radius> AND during && <window>``
     (the ``(reach, alt, during)`` GiST) and ``ST_DWithin(geom::geography,
     <object>::geography, radius)``, kind ``intent``, another party.

   Agreement: detente on SQLite, detente on PostgreSQL and the naive scan
   must name the same intents for every lookup they all ran; PostGIS must too,
   except for *tolerance* cases (the reference measure of ``peers_naive``
   puts the intent within 10 m of the radius: ``geography`` edges are
   great-circle arcs, SEMANTICS.md's are straight in lon/lat).  Anything else
   fails the run (exit code 1).

2. **Corridor check** (``detente.engine.corridor``).  ``route_hazards`` for a
   route of 500 segments (a ~500 km random walk) against H star-polygon
   hazards (1-10 km, a third with a 1 km reach, every window overlapping the
   query's), corridor 1 km, beside two naive Python double loops over
   segment x hazard: one measuring the geodesic distance of every pair with
   Shapely + pyproj (``peers_naive.LocalFrame``; run on a random sample of
   segments for ``--pair-budget`` seconds and extrapolated to all pairs), and
   one that skips a pair when the boxes are farther apart than the threshold
   before measuring (run in full).  ``RoadNetwork.plan`` on a G x G grid of
   crossing roads (2G(G+1) edges) with 200 hazards inside it, start and end at
   opposite corners: build (``from_lines``, noding included) and plan times,
   beside a peer that builds a networkx graph of the same grid, finds the
   blocked edges with the box-then-geodesic double loop over edges x hazards,
   and runs networkx's Dijkstra on what is left.  Both must find the same
   blocked edges and the same route length; on a small grid the peer measures
   every pair (no box shortcut) and must agree too.

detente runs on one core (BLAS/OpenMP pools set to 1 before numpy loads);
PostgreSQL runs in its own backend process, i.e. on the other core while the
client waits.  Results go to ``bench/results/humanitarian-<time>.json``
(gitignored) or ``--out``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import math  # noqa: E402
import secrets  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import datetime, timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import pyproj  # noqa: E402
import shapely  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from shapely.geometry import LineString, Point  # noqa: E402
from shapely.geometry.base import BaseGeometry  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine as bench_machine  # noqa: E402
import peers_naive  # noqa: E402
import workload  # noqa: E402
from detente.adapters.storage import Store, open_store  # noqa: E402
from detente.adapters.storage.transaction import Tx  # noqa: E402
from detente.audit.keys import EphemeralKeys  # noqa: E402
from detente.domain.geo.box import Box4D  # noqa: E402
from detente.domain.geo.footprint import Footprint  # noqa: E402
from detente.domain.geo.intervals import AltitudeBand, TimeWindow  # noqa: E402
from detente.domain.geo.volume import Volume4D  # noqa: E402
from detente.domain.model import Kind, Scenario, WorldObject  # noqa: E402
from detente.engine.corridor import Hazard, RoadNetwork, route_hazards  # noqa: E402
from detente.engine.world import World  # noqa: E402
from detente.services.notices import _filed_conflicts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PG_ENV = "DETENTE_PG_URL"
TOLERANCE_M = 10.0
CORRIDOR_M = 1_000.0
console = Console(width=None if sys.stdout.isatty() else 160)

# Conservative degree margins for the peers' own box tests (independent of detente's grow_box):
# no degree of latitude is shorter than 110,574 m; a degree of longitude is 111,320 m x cos(lat).
_MIN_M_PER_DEG_LAT = 110_574.0
_M_PER_DEG_LON_EQ = 111_320.0


def margins(distance_m: float, max_abs_lat: float) -> tuple[float, float]:
    """Degrees of (lon, lat) that surely cover ``distance_m`` (with 1 % to spare)."""
    dlat = distance_m / _MIN_M_PER_DEG_LAT * 1.01
    dlon = distance_m / (_M_PER_DEG_LON_EQ * math.cos(math.radians(min(89.0, max_abs_lat + dlat)))) * 1.01
    return dlon, dlat


def grown(bounds: tuple[float, float, float, float], distance_m: float) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = bounds
    dlon, dlat = margins(distance_m, max(abs(y0), abs(y1)))
    return x0 - dlon, y0 - dlat, x1 + dlon, y1 + dlat


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    return {
        **bench_machine.base(),
        "numpy": np.__version__,
        "shapely": shapely.__version__,
        "geos": ".".join(map(str, shapely.geos_version)),
        "pyproj": pyproj.__version__,
        "proj": pyproj.proj_version_str,
        "networkx": nx.__version__,
        "psycopg": psycopg.__version__,
    }


def pct(xs: Sequence[float], scale: float = 1000.0) -> dict[str, float]:
    """p50/p95/max/mean of seconds, in ms (``scale``)."""
    if not xs:
        return {"n": 0, "p50": math.nan, "p95": math.nan, "max": math.nan, "mean": math.nan}
    a = np.asarray(xs, dtype=np.float64) * scale
    return {
        "n": len(a),
        "p50": float(np.percentile(a, 50)),
        "p95": float(np.percentile(a, 95)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


# =========================================================================== part 1: notices


def filed_intents(n: int, seed: int) -> list[WorldObject]:
    """``n`` filed intents of 1-3 consecutive volumes each (``workload.py``'s intent generator)."""
    rng = np.random.default_rng([seed, n, 5])
    counts = rng.integers(1, 4, n).astype(np.int64)
    block = workload._intent_block(rng, int(counts.sum()), counts=counts)
    return list(workload._assemble(n, seed, [block]).objects())


def _minutes(base_min: np.ndarray) -> list[datetime]:
    return [workload.BASE + timedelta(minutes=int(m)) for m in base_min]


def new_sites(n: int, seed: int, stream: int) -> list[WorldObject]:
    """Sites: a point + 1-3 km, every altitude, 1-7 days from a start within the week; a fifth open-ended."""
    rng = np.random.default_rng([seed, 5_501, stream])
    x, y = workload._uniform_points(rng, n)
    radius = np.round(rng.uniform(1_000.0, 3_000.0, n))
    start = rng.integers(0, workload.WEEK_MIN, n)
    dur = rng.integers(24 * 60, 7 * 24 * 60 + 1, n)
    open_end = rng.random(n) < 0.2
    t0, t1 = _minutes(start), _minutes(start + dur)
    out = []
    for i in range(n):
        vol = Volume4D(
            Footprint(Point(float(x[i]), float(y[i])), float(radius[i])),
            AltitudeBand(None, None),
            TimeWindow(t0[i], None if open_end[i] else t1[i]),
        )
        party = workload.HUMANITARIAN[i % len(workload.HUMANITARIAN)]
        out.append(WorldObject(kind=Kind.SITE, id=f"site-{stream}-{i}", party=party, volumes=(vol,)))
    return out


def new_movements(n: int, seed: int, stream: int) -> list[WorldObject]:
    """Movements: routes of 20-100 km (legs of 3-4 km), corridor 1 km, windows of 2-12 h within the week."""
    rng = np.random.default_rng([seed, 5_502, stream])
    x, y = workload._uniform_points(rng, n)
    target_km = rng.uniform(20.0, 100.0, n)
    nverts = (np.ceil(target_km / 3.5) + 1).astype(np.int64)
    routes = workload.polylines(rng, x, y, nverts, (3_000.0, 4_000.0))
    start = rng.integers(0, workload.WEEK_MIN, n)
    dur = rng.integers(120, 12 * 60 + 1, n)
    t0, t1 = _minutes(start), _minutes(start + dur)
    out = []
    for i in range(n):
        vol = Volume4D(Footprint(routes[i], CORRIDOR_M), AltitudeBand(None, None), TimeWindow(t0[i], t1[i]))
        party = workload.HUMANITARIAN[i % len(workload.HUMANITARIAN)]
        out.append(WorldObject(kind=Kind.MOVEMENT, id=f"movement-{stream}-{i}", party=party, volumes=(vol,)))
    return out


def lookups(n: int, seed: int, stream: int) -> list[WorldObject]:
    """``n`` new objects, sites and movements alternating."""
    s, m = new_sites((n + 1) // 2, seed, stream), new_movements(n // 2, seed, stream)
    out: list[WorldObject] = []
    for i in range(max(len(s), len(m))):
        out.extend(x[i] for x in (s, m) if i < len(x))
    return out


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    name: str
    url: str
    conninfo: str | None = None  # the PostGIS peer's libpq connection string
    options: str | None = None  # ... and its options (the same schema)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def backend(name: str, tmp: Path, pg_url: str | None) -> Iterator[Backend]:
    """A fresh, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if name == "sqlite":
        yield Backend(name, f"sqlite:///{tmp / f'notices-{secrets.token_hex(4)}.sqlite'}")
        return
    assert pg_url is not None
    schema = f"bench_notices_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(pg_url), autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        admin.execute(f'CREATE SCHEMA "{schema}"')
    options = f"-c search_path={schema},public"
    url = make_url(pg_url).update_query_dict({"options": options})
    try:
        yield Backend(name, url.render_as_string(hide_password=False), conninfo=_libpq(pg_url), options=options)
    finally:
        with psycopg.connect(_libpq(pg_url), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


# --------------------------------------------------------------------------- the three ways


def detente_lookup(store: Store) -> Callable[[WorldObject], set[str]]:
    def run(obj: WorldObject) -> set[str]:
        with store.read() as tx:
            return {c["intent"] for c in _filed_conflicts(tx, obj)}

    return run


def naive_lookup(intents: list[WorldObject], scenario_parties: Any, minima: Any) -> Callable[[WorldObject], set[str]]:
    """Every intent checked by the engine against a world holding only the new object."""

    def run(obj: WorldObject) -> set[str]:
        world = World(scenario_parties, minima)
        world.add(obj)
        out = set()
        for intent in intents:
            if any(c.other_id == obj.id and c.other_kind is obj.kind for c in world.check(intent)):
                out.add(intent.id)
        return out

    return run


POSTGIS_QUERY = """
SELECT DISTINCT object_id FROM volumes
WHERE kind = 'intent' AND party <> %(party)s
  AND reach && ST_MakeEnvelope(%(x0)s, %(y0)s, %(x1)s, %(y1)s, 4326)
  AND during && tstzrange(%(t0)s::timestamptz, %(t1)s::timestamptz, '[)')
  AND ST_DWithin(geom::geography, ST_GeomFromWKB(%(wkb)s, 4326)::geography, %(radius)s)
"""


def postgis_params(obj: WorldObject) -> dict[str, Any]:
    """The query's parameters for a new object of one volume covering every altitude."""
    (vol,) = obj.volumes
    assert vol.altitude.lower is None and vol.altitude.upper is None, "every altitude: no band test"
    geom, radius = vol.footprint.geometry, vol.footprint.radius_m
    x0, y0, x1, y1 = grown(geom.bounds, radius)
    return {
        "party": obj.party,
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "t0": vol.time.start,
        "t1": vol.time.end,
        "wkb": shapely.to_wkb(geom),
        "radius": radius,
    }


def postgis_lookup(conn: psycopg.Connection[Any]) -> Callable[[WorldObject], set[str]]:
    """One prepared query per new object on the store's ``volumes`` table."""

    def run(obj: WorldObject) -> set[str]:
        return {r[0] for r in conn.execute(POSTGIS_QUERY, postgis_params(obj), prepare=True).fetchall()}

    return run


def timed(run: Callable[[WorldObject], set[str]], objs: Sequence[WorldObject]) -> tuple[list[float], list[set[str]]]:
    lat: list[float] = []
    found: list[set[str]] = []
    clock = time.perf_counter
    for obj in objs:
        t = clock()
        found.append(run(obj))
        lat.append(clock() - t)
    return lat, found


def by_kind(objs: Sequence[WorldObject], lat: Sequence[float]) -> dict[str, dict[str, float]]:
    out = {}
    for kind in (Kind.SITE, Kind.MOVEMENT):
        out[kind.value] = pct([t for o, t in zip(objs, lat, strict=False) if o.kind is kind])
    return out


@contextlib.contextmanager
def tx_clock(names: Sequence[str] = ("candidates", "objects")) -> Iterator[dict[str, float]]:
    """Seconds spent in these ``Tx`` methods while the block runs (wrapped for the block only)."""
    spent = dict.fromkeys(names, 0.0)
    originals = {name: getattr(Tx, name) for name in names}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def method(self: Tx, *a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(self, *a, **k)
            finally:
                spent[name] += time.perf_counter() - t

        return method

    for name, fn in originals.items():
        setattr(Tx, name, wrap(name, fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(Tx, name, fn)


def phases(store: Store, objs: Sequence[WorldObject]) -> dict[str, float]:
    """Where a lookup's time goes, ms per lookup: the 4D index query, reading the candidates, the rest."""
    run = detente_lookup(store)
    with tx_clock() as spent:
        t = time.perf_counter()
        for obj in objs:
            run(obj)
        total = time.perf_counter() - t
    n = max(1, len(objs))
    rest = total - spent["candidates"] - spent["objects"]
    return {
        "lookups": len(objs),
        "total": total / n * 1e3,
        "index_query": spent["candidates"] / n * 1e3,
        "read_objects": spent["objects"] / n * 1e3,
        "engine_and_rest": rest / n * 1e3,
    }


def objects_plan(store: Store, keys: list[tuple[Kind, str]]) -> list[str]:
    """The database's plan for the statement ``Tx.objects`` sends (captured, then EXPLAINed)."""
    seen: list[tuple[str, Any]] = []

    def grab(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM volumes" in statement or "JOIN volumes" in statement:
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", grab)
    try:
        with store.read() as tx:
            tx.objects(keys)
    finally:
        event.remove(store.engine, "before_cursor_execute", grab)
    if not seen:
        return ["(statement not captured)"]
    statement, params = seen[-1]
    prefix = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, params).all()
    return [str(r[-1]) if store.dialect == "sqlite" else str(r[0]) for r in rows]


# --------------------------------------------------------------------------- agreement


def reference_margin(intent: WorldObject, obj: WorldObject) -> dict[str, Any]:
    """The reference decision (``peers_naive``'s measure) of ``intent`` against the new object."""
    (ov,) = obj.volumes
    best = math.inf
    for v in intent.volumes:
        t0 = max(v.time.start_s, ov.time.start_s)
        t1 = min(v.time.end_s, ov.time.end_s)
        if t0 < t1:
            best = min(best, peers_naive.reference_distance_m(v.footprint.geometry, ov.footprint.geometry))
    r = ov.footprint.radius_m
    return {"distance_m": best, "radius_m": r, "reference_hit": best <= r, "margin_m": abs(best - r)}


def compare(
    name: str,
    objs: Sequence[WorldObject],
    ref: Sequence[set[str]],
    other: Sequence[set[str]],
    intents: dict[str, WorldObject],
    tolerant: bool,
) -> dict[str, Any]:
    """detente (``ref``) against another way, lookup by lookup; disagreements judged by the reference."""
    same = both = 0
    cases: list[dict[str, Any]] = []
    for obj, a, b in zip(objs, ref, other, strict=False):
        same += a == b
        both += len(a & b)
        for side, ids in (("detente_only", a - b), ("peer_only", b - a)):
            for iid in sorted(ids):
                m = reference_margin(intents[iid], obj)
                m.update(lookup=obj.id, intent=iid, side=side)
                m["tolerance"] = tolerant and m["margin_m"] <= TOLERANCE_M
                m["reference_sides_with"] = "detente" if m["reference_hit"] == (side == "detente_only") else "peer"
                cases.append(m)
    n = min(len(ref), len(other))
    return {
        "peer": name,
        "lookups": n,
        "identical": same,
        "found_by_both": both,
        "detente_only": sum(c["side"] == "detente_only" for c in cases),
        "peer_only": sum(c["side"] == "peer_only" for c in cases),
        "tolerance": sum(c["tolerance"] for c in cases),
        "beyond": sum(not c["tolerance"] for c in cases),
        "cases": cases[:50],
    }


# --------------------------------------------------------------------------- one size


def run_size(n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    console.rule(f"[bold]notices: {n:,} filed intents")
    t = time.perf_counter()
    intents = filed_intents(n, args.seed)
    scenario = Scenario(
        name=f"notices-{n}-{args.seed}",
        parties=workload.parties(),
        objects={o.key: o for o in intents},
        separation=workload.separation(),
    )
    gen_s = time.perf_counter() - t
    n_vol = sum(len(o.volumes) for o in intents)
    console.print(f"  generated {len(intents):,} intents ({n_vol:,} volumes) in {gen_s:.1f} s")
    objs = lookups(args.lookups, args.seed, 0)
    warm = lookups(args.warmup, args.seed, 1)
    by_id = {o.id: o for o in intents}
    out: dict[str, Any] = {"intents": n, "volumes": n_vol, "generate_s": gen_s, "engines": {}, "agreement": []}
    out["lookup_objects"] = describe(objs)

    names = ["sqlite"] + (["postgresql"] if args.pg_url else [])
    found: dict[str, list[set[str]]] = {}
    with contextlib.ExitStack() as stack:
        stores: dict[str, tuple[Backend, Store]] = {}
        for name in names:
            b = stack.enter_context(backend(name, tmp, args.pg_url))
            store = open_store(b.url, keys=EphemeralKeys())
            stack.callback(store.close)
            t = time.perf_counter()
            store.replace_world(scenario)
            load_s = time.perf_counter() - t
            analyze_s = 0.0
            if name == "postgresql":
                t = time.perf_counter()
                with store.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE volumes")
                analyze_s = time.perf_counter() - t
            console.print(
                f"  {name}: replace_world {load_s:.1f} s" + (f", ANALYZE {analyze_s:.1f} s" if analyze_s else "")
            )
            stores[name] = (b, store)
            out["engines"][f"detente ({name})"] = {"load_s": load_s, "analyze_s": analyze_s}
        gc.collect()
        gc.freeze()

        for name, (_, store) in stores.items():
            run = detente_lookup(store)
            timed(run, warm)
            lat, res = timed(run, objs)
            key = f"detente ({name})"
            found[key] = res
            out["engines"][key].update(latency_ms=pct(lat), by_kind=by_kind(objs, lat))
            split = phases(store, objs[: args.phase_lookups])
            plan = objects_plan(store, [(Kind.INTENT, i) for i in sorted(set().union(*res))[:12] or ["intent-0"]])
            out["engines"][key].update(phases_ms=split, objects_plan=plan)
            console.print(
                f"  {key}: p50 {pct(lat)['p50']:.2f} ms, p95 {pct(lat)['p95']:.2f} ms; per lookup "
                f"{split['index_query']:.2f} ms index query + {split['read_objects']:.2f} ms Tx.objects "
                f"+ {split['engine_and_rest']:.2f} ms engine and the rest; Tx.objects plan: {' / '.join(plan)[:100]}"
            )

        if "postgresql" in stores:
            b, _ = stores["postgresql"]
            assert b.conninfo is not None
            with psycopg.connect(b.conninfo, autocommit=True, options=b.options) as conn:
                conn.execute("SET jit = off")
                run = postgis_lookup(conn)
                timed(run, warm)
                lat, res = timed(run, objs)
                plan = [r[0] for r in conn.execute("EXPLAIN " + POSTGIS_QUERY, postgis_params(objs[0])).fetchall()]
            found["PostGIS query"] = res
            out["engines"]["PostGIS query"] = {"latency_ms": pct(lat), "by_kind": by_kind(objs, lat), "plan": plan}
            console.print(f"  PostGIS query: p50 {pct(lat)['p50']:.2f} ms, p95 {pct(lat)['p95']:.2f} ms")

        # candidates and conflicts per lookup (not timed)
        _, sqlite_store = stores["sqlite"]
        cands = []
        with sqlite_store.read() as tx:
            for obj in objs:
                (vol,) = obj.volumes
                x0, y0, x1, y1 = vol.footprint.bounds()
                cands.append(len(tx.candidates(Box4D(x0, y0, x1, y1, vol.altitude, vol.time))))
        out["candidates_per_lookup"] = pct(cands, 1.0)
        out["conflicts_per_lookup"] = pct([len(s) for s in found["detente (sqlite)"]], 1.0)

        # naive: every intent read back, then the O(n) scan on a sample of the lookups
        t = time.perf_counter()
        world = sqlite_store.load_world()
        naive_load_s = time.perf_counter() - t
        stored = world.intents()
        assert len(stored) == len(intents)
        run = naive_lookup(stored, world.parties, world.separation)
        lat, res = [], []
        spent = 0.0
        sample: list[WorldObject] = []
        for obj in objs:
            t = time.perf_counter()
            res.append(run(obj))
            lat.append(time.perf_counter() - t)
            sample.append(obj)
            spent += lat[-1]
            kinds = {o.kind for o in sample}
            if spent > args.naive_budget and len(kinds) == 2:
                break
        found["naive scan"] = res
        out["engines"]["naive scan"] = {
            "load_s": naive_load_s,
            "latency_ms": pct(lat),
            "by_kind": by_kind(sample, lat),
            "sampled": len(sample),
        }
        console.print(
            f"  naive scan: load_world {naive_load_s:.1f} s; {len(sample)} lookups, p50 {pct(lat)['p50']:.0f} ms"
        )

    ref = found["detente (sqlite)"]
    for key, res in found.items():
        if key != "detente (sqlite)":
            out["agreement"].append(compare(key, objs, ref, res, by_id, tolerant=key == "PostGIS query"))
    gc.unfreeze()
    return out


def describe(objs: Sequence[WorldObject]) -> dict[str, Any]:
    sites = [o for o in objs if o.kind is Kind.SITE]
    moves = [o for o in objs if o.kind is Kind.MOVEMENT]
    lengths = [peers_naive.GEOD.geometry_length(o.volumes[0].footprint.geometry) / 1000 for o in moves]
    return {
        "sites": len(sites),
        "movements": len(moves),
        "movement_km": [round(float(f(lengths)), 1) for f in (np.min, np.median, np.max)] if lengths else [],
    }


# =========================================================================== part 2: corridor


def hazards_in(
    rng: np.random.Generator,
    n: int,
    box: tuple[float, float, float, float],
    window: TimeWindow,
    radius_m: tuple[float, float] = (1_000.0, 10_000.0),
) -> list[Hazard]:
    """``n`` star-polygon hazards (1-10 km) in ``box``, every window overlapping ``window``; a third reach 1 km."""
    x0, y0, x1, y1 = box
    x, y = rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)
    areas = workload.star_polygons(rng, x, y, rng.uniform(*radius_m, n), rng.integers(5, 41, n))
    assert window.start is not None and window.end is not None
    shift = rng.integers(-300, 300, n)  # minutes: each 6-hour window overlaps the query's 6 hours
    kinds = ("nfz", "intent", "incident")
    out = []
    for i in range(n):
        start = window.start + timedelta(minutes=int(shift[i]))
        kind = kinds[i % 3]
        out.append(
            Hazard(
                kind,
                f"{kind}-{i}",
                areas[i],
                TimeWindow(start, start + timedelta(hours=6)),
                1_000.0 if kind == "intent" else 0.0,
            )
        )
    return out


def query_window() -> TimeWindow:
    start = workload.BASE + timedelta(days=3)
    return TimeWindow(start, start + timedelta(hours=6))


class NaivePairs:
    """Geodesic distance of a (line, hazard) pair, one pair at a time (Shapely + pyproj).

    ``peers_naive.LocalFrame``: intersects in lon/lat, else both densified,
    projected to an azimuthal equidistant frame, nearest points there, geodesic
    length of that pair on WGS84.  A frame (a pyproj ``Transformer``, about
    6 ms to build) is made once per line (``frame_on="line"``) or per hazard,
    whichever side needs fewer, and kept; ``frame_s`` is the time spent on frames.
    """

    def __init__(self, lines: Sequence[BaseGeometry], hazards: Sequence[Hazard], frame_on: str) -> None:
        self.lines, self.hazards, self.frame_on = lines, hazards, frame_on
        self.frames: dict[int, peers_naive.LocalFrame] = {}
        self.frame_s = 0.0

    def _frame(self, key: int, geom: BaseGeometry) -> peers_naive.LocalFrame:
        frame = self.frames.get(key)
        if frame is None:
            t = time.perf_counter()
            frame = self.frames[key] = peers_naive.LocalFrame(geom)
            self.frame_s += time.perf_counter() - t
        return frame

    def distance_m(self, k: int, h: int) -> float:
        if self.frame_on == "line":
            return self._frame(k, self.lines[k]).distance_m(self.hazards[h].area)
        return self._frame(h, self.hazards[h].area).distance_m(self.lines[k])


@dataclass
class LoopResult:
    hits: set[tuple[int, int]]
    lines_done: int
    measured: int
    seconds: float
    frames: int
    frame_s: float

    def extrapolate(self, lines: int, hazards: int, frames_total: int) -> float:
        """Seconds for every pair: the frames all built, every pair measured at this rate."""
        per_pair = (self.seconds - self.frame_s) / max(1, self.measured)
        per_frame = self.frame_s / max(1, self.frames)
        return per_frame * frames_total + per_pair * lines * hazards


def naive_pairs(
    lines: Sequence[BaseGeometry],
    hazards: Sequence[Hazard],
    corridor_m: float,
    window: TimeWindow,
    *,
    box_shortcut: bool,
    frame_on: str,
    budget_s: float = math.inf,
    order: Sequence[int] | None = None,
) -> LoopResult:
    """The double loop over (line, hazard): the pairs within corridor + reach.

    ``box_shortcut`` skips a pair whose boxes are farther apart than the
    threshold can span (a plain float test) before measuring it.  Lines are
    taken in ``order`` until ``budget_s`` is spent.
    """
    t = time.perf_counter()
    measure = NaivePairs(lines, hazards, frame_on)
    active = [i for i, h in enumerate(hazards) if h.window.overlaps(window)]
    limit = {i: corridor_m + hazards[i].reach_m for i in active}
    boxes = {i: grown(hazards[i].area.bounds, limit[i]) for i in active}
    hits: set[tuple[int, int]] = set()
    measured = done = 0
    for k in order if order is not None else range(len(lines)):
        line = lines[k]
        lx0, ly0, lx1, ly1 = line.bounds
        for i in active:
            if box_shortcut:
                bx0, by0, bx1, by1 = boxes[i]
                if lx0 > bx1 or lx1 < bx0 or ly0 > by1 or ly1 < by0:
                    continue
            measured += 1
            if measure.distance_m(k, i) <= limit[i]:
                hits.add((k, i))
        done += 1
        if time.perf_counter() - t > budget_s:
            break
    return LoopResult(hits, done, measured, time.perf_counter() - t, len(measure.frames), measure.frame_s)


def _best_of(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return times, out


def run_route(h: int, args: argparse.Namespace) -> dict[str, Any]:
    rng = np.random.default_rng([args.seed, 6_001, h])
    window = query_window()
    hazards = hazards_in(rng, h, workload.REGION, window)
    route = workload.polylines(rng, np.array([36.4]), np.array([33.4]), np.array([args.segments + 1]), (500, 1500))[0]
    xy = shapely.get_coordinates(route)
    segs = [LineString([xy[k], xy[k + 1]]) for k in range(len(xy) - 1)]
    times, found = _best_of(lambda: route_hazards(route, CORRIDOR_M, window, hazards), args.repeat)
    detente_pairs = {(s.index, i) for s in found for i, _ in s.hazards}
    # naive, box shortcut: every pair visited, in full
    box = naive_pairs(segs, hazards, CORRIDOR_M, window, box_shortcut=True, frame_on="hazard")
    # naive, every pair measured: a random sample of segments (all hazards each), extrapolated
    order = [int(k) for k in rng.permutation(len(segs))]
    every = naive_pairs(
        segs, hazards, CORRIDOR_M, window, box_shortcut=False, frame_on="line", budget_s=args.pair_budget, order=order
    )
    sampled = set(order[: every.lines_done])
    agree_box = compare_pairs(detente_pairs, box.hits, segs, hazards)
    agree_all = compare_pairs({p for p in detente_pairs if p[0] in sampled}, every.hits, segs, hazards)
    length_km = peers_naive.GEOD.geometry_length(route) / 1000
    res = {
        "hazards": h,
        "segments": len(segs),
        "route_km": length_km,
        "pairs_found": len(detente_pairs),
        "detente_s": pct(times, 1.0),
        "naive_box_s": box.seconds,
        "naive_box_measured": box.measured,
        "naive_box_frames": box.frames,
        "naive_all_sampled_segments": len(sampled),
        "naive_all_sample_s": every.seconds,
        "naive_all_measured": every.measured,
        "naive_all_per_pair_us": (every.seconds - every.frame_s) / max(1, every.measured) * 1e6,
        "naive_all_per_frame_ms": every.frame_s / max(1, every.frames) * 1e3,
        "naive_all_extrapolated_s": every.extrapolate(len(segs), h, len(segs)),
        "agreement_box": agree_box,
        "agreement_all_on_sample": agree_all,
    }
    console.print(
        f"  route_hazards, {h:,} hazards: detente {res['detente_s']['p50'] * 1000:.1f} ms; "
        f"naive+box {box.seconds:.2f} s; naive every pair ~{res['naive_all_extrapolated_s']:.0f} s "
        f"(from {len(sampled)} of {len(segs)} segments, {res['naive_all_per_pair_us']:.0f} µs/pair)"
    )
    return res


def compare_pairs(
    ours: set[tuple[int, int]], theirs: set[tuple[int, int]], lines: Sequence[BaseGeometry], hazards: Sequence[Hazard]
) -> dict[str, Any]:
    cases = []
    measure = NaivePairs(lines, hazards, "hazard")
    for side, pairs in (("detente_only", ours - theirs), ("peer_only", theirs - ours)):
        for k, i in sorted(pairs):
            d = measure.distance_m(k, i)
            limit = CORRIDOR_M + hazards[i].reach_m
            cases.append({"side": side, "line": k, "hazard": i, "distance_m": d, "limit_m": limit})
    beyond = [c for c in cases if abs(c["distance_m"] - c["limit_m"]) > TOLERANCE_M]
    return {
        "both": len(ours & theirs),
        "detente_only": len(ours - theirs),
        "peer_only": len(theirs - ours),
        "beyond": len(beyond),
        "cases": cases[:20],
    }


# --------------------------------------------------------------------------- road network


@dataclass
class Grid:
    size: int
    xs: np.ndarray
    ys: np.ndarray

    @property
    def box(self) -> tuple[float, float, float, float]:
        return float(self.xs[0]), float(self.ys[0]), float(self.xs[-1]), float(self.ys[-1])

    def lines(self) -> list[LineString]:
        """Crossing roads: one line per row and per column (detente nodes them)."""
        x0, y0, x1, y1 = self.box
        return [LineString([(x0, y), (x1, y)]) for y in self.ys] + [LineString([(x, y0), (x, y1)]) for x in self.xs]

    def edges(self) -> tuple[list[LineString], list[tuple[int, int]]]:
        """The peer's own edges: each stretch between neighbouring crossings, nodes numbered row by row."""
        g = self.size + 1
        lines, ends = [], []
        for j in range(g):
            for i in range(g):
                if i + 1 < g:
                    lines.append(LineString([(self.xs[i], self.ys[j]), (self.xs[i + 1], self.ys[j])]))
                    ends.append((j * g + i, j * g + i + 1))
                if j + 1 < g:
                    lines.append(LineString([(self.xs[i], self.ys[j]), (self.xs[i], self.ys[j + 1])]))
                    ends.append((j * g + i, (j + 1) * g + i))
        return lines, ends


def grid(size: int, box: tuple[float, float, float, float]) -> Grid:
    x0, y0, x1, y1 = box
    return Grid(size, np.linspace(x0, x1, size + 1), np.linspace(y0, y1, size + 1))


def plan_hazards(rng: np.random.Generator, n: int, g: Grid, window: TimeWindow, radius_km: float) -> list[Hazard]:
    """Hazards (1 km to ``radius_km``) inside the grid, none within ``radius_km`` + 15 km of the start and end."""
    x0, y0, x1, y1 = g.box
    out: list[Hazard] = []
    corners = [(x0, y0), (x1, y1)]
    while len(out) < n:
        for hz in hazards_in(rng, 2 * n, g.box, window, (1_000.0, radius_km * 1000)):
            c = hz.area.centroid
            far = all(peers_naive.GEOD.inv(c.x, c.y, cx, cy)[2] > (radius_km + 15) * 1000 for cx, cy in corners)
            if far and len(out) < n:
                out.append(Hazard(hz.kind, f"{hz.kind}-{len(out)}", hz.area, hz.window, hz.reach_m))
    return out


def edge_key(line: BaseGeometry) -> frozenset[tuple[float, float]]:
    xy = shapely.get_coordinates(line)
    return frozenset(
        {
            (round(float(xy[0, 0]), 9), round(float(xy[0, 1]), 9)),
            (round(float(xy[-1, 0]), 9), round(float(xy[-1, 1]), 9)),
        }
    )


def run_plan(
    size: int, n_hazards: int, args: argparse.Namespace, *, box_shortcut: bool, area: Any, radius_km: float = 10.0
) -> dict[str, Any]:
    rng = np.random.default_rng([args.seed, 6_002, size])
    window = query_window()
    g = grid(size, area)
    hazards = plan_hazards(rng, n_hazards, g, window, radius_km)
    start, end = (float(g.xs[0]), float(g.ys[0])), (float(g.xs[-1]), float(g.ys[-1]))
    lines = g.lines()
    t = time.perf_counter()
    net = RoadNetwork.from_lines(lines, [f"road-{i}" for i in range(len(lines))])
    build_s = time.perf_counter() - t
    times, plan = _best_of(
        lambda: net.plan(start, end, corridor_m=CORRIDOR_M, window=window, hazards=hazards), args.plan_repeat
    )
    active = np.arange(len(hazards), dtype=np.int64)
    e_ids, _, _ = net._blocked_pairs(active, hazards, CORRIDOR_M)
    ours = {edge_key(net._edges[int(k)]) for k in set(e_ids.tolist())}

    # the peer: its own grid graph, the double loop, networkx's Dijkstra on what is left
    t = time.perf_counter()
    plines, ends = g.edges()
    graph = nx.Graph()
    for (u, v), line in zip(ends, plines, strict=True):
        graph.add_edge(u, v, weight=peers_naive.GEOD.geometry_length(line))
    peer_build_s = time.perf_counter() - t
    loop = naive_pairs(plines, hazards, CORRIDOR_M, window, box_shortcut=box_shortcut, frame_on="hazard")
    blocked = {k for k, _ in loop.hits}
    t = time.perf_counter()
    open_graph = graph.copy()
    open_graph.remove_edges_from(ends[k] for k in blocked)
    gsize = size + 1
    try:
        length = nx.dijkstra_path_length(open_graph, 0, gsize * gsize - 1, weight="weight")
    except nx.NetworkXNoPath:
        length = None
    route_s = time.perf_counter() - t
    theirs = {edge_key(plines[k]) for k in blocked}
    # every pair measured, extrapolated from a sample of edges (all hazards each)
    if box_shortcut:
        sample = [int(k) for k in rng.permutation(len(plines))]
        every = naive_pairs(
            plines,
            hazards,
            CORRIDOR_M,
            window,
            box_shortcut=False,
            frame_on="hazard",
            budget_s=args.pair_budget / 2,
            order=sample,
        )
    else:
        every = loop
    every_s = every.extrapolate(len(plines), len(hazards), len(hazards))
    res = {
        "grid": size,
        "edges": net.edge_count,
        "nodes": net.node_count,
        "peer_edges": len(plines),
        "hazards": len(hazards),
        "box_shortcut": box_shortcut,
        "build_s": build_s,
        "plan_s": pct(times, 1.0),
        "found": plan.found,
        "length_km": None if plan.length_m is None else plan.length_m / 1000,
        "shortest_km": None if plan.shortest_length_m is None else plan.shortest_length_m / 1000,
        "avoided": len(plan.avoided),
        "blocked_edges": len(ours),
        "peer_build_s": peer_build_s,
        "peer_loop_s": loop.seconds,
        "peer_measured": loop.measured,
        "peer_route_s": route_s,
        "peer_length_km": None if length is None else length / 1000,
        "peer_every_pair_us": (every.seconds - every.frame_s) / max(1, every.measured) * 1e6,
        "peer_every_pair_extrapolated_s": every_s,
        "same_blocked": ours == theirs,
        "blocked_only_detente": len(ours - theirs),
        "blocked_only_peer": len(theirs - ours),
        "same_length": (length is None and not plan.found)
        or (length is not None and plan.length_m is not None and abs(length - plan.length_m) <= 1e-6 * length),
    }
    console.print(
        f"  plan {size}x{size} ({net.edge_count:,} edges, {len(hazards)} hazards"
        f"{'' if box_shortcut else ', peer measures every pair'}): build {build_s:.2f} s, "
        f"plan p50 {res['plan_s']['p50']:.3f} s; peer build {peer_build_s:.2f} s + loop {loop.seconds:.2f} s "
        f"+ route {route_s:.2f} s; blocked {len(ours):,} "
        f"({'same' if res['same_blocked'] else 'DIFFERENT'}), length "
        f"{res['length_km'] or 0:.3f} / {res['peer_length_km'] or 0:.3f} km"
    )
    return res


# =========================================================================== output


def print_tables(results: dict[str, Any]) -> None:
    t = Table(title="Filed intents in conflict with a newly notified site / movement (ms per lookup)")
    for col in ("intents", "way", "load s", "lookups", "p50", "p95", "site p50", "movement p50", "max"):
        t.add_column(col, justify="left" if col == "way" else "right")
    for r in results["notices"]:
        for name, e in r["engines"].items():
            lat = e["latency_ms"]
            load = f"{e['load_s'] + e.get('analyze_s', 0.0):.1f}" if "load_s" in e else "(same)"
            t.add_row(
                f"{r['intents']:,}",
                name,
                load,
                f"{lat['n']}",
                f"{lat['p50']:.2f}",
                f"{lat['p95']:.2f}",
                f"{e['by_kind']['site']['p50']:.2f}",
                f"{e['by_kind']['movement']['p50']:.2f}",
                f"{lat['max']:.2f}",
            )
    console.print(t)
    t = Table(title="Agreement with detente on SQLite (intents found per lookup)")
    for col in ("intents", "peer", "lookups", "identical", "both", "detente only", "peer only", "tolerance", "beyond"):
        t.add_column(col, justify="left" if col == "peer" else "right")
    for r in results["notices"]:
        for a in r["agreement"]:
            t.add_row(
                f"{r['intents']:,}",
                a["peer"],
                f"{a['lookups']}",
                f"{a['identical']}",
                f"{a['found_by_both']:,}",
                f"{a['detente_only']}",
                f"{a['peer_only']}",
                f"{a['tolerance']}",
                f"{a['beyond']}",
            )
    console.print(t)
    for r in results["notices"]:
        c, k = r["candidates_per_lookup"], r["conflicts_per_lookup"]
        console.print(
            f"{r['intents']:,} intents: index candidates per lookup p50 {c['p50']:.0f} (max {c['max']:.0f}), "
            f"intents in conflict p50 {k['p50']:.0f} (mean {k['mean']:.1f}, max {k['max']:.0f}); "
            f"lookups {r['lookup_objects']}"
        )

    t = Table(title="route_hazards: a route of 500 segments against H hazards (corridor 1 km)")
    for col in ("hazards", "pairs found", "detente ms p50", "naive + box s", "naive every pair s", "agree"):
        t.add_column(col, justify="right")
    for r in results["route"]:
        a, b = r["agreement_box"], r["agreement_all_on_sample"]
        agree = f"box: {a['detente_only']}/{a['peer_only']}, every: {b['detente_only']}/{b['peer_only']}"
        t.add_row(
            f"{r['hazards']:,}",
            f"{r['pairs_found']:,}",
            f"{r['detente_s']['p50'] * 1000:.1f}",
            f"{r['naive_box_s']:.2f}",
            f"~{r['naive_all_extrapolated_s']:,.0f} ({r['naive_all_sampled_segments']} seg.)",
            agree,
        )
    console.print(t)

    t = Table(title="RoadNetwork.plan on a grid (s); peer: networkx graph + double loop + Dijkstra")
    cols = ("grid", "edges", "hazards", "build", "plan p50", "peer build", "peer loop", "peer route", "every pair")
    for col in (*cols, "blocked", "same", "km"):
        t.add_column(col, justify="right")
    for r in results["plan"]:
        t.add_row(
            f"{r['grid']}x{r['grid']}",
            f"{r['edges']:,}",
            f"{r['hazards']}",
            f"{r['build_s']:.2f}",
            f"{r['plan_s']['p50']:.3f}",
            f"{r['peer_build_s']:.2f}",
            f"{r['peer_loop_s']:.2f}" + ("" if r["box_shortcut"] else "*"),
            f"{r['peer_route_s']:.3f}",
            f"~{r['peer_every_pair_extrapolated_s']:,.0f}",
            f"{r['blocked_edges']:,}",
            "yes" if r["same_blocked"] and r["same_length"] else "NO",
            f"{r['length_km'] or 0:.1f} ({r['shortest_km'] or 0:.1f})",
        )
    console.print(t)


def failures(results: dict[str, Any]) -> list[str]:
    bad = []
    for r in results["notices"]:
        for a in r["agreement"]:
            if a["beyond"]:
                bad.append(f"{r['intents']} intents: {a['peer']} disagrees beyond tolerance ({a['beyond']})")
    for r in results["route"]:
        for name in ("agreement_box", "agreement_all_on_sample"):
            if r[name]["beyond"]:
                bad.append(f"route_hazards {r['hazards']}: {name} {r[name]['beyond']} beyond tolerance")
    for r in results["plan"]:
        if not (r["same_blocked"] and r["same_length"]):
            bad.append(f"plan {r['grid']}: blocked edges or length differ")
    return bad


# =========================================================================== main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--pg-url", default=os.environ.get(PG_ENV), help=f"PostgreSQL server (default ${PG_ENV}; unset: SQLite only)"
    )
    ap.add_argument("--skip-pg", action="store_true")
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000], help="filed intents")
    ap.add_argument("--lookups", type=int, default=400, help="new objects looked up (half sites, half movements)")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--phase-lookups", type=int, default=100, help="lookups timed again by phase")
    ap.add_argument("--naive-budget", type=float, default=25.0, help="seconds of naive scans per size")
    ap.add_argument("--hazards", type=int, nargs="*", default=[1_000, 10_000], help="route_hazards hazard counts")
    ap.add_argument("--segments", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=5, help="route_hazards runs per size")
    ap.add_argument("--pair-budget", type=float, default=8.0, help="seconds of every-pair naive measuring per size")
    ap.add_argument("--grids", type=int, nargs="*", default=[100, 300], help="road grid sizes G (G x G cells)")
    ap.add_argument("--plan-hazards", type=int, default=200)
    ap.add_argument("--plan-repeat", type=int, default=3)
    ap.add_argument("--small-grid", type=int, default=20, help="grid where the peer measures every pair")
    ap.add_argument("--skip-notices", action="store_true")
    ap.add_argument("--skip-corridor", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="smoke run: small sizes, under a minute")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.skip_pg:
        args.pg_url = None
    if args.quick:
        args.sizes = [2_000]
        args.lookups, args.warmup, args.naive_budget, args.phase_lookups = 40, 4, 2.0, 20
        args.hazards, args.repeat, args.pair_budget = [500], 2, 1.0
        args.grids, args.plan_hazards, args.plan_repeat, args.small_grid = [40], 40, 1, 10
    meta = machine()
    console.print(
        f"{meta['nproc']} cores ({meta['cpu_model']}), load average {meta['loadavg_before']}, "
        f"detente {meta['git_head']}, PostgreSQL: {'yes' if args.pg_url else 'no (set ' + PG_ENV + ')'}"
    )
    t_all = time.perf_counter()
    results: dict[str, Any] = {"notices": [], "route": [], "plan": []}
    if not args.skip_notices:
        with tempfile.TemporaryDirectory(prefix="detente-notices-") as tmp:
            for n in args.sizes:
                results["notices"].append(run_size(n, args, Path(tmp)))
    if not args.skip_corridor:
        console.rule("[bold]corridor")
        for h in args.hazards:
            results["route"].append(run_route(h, args))
        area = (36.5, 33.5, 39.5, 36.0)  # about 270 x 280 km
        small = (36.5, 33.5, 37.5, 34.3)  # about 90 x 90 km
        small_hazards = max(10, args.plan_hazards // 8)
        results["plan"].append(
            run_plan(args.small_grid, small_hazards, args, box_shortcut=False, area=small, radius_km=4.0)
        )
        for size in args.grids:
            results["plan"].append(run_plan(size, args.plan_hazards, args, box_shortcut=True, area=area))
    meta["wall_s"] = time.perf_counter() - t_all
    meta["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    print_tables(results)
    console.print(f"whole run {meta['wall_s']:.0f} s, load average after {meta['loadavg_after']}")
    out = bench_machine.save_results("humanitarian", meta, args, results, args.out)
    console.print(f"results: {out}")
    bad = failures(results)
    for b in bad:
        console.print(f"[red]{b}[/]")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
