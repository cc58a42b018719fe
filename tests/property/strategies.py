"""Hypothesis strategies for random detente worlds.

Objects are clustered in a box a few tens of kilometres wide so that
conflicts of every type actually happen.  Shapes are built in a local metric
frame (metres east/north of the region's centre), mapped to lon/lat with one
fixed scale (an affine map, so valid shapes stay valid) in continuous
longitudes, then split at the antimeridian when they cross it.

Three region modes: ``mid`` (Syria-like, about 36N 38E), ``arctic`` (75-84N)
and ``antimeridian`` (centred on 180 degrees, shapes split into parts).
Times fall on whole minutes (a 30-minute grid) and altitudes on a 100 m grid,
so touching windows and bands happen often and are decided exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import shapely
from hypothesis import assume
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.footprint import Footprint
from detente.domain.geo.geodesic import split_at_antimeridian
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

T0 = datetime(2024, 3, 1, 6, 0, tzinfo=UTC)
STEP = timedelta(minutes=30)

MILITARY = ("m1", "m2", "m3")
HUMANITARIAN = ("h1", "h2")
PARTIES: dict[str, Party] = {
    **{p: Party(p, p.upper(), Role.MILITARY) for p in MILITARY},
    **{p: Party(p, p.upper(), Role.HUMANITARIAN) for p in HUMANITARIAN},
}
EXEMPTABLE = ("humanitarian", "medevac", "unknown")
INTENT_PURPOSES = (None, "armed", "humanitarian", "medevac", "unknown")

#: Half-width of the cluster box, metres.
SPREAD_M = 14_000.0
M_PER_DEG_LAT = 111_132.0
M_PER_DEG_LON_EQ = 111_320.0


# ---------------------------------------------------------------- regions


@dataclass(frozen=True)
class Region:
    """A local frame: (x, y) metres east/north of (lon0, lat0)."""

    mode: str
    lon0: float
    lat0: float

    def lonlat(self, x: float, y: float) -> tuple[float, float]:
        """Continuous longitudes (may run past 180 in antimeridian mode)."""
        m_lon = M_PER_DEG_LON_EQ * math.cos(math.radians(self.lat0))
        return self.lon0 + x / m_lon, self.lat0 + y / M_PER_DEG_LAT


REGION_MODES = ("mid", "arctic", "antimeridian")


@st.composite
def regions(draw: st.DrawFn, mode: str | None = None) -> Region:
    mode = mode or draw(st.sampled_from(REGION_MODES))
    if mode == "mid":
        lon = draw(st.floats(37.5, 38.5))
        lat = draw(st.floats(35.5, 36.5))
    elif mode == "arctic":
        lon = draw(st.floats(-170.0, 170.0))
        lat = draw(st.floats(75.0, 84.0))
    else:
        lon = 180.0 + draw(st.floats(-0.05, 0.05))
        lat = draw(st.floats(-65.0, 80.0))
    return Region(mode, lon, lat)


# ---------------------------------------------------------------- geometry


def wrap_lon(lon: float) -> float:
    if lon > 180.0:
        return lon - 360.0
    if lon < -180.0:
        return lon + 360.0
    return lon


def split_line(line: BaseGeometry) -> BaseGeometry:
    """Split a line given in continuous longitudes at the antimeridian."""
    minx, _, maxx, _ = line.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return line
    parts: list[LineString] = []
    for shift, lo, hi in ((0.0, -180.0, 180.0), (-360.0, 180.0, 540.0), (360.0, -540.0, -180.0)):
        piece = line.intersection(shapely.box(lo, -90.0, hi, 90.0))
        for part in shapely.get_parts(piece):
            if part.geom_type == "LineString" and part.length > 0:
                parts.append(shapely.affinity.translate(part, xoff=shift))
    return parts[0] if len(parts) == 1 else MultiLineString(parts)


def finish(geom: BaseGeometry) -> BaseGeometry:
    """Continuous longitudes to RFC 7946 form (split at the antimeridian)."""
    if geom.geom_type == "Point":
        return Point(wrap_lon(geom.x), geom.y)
    if geom.geom_type in ("LineString", "MultiLineString"):
        return split_line(geom)
    return split_at_antimeridian(geom)


#: Local coordinates on a 1 m grid: distinct points stay distinct in lon/lat.
coord = st.integers(-int(SPREAD_M), int(SPREAD_M))


@st.composite
def local_points(draw: st.DrawFn) -> tuple[float, float]:
    return float(draw(coord)), float(draw(coord))


@st.composite
def star_polygons(draw: st.DrawFn, region: Region, max_radius: float = 9_000.0) -> BaseGeometry:
    """A star-shaped (hence simple) polygon: vertices at increasing angles."""
    cx, cy = draw(local_points())
    n = draw(st.integers(3, 7))
    turn = draw(st.floats(0.0, 1.0))
    jitter = draw(st.lists(st.floats(0.0, 0.8), min_size=n, max_size=n))
    fracs = [(k + j + turn) / n for k, j in enumerate(jitter)]
    radii = draw(st.lists(st.floats(300.0, max_radius), min_size=n, max_size=n))
    ring = []
    for f, r in zip(fracs, radii, strict=True):
        ang = 2.0 * math.pi * f
        ring.append(region.lonlat(cx + r * math.cos(ang), cy + r * math.sin(ang)))
    poly = Polygon(ring)
    assume(poly.is_valid and poly.area > 0)
    return poly


@st.composite
def areas(draw: st.DrawFn, region: Region, allow_multi: bool = True) -> BaseGeometry:
    """A Polygon or (sometimes) a MultiPolygon, split at the antimeridian if needed."""
    shapes = [draw(star_polygons(region))]
    if allow_multi and draw(st.integers(0, 3)) == 0:
        shapes.append(draw(star_polygons(region, max_radius=4_000.0)))
    geom = shapely.union_all(shapes)
    assume(geom.is_valid and geom.geom_type in ("Polygon", "MultiPolygon"))
    geom = finish(geom)
    assume(geom.is_valid and not geom.is_empty and geom.geom_type in ("Polygon", "MultiPolygon"))
    return geom


@st.composite
def points(draw: st.DrawFn, region: Region) -> Point:
    x, y = draw(local_points())
    return finish(Point(*region.lonlat(x, y)))


@st.composite
def lines(draw: st.DrawFn, region: Region) -> BaseGeometry:
    """A LineString (sometimes a MultiLineString) of 2-5 vertices."""

    def one() -> LineString:
        pts = draw(st.lists(local_points(), min_size=2, max_size=5, unique=True))
        return LineString([region.lonlat(x, y) for x, y in pts])

    parts = [one()]
    if draw(st.integers(0, 4)) == 0:
        parts.append(one())
    geom = parts[0] if len(parts) == 1 else MultiLineString(parts)
    assume(geom.length > 0)
    geom = finish(geom)
    assume(not geom.is_empty and geom.geom_type in ("LineString", "MultiLineString"))
    return geom


# ---------------------------------------------------------------- intervals


@st.composite
def time_windows(draw: st.DrawFn) -> TimeWindow:
    start = draw(st.none() | st.integers(0, 10))
    ends = st.integers(0, 12) if start is None else st.integers(start + 1, start + 8)
    end = draw(st.none() | ends)
    return TimeWindow(
        None if start is None else T0 + start * STEP,
        None if end is None else T0 + end * STEP,
    )


@st.composite
def altitude_bands(draw: st.DrawFn) -> AltitudeBand:
    lower = draw(st.none() | st.integers(0, 40))
    uppers = st.integers(1, 40) if lower is None else st.integers(lower + 1, lower + 20)
    upper = draw(st.none() | uppers)
    return AltitudeBand(
        None if lower is None else float(100 * lower),
        None if upper is None else float(100 * upper),
    )


def all_altitudes_or_band() -> st.SearchStrategy[AltitudeBand]:
    """Sites, movements, boundaries and lines cover every altitude unless they say otherwise."""
    return st.one_of(st.just(AltitudeBand()), st.just(AltitudeBand()), altitude_bands())


# ---------------------------------------------------------------- objects


@st.composite
def volumes(
    draw: st.DrawFn,
    footprints: st.SearchStrategy[Footprint],
    bands: st.SearchStrategy[AltitudeBand],
    max_size: int = 2,
) -> tuple[Volume4D, ...]:
    n = draw(st.integers(1, max_size))
    return tuple(Volume4D(draw(footprints), draw(bands), draw(time_windows())) for _ in range(n))


def _party_subsets() -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(sorted(PARTIES)), max_size=len(PARTIES))


@st.composite
def nfzs(draw: st.DrawFn, region: Region, ident: str) -> WorldObject:
    polygon = st.builds(Footprint, areas(region))
    circle = st.builds(Footprint, points(region), st.floats(300.0, 12_000.0))
    return WorldObject(
        kind=Kind.NFZ,
        id=ident,
        party=draw(st.sampled_from(MILITARY)),
        volumes=draw(volumes(st.one_of(polygon, circle), altitude_bands())),
        applies_to=draw(st.none() | _party_subsets()),
        exempt=draw(st.frozensets(st.sampled_from(EXEMPTABLE))),
    )


@st.composite
def boundaries(draw: st.DrawFn, region: Region, ident: str) -> WorldObject:
    return WorldObject(
        kind=Kind.BOUNDARY,
        id=ident,
        party=draw(st.sampled_from(MILITARY)),
        volumes=draw(volumes(st.builds(Footprint, areas(region)), all_altitudes_or_band())),
    )


@st.composite
def deconfliction_lines(draw: st.DrawFn, region: Region, ident: str) -> WorldObject:
    owner = draw(st.sampled_from(MILITARY))
    others = draw(st.frozensets(st.sampled_from(sorted(PARTIES)), min_size=1))
    buffer = st.one_of(st.just(0.0), st.floats(50.0, 3_000.0))
    return WorldObject(
        kind=Kind.LINE,
        id=ident,
        party=owner,
        volumes=draw(volumes(st.builds(Footprint, lines(region), buffer), all_altitudes_or_band())),
        signatories=frozenset({owner}) | others,
    )


@st.composite
def sites(draw: st.DrawFn, region: Region, ident: str) -> WorldObject:
    return WorldObject(
        kind=Kind.SITE,
        id=ident,
        party=draw(st.sampled_from(HUMANITARIAN)),
        volumes=draw(volumes(st.builds(Footprint, points(region), st.floats(100.0, 5_000.0)), all_altitudes_or_band())),
    )


@st.composite
def movements(draw: st.DrawFn, region: Region, ident: str) -> WorldObject:
    return WorldObject(
        kind=Kind.MOVEMENT,
        id=ident,
        party=draw(st.sampled_from(HUMANITARIAN)),
        volumes=draw(volumes(st.builds(Footprint, lines(region), st.floats(50.0, 3_000.0)), all_altitudes_or_band())),
    )


@st.composite
def intents(draw: st.DrawFn, region: Region, ident: str) -> WorldObject:
    return WorldObject(
        kind=Kind.INTENT,
        id=ident,
        party=draw(st.sampled_from(MILITARY)),
        volumes=draw(volumes(st.builds(Footprint, areas(region)), altitude_bands())),
        category=draw(st.sampled_from([Category.AIR, Category.GROUND])),
        purpose=draw(st.sampled_from(INTENT_PURPOSES)),
    )


OTHER_KINDS = {
    Kind.NFZ: nfzs,
    Kind.BOUNDARY: boundaries,
    Kind.LINE: deconfliction_lines,
    Kind.SITE: sites,
    Kind.MOVEMENT: movements,
}


@st.composite
def separations(draw: st.DrawFn) -> dict[Category, Minima]:
    if draw(st.booleans()):
        return dict(DEFAULT_SEPARATION)
    air = Minima(
        draw(st.sampled_from([9260.0, 5000.0, 2000.0])),
        draw(st.sampled_from([305.0, 300.0, 500.0, None])),
    )
    ground = Minima(
        draw(st.sampled_from([1000.0, 3000.0])),
        draw(st.sampled_from([None, None, 200.0])),
    )
    return {Category.AIR: air, Category.GROUND: ground}


@st.composite
def scenarios(draw: st.DrawFn, mode: str | None = None) -> Scenario:
    """A random world: 2-4 intents and 0-8 other objects of every kind."""
    region = draw(regions(mode))
    objects: dict[tuple[Kind, str], WorldObject] = {}
    for i in range(draw(st.integers(2, 4))):
        obj = draw(intents(region, f"op-{i}"))
        objects[obj.key] = obj
    kinds = draw(st.lists(st.sampled_from(sorted(OTHER_KINDS)), max_size=8))
    for i, kind in enumerate(kinds):
        obj = draw(OTHER_KINDS[kind](region, f"{kind.value}-{i}"))
        objects[obj.key] = obj
    return Scenario(
        name=f"random-{region.mode}",
        parties=dict(PARTIES),
        objects=objects,
        separation=draw(separations()),
        extra={"region": region},
    )
