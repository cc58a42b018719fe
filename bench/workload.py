"""Seeded synthetic worlds and query intents for the strategic-check benchmark.

One world is a table of N volumes (numpy columns plus one Shapely geometry per
row) grouped into objects of the kinds of SEMANTICS.md, in a 500 x 500 km
region (lon 36.0-41.6, lat 33.0-37.5) over 7 days:

====================  =========  ==============================================
kind                  share      footprint, altitude, time
====================  =========  ==============================================
intent (air/ground)   80 %       star polygons, 1-5 consecutive volumes along a
                                 route; 6 military parties, 70 % air
nfz (polygon)         4 %        star polygon, 1-3 volumes sharing it
nfz (circle)          3 %        Point + radius 1-20 km
boundary              2 %        star polygon, every altitude
site                  6 %        Point + radius 300-2000 m, every altitude
movement              3 %        route of 2-6 points + corridor 200-2000 m
line                  2 %        line of 2-10 points + buffer 0 (30 %) or
                                 100-2000 m, 2-3 signatories
====================  =========  ==============================================

Star polygons have 5-40 vertices and a radius of 1-20 km.  Altitude bands are
150-3000 m thick within 0-15,000 m (rounded to 10 m, so bands sometimes touch
exactly); ground intents start at the surface.  Time windows last 30 min-6 h
(whole minutes, so windows sometimes touch exactly) and lie within 7 days; a
few zones, sites, boundaries and lines are open-ended or permanent, and a few
zones reach the surface or have no ceiling, so the open-interval rules are
exercised too.

Everything is generated with numpy from one seed: the same ``(size, seed)``
gives the same world, bit for bit, whichever peer reads it.  Queries are
5-volume intents along a route (five consecutive volumes), generated from a
separate stream so that the same queries are used for every world size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import (
    DEFAULT_SEPARATION,
    Category,
    Kind,
    Minima,
    Party,
    Role,
    Scenario,
    WorldObject,
)

REGION = (36.0, 33.0, 41.6, 37.5)  # lon_min, lat_min, lon_max, lat_max
BASE = datetime(2025, 3, 1, tzinfo=UTC)
WEEK_MIN = 7 * 24 * 60

MILITARY = tuple(f"mil-{c}" for c in "abcdef")
HUMANITARIAN = ("hum-1", "hum-2", "hum-3", "hum-4")
SECRETARIAT = "jcc"

#: Share of the world's volumes per kind (see the module docstring).
MIX = {
    "intent": 0.80,
    "nfz_area": 0.04,
    "nfz_circle": 0.03,
    "boundary": 0.02,
    "site": 0.06,
    "movement": 0.03,
    "line": 0.02,
}

SHAPE_AREA, SHAPE_POINT, SHAPE_LINE = "area", "point", "line"

# Metres per degree used only to lay out generated shapes (the geometry is
# whatever these coordinates say; nothing is measured with these numbers).
_M_PER_DEG_LAT = 110_950.0
_M_PER_DEG_LON_EQ = 111_320.0


def parties() -> dict[str, Party]:
    out = {p: Party(p, p, Role.MILITARY) for p in MILITARY}
    out.update({p: Party(p, p, Role.HUMANITARIAN) for p in HUMANITARIAN})
    out[SECRETARIAT] = Party(SECRETARIAT, "joint coordination cell", Role.SECRETARIAT)
    return out


def separation() -> dict[Category, Minima]:
    return dict(DEFAULT_SEPARATION)


@dataclass
class Workload:
    """A world as columns: one row per volume, rows of one object contiguous."""

    size: int
    seed: int
    # per volume
    obj: IntArray  # object index
    vol: IntArray  # volume index within its object
    geom: npt.NDArray[np.object_]  # Shapely geometries, lon/lat
    shape: list[str]  # per volume: area / point / line
    radius_m: FloatArray
    alt_lo: FloatArray  # -inf: surface
    alt_hi: FloatArray  # +inf: unlimited
    t0: FloatArray  # epoch seconds, -inf: open
    t1: FloatArray  # epoch seconds, +inf: open
    # per object
    kinds: list[str]
    ids: list[str]
    owners: list[str]
    categories: list[str | None]
    purposes: list[str | None]
    applies_to: list[frozenset[str] | None]
    exempt: list[frozenset[str]]
    signatories: list[frozenset[str]]
    first: IntArray  # first row of each object
    count: IntArray  # number of volumes of each object

    @property
    def n_volumes(self) -> int:
        return len(self.obj)

    @property
    def n_objects(self) -> int:
        return len(self.kinds)

    def volume4d(self, row: int) -> Volume4D:
        return Volume4D(
            Footprint(self.geom[row], float(self.radius_m[row])),
            _band(self.alt_lo[row], self.alt_hi[row]),
            _window(self.t0[row], self.t1[row]),
        )

    def world_object(self, i: int) -> WorldObject:
        start, n = int(self.first[i]), int(self.count[i])
        cat = self.categories[i]
        return WorldObject(
            kind=Kind(self.kinds[i]),
            id=self.ids[i],
            party=self.owners[i],
            volumes=tuple(self.volume4d(r) for r in range(start, start + n)),
            applies_to=self.applies_to[i],
            exempt=self.exempt[i],
            signatories=self.signatories[i],
            category=None if cat is None else Category(cat),
            purpose=self.purposes[i],
        )

    def objects(self) -> Iterator[WorldObject]:
        for i in range(self.n_objects):
            yield self.world_object(i)

    def scenario(self, objects: list[WorldObject] | None = None) -> Scenario:
        objs = objects if objects is not None else list(self.objects())
        return Scenario(
            name=f"bench-{self.size}-{self.seed}",
            parties=parties(),
            objects={o.key: o for o in objs},
            separation=separation(),
        )

    def kind_counts(self) -> dict[str, int]:
        """Volumes per kind (nfz split into polygons and circles)."""
        out: dict[str, int] = {}
        for i in range(self.n_objects):
            k = self.kinds[i]
            if k == "nfz":
                k = "nfz_area" if self.shape[int(self.first[i])] == SHAPE_AREA else "nfz_circle"
            out[k] = out.get(k, 0) + int(self.count[i])
        return out


def _band(lo: float, hi: float) -> AltitudeBand:
    return AltitudeBand(None if math.isinf(lo) else float(lo), None if math.isinf(hi) else float(hi))


def _window(t0: float, t1: float) -> TimeWindow:
    return TimeWindow(
        None if math.isinf(t0) else datetime.fromtimestamp(t0, tz=UTC),
        None if math.isinf(t1) else datetime.fromtimestamp(t1, tz=UTC),
    )


# --------------------------------------------------------------------------- shapes


def _index_within(counts: IntArray) -> tuple[IntArray, IntArray]:
    """(group of each element, index of each element within its group)."""
    group = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    return group, np.arange(int(counts.sum())) - starts[group]


def star_polygons(
    rng: np.random.Generator, cx: FloatArray, cy: FloatArray, radius_m: FloatArray, nverts: IntArray
) -> npt.NDArray[np.object_]:
    """Star-shaped polygons (vectorised): valid by construction.

    Vertices sit at increasing angles around the centre (evenly spaced plus a
    jitter smaller than half a step), alternately on an outer radius
    (70-100 % of ``radius_m``) and an inner one (30-60 %).
    """
    group, j = _index_within(nverts)
    n = nverts[group].astype(np.float64)
    phase = rng.uniform(0.0, 2 * math.pi, len(cx))[group]
    angle = phase + 2 * math.pi * (j + rng.uniform(-0.3, 0.3, len(j))) / n
    outer = (j % 2) == 0
    frac = np.where(outer, rng.uniform(0.7, 1.0, len(j)), rng.uniform(0.3, 0.6, len(j)))
    r = radius_m[group] * frac
    lat = cy[group]
    x = cx[group] + r * np.cos(angle) / (_M_PER_DEG_LON_EQ * np.cos(np.radians(lat)))
    y = lat + r * np.sin(angle) / _M_PER_DEG_LAT
    rings = shapely.linearrings(np.column_stack([x, y]), indices=group)
    return shapely.polygons(rings)


def polylines(
    rng: np.random.Generator,
    x0: FloatArray,
    y0: FloatArray,
    nverts: IntArray,
    step_m: tuple[float, float],
) -> npt.NDArray[np.object_]:
    """Random-walk lines (vectorised) with steps in ``step_m`` and a drifting heading."""
    group, j = _index_within(nverts)
    heading0 = rng.uniform(0.0, 2 * math.pi, len(x0))
    turn = rng.uniform(-0.6, 0.6, len(j))
    turn[j == 0] = 0.0
    heading = heading0[group] + _cumsum_within(turn, group, nverts)
    step = rng.uniform(*step_m, len(j))
    step[j == 0] = 0.0
    dx = _cumsum_within(step * np.cos(heading), group, nverts)
    dy = _cumsum_within(step * np.sin(heading), group, nverts)
    lat0 = y0[group]
    y = lat0 + dy / _M_PER_DEG_LAT
    x = x0[group] + dx / (_M_PER_DEG_LON_EQ * np.cos(np.radians(lat0)))
    return shapely.linestrings(np.column_stack([x, y]), indices=group)


def _cumsum_within(values: FloatArray, group: IntArray, counts: IntArray) -> FloatArray:
    """Inclusive cumulative sum restarting at each group."""
    cs = np.cumsum(values)
    starts = np.cumsum(counts) - counts
    before = np.concatenate([[0.0], cs])[starts]
    return cs - before[group]


def _uniform_points(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    x0, y0, x1, y1 = REGION
    return rng.uniform(x0, x1, n), rng.uniform(y0, y1, n)


def _route_centres(
    rng: np.random.Generator, counts: IntArray, step_m: tuple[float, float] = (5_000.0, 25_000.0)
) -> tuple[FloatArray, FloatArray]:
    """Centres of consecutive volumes along a route, one route per object."""
    group, j = _index_within(counts)
    sx, sy = _uniform_points(rng, len(counts))
    heading = rng.uniform(0, 2 * math.pi, len(counts))[group] + rng.uniform(-0.5, 0.5, len(j))
    step = rng.uniform(*step_m, len(j))
    step[j == 0] = 0.0
    dx = _cumsum_within(step * np.cos(heading), group, counts)
    dy = _cumsum_within(step * np.sin(heading), group, counts)
    lat0 = sy[group]
    y = np.clip(lat0 + dy / _M_PER_DEG_LAT, REGION[1], REGION[3])
    x = np.clip(sx[group] + dx / (_M_PER_DEG_LON_EQ * np.cos(np.radians(lat0))), REGION[0], REGION[2])
    return x, y


def _consecutive_times(rng: np.random.Generator, counts: IntArray) -> tuple[FloatArray, FloatArray]:
    """Whole-minute windows of 30 min-6 h, consecutive within an object, within 7 days."""
    group, _ = _index_within(counts)
    dur = rng.integers(30, 361, len(group)).astype(np.int64)
    total = np.add.reduceat(dur, np.cumsum(counts) - counts)
    start_obj = (rng.random(len(counts)) * (WEEK_MIN - total + 1)).astype(np.int64)
    before = _cumsum_within(dur.astype(np.float64), group, counts).astype(np.int64) - dur
    start = start_obj[group] + before
    base = BASE.timestamp()
    return base + 60.0 * start, base + 60.0 * (start + dur)


def _bands(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    thick = np.round(rng.uniform(150.0, 3000.0, n), -1)
    lo = np.round(rng.uniform(0.0, 1.0, n) * (15_000.0 - thick), -1)
    return lo, lo + thick


def _open_ends(rng: np.random.Generator, t0: FloatArray, t1: FloatArray) -> None:
    """Make a few windows open: 1 % permanent, 2 % with no start, 2 % with no end."""
    u = rng.random(len(t0))
    t0[u < 0.03] = -np.inf
    t1[(u < 0.01) | ((u >= 0.03) & (u < 0.05))] = np.inf


# --------------------------------------------------------------------------- building


@dataclass
class _Block:
    kind: str
    counts: IntArray
    geom: npt.NDArray[np.object_]
    shape: str
    radius_m: FloatArray
    alt_lo: FloatArray
    alt_hi: FloatArray
    t0: FloatArray
    t1: FloatArray
    owners: list[str]
    categories: list[str | None]
    purposes: list[str | None]
    applies_to: list[frozenset[str] | None]
    exempt: list[frozenset[str]]
    signatories: list[frozenset[str]]


def _split_counts(rng: np.random.Generator, n_vol: int, lo: int, hi: int) -> IntArray:
    """Volumes per object, ``lo``-``hi`` each, summing to exactly ``n_vol``."""
    if n_vol <= 0:
        return np.zeros(0, dtype=np.int64)
    counts = rng.integers(lo, hi + 1, n_vol // lo + 1)
    cs = np.cumsum(counts)
    k = int(np.searchsorted(cs, n_vol))
    counts = counts[: k + 1].copy()
    counts[-1] -= int(cs[k] - n_vol)
    return counts[counts > 0]


def _choice(rng: np.random.Generator, options: tuple[str, ...], n: int) -> list[str]:
    return [options[i] for i in rng.integers(0, len(options), n)]


def _intent_block(rng: np.random.Generator, n_vol: int, counts: IntArray | None = None) -> _Block:
    if counts is None:
        counts = _split_counts(rng, n_vol, 1, 5)
    n_obj = len(counts)
    group, _ = _index_within(counts)
    x, y = _route_centres(rng, counts)
    nv = len(x)
    geom = star_polygons(rng, x, y, rng.uniform(1_000.0, 20_000.0, nv), rng.integers(5, 41, nv))
    t0, t1 = _consecutive_times(rng, counts)
    air = rng.random(n_obj) < 0.7
    lo, hi = _bands(rng, nv)
    ground = ~air[group]
    lo[ground] = 0.0
    hi[ground] = np.round(rng.uniform(150.0, 3000.0, int(ground.sum())), -1)
    u = rng.random(n_obj)
    purposes: list[str | None] = [
        None if v < 0.80 else "humanitarian" if v < 0.88 else "medevac" if v < 0.95 else "unknown" for v in u
    ]
    return _Block(
        kind="intent",
        counts=counts,
        geom=geom,
        shape=SHAPE_AREA,
        radius_m=np.zeros(nv),
        alt_lo=lo,
        alt_hi=hi,
        t0=t0,
        t1=t1,
        owners=_choice(rng, MILITARY, n_obj),
        categories=["air" if a else "ground" for a in air],
        purposes=purposes,
        applies_to=[None] * n_obj,
        exempt=[frozenset()] * n_obj,
        signatories=[frozenset()] * n_obj,
    )


def _nfz_props(rng: np.random.Generator, n_obj: int) -> tuple[list[str], list[frozenset[str] | None], list]:
    owners = [SECRETARIAT if rng.random() < 0.3 else MILITARY[int(rng.integers(0, 6))] for _ in range(n_obj)]
    applies: list[frozenset[str] | None] = []
    exempt: list[frozenset[str]] = []
    for _ in range(n_obj):
        if rng.random() < 0.7:
            applies.append(None)
        else:
            k = int(rng.integers(2, 5))
            applies.append(frozenset(MILITARY[i] for i in rng.permutation(6)[:k]))
        v = rng.random()
        exempt.append(
            frozenset({"humanitarian", "medevac"}) if v < 0.6 else frozenset({"medevac"}) if v < 0.8 else frozenset()
        )
    return owners, applies, exempt


def _nfz_bands(rng: np.random.Generator, n: int) -> tuple[FloatArray, FloatArray]:
    lo, hi = _bands(rng, n)
    u = rng.random(n)
    lo[u < 0.10] = -np.inf
    hi[(u >= 0.10) & (u < 0.20)] = np.inf
    return lo, hi


def _nfz_area_block(rng: np.random.Generator, n_vol: int) -> _Block:
    counts = _split_counts(rng, n_vol, 1, 3)
    n_obj = len(counts)
    group, _ = _index_within(counts)
    x, y = _uniform_points(rng, n_obj)
    shapes = star_polygons(rng, x, y, rng.uniform(1_000.0, 20_000.0, n_obj), rng.integers(5, 41, n_obj))
    t0, t1 = _consecutive_times(rng, counts)
    _open_ends(rng, t0, t1)
    lo, hi = _nfz_bands(rng, len(group))
    owners, applies, exempt = _nfz_props(rng, n_obj)
    return _Block(
        "nfz",
        counts,
        shapes[group],
        SHAPE_AREA,
        np.zeros(len(group)),
        lo,
        hi,
        t0,
        t1,
        owners,
        [None] * n_obj,
        [None] * n_obj,
        applies,
        exempt,
        [frozenset()] * n_obj,
    )


def _single_block(
    rng: np.random.Generator,
    kind: str,
    n: int,
    geom: npt.NDArray[np.object_],
    shape: str,
    radius_m: FloatArray,
    owners: list[str],
    *,
    bands: tuple[FloatArray, FloatArray] | None = None,
    applies_to: list[frozenset[str] | None] | None = None,
    exempt: list[frozenset[str]] | None = None,
    signatories: list[frozenset[str]] | None = None,
) -> _Block:
    counts = np.ones(n, dtype=np.int64)
    t0, t1 = _consecutive_times(rng, counts)
    _open_ends(rng, t0, t1)
    lo, hi = bands if bands is not None else (np.full(n, -np.inf), np.full(n, np.inf))
    return _Block(
        kind,
        counts,
        geom,
        shape,
        radius_m,
        lo,
        hi,
        t0,
        t1,
        owners,
        [None] * n,
        [None] * n,
        applies_to if applies_to is not None else [None] * n,
        exempt if exempt is not None else [frozenset()] * n,
        signatories if signatories is not None else [frozenset()] * n,
    )


def build(size: int, seed: int = 1) -> Workload:
    """The world of ``size`` volumes for ``seed``."""
    rng = np.random.default_rng([seed, size])
    shares = {k: round(size * v) for k, v in MIX.items()}
    shares["intent"] = size - sum(v for k, v in shares.items() if k != "intent")
    blocks: list[_Block] = [_intent_block(rng, shares["intent"]), _nfz_area_block(rng, shares["nfz_area"])]

    n = shares["nfz_circle"]
    x, y = _uniform_points(rng, n)
    owners, applies, exempt = _nfz_props(rng, n)
    blocks.append(
        _single_block(
            rng,
            "nfz",
            n,
            shapely.points(x, y),
            SHAPE_POINT,
            np.round(rng.uniform(1_000.0, 20_000.0, n)),
            owners,
            bands=_nfz_bands(rng, n),
            applies_to=applies,
            exempt=exempt,
        )
    )

    n = shares["boundary"]
    x, y = _uniform_points(rng, n)
    geom = star_polygons(rng, x, y, rng.uniform(1_000.0, 20_000.0, n), rng.integers(5, 41, n))
    blocks.append(_single_block(rng, "boundary", n, geom, SHAPE_AREA, np.zeros(n), _choice(rng, MILITARY, n)))

    n = shares["site"]
    x, y = _uniform_points(rng, n)
    blocks.append(
        _single_block(
            rng,
            "site",
            n,
            shapely.points(x, y),
            SHAPE_POINT,
            np.round(rng.uniform(300.0, 2_000.0, n)),
            _choice(rng, HUMANITARIAN, n),
        )
    )

    n = shares["movement"]
    x, y = _uniform_points(rng, n)
    geom = polylines(rng, x, y, rng.integers(2, 7, n), (3_000.0, 20_000.0))
    blocks.append(
        _single_block(
            rng,
            "movement",
            n,
            geom,
            SHAPE_LINE,
            np.round(rng.uniform(200.0, 2_000.0, n)),
            _choice(rng, HUMANITARIAN, n),
        )
    )

    n = shares["line"]
    x, y = _uniform_points(rng, n)
    geom = polylines(rng, x, y, rng.integers(2, 11, n), (5_000.0, 30_000.0))
    buffer = np.where(rng.random(n) < 0.3, 0.0, np.round(rng.uniform(100.0, 2_000.0, n)))
    owners = [SECRETARIAT if rng.random() < 0.5 else MILITARY[int(rng.integers(0, 6))] for _ in range(n)]
    sign = [frozenset(MILITARY[i] for i in rng.permutation(6)[: int(rng.integers(2, 4))]) for _ in range(n)]
    blocks.append(_single_block(rng, "line", n, geom, SHAPE_LINE, buffer, owners, signatories=sign))

    return _assemble(size, seed, [b for b in blocks if len(b.counts)])


def _assemble(size: int, seed: int, blocks: list[_Block]) -> Workload:
    counts = np.concatenate([b.counts for b in blocks]).astype(np.int64)
    first = np.cumsum(counts) - counts
    obj, vol = _index_within(counts)
    kinds: list[str] = []
    ids: list[str] = []
    per_kind: dict[str, int] = {}
    shape: list[str] = []
    for b in blocks:
        start = per_kind.get(b.kind, 0)
        kinds.extend([b.kind] * len(b.counts))
        ids.extend(f"{b.kind}-{start + i}" for i in range(len(b.counts)))
        per_kind[b.kind] = start + len(b.counts)
        shape.extend([b.shape] * int(b.counts.sum()))

    def cat(attr: str) -> FloatArray:
        return np.concatenate([getattr(b, attr) for b in blocks])

    def join(attr: str) -> list:
        out: list = []
        for b in blocks:
            out.extend(getattr(b, attr))
        return out

    return Workload(
        size=size,
        seed=seed,
        obj=obj,
        vol=vol,
        geom=np.concatenate([b.geom for b in blocks]),
        shape=shape,
        radius_m=cat("radius_m").astype(np.float64),
        alt_lo=cat("alt_lo"),
        alt_hi=cat("alt_hi"),
        t0=cat("t0"),
        t1=cat("t1"),
        kinds=kinds,
        ids=ids,
        owners=join("owners"),
        categories=join("categories"),
        purposes=join("purposes"),
        applies_to=join("applies_to"),
        exempt=join("exempt"),
        signatories=join("signatories"),
        first=first,
        count=counts,
    )


def queries(n: int, seed: int = 1, *, stream: int = 0) -> list[WorldObject]:
    """``n`` query intents of 5 consecutive volumes along a route.

    ``stream`` separates e.g. warm-up queries (1) from measured ones (0).
    """
    rng = np.random.default_rng([seed, 7_777, stream])
    block = _intent_block(rng, 5 * n, counts=np.full(n, 5, dtype=np.int64))
    wl = _assemble(0, seed, [block])
    out = []
    for i in range(n):
        o = wl.world_object(i)
        out.append(
            WorldObject(
                kind=o.kind,
                id=f"query-{stream}-{i}",
                party=o.party,
                volumes=o.volumes,
                category=o.category,
                purpose=o.purpose,
            )
        )
    return out


def footprint_geometries(objs: list[WorldObject]) -> list[BaseGeometry]:
    return [v.footprint.geometry for o in objs for v in o.volumes]
