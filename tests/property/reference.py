"""A slow, brute-force reference of SEMANTICS.md's intent check.

It loops over every (intent volume x other volume) pair and decides each one
from first principles, independently from the engine's geometry:

* time: half-open ``[start, end)`` windows compared as datetimes, ``None``
  unbounded; a pair needs a shared stretch of positive length;
* altitude: half-open ``[lower, upper)`` bands, ``None`` unbounded; the gap is
  ``max(lowers) - min(uppers)`` when positive, else 0;
* positive-area overlap: DE-9IM ``2********`` in plain lon/lat, because edges
  are straight in lon/lat (RFC 7946);
* distances: geodesic on WGS84.  Both geometries are densified in lon/lat
  (so the straight-in-lon/lat edges are followed) and projected into an
  azimuthal equidistant projection centred on the point itself (exact from
  the centre) or, for two extended geometries, on the midpoint of their
  nearest points, refined a few times; the final length is the geodesic
  between the two nearest points found.

Only the rule table (which pairs are eligible, what threshold, ``<`` or
``<=``) comes from :mod:`detente.domain.rules`, which *is* the spec's table.
Geometries arriving split at the antimeridian are shifted into one
continuous longitude range around the intent and their parts merged first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import shapely
from pyproj import Geod, Proj
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

from detente.domain.conflicts import Conflict
from detente.domain.geo.footprint import Shape
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.model import Category, Minima, WorldObject
from detente.domain.rules import PairRule, Test, horizontal_ok, pair_rule, vertical_ok

GEOD = Geod(ellps="WGS84")
#: Densification step in degrees: edges are followed to well under a centimetre.
DENSIFY_DEG = 0.005
#: SEMANTICS "Tolerance": horizontal decisions closer than this to their boundary
#: are left out of the comparison.
H_TOL_M = 10.0

Key = tuple[str, int, str, str, str, int]
Interval = tuple[object, object]


# ---------------------------------------------------------------- intervals


def time_intersection(a: TimeWindow, b: TimeWindow) -> tuple[datetime | None, datetime | None] | None:
    """The shared part of two ``[start, end)`` windows, or None if it has no length."""
    starts = [t for t in (a.start, b.start) if t is not None]
    ends = [t for t in (a.end, b.end) if t is not None]
    start = max(starts) if starts else None
    end = min(ends) if ends else None
    if start is not None and end is not None and not start < end:
        return None
    return (start, end)


def altitude_intersection(a: AltitudeBand, b: AltitudeBand) -> tuple[float | None, float | None] | None:
    """The shared part of two ``[lower, upper)`` bands, or None if it has no height."""
    lows = [v for v in (a.lower, b.lower) if v is not None]
    highs = [v for v in (a.upper, b.upper) if v is not None]
    lower = max(lows) if lows else None
    upper = min(highs) if highs else None
    if lower is not None and upper is not None and not lower < upper:
        return None
    return (lower, upper)


def altitude_gap(a: AltitudeBand, b: AltitudeBand) -> float:
    """Vertical distance between two bands; 0 when they overlap or touch."""
    lows = [v for v in (a.lower, b.lower) if v is not None]
    highs = [v for v in (a.upper, b.upper) if v is not None]
    if not lows or not highs:
        return 0.0
    return max(0.0, float(max(lows)) - float(min(highs)))


# ---------------------------------------------------------------- geometry


def shape_of(geom: BaseGeometry) -> Shape:
    t = geom.geom_type
    if t in ("Polygon", "MultiPolygon"):
        return Shape.AREA
    if t == "Point":
        return Shape.POINT
    if t in ("LineString", "MultiLineString"):
        return Shape.LINE
    raise ValueError(t)


def _first_lon(geom: BaseGeometry) -> float:
    return float(shapely.get_coordinates(geom)[0, 0])


def unwrap(geom: BaseGeometry, ref_lon: float) -> BaseGeometry:
    """Shift vertices by whole turns so they lie within 180 degrees of ``ref_lon``.

    Parts split at the antimeridian are then merged back into one shape.
    Vertices already in range are left bit-for-bit untouched.
    """

    shifted = False

    def shift(xy: np.ndarray) -> np.ndarray:
        nonlocal shifted
        far = np.abs(xy[:, 0] - ref_lon) > 180.0
        if not far.any():
            return xy
        shifted = True
        xy = xy.copy()
        xy[far, 0] += 360.0 * np.round((ref_lon - xy[far, 0]) / 360.0)
        return xy

    moved = shapely.transform(geom, shift)
    if shifted and moved.geom_type == "MultiPolygon":
        moved = shapely.union_all(shapely.get_parts(moved))
    return moved


def _wrap(lon: float) -> float:
    return (lon + 180.0) % 360.0 - 180.0


def aeqd(lon0: float, lat0: float) -> Proj:
    """Azimuthal equidistant projection centred at (lon0, lat0), metres."""
    return Proj(proj="aeqd", lat_0=lat0, lon_0=_wrap(lon0), datum="WGS84", units="m")


def project(geom: BaseGeometry, proj: Proj) -> BaseGeometry:
    """Densify in lon/lat (to follow straight lon/lat edges), then project."""
    dense = shapely.segmentize(geom, DENSIFY_DEG) if geom.geom_type != "Point" else geom

    def fwd(xy: np.ndarray) -> np.ndarray:
        x, y = proj(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return shapely.transform(dense, fwd)


def shares_area(a: BaseGeometry, b: BaseGeometry) -> bool:
    """Footprints share positive area (edges straight in lon/lat)."""
    return bool(a.relate_pattern(b, "2********"))


def point_distance_m(p: Point, g: BaseGeometry) -> float:
    """Geodesic distance from ``p`` to the nearest point of ``g`` (0 if covered)."""
    if g.intersects(p):
        return 0.0
    proj = aeqd(p.x, p.y)
    return float(Point(0.0, 0.0).distance(project(g, proj)))


def geometry_distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Geodesic distance between the nearest points of ``a`` and ``b``."""
    if a.intersects(b):
        return 0.0
    if a.geom_type == "Point":
        return point_distance_m(a, b)
    if b.geom_type == "Point":
        return point_distance_m(b, a)
    c = a.representative_point()
    lon0, lat0 = c.x, c.y
    best = math.inf
    for _ in range(3):
        proj = aeqd(lon0, lat0)
        pa, pb = nearest_points(project(a, proj), project(b, proj))
        lon_a, lat_a = proj(pa.x, pa.y, inverse=True)
        lon_b, lat_b = proj(pb.x, pb.y, inverse=True)
        az, _, d = GEOD.inv(lon_a, lat_a, lon_b, lat_b)
        best = min(best, float(d))
        lon0, lat0, _ = GEOD.fwd(lon_a, lat_a, az, d / 2.0)
    return best


