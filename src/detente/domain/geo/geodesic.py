"""Geodesic measures on the WGS84 ellipsoid (pyproj's Karney algorithms).

The engine measures in a local frame and then asks this module for the true
geodesic length of the pair of points it found; see ``engine/measure.py``.
"""

from __future__ import annotations

import math

import numpy as np
import shapely
from pyproj import Geod
from shapely.geometry import Polygon
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.arrays import FloatArray

WGS84 = Geod(ellps="WGS84")

#: Shortest length of one degree of latitude on WGS84 (at the equator), metres.
MIN_M_PER_DEG_LAT = 110_574.0
#: Length of one degree of longitude at the equator on WGS84, metres.
M_PER_DEG_LON_EQUATOR = 111_319.49


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance between two points in metres."""
    _, _, d = WGS84.inv(lon1, lat1, lon2, lat2)
    return float(d)


def distances_m(lon1: FloatArray, lat1: FloatArray, lon2: FloatArray, lat2: FloatArray) -> FloatArray:
    """Vectorised geodesic distances, metres."""
    _, _, d = WGS84.inv(lon1, lat1, lon2, lat2)
    return np.asarray(d, dtype=np.float64)


def degree_margins(radius_m: float, max_abs_lat: float) -> tuple[float, float]:
    """Degrees of (longitude, latitude) that surely cover ``radius_m``.

    Used to grow a bounding box by a distance.  It over-covers on purpose (1 %
    and the shortest degree of latitude); near a pole the longitude margin is
    the whole circle (returned as 360).
    """
    if radius_m <= 0:
        return 0.0, 0.0
    dlat = radius_m / MIN_M_PER_DEG_LAT * 1.01
    lat = min(90.0, abs(max_abs_lat) + dlat)
    cos_lat = math.cos(math.radians(lat))
    if cos_lat < 1e-6:
        return 360.0, dlat
    dlon = radius_m / (M_PER_DEG_LON_EQUATOR * cos_lat) * 1.01
    return (360.0 if dlon >= 180.0 else dlon), dlat


def grow_box(box: tuple[float, float, float, float], distance_m: float) -> tuple[float, float, float, float]:
    """A lon/lat box grown so that it surely covers everything within ``distance_m``.

    It may run past +/-180 in longitude (callers split it); near a pole it
    spans every longitude.
    """
    minx, miny, maxx, maxy = box
    dlon, dlat = degree_margins(distance_m, max(abs(miny), abs(maxy)))
    if dlon >= 360.0:
        return -180.0, max(-90.0, miny - dlat), 180.0, min(90.0, maxy + dlat)
    return minx - dlon, max(-90.0, miny - dlat), maxx + dlon, min(90.0, maxy + dlat)


def grow_boxes(bounds: FloatArray, distances_m: FloatArray) -> FloatArray:
    """:func:`grow_box` for many boxes at once: ``bounds`` is (n, 4), the result too.

    >>> grow_boxes(np.array([[10.0, 0.0, 11.0, 1.0]]), np.array([0.0])).tolist()
    [[10.0, 0.0, 11.0, 1.0]]
    """
    b = np.asarray(bounds, dtype=np.float64).reshape(-1, 4)
    r = np.asarray(distances_m, dtype=np.float64)
    grow = r > 0
    dlat = np.where(grow, r / MIN_M_PER_DEG_LAT * 1.01, 0.0)
    lat = np.minimum(90.0, np.maximum(np.abs(b[:, 1]), np.abs(b[:, 3])) + dlat)
    cos_lat = np.cos(np.radians(lat))
    with np.errstate(divide="ignore"):
        dlon = np.where(cos_lat < 1e-6, 360.0, r / (M_PER_DEG_LON_EQUATOR * np.maximum(cos_lat, 1e-300)) * 1.01)
    dlon = np.where(grow, np.where(dlon >= 180.0, 360.0, dlon), 0.0)
    whole = dlon >= 360.0
    out = np.empty_like(b)
    out[:, 0] = np.where(whole, -180.0, b[:, 0] - dlon)
    out[:, 2] = np.where(whole, 180.0, b[:, 2] + dlon)
    out[:, 1] = np.maximum(-90.0, b[:, 1] - dlat)
    out[:, 3] = np.minimum(90.0, b[:, 3] + dlat)
    return out


def geodesic_circle(lon: float, lat: float, radius_m: float, segments: int = 128) -> BaseGeometry:
    """A polygon approximating a geodesic circle, for display and export.

    The engine never uses this polygon to decide a conflict (it measures the
    distance to the centre instead).  A circle that crosses the antimeridian
    comes back split into a MultiPolygon; one that covers a pole is returned
    as the polygon cap bounded by the pole's parallel.
    """
    az = np.linspace(0.0, 360.0, segments, endpoint=False)
    lons, lats, _ = WGS84.fwd(np.full(segments, lon), np.full(segments, lat), az, np.full(segments, radius_m))
    lons = np.asarray(lons)
    lats = np.asarray(lats)
    covers_pole = distance_m(lon, lat, lon, 90.0 if lat >= 0 else -90.0) < radius_m
    if covers_pole:
        order = np.argsort(lons)
        pole = 90.0 if lat >= 0 else -90.0
        ring = [(-180.0, pole)] + [(float(x), float(y)) for x, y in zip(lons[order], lats[order], strict=True)]
        ring += [(180.0, float(lats[order][-1])), (180.0, pole)]
        return shapely.make_valid(Polygon(ring))
    unwrapped = np.degrees(np.unwrap(np.radians(lons)))
    unwrapped = unwrapped + (lon - unwrapped.mean()) if abs(unwrapped.mean() - lon) > 180 else unwrapped
    ring_poly = Polygon(np.column_stack([unwrapped, lats]))
    return split_at_antimeridian(ring_poly)


def split_at_antimeridian(geom: BaseGeometry) -> BaseGeometry:
    """Split a geometry given with continuous longitudes beyond +/-180.

    Parts east of 180 (or west of -180) are shifted back by 360 degrees.
    """
    minx, _, maxx, _ = geom.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return geom
    parts = []
    for shift, lo, hi in ((0.0, -180.0, 180.0), (-360.0, 180.0, 540.0), (360.0, -540.0, -180.0)):
        piece = geom.intersection(shapely.box(lo, -90.0, hi, 90.0))
        if not piece.is_empty and piece.area > 0:
            parts.append(shapely.affinity.translate(piece, xoff=shift))
    return shapely.union_all(parts)
