"""The track monitor of SEMANTICS.md: incursions, boundary crossings, proximity and loss of separation.

Every sample is checked against every zone, boundary, site and movement
volume in one vectorised pipeline, the same shape as the strategic check:

1. **Index** (``ZoneIndex``, built once per world and kept): the volumes'
   boxes (grown by their radius or corridor) in a uniform grid
   (``pointgrid``), whose entries carry their volume's window, band and box
   as columns; and the rules (a zone binds the track's party and purpose; a
   boundary is another party's; a site or movement is approached by an armed
   or unknown track), decided once per (party, purpose) and kept.
2. **Candidates, slot by slot**: the grid sorts a batch's samples by how
   many boxes their cell lists (``PointGrid.slots``), so the j-th box of
   every sample's cell is one gather; the half-open time window is tested
   first (it removes most), then the altitude band, the box and the rule,
   all numpy over columns, no Shapely point and no repeated sample.
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
from datetime import datetime
from operator import attrgetter

import numpy as np
import shapely

from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.footprint import Shape
from detente.domain.geo.geodesic import distances_m, grow_boxes
from detente.domain.geo.intervals import from_epoch
from detente.domain.model import PURPOSES, Kind, Party, Role, Scenario, WorldObject
from detente.domain.rules import nfz_binds
from detente.domain.tracks import Event, EventType, Other, Samples, make_events
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


#: How a volume is measured: a polygon (point in polygon), a circle (distance to its centre), anything else.
_AREA, _CIRCLE, _OTHER = 0, 1, 2


class _Volumes:
    """The zone volumes as numpy columns (one row per volume) and a grid of their boxes.

    The grid's entries (one per box and cell) carry copies of their volume's
    columns, in the grid's order, so the hot loop reads each candidate's
    window, band and box with one index.
    """

    def __init__(self, objects: list[WorldObject]) -> None:
        rows = [(o, v) for o, obj in enumerate(objects) for v in obj.volumes]
        n = len(rows)
        self.obj: IntArray = np.fromiter((o for o, _ in rows), dtype=np.int64, count=n)
        self.t_lo: FloatArray = np.fromiter((v.time.start_s for _, v in rows), dtype=np.float64, count=n)
        self.t_hi: FloatArray = np.fromiter((v.time.end_s for _, v in rows), dtype=np.float64, count=n)
        self.a_lo: FloatArray = np.fromiter((v.altitude.lower_m for _, v in rows), dtype=np.float64, count=n)
        self.a_hi: FloatArray = np.fromiter((v.altitude.upper_m for _, v in rows), dtype=np.float64, count=n)
        self.radius: FloatArray = np.fromiter((v.footprint.radius_m for _, v in rows), dtype=np.float64, count=n)
        shapes = [v.footprint.shape for _, v in rows]
        self.how = np.array(
            [
                _CIRCLE if sh is Shape.POINT else _AREA if sh is Shape.AREA and r == 0 else _OTHER
                for sh, r in zip(shapes, self.radius.tolist(), strict=True)
            ],
            dtype=np.int8,
        )
        self.geom = np.empty(n, dtype=object)
        self.geom[:] = [v.footprint.geometry for _, v in rows]
        self.proximity = np.array([ZONE_EVENTS[objects[o].kind] is EventType.PROXIMITY for o, _ in rows], dtype=bool)
        boxes = grow_boxes(shapely.bounds(self.geom).reshape(-1, 4), self.radius)
        owner = np.arange(n, dtype=np.int64)
        wraps = np.flatnonzero((boxes[:, 0] < -180.0) | (boxes[:, 2] > 180.0))
        if len(wraps):  # few: boxes that run past +/-180, as their pieces on either side
            pieces = [(int(i), part) for i in wraps.tolist() for part in _split(tuple(boxes[i].tolist()))]
            keep = np.ones(n, dtype=bool)
            keep[wraps] = False
            owner = np.concatenate((owner[keep], np.array([i for i, _ in pieces], dtype=np.int64)))
            boxes = np.concatenate((boxes[keep], np.array([p for _, p in pieces], dtype=np.float64).reshape(-1, 4)))
        self.box_owner: IntArray = owner
        self.grid = PointGrid(boxes)
        vol = owner[self.grid.members]
        self.entry_vol: IntArray = vol
        self.entry_t_lo, self.entry_t_hi = self.t_lo[vol], self.t_hi[vol]
        self.entry_a_lo, self.entry_a_hi = self.a_lo[vol], self.a_hi[vol]
        self.entry_box = self.grid.member_boxes

    def __len__(self) -> int:
        return len(self.obj)


def _split(box: tuple[float, ...]) -> list[tuple[float, float, float, float]]:
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
    pays only for its own samples, not for indexing 10^4 zones again.  The
    rules (which volumes concern a track of this party and purpose) are
    decided once per (party, purpose) and kept too.
    """

    def __init__(self, objects: Iterable[WorldObject], parties: Mapping[str, Party]) -> None:
        self.zones = [o for o in objects if o.kind in ZONE_EVENTS]
        self.parties = parties
        self.military = frozenset(p.id for p in parties.values() if p.role is Role.MILITARY)
        self.volumes = _Volumes(self.zones) if self.zones else None
        self._others = [Other(o.kind.value, o.id, o.party) for o in self.zones]
        self._types = [ZONE_EVENTS[o.kind] for o in self.zones]
        self._rules: dict[tuple[str, str], np.ndarray] = {}

    def rule(self, party: str, purpose: str) -> np.ndarray:
        """Per volume, whether it concerns a track of ``party`` flying for ``purpose`` at all (kept per pair)."""
        key = (party, purpose)
        found = self._rules.get(key)
        if found is None:
            military = self.military
            per_object = np.fromiter(
                (
                    nfz_binds(obj, party, purpose, military)
                    if obj.kind is Kind.NFZ
                    else party != obj.party
                    if obj.kind is Kind.BOUNDARY
                    else purpose in PROXIMITY_PURPOSES
                    for obj in self.zones
                ),
                dtype=bool,
                count=len(self.zones),
            )
            assert self.volumes is not None
            found = self._rules[key] = per_object[self.volumes.obj]
        return found

    def events(self, samples: Samples) -> list[Event]:
        """Incursions, boundary crossings and proximity episodes of every track in ``samples``."""
        volumes = self.volumes
        if volumes is None or not len(samples):
            return []
        s, v = self._candidates(volumes, samples)
        inside, distance = _measure(volumes, samples, s, v)
        s, v = s[inside], v[inside]
        # Inside a zone or a boundary is distance 0 (a circular zone is an area); near a site or a route, the distance.
        d = np.where(volumes.proximity[v], distance[inside], 0.0)
        return self._episodes(samples, s, volumes.obj[v], d)

    def _allowed(self, samples: Samples) -> tuple[np.ndarray, IntArray]:
        """The rules for these samples' tracks: ``allowed[code[track] + volume]``, flat."""
        n_purposes = len(PURPOSES)
        combo = samples.track_party * n_purposes + samples.track_purpose
        present, code = np.unique(combo, return_inverse=True)
        table = np.stack(
            [self.rule(samples.parties[c // n_purposes], PURPOSES[c % n_purposes]) for c in present.tolist()]
        )
        assert self.volumes is not None
        return table.ravel(), code.reshape(-1).astype(np.int64) * len(self.volumes)

    def _candidates(self, volumes: _Volumes, samples: Samples) -> tuple[IntArray, IntArray]:
        """The (sample, volume) pairs with the sample in the volume's box, window and band, and the rule met.

        One pass per slot of the grid (see ``PointGrid.slots``): the time
        test first (it removes most), then altitude, box and rule on the rest;
        then the few boxes the grid keeps aside, each against every sample.
        """
        allowed, code = self._allowed(samples)
        found_s: list[IntArray] = []
        found_v: list[IntArray] = []
        points, first, sizes = volumes.grid.slots(samples.lon, samples.lat)
        if sizes:
            t, alt = samples.t[points], samples.alt[points]
            lon, lat = samples.lon[points], samples.lat[points]
            rule = code[samples.track[points]]
            t_lo, t_hi, a_lo, a_hi = volumes.entry_t_lo, volumes.entry_t_hi, volumes.entry_a_lo, volumes.entry_a_hi
            x0, y0, x1, y1 = volumes.entry_box
            entry_vol = volumes.entry_vol
            for j, size in enumerate(sizes):
                e = first[:size] + j
                ts = t[:size]
                k = np.flatnonzero((t_lo[e] <= ts) & (ts < t_hi[e]))
                if not len(k):
                    continue
                e = e[k]
                a, x, y = alt[k], lon[k], lat[k]
                keep = (a_lo[e] <= a) & (a < a_hi[e]) & (x0[e] <= x) & (x <= x1[e]) & (y0[e] <= y) & (y <= y1[e])
                k, e = k[keep], e[keep]
                vol = entry_vol[e]
                ok = allowed[rule[k] + vol]
                found_s.append(points[k[ok]])
                found_v.append(vol[ok])
        grid = volumes.grid
        for b in grid.big.tolist():  # few boxes, each tested against every sample
            bx0, by0, bx1, by1 = grid.boxes[b]
            vol = int(volumes.box_owner[b])
            x, y, ts, a = samples.lon, samples.lat, samples.t, samples.alt
            hit = (bx0 <= x) & (x <= bx1) & (by0 <= y) & (y <= by1)
            hit &= (volumes.t_lo[vol] <= ts) & (ts < volumes.t_hi[vol])
            hit &= (volumes.a_lo[vol] <= a) & (a < volumes.a_hi[vol])
            p = np.flatnonzero(hit)
            p = p[allowed[code[samples.track[p]] + vol]]
            found_s.append(p)
            found_v.append(np.full(len(p), vol, dtype=np.int64))
        if not found_s:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(found_s), np.concatenate(found_v)

    def _episodes(self, samples: Samples, s: IntArray, o: IntArray, d: FloatArray) -> list[Event]:
        """Runs of consecutive samples of one track in conflict with one object, one event each."""
        if not len(s):
            return []
        order = np.lexsort((s, o))
        s, o, d = s[order], o[order], d[order]
        # Several volumes of one object may hold the same sample: keep it once, at its least distance.
        first = np.ones(len(s), dtype=bool)
        first[1:] = (s[1:] != s[:-1]) | (o[1:] != o[:-1])
        d = np.minimum.reduceat(d, np.flatnonzero(first))
        s, o = s[first], o[first]
        track = samples.track[s]
        new_run = np.ones(len(s), dtype=bool)
        new_run[1:] = (o[1:] != o[:-1]) | (s[1:] != s[:-1] + 1) | (track[1:] != track[:-1])
        run_start = np.flatnonzero(new_run)
        run_end = np.append(run_start[1:], len(s)) - 1
        nearest = np.minimum.reduceat(d, run_start).tolist()
        t_start, t_end = samples.t[s[run_start]], samples.t[s[run_end]]
        when = {x: _utc(x) for x in np.unique(np.concatenate((t_start, t_end))).tolist()}
        tracks = list(map(samples.tracks.__getitem__, track[run_start].tolist()))
        objects = o[run_start].tolist()
        return make_events(
            map(self._types.__getitem__, objects),
            map(attrgetter("id"), tracks),
            map(attrgetter("party"), tracks),
            map(self._others.__getitem__, objects),
            map(when.__getitem__, t_start.tolist()),
            map(when.__getitem__, t_end.tolist()),
            nearest,
        )


def _utc(s: float) -> datetime:
    when = from_epoch(s)
    assert when is not None  # sample instants are finite
    return when


def _measure(volumes: _Volumes, samples: Samples, s: IntArray, v: IntArray) -> tuple[np.ndarray, FloatArray]:
    """Which candidate (sample, volume) pairs are inside, and their geodesic distance (0 inside an area)."""
    inside = np.zeros(len(s), dtype=bool)
    distance = np.zeros(len(s), dtype=np.float64)
    how = volumes.how[v]
    area = how == _AREA
    if area.all():
        return shapely.intersects_xy(volumes.geom[v], samples.lon[s], samples.lat[s]), distance
    if area.any():
        k = np.flatnonzero(area)
        inside[k] = shapely.intersects_xy(volumes.geom[v[k]], samples.lon[s[k]], samples.lat[s[k]])
    circle = how == _CIRCLE
    if circle.any():
        k = np.flatnonzero(circle)
        centres = shapely.get_coordinates(volumes.geom[v[k]])
        distance[k] = distances_m(samples.lon[s[k]], samples.lat[s[k]], centres[:, 0], centres[:, 1])
        inside[k] = distance[k] <= volumes.radius[v[k]]
    other = how == _OTHER
    if other.any():
        k = np.flatnonzero(other)
        pts = shapely.points(samples.lon[s[k]], samples.lat[s[k]])
        distance[k] = pair_distances(pts, volumes.geom[v[k]], volumes.radius[v[k]])
        inside[k] = distance[k] <= volumes.radius[v[k]]
    return inside, distance