def reaches_inside(area: BaseGeometry, other: BaseGeometry, depth_m: float = H_TOL_M) -> bool:
    """Whether ``other`` reaches at least ``depth_m`` inside the polygon ``area``.

    Used to tell a robust overlap or crossing from a mere touch (a decision
    at the boundary), measured in metres around the contact.
    """
    inter = area.intersection(other)
    if inter.is_empty:
        return False
    p = inter.representative_point()
    proj = aeqd(p.x, p.y)
    inner = project(area, proj).buffer(-depth_m)
    if inner.is_empty:
        return False
    if shape_of(other) is Shape.AREA:
        return not project(other, proj).buffer(-depth_m).intersection(inner).is_empty
    return bool(project(other, proj).intersects(inner))


# ---------------------------------------------------------------- the check


@dataclass(frozen=True)
class PairResult:
    """The reference's verdict on one (intent volume x other volume) pair.

    Only pairs the rule table makes eligible and whose windows overlap are
    listed.  ``borderline`` marks horizontal decisions within the spec's
    tolerance of their boundary; ``distance_m`` is None when altitude
    already ruled the pair out (and it was not measured).
    """

    key: Key
    rule: PairRule
    conflict: bool
    borderline: bool
    time: tuple[datetime | None, datetime | None]
    altitude: tuple[float | None, float | None] | None
    gap_m: float
    distance_m: float | None
    other: WorldObject


def _horizontal(rule: PairRule, a: BaseGeometry, b: BaseGeometry) -> tuple[bool, bool, float]:
    """(decision, borderline, distance) for the intent footprint ``a`` against ``b``."""
    if rule.test is Test.AREA:
        area = shares_area(a, b)
        dist = geometry_distance_m(a, b)
        robust = reaches_inside(a, b) if area else dist >= H_TOL_M
        return horizontal_ok(rule, dist, area), not robust, dist
    dist = geometry_distance_m(a, b)
    borderline = abs(dist - rule.threshold_m) < H_TOL_M
    if borderline and dist == 0.0 and rule.threshold_m < H_TOL_M:
        # Touching or crossing: robust only if it reaches well inside.
        borderline = not reaches_inside(a, b)
    return horizontal_ok(rule, dist, False), borderline, dist


def key_of(c: Conflict) -> Key:
    """A conflict report's key, in the reference's form."""
    return (c.intent, c.volume, c.type.value, c.other_kind.value, c.other_id, c.other_volume)


def reference_evaluate(
    intent: WorldObject,
    objects: list[WorldObject],
    military: frozenset[str],
    separation: dict[Category, Minima],
) -> list[PairResult]:
    """Every eligible, time-overlapping pair of ``intent`` with its verdict."""
    out: list[PairResult] = []
    for other in objects:
        if other.key == intent.key:
            continue
        for j, ov in enumerate(other.volumes):
            ogeom = ov.footprint.geometry
            rule = pair_rule(
                intent,
                other,
                shape_of(ogeom),
                ov.footprint.radius_m,
                military=military,
                separation=separation,
            )
            if rule is None:
                continue
            for i, iv in enumerate(intent.volumes):
                when = time_intersection(iv.time, ov.time)
                if when is None:
                    continue
                band = altitude_intersection(iv.altitude, ov.altitude)
                gap = altitude_gap(iv.altitude, ov.altitude)
                key: Key = (intent.id, i, rule.type.value, other.kind.value, other.id, j)
                if not vertical_ok(rule, band is not None, gap):
                    out.append(PairResult(key, rule, False, False, when, band, gap, None, other))
                    continue
                igeom = iv.footprint.geometry
                ref_lon = _first_lon(igeom)
                a = unwrap(igeom, ref_lon)
                b = unwrap(ogeom, ref_lon)
                ok, borderline, dist = _horizontal(rule, a, b)
                out.append(PairResult(key, rule, ok, borderline, when, band, gap, dist, other))
    return out


def reference_check(
    intent: WorldObject,
    objects: list[WorldObject],
    military: frozenset[str],
    separation: dict[Category, Minima],
) -> set[Key]:
    """Keys ``(intent, volume, type, other_kind, other_id, other_volume)`` in conflict."""
    return {r.key for r in reference_evaluate(intent, objects, military, separation) if r.conflict}
