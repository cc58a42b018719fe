"""Corroboration: observer reports close in space and time grouped into incidents (ST-DBSCAN).

Ten observers who hear one barrage file ten reports; the mechanism should
see one incident, corroborated by ten, not ten incidents.  This module groups
:class:`~detente.domain.observations.ObserverReport` s with ST-DBSCAN
(Birant & Kut, "ST-DBSCAN: An algorithm for clustering spatial-temporal
data", Data & Knowledge Engineering 60(1), 2007), a DBSCAN whose
neighbourhood has a spatial and a temporal radius:

1. **Where and when each report is.**  A report's place is its estimated
   position with an uncertainty radius (``ObserverReport.estimated_position``:
   the observer's position carried along the bearing to the middle of the
   distance band, with a circle covering the whole sector the report allows);
   its time is the closed span ``[start, end]``.
2. **Neighbours.**  Two reports are neighbours when *both*

   - their spatial distance, the geodesic between their estimated positions
     minus both uncertainty radii (0 when the circles overlap), is at most
     ``eps_space_m``, and
   - their temporal distance, the gap between their spans (0 when they
     overlap), is at most ``eps_time_s``.

   The search is vectorised: one ``scipy.spatial.cKDTree`` over the
   estimated positions in earth-centred metres (ECEF on the ellipsoid
   surface, where a chord is never longer than the geodesic) and the span
   midpoints scaled to metres, asked for every pair within a radius that
   surely holds all neighbours (the largest uncertainties and half-spans
   included); the exact tests then run on those pairs in numpy, distances by
   Karney's geodesic (pyproj).  No Python loop runs over pairs.
3. **Clusters.**  A report is a *core* report when its neighbourhood,
   itself included, holds at least ``min_reports`` reports.  Core reports
   that are neighbours are in one cluster (connected components of the core
   graph, ``scipy.sparse.csgraph``): a cluster grows through its core
   reports, as in DBSCAN.  A non-core report with a core neighbour joins the
   cluster of its nearest core neighbour (least spatial, then temporal
   distance, then report id: the same answer whatever the input order).
   Every other report is *noise* and stays a cluster of its own.
4. **What a cluster says.**  Its reports, its span (earliest start to latest
   end), a centroid weighted by ``1 / uncertainty²`` (averaged in ECEF, put
   back on the ellipsoid), an uncertainty radius (the larger of the
   inverse-variance combination ``1 / sqrt(Σ 1/u²)`` and the smallest radius
   around the centroid that reaches every member's own circle), the event
   types and weapons reported, and how many distinct *sources* (observer
   mission and position, ``ObserverReport.source``) reported it.  It is
   *corroborated* when at least two sources did: one observer filing the same
   thing twice corroborates nothing.

Default parameters, and why:

- ``eps_space_m = 3000``: the uncertainty circles already cover what a
  report says; 3 km is the slack for what it does not.  Distance bands are
  given to the kilometre ("3-5 km"), observer positions to the settlement
  ("positioned in Donetsk city centre"), and one barrage's impacts spread
  over a kilometre or more.  Much more would merge simultaneous shelling of
  neighbouring villages, which lie 3-10 km apart along a contact line.
- ``eps_time_s = 600``: monitoring missions log times to the minute and a
  barrage lasts minutes; 10 minutes joins one observer's "19:10" and
  another's "19:18" of the same barrage while salvos an hour apart stay
  separate incidents.
- ``min_reports = 2``: any two reports close in space and time are one
  incident.  Observers are few (a handful of patrols and cameras), so two
  reports of one event must corroborate each other; with 2 there are no
  border reports and a cluster is a connected component of the neighbour
  graph.  Raise it in dense data (many cameras) to make chaining through a
  single report less likely.

Limits: a report with a vague position (no distance band: a circle of
``DEFAULT_RANGE_M``) neighbours much, and with ``min_reports = 2`` it can
chain two incidents into one; the clusters' ``uncertainty_m`` shows it.
See ``docs/corroboration.md``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.geodesic import distances_m
from detente.domain.geo.intervals import format_time
from detente.domain.observations import ObservedEvent, ObserverReport, estimate_positions

DEFAULT_EPS_SPACE_M = 3000.0
DEFAULT_EPS_TIME_S = 600.0
DEFAULT_MIN_REPORTS = 2

# WGS84 ellipsoid.
_A = 6_378_137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)


@dataclass(frozen=True)
class Cluster:
    """One incident: the reports grouped into it and what they say together.

    ``report_ids`` are sorted by start time, then id.  ``noise`` is true for
    a report ST-DBSCAN left alone (it has no neighbour, or too few).
    """

    report_ids: tuple[str, ...]
    start: datetime
    end: datetime
    lon: float
    lat: float
    uncertainty_m: float
    event_types: frozenset[ObservedEvent]
    weapons: frozenset[str]
    sources: int
    corroborated: bool
    noise: bool
    #: The largest count any one report gives (reports of one event each count it: they do not add up).
    max_count: int

    def to_json(self) -> dict[str, Any]:
        return {
            "report_ids": list(self.report_ids),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "lon": round(self.lon, 6),
            "lat": round(self.lat, 6),
            "uncertainty_m": round(self.uncertainty_m, 1),
            "event_types": sorted(e.value for e in self.event_types),
            "weapons": sorted(self.weapons),
            "sources": self.sources,
            "corroborated": self.corroborated,
            "noise": self.noise,
            "max_count": self.max_count,
        }


def cluster_reports(
    reports: Sequence[ObserverReport],
    *,
    eps_space_m: float = DEFAULT_EPS_SPACE_M,
    eps_time_s: float = DEFAULT_EPS_TIME_S,
    min_reports: int = DEFAULT_MIN_REPORTS,
) -> list[Cluster]:
    """The reports grouped into incidents by ST-DBSCAN (module docstring); every report is in one cluster.

    Clusters come sorted by start time, then first report id; the result
    does not depend on the order of ``reports``.  Report ids must be
    distinct.

    >>> from datetime import UTC, datetime
    >>> from detente.domain.observations import ObservedHow
    >>> t = datetime(2017, 7, 9, 20, 10, tzinfo=UTC)
    >>> def heard(i, lon, bearing):
    ...     return ObserverReport(i, "amc", lon, 32.62, t, t, ObservedEvent.IMPACT, ObservedHow.HEARD,
    ...                           bearing_deg=bearing, distance_m=(2000.0, 4000.0))
    >>> [c.report_ids for c in cluster_reports([heard("a", 36.19, 90.0), heard("b", 36.26, 270.0),
    ...                                         heard("c", 36.10, 0.0)])]
    [('a', 'b'), ('c',)]
    """
    if not (math.isfinite(eps_space_m) and eps_space_m >= 0.0):
        raise ValueError("eps_space_m must be a finite number of metres >= 0")
    if not (math.isfinite(eps_time_s) and eps_time_s >= 0.0):
        raise ValueError("eps_time_s must be a finite number of seconds >= 0")
    if isinstance(min_reports, bool) or not isinstance(min_reports, int) or min_reports < 1:
        raise ValueError("min_reports must be a whole number >= 1")
    n = len(reports)
    if n == 0:
        return []
    ids = [r.id for r in reports]
    if len(set(ids)) != n:
        seen: set[str] = set()
        problems = []
        for k, rid in enumerate(ids):
            if rid in seen:
                problems.append(Problem("duplicate-id", f"report id {rid!r} is used twice", index=k, id=rid))
            seen.add(rid)
        raise InvalidInput(problems)

    lon, lat, u = estimate_positions(reports)
    t0 = np.fromiter((r.start.timestamp() for r in reports), dtype=np.float64, count=n)
    t1 = np.fromiter((r.end.timestamp() for r in reports), dtype=np.float64, count=n)
    i, j, ds, dt = _neighbours(lon, lat, u, t0, t1, eps_space_m, eps_time_s)
    rank = np.empty(n, dtype=np.int64)
    rank[sorted(range(n), key=ids.__getitem__)] = np.arange(n, dtype=np.int64)

    label, noise = _st_dbscan(n, i, j, ds, dt, rank, min_reports)
    return _clusters(reports, label, noise, lon, lat, u, t0, rank)


def neighbours(
    reports: Sequence[ObserverReport],
    *,
    eps_space_m: float = DEFAULT_EPS_SPACE_M,
    eps_time_s: float = DEFAULT_EPS_TIME_S,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Every pair of neighbouring reports ``(i, j)`` with ``i < j`` (indexes into ``reports``), unordered.

    Returns ``(i, j, spatial_m, temporal_s)``: the pairs and their spatial
    and temporal distances as the module docstring defines them.
    """
    n = len(reports)
    lon, lat, u = estimate_positions(reports)
    t0 = np.fromiter((r.start.timestamp() for r in reports), dtype=np.float64, count=n)
    t1 = np.fromiter((r.end.timestamp() for r in reports), dtype=np.float64, count=n)
    return _neighbours(lon, lat, u, t0, t1, eps_space_m, eps_time_s)


