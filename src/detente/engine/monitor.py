"""The track monitor of SEMANTICS.md: incursions, boundary crossings, proximity and loss of separation.

Every sample is checked against every zone, boundary, site and movement
volume in one vectorised pipeline, the same shape as the strategic check:

1. **Index**: the volumes' boxes (grown by their radius or corridor) in a
   uniform grid (``pointgrid``), queried with every sample's lon/lat at once
   in numpy (no Shapely point per sample).
2. **Cheap filters** over the candidate (sample, volume) pairs as numpy
   columns: the half-open time window and altitude band, and the rule
   (a zone binds the track's party and purpose; a boundary is another
   party's; a site or movement is approached by an armed or unknown track),
   looked up in a small object × (party, purpose) table.
3. **Exact geometry** only for the survivors, in batches: point in polygon
   with ``shapely.intersects_xy`` (the boundary counts as inside), geodesic
   distance to a site's point with Karney's formulas, and to a route or a
   grown shape with ``measure.pair_distances``.

Episodes then fall out of the sort order: samples are sorted by track and
time, so two consecutive samples of a track are adjacent rows, and a run of
adjacent rows in conflict with one object is one episode.  Separation
between tracks is :mod:`detente.engine.separation`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import shapely

from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.footprint import Shape
from detente.domain.geo.geodesic import distances_m
from detente.domain.geo.intervals import from_epoch
from detente.domain.model import Kind, Party, Role, Scenario, WorldObject
from detente.domain.rules import nfz_binds
from detente.domain.tracks import Event, EventType, Other, Samples
from detente.engine.measure import pair_distances
from detente.engine.pointgrid import PointGrid
from detente.engine.separation import separation_events

#: The kinds a track is checked against, and the event each raises.
ZONE_EVENTS = {
    Kind.NFZ: EventType.INCURSION,
    Kind.BOUNDARY: EventType.BOUNDARY_CROSSING,
    Kind.SITE: EventType.PROXIMITY,
    Kind.MOVEMENT: EventType.PROXIMITY,
}
#: Purposes whose tracks must keep away from protected sites and movements.
PROXIMITY_PURPOSES = frozenset({"armed", "unknown"})


def monitor(scenario: Scenario, samples: Samples) -> list[Event]:
    """Every episode of every kind in these samples, against this world, sorted by start."""
    events = zone_events(scenario.objects.values(), scenario.parties, samples)
    events += separation_events(samples, scenario.separation)
    return sorted(events, key=lambda e: (e.start, e.type.value, e.track, e.other.kind, e.other.id))


class _Volumes:
    """The zone volumes as numpy columns (one row per volume) and an STR-tree of their boxes."""

    def __init__(self, objects: list[WorldObject]) -> None:
        rows = [(o, k, vol) for o, obj in enumerate(objects) for k, vol in enumerate(obj.volumes)]
        self.obj: IntArray = np.array([o for o, _, _ in rows], dtype=np.int64)
        self.t_lo: FloatArray = np.array([v.time.start_s for _, _, v in rows], dtype=np.float64)
        self.t_hi: FloatArray = np.array([v.time.end_s for _, _, v in rows], dtype=np.float64)
        self.a_lo: FloatArray = np.array([v.altitude.lower_m for _, _, v in rows], dtype=np.float64)
        self.a_hi: FloatArray = np.array([v.altitude.upper_m for _, _, v in rows], dtype=np.float64)
        self.radius: FloatArray = np.array([v.footprint.radius_m for _, _, v in rows], dtype=np.float64)
        self.shape = np.array([v.footprint.shape.value for _, _, v in rows], dtype=object)
        self.geom = np.array([v.footprint.geometry for _, _, v in rows], dtype=object)
        self.proximity = np.array([ZONE_EVENTS[objects[o].kind] is EventType.PROXIMITY for o, _, _ in rows], dtype=bool)
        boxes = [_split(v.footprint.bounds()) for _, _, v in rows]
        self.box_owner: IntArray = np.array([i for i, parts in enumerate(boxes) for _ in parts], dtype=np.int64)
        self.grid = PointGrid(np.array([b for parts in boxes for b in parts], dtype=np.float64).reshape(-1, 4))

    def __len__(self) -> int:
        return len(self.obj)


def _split(box: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
    """A box that runs past +/-180 as its pieces on either side of the antimeridian."""
    minx, miny, maxx, maxy = box
    if maxx - minx >= 360.0:
        return [(-180.0, miny, 180.0, maxy)]
    parts = [(max(minx, -180.0), miny, min(maxx, 180.0), maxy)]
    if minx < -180.0:
        parts.append((minx + 360.0, miny, 180.0, maxy))
    if maxx > 180.0:
        parts.append((-180.0, miny, maxx - 360.0, maxy))
    return parts


def zone_events(objects: Iterable[WorldObject], parties: Mapping[str, Party], samples: Samples) -> list[Event]:
    """Incursions, boundary crossings and proximity episodes of every track."""
    return ZoneIndex(objects, parties).events(samples)


class ZoneIndex:
    """The zone volumes of one world, indexed once and checked against many batches of samples.

    A live monitor builds one per world version and keeps it, so a batch
    pays only for its own samples, not for indexing 10^4 zones again.
    """

    def __init__(self, objects: Iterable[WorldObject], parties: Mapping[str, Party]) -> None:
        self.zones = [o for o in objects if o.kind in ZONE_EVENTS]
        self.parties = parties
        self.volumes = _Volumes(self.zones) if self.zones else None

    def events(self, samples: Samples) -> list[Event]:
        """Incursions, boundary crossings and proximity episodes of every track in ``samples``."""
        volumes = self.volumes
        if volumes is None or not len(samples):
            return []
        allowed = _rules(self.zones, self.parties, samples)
        s, box = volumes.grid.query(samples.lon, samples.lat)
        v = volumes.box_owner[box]
        t, alt = samples.t[s], samples.alt[s]
        keep = (volumes.t_lo[v] <= t) & (t < volumes.t_hi[v]) & (volumes.a_lo[v] <= alt) & (alt < volumes.a_hi[v])
        keep &= allowed[volumes.obj[v], samples.track[s]]
        s, v = s[keep], v[keep]
        inside, distance = _measure(volumes, samples, s, v)
        s, v = s[inside], v[inside]
        # Inside a zone or a boundary is distance 0 (a circular zone is an area); near a site or a route, the distance.
        d = np.where(volumes.proximity[v], distance[inside], 0.0)
        o = volumes.obj[v]
        return _episodes(self.zones, samples, s, o, d)


def _rules(zones: list[WorldObject], parties: Mapping[str, Party], samples: Samples) -> np.ndarray:
    """``allowed[object, track]``: whether the object concerns the track at all, by the rules.

    Decided per distinct (party, purpose) of the tracks, then spread to
    tracks, so its cost does not grow with the number of tracks.
    """
    military = frozenset(p.id for p in parties.values() if p.role is Role.MILITARY)
    combos = sorted({(tr.party, tr.purpose) for tr in samples.tracks})
    combo_of = np.array([combos.index((tr.party, tr.purpose)) for tr in samples.tracks], dtype=np.int64)
    table = np.zeros((len(zones), len(combos)), dtype=bool)
    for i, obj in enumerate(zones):
        for j, (party, purpose) in enumerate(combos):
            if obj.kind is Kind.NFZ:
                table[i, j] = nfz_binds(obj, party, purpose, military)
            elif obj.kind is Kind.BOUNDARY:
                table[i, j] = party != obj.party
            else:
                table[i, j] = purpose in PROXIMITY_PURPOSES
    result: np.ndarray = table[:, combo_of]
    return result


def _measure(volumes: _Volumes, samples: Samples, s: IntArray, v: IntArray) -> tuple[np.ndarray, FloatArray]:
    """Which candidate (sample, volume) pairs are inside, and their geodesic distance (0 inside an area)."""
    inside = np.zeros(len(s), dtype=bool)
    distance = np.zeros(len(s), dtype=np.float64)
    area = (volumes.shape[v] == Shape.AREA.value) & (volumes.radius[v] == 0)
    if area.any():
        k = np.flatnonzero(area)
        inside[k] = shapely.intersects_xy(volumes.geom[v[k]], samples.lon[s[k]], samples.lat[s[k]])
    circle = volumes.shape[v] == Shape.POINT.value
    if circle.any():
        k = np.flatnonzero(circle)
        centres = shapely.get_coordinates(volumes.geom[v[k]])
        distance[k] = distances_m(samples.lon[s[k]], samples.lat[s[k]], centres[:, 0], centres[:, 1])
        inside[k] = distance[k] <= volumes.radius[v[k]]
    other = ~area & ~circle
    if other.any():
        k = np.flatnonzero(other)
        pts = shapely.points(samples.lon[s[k]], samples.lat[s[k]])
        distance[k] = pair_distances(pts, volumes.geom[v[k]], volumes.radius[v[k]])
        inside[k] = distance[k] <= volumes.radius[v[k]]
    return inside, distance


def _episodes(zones: list[WorldObject], samples: Samples, s: IntArray, o: IntArray, d: FloatArray) -> list[Event]:
    """Runs of consecutive samples of one track in conflict with one object, one event each."""
    if not len(s):
        return []
    order = np.lexsort((s, o))
    s, o, d = s[order], o[order], d[order]
    # Several volumes of one object may hold the same sample: keep it once, at its least distance.
    first = np.ones(len(s), dtype=bool)
    first[1:] = (s[1:] != s[:-1]) | (o[1:] != o[:-1])
    starts_at = np.flatnonzero(first)
    d = np.minimum.reduceat(d, starts_at)
    s, o = s[first], o[first]
    track = samples.track[s]
    new_run = np.ones(len(s), dtype=bool)
    new_run[1:] = (o[1:] != o[:-1]) | (s[1:] != s[:-1] + 1) | (track[1:] != track[:-1])
    run_start = np.flatnonzero(new_run)
    run_end = np.append(run_start[1:], len(s)) - 1
    nearest = np.minimum.reduceat(d, run_start)
    events = []
    for a, b, dist in zip(run_start, run_end, nearest, strict=True):
        info = samples.tracks[int(track[a])]
        obj = zones[int(o[a])]
        start, end = from_epoch(float(samples.t[s[a]])), from_epoch(float(samples.t[s[b]]))
        assert start is not None and end is not None
        events.append(
            Event(
                ZONE_EVENTS[obj.kind],
                info.id,
                info.party,
                Other(obj.kind.value, obj.id, obj.party),
                start,
                end,
                float(dist),
            )
        )
    return events
