"""Footprints: where on the ground (in lon/lat) a volume is.

A footprint is a base geometry plus a distance grown around it: a geodesic
circle is a Point with ``radius_m``, a route corridor a LineString with its
half-width, a deconfliction line a LineString with its buffer.  The engine
measures against the base geometry and compares with the distance, so a
circle is exact rather than a many-sided polygon.  Edges are straight in
lon/lat (RFC 7946), so area predicates run in plain lon/lat coordinates.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.geodesic import geodesic_circle, grow_box


class Shape(StrEnum):
    """What the base geometry is, which decides how a footprint is measured."""

    AREA = "area"
    POINT = "point"
    LINE = "line"


_SHAPES = {
    "Polygon": Shape.AREA,
    "MultiPolygon": Shape.AREA,
    "Point": Shape.POINT,
    "LineString": Shape.LINE,
    "MultiLineString": Shape.LINE,
}


@dataclass(frozen=True, eq=False)
class Footprint:
    """A base geometry in lon/lat and the distance grown around it, metres."""

    geometry: BaseGeometry
    radius_m: float = 0.0

    def __post_init__(self) -> None:
        if self.geometry.geom_type not in _SHAPES:
            raise ValueError(f"unsupported geometry type {self.geometry.geom_type}")
        if not math.isfinite(self.radius_m) or self.radius_m < 0:
            raise ValueError("radius must be a finite number >= 0")
        shapely.prepare(self.geometry)

    @property
    def shape(self) -> Shape:
        return _SHAPES[self.geometry.geom_type]

    @property
    def is_area(self) -> bool:
        """True when the footprint has positive area (polygon, or grown by a radius)."""
        return self.shape is Shape.AREA or self.radius_m > 0

    def bounds(self) -> tuple[float, float, float, float]:
        """A lon/lat box that surely covers the footprint, radius included.

        Near a pole or across the antimeridian the box may run past +/-180;
        the index wraps it.
        """
        return grow_box(self.geometry.bounds, self.radius_m)

    def to_polygon(self) -> BaseGeometry:
        """The footprint as a lon/lat area for display, export and disclosure."""
        if self.shape is Shape.POINT and self.radius_m > 0:
            pt = self.geometry
            return geodesic_circle(pt.x, pt.y, self.radius_m)
        return self.geometry

    def geojson(self) -> dict[str, Any]:
        return dict(mapping(self.geometry))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Footprint):
            return NotImplemented
        return self.radius_m == other.radius_m and self.geometry.equals_exact(other.geometry, 0.0)

    def __hash__(self) -> int:
        return hash((self.geometry.wkb, self.radius_m))


def _positions(coords: Any, depth: int) -> list[Any]:
    """The nested coordinate arrays of a GeoJSON geometry, ``depth`` levels deep."""
    if depth == 0:
        return [coords]
    if not isinstance(coords, list):
        raise TypeError("coordinates must be nested arrays")
    out: list[Any] = []
    for c in coords:
        out.extend(_positions(c, depth - 1))
    return out


_DEPTH = {"Point": 0, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def geometry_from_geojson(raw: Any, *, allowed: tuple[str, ...]) -> tuple[BaseGeometry | None, list[str]]:
    """Read a GeoJSON geometry and check every rule detente puts on it.

    Returns the Shapely geometry (or ``None``) and the list of problems:
    wrong type, positions that are not two or three finite numbers,
    longitudes or latitudes out of range, rings that are not closed or too
    short, unsplit antimeridian crossings, invalid (e.g. self-intersecting)
    polygons.
    """
    if not isinstance(raw, dict):
        return None, ["geometry must be a GeoJSON object"]
    gtype = raw.get("type")
    if gtype not in allowed:
        return None, [f"geometry type {gtype!r} is not allowed here (allowed: {', '.join(allowed)})"]
    coords = raw.get("coordinates")
    try:
        positions = _positions(coords, _DEPTH[str(gtype)])
    except TypeError as exc:
        return None, [str(exc)]
    problems: list[str] = []
    for pos in positions:
        if (
            not isinstance(pos, list | tuple)
            or len(pos) not in (2, 3)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos)
        ):
            return None, [f"position {pos!r} must be [lon, lat] or [lon, lat, alt] numbers"]
        if not all(_finite(v) for v in pos):
            return None, [f"position {pos!r} is not finite (NaN, infinity or too large)"]
        if not -180.0 <= pos[0] <= 180.0 or not -90.0 <= pos[1] <= 90.0:
            problems.append(f"position {pos!r} is out of range (lon -180..180, lat -90..90)")
    if problems:
        return None, problems
    problems.extend(_check_structure(str(gtype), coords))
    if problems:
        return None, problems
    geom = shape({"type": gtype, "coordinates": coords})
    if geom.is_empty:
        return None, ["geometry is empty"]
    if not geom.is_valid:
        return None, [f"invalid geometry: {shapely.is_valid_reason(geom)}"]
    return geom, []


def _finite(v: float) -> bool:
    """``math.isfinite`` that also refuses integers too large for a float."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _check_structure(gtype: str, coords: Any) -> list[str]:
    problems: list[str] = []
    lines: list[list[Any]] = []
    if gtype == "LineString":
        lines = [coords]
    elif gtype == "MultiLineString" or gtype == "Polygon":
        lines = list(coords)
    elif gtype == "MultiPolygon":
        lines = [ring for poly in coords for ring in poly]
    if gtype in ("Polygon", "MultiPolygon"):
        polys = [coords] if gtype == "Polygon" else list(coords)
        for poly in polys:
            if not poly:
                problems.append("polygon has no rings")
        for ring in lines:
            if len(ring) < 4:
                problems.append(f"ring has {len(ring)} positions; a closed ring needs at least 4")
            elif ring[0][:2] != ring[-1][:2]:
                problems.append(f"ring is not closed: first {ring[0]!r} differs from last {ring[-1]!r}")
    else:
        for line in lines:
            if len(line) < 2:
                problems.append("a line needs at least 2 positions")
    for line in lines:
        for a, b in itertools.pairwise(line):
            if abs(b[0] - a[0]) > 180.0:
                problems.append(
                    f"edge {a!r} -> {b!r} crosses the antimeridian unsplit; "
                    "split it at 180 degrees (RFC 7946 section 3.1.9)"
                )
                break
    return problems