def _neighbours(
    lon: FloatArray,
    lat: FloatArray,
    u: FloatArray,
    t0: FloatArray,
    t1: FloatArray,
    eps_space_m: float,
    eps_time_s: float,
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    n = len(lon)
    if n < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0), np.empty(0)
    # A pair of neighbours is closer than ``rs`` along the chord (chord <= geodesic <= eps + u_i + u_j) and
    # its span midpoints closer than ``rt`` seconds.  Seconds are scaled so that ``rt`` becomes at most
    # ``rs`` metres, so every neighbour pair is within sqrt(2) * rs in the tree's four dimensions.
    rs = eps_space_m + 2.0 * float(u.max())
    half = (t1 - t0) / 2.0
    mid = (t0 + half) - float(t0.min())
    rt = eps_time_s + 2.0 * float(half.max())
    scale = rs / max(rt, 1.0)
    points = np.column_stack([_surface_ecef(lon, lat), mid * scale])
    radius = math.sqrt(2.0) * rs * (1.0 + 1e-9) + 1.0  # the margin covers rounding in ECEF and scaled time
    pairs = cKDTree(points).query_pairs(radius, output_type="ndarray")
    i = pairs[:, 0].astype(np.int64)
    j = pairs[:, 1].astype(np.int64)
    dt = np.maximum(np.maximum(t0[j] - t1[i], t0[i] - t1[j]), 0.0)
    keep = dt <= eps_time_s
    i, j, dt = i[keep], j[keep], dt[keep]
    ds = np.maximum(distances_m(lon[i], lat[i], lon[j], lat[j]) - u[i] - u[j], 0.0)
    keep = ds <= eps_space_m
    i, j, ds, dt = i[keep], j[keep], ds[keep], dt[keep]
    order = np.lexsort((j, i))
    return i[order], j[order], ds[order], dt[order]


