"""4D boxes: what the spatial indexes store and what a candidate query asks.

A box is a prefilter, never a decision: it may hold volumes that do not
conflict, but must never miss one that does.  So every rounding goes
outward, and a footprint whose box runs past +/-180 degrees of longitude
(across the antimeridian, or a huge circle near a pole) is indexed over the
whole longitude range rather than being split or wrapped.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import ALL_ALTITUDES, ALWAYS, AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D


def footprint_box(footprint: Footprint) -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` covering the footprint and its radius.

    >>> from shapely.geometry import Point
    >>> footprint_box(Footprint(Point(179.99, 0.0), 5000.0))[0::2]
    (-180.0, 180.0)
    """
    min_lon, min_lat, max_lon, max_lat = footprint.bounds()
    if min_lon < -180.0 or max_lon > 180.0:
        min_lon, max_lon = -180.0, 180.0
    return min_lon, min_lat, max_lon, max_lat


@dataclass(frozen=True)
class Box4D:
    """A lon/lat box (edges included), an altitude band and a time window.

    A volume is a candidate for the box when its footprint box meets the
    lon/lat box (touching counts: a footprint's boundary is inside) and its
    altitude band and time window overlap the box's with positive length
    (half-open intervals, SEMANTICS.md).  A query across the antimeridian is
    asked as two boxes, one on each side.
    """

    min_lon: float
    min_lat: float
    max_lon: float
    max_lat: float
    altitude: AltitudeBand = field(default=ALL_ALTITUDES)
    time: TimeWindow = field(default=ALWAYS)

    def __post_init__(self) -> None:
        if not (-180.0 <= self.min_lon <= self.max_lon <= 180.0):
            raise ValueError("box longitudes must satisfy -180 <= min_lon <= max_lon <= 180")
        if not (-90.0 <= self.min_lat <= self.max_lat <= 90.0):
            raise ValueError("box latitudes must satisfy -90 <= min_lat <= max_lat <= 90")

    @classmethod
    def of_volume(cls, volume: Volume4D) -> Box4D:
        """The box that covers a volume: its candidates are the volumes it may meet."""
        min_lon, min_lat, max_lon, max_lat = footprint_box(volume.footprint)
        return cls(min_lon, min_lat, max_lon, max_lat, volume.altitude, volume.time)

    def admits(self, volume: Volume4D) -> bool:
        """The exact test the index query answers, for one volume (and for tests)."""
        min_lon, min_lat, max_lon, max_lat = footprint_box(volume.footprint)
        return (
            min_lon <= self.max_lon
            and max_lon >= self.min_lon
            and min_lat <= self.max_lat
            and max_lat >= self.min_lat
            and self.altitude.overlaps(volume.altitude)
            and self.time.overlaps(volume.time)
        )