def _st_dbscan(
    n: int, i: IntArray, j: IntArray, ds: FloatArray, dt: FloatArray, rank: IntArray, min_reports: int
) -> tuple[IntArray, IntArray]:
    """A cluster label per report (labels are arbitrary integers) and whether it is noise (1) or not (0)."""
    size = 1 + np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    core = size >= min_reports
    both = core[i] & core[j]
    graph = coo_matrix((np.ones(int(both.sum()), dtype=np.int8), (i[both], j[both])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    label = np.where(core, component, -1).astype(np.int64)
    # Border reports: not core, with a core neighbour; each joins its nearest core neighbour's cluster.
    b = np.concatenate([i, j])
    c = np.concatenate([j, i])
    sb = np.concatenate([ds, ds])
    tb = np.concatenate([dt, dt])
    border = ~core[b] & core[c]
    b, c, sb, tb = b[border], c[border], sb[border], tb[border]
    if len(b):
        order = np.lexsort((rank[c], tb, sb, b))
        b, c = b[order], c[order]
        first = np.ones(len(b), dtype=bool)
        first[1:] = b[1:] != b[:-1]
        label[b[first]] = component[c[first]]
    # Noise: each report a cluster of its own, labelled past every component.
    alone = label < 0
    label[alone] = n + np.flatnonzero(alone)
    return label, alone.astype(np.int64)


def _clusters(
    reports: Sequence[ObserverReport],
    label: IntArray,
    noise: IntArray,
    lon: FloatArray,
    lat: FloatArray,
    u: FloatArray,
    t0: FloatArray,
    rank: IntArray,
) -> list[Cluster]:
    _, group = np.unique(label, return_inverse=True)
    group = group.astype(np.int64).ravel()
    m = int(group.max()) + 1
    # Centroids: the members' estimated positions weighted by 1/u², averaged in ECEF.
    w = 1.0 / (u * u)
    xyz = _surface_ecef(lon, lat)
    total = np.bincount(group, weights=w, minlength=m)
    cx, cy, cz = (np.bincount(group, weights=w * xyz[:, k], minlength=m) / total for k in range(3))
    clon, clat = _geodetic(cx, cy, cz)
    combined = 1.0 / np.sqrt(total)
    reach = distances_m(clon[group], clat[group], lon, lat) - u
    spread = np.full(m, -np.inf)
    np.maximum.at(spread, group, reach)
    radius = np.maximum(combined, spread)
    # Members of each cluster by (start, id); clusters by (first start, first id).
    order = np.lexsort((rank, t0, group))
    bounds = np.flatnonzero(np.diff(group[order])) + 1
    clusters: list[Cluster] = []
    for k, members in enumerate(np.split(order, bounds)):
        rs = [reports[int(x)] for x in members]
        clusters.append(
            Cluster(
                report_ids=tuple(r.id for r in rs),
                start=min(r.start for r in rs),
                end=max(r.end for r in rs),
                lon=float(clon[k]),
                lat=float(clat[k]),
                uncertainty_m=float(radius[k]),
                event_types=frozenset(r.event_type for r in rs),
                weapons=frozenset(r.weapon for r in rs if r.weapon is not None),
                sources=len({r.source for r in rs}),
                corroborated=len({r.source for r in rs}) >= 2,
                noise=bool(noise[int(members[0])]),
                max_count=max(r.count for r in rs),
            )
        )
    clusters.sort(key=lambda cl: (cl.start, cl.report_ids[0]))
    return clusters


def _surface_ecef(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Earth-centred (x, y, z) of the points on the WGS84 surface at (lon, lat), metres; shape (n, 3)."""
    lam = np.radians(lon)
    phi = np.radians(lat)
    sin_phi = np.sin(phi)
    cos_phi = np.cos(phi)
    normal = _A / np.sqrt(1.0 - _E2 * sin_phi * sin_phi)
    return np.column_stack(
        [normal * cos_phi * np.cos(lam), normal * cos_phi * np.sin(lam), normal * (1.0 - _E2) * sin_phi]
    )


def _geodetic(x: FloatArray, y: FloatArray, z: FloatArray) -> tuple[FloatArray, FloatArray]:
    """(lon, lat) in degrees of earth-centred points near the WGS84 surface (the foot of the normal through them).

    Fixed-point iteration on the latitude; for points within kilometres of
    the surface it converges to far below a millimetre in a few steps.
    """
    lon = np.degrees(np.arctan2(y, x))
    p = np.hypot(x, y)
    phi = np.arctan2(z, p * (1.0 - _E2))
    for _ in range(5):
        s = np.sin(phi)
        normal = _A / np.sqrt(1.0 - _E2 * s * s)
        h = p * np.cos(phi) + z * s - _A * np.sqrt(1.0 - _E2 * s * s)
        phi = np.arctan2(z, p * (1.0 - _E2 * normal / (normal + h)))
    return lon, np.degrees(phi)
