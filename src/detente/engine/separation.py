"""Loss of separation between tracks (SEMANTICS.md, "Conflicts found while monitoring tracks").

Two tracks of different parties and the same category lose separation at an
instant when both have a position then and they are closer than both minima:
horizontal geodesic distance < ``horizontal_m`` and vertical distance <
``vertical_m`` (``None``: unlimited).  This is the monitor's hot path, so no
Python loop runs over pairs, samples or instants (only one pass reads each
track's party and category, and one builds each event); the shape is:

1. **Where each track is, when.**  Every instant at which any track has a
   sample is evaluated (a superset of "every sample instant of either track";
   SEMANTICS.md allows more).  A sample owns the half-open range of instants
   from itself up to its track's next sample when that follows within
   ``MAX_GAP_S`` (linear interpolation in between), or only its own instant
   otherwise.  The ranges of one track are disjoint, so a track has at most
   one position per instant and expanding (sample, instant) rows with
   ``np.repeat`` gives every position exactly once, with no per-track search.
2. **Candidate pairs.**  Positions go to ECEF on the ellipsoid surface and
   into one ``cKDTree`` per category, whose fixed-radius ``query_pairs`` is
   a C loop that returns the close pairs and nothing else.  Many instants go
   into one tree at once, each instant's points shifted along x by more than
   the Earth's diameter plus the query radius, so pairs never join two
   instants and a long recording with few tracks costs a few trees rather
   than one per instant (Python overhead per tree would dominate).  Shifting
   keeps the tree 3-D: a fourth "instant" coordinate does the same but the
   4-D queries measured about twice as slow.  Rows are processed in chunks
   of whole instants to bound memory and the size of the shifted coordinates.
3. **Exact decision, cheaply.**  The chord never exceeds the geodesic, and
   the geodesic exceeds it by less than a known cubic bound, so the chord decides every
   pair that is clearly inside or outside the minimum and Karney's geodesic
   (``distances_m``) is computed only in the thin band where the bound could
   matter, and once per episode for the reported minimum distance.  Pairwise
   Karney on every candidate would dominate the cost in dense airspace.
4. **Episodes.**  Conflict rows sorted by (pair, instant) form one episode
   while the instants are consecutive *and* no more than ``MAX_GAP_S`` apart.
   The second condition ends an episode at a gap longer than ``MAX_GAP_S``
   even when no track at all was sampled inside it (so no instant there was
   evaluated): across it neither track has a position, so neither can be in
   conflict.  Because every sample instant of every track is evaluated, two
   consecutive instants no more than ``MAX_GAP_S`` apart at which a track has
   a position always lie on one of its interpolated segments, so this is
   the whole test of continuity.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np
from scipy.spatial import cKDTree

from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.geodesic import distances_m
from detente.domain.geo.intervals import from_epoch
from detente.domain.model import Category, Minima
from detente.domain.tracks import MAX_GAP_S, Event, EventType, Other, Samples

# WGS84 ellipsoid.
_A = 6_378_137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)
#: Smallest radius of curvature anywhere on WGS84 (meridian at the equator), metres.
_R_MIN = _A * (1.0 - _E2)
#: Above this chord length the cubic chord/arc bound is not trusted and Karney decides.
_MAX_TRUSTED_CHORD_M = 500_000.0
#: About this many (track, instant) positions go into one batch of trees.
_CHUNK_ROWS = 1 << 20
#: At most this many instants share one tree, so shifted coordinates keep sub-millimetre precision.
_CHUNK_INSTANTS = 4096
#: Shift along x between the instants sharing one tree: more than the Earth's diameter.
_INSTANT_SHIFT_M = 2.0 * _A + 1.0


def separation_events(samples: Samples, separation: Mapping[Category, Minima]) -> list[Event]:
    """Loss of separation between tracks of different parties and the same category (SEMANTICS.md)."""
    n = len(samples)
    if n == 0:
        return []
    minima = {c: m for c, m in separation.items() if m.horizontal_m > 0 and (m.vertical_m is None or m.vertical_m > 0)}
    if not minima:
        return []
    tracks = samples.tracks
    # One pass over the tracks (the only per-track Python work): a code per (party, category).
    kinds: dict[tuple[str, Category], int] = {}
    track_kind = np.fromiter(
        (kinds.setdefault((i.party, i.category), len(kinds)) for i in tracks), dtype=np.int64, count=len(tracks)
    )
    party_codes = {p: c for c, p in enumerate(sorted({p for p, _ in kinds}))}
    track_party = np.array([party_codes[p] for p, _ in kinds], dtype=np.int64)[track_kind]
    kind_category = np.array([c for _, c in kinds], dtype=object)

    t = samples.t
    instants = np.unique(t)
    first, stop = _ownership(samples.track, t, instants)
    chunks = _chunks(first, stop, len(instants))

    found: list[dict[str, Any]] = []
    for category, minimum in minima.items():
        if category not in kind_category:
            continue
        in_category = (kind_category == category)[track_kind[samples.track]]
        for k0, k1, in_chunk in chunks:
            owners = in_chunk[in_category[in_chunk]]
            if len(owners) < 2:
                continue
            rows = _conflicts(samples, instants, first, stop, owners, k0, k1, minimum, track_party)
            if len(rows["k"]):
                found.append(rows)
    if not found:
        return []
    return _episodes({key: np.concatenate([f[key] for f in found]) for key in found[0]}, instants, samples)


def _ownership(track: IntArray, t: FloatArray, instants: FloatArray) -> tuple[IntArray, IntArray]:
    """For each sample, the half-open range ``[first, stop)`` of instant indices whose position it gives.

    A sample linked to its track's next one (within ``MAX_GAP_S``, exactly
    ``MAX_GAP_S`` included) owns the instants up to, not including, the next
    sample's; an unlinked sample owns only its own instant.
    """
    n = len(t)
    first = np.searchsorted(instants, t).astype(np.int64)
    linked = np.zeros(n, dtype=bool)
    linked[:-1] = (track[1:] == track[:-1]) & (t[1:] - t[:-1] <= MAX_GAP_S)
    stop = first + 1
    stop[:-1] = np.where(linked[:-1], first[1:], stop[:-1])
    return first, stop


def _chunks(first: IntArray, stop: IntArray, m: int) -> list[tuple[int, int, IntArray]]:
    """Ranges ``[k0, k1)`` of whole instants and the samples owning a position in each.

    A range holds about ``_CHUNK_ROWS`` positions (at least one instant) and
    at most ``_CHUNK_INSTANTS`` instants.  The owners of all ranges are
    found in one pass (a sample spanning several ranges is listed in each),
    not by scanning every sample once per range.
    """
    active = np.cumsum(np.bincount(first, minlength=m + 1) - np.bincount(stop, minlength=m + 1))[:m]
    total = np.cumsum(active)
    bounds: list[int] = []
    k0 = 0
    while k0 < m:
        bounds.append(k0)
        before = int(total[k0 - 1]) if k0 else 0
        k1 = max(k0 + 1, int(np.searchsorted(total, before + _CHUNK_ROWS, side="right")))
        k0 = min(k1, m, k0 + _CHUNK_INSTANTS)
    starts = np.array(bounds, dtype=np.int64)
    live = np.flatnonzero(stop > first).astype(np.int64)
    lo = np.searchsorted(starts, first[live], side="right") - 1
    hi = np.searchsorted(starts, stop[live] - 1, side="right") - 1
    count = hi - lo + 1
    owner = np.repeat(live, count)
    chunk = np.repeat(lo, count) + np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    order = np.argsort(chunk, kind="stable")
    owner, chunk = owner[order], chunk[order]
    edges = np.searchsorted(chunk, np.arange(len(starts) + 1))
    ends = [*bounds[1:], m]
    return [(bounds[c], ends[c], owner[edges[c] : edges[c + 1]]) for c in range(len(bounds))]


def _positions(
    samples: Samples, instants: FloatArray, first: IntArray, stop: IntArray, owners: IntArray, k0: int, k1: int
) -> tuple[IntArray, IntArray, FloatArray, FloatArray, FloatArray]:
    """Every position in instants ``[k0, k1)`` of the given owning samples: (owner, instant, lon, lat, alt)."""
    lo = np.maximum(first[owners], k0)
    hi = np.minimum(stop[owners], k1)
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    owner = np.repeat(owners, count)
    offset = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    k = np.repeat(lo, count) + offset
    # The next sample is the other end of the interpolation when the owner is linked to it.
    linked = stop[owner] > first[owner] + 1
    nxt = np.where(linked, owner + 1, owner)
    t0 = samples.t[owner]
    span = samples.t[nxt] - t0
    frac = np.where(linked, (instants[k] - t0) / np.where(linked, span, 1.0), 0.0)
    dlon = samples.lon[nxt] - samples.lon[owner]
    # A track crossing the antimeridian goes the short way round, not back across the globe.
    dlon = (dlon + 180.0) % 360.0 - 180.0
    lon = samples.lon[owner] + frac * dlon
    lat = samples.lat[owner] + frac * (samples.lat[nxt] - samples.lat[owner])
    alt = samples.alt[owner] + frac * (samples.alt[nxt] - samples.alt[owner])
    return owner, k, lon, lat, alt


def _surface_ecef(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Earth-centred (x, y, z) of the points on the WGS84 surface below (lon, lat), metres; shape (n, 3)."""
    lam = np.radians(lon)
    phi = np.radians(lat)
    sin_phi = np.sin(phi)
    cos_phi = np.cos(phi)
    normal = _A / np.sqrt(1.0 - _E2 * sin_phi * sin_phi)
    return np.column_stack(
        (normal * cos_phi * np.cos(lam), normal * cos_phi * np.sin(lam), normal * (1.0 - _E2) * sin_phi)
    )


def _conflicts(
    samples: Samples,
    instants: FloatArray,
    first: IntArray,
    stop: IntArray,
    owners: IntArray,
    k0: int,
    k1: int,
    minimum: Minima,
    track_party: IntArray,
) -> dict[str, Any]:
    """Conflict rows among the positions of ``owners`` (samples of one category) in instants ``[k0, k1)``."""
    owner, k, lon, lat, alt = _positions(samples, instants, first, stop, owners, k0, k1)
    h = float(minimum.horizontal_m)
    # The horizontal test ignores altitude, so the points are taken on the ellipsoid surface (altitude 0).
    # There the chord between two points is never longer than the geodesic (a straight segment is the
    # shortest path, the geodesic is one path), so every pair closer than h along the geodesic is within
    # chord h: querying the tree at radius h finds a superset.  The tiny margin covers rounding in ECEF.
    radius = h * (1.0 + 1e-9) + 1e-6
    ecef = _surface_ecef(lon, lat)
    points = ecef
    if k1 - k0 > 1:
        # Each instant's points moved along x by more than the Earth's diameter plus the radius from the
        # next instant's: no pair joins two instants.  The radius grows by the rounding of the shifted x.
        shift = _INSTANT_SHIFT_M + 2.0 * radius
        points = ecef.copy()
        points[:, 0] += (k - k0).astype(np.float64) * shift
        radius += 8.0 * float(np.spacing((k1 - k0) * shift))
    tree = cKDTree(points, balanced_tree=False)
    pairs = np.asarray(tree.query_pairs(r=radius, output_type="ndarray"), dtype=np.int64).reshape(-1, 2)
    i, j = pairs[:, 0], pairs[:, 1]
    ti, tj = samples.track[owner[i]], samples.track[owner[j]]
    keep = track_party[ti] != track_party[tj]
    if minimum.vertical_m is not None:
        keep &= np.abs(alt[i] - alt[j]) < minimum.vertical_m
    i, j = i[keep], j[keep]
    chord = np.linalg.norm(ecef[i] - ecef[j], axis=1)
    # Geodesic minus chord on WGS84 stays below chord³ / (24 R_min²) (the sphere of the ellipsoid's
    # tightest curvature; checked against Karney up to 1,000 km with ratio ≤ 1.003).  Twice that plus
    # rounding margins decides clear cases by chord; the band in between is decided by Karney.
    excess = chord**3 / (12.0 * _R_MIN * _R_MIN) + 1e-6 + 1e-9 * chord
    surely_in = (chord + excess < h) & (chord < _MAX_TRUSTED_CHORD_M)
    surely_out = chord >= radius
    unsure = ~surely_in & ~surely_out
    inside = surely_in
    if np.any(unsure):
        u = np.flatnonzero(unsure)
        inside = inside.copy()
        inside[u] = distances_m(lon[i[u]], lat[i[u]], lon[j[u]], lat[j[u]]) < h
    i, j, chord = i[inside], j[inside], chord[inside]
    return {
        "a": samples.track[owner[i]],
        "b": samples.track[owner[j]],
        "k": k[i],
        "chord": chord,
        "lon_a": lon[i],
        "lat_a": lat[i],
        "lon_b": lon[j],
        "lat_b": lat[j],
    }


def _utc(s: np.float64) -> datetime:
    when = from_epoch(float(s))
    assert when is not None  # sample instants are finite
    return when


def _episodes(rows: dict[str, Any], instants: FloatArray, samples: Samples) -> list[Event]:
    """One event per maximal run of conflict rows of a pair at consecutive instants no more than MAX_GAP_S apart."""
    # The pair's first track is the one with the smaller id, whatever the track numbering; only the
    # tracks in conflict are ranked.
    involved = np.unique(np.concatenate((rows["a"], rows["b"])))
    ids = [samples.tracks[x].id for x in involved.tolist()]
    rank = np.zeros(len(samples.tracks), dtype=np.int64)
    rank[involved[sorted(range(len(ids)), key=ids.__getitem__)]] = np.arange(len(ids), dtype=np.int64)
    swap = rank[rows["a"]] > rank[rows["b"]]
    a: IntArray = np.where(swap, rows["b"], rows["a"])
    b: IntArray = np.where(swap, rows["a"], rows["b"])
    k: IntArray = rows["k"]
    order = np.lexsort((k, b, a))
    a, b, k = a[order], b[order], k[order]
    chord: FloatArray = rows["chord"][order]
    new = np.ones(len(k), dtype=bool)
    new[1:] = (
        (a[1:] != a[:-1]) | (b[1:] != b[:-1]) | (k[1:] != k[:-1] + 1) | (instants[k[1:]] - instants[k[:-1]] > MAX_GAP_S)
    )
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(k)) - 1
    episode = np.cumsum(new) - 1
    # Within each episode, the row of least chord; its Karney distance is the episode's minimum
    # (to within the chord/arc bound, under a millimetre at separation minima).
    nearest = order[np.lexsort((chord, episode))[starts]]
    d = distances_m(rows["lon_a"][nearest], rows["lat_a"][nearest], rows["lon_b"][nearest], rows["lat_b"][nearest])
    # Events in order of (start, track id, other id), built from plain Python values: this loop runs
    # once per episode, and numpy scalars and repeated datetime conversions would dominate it.
    first_k, last_k, ea, eb = k[starts], k[ends], a[starts], b[starts]
    out = np.lexsort((rank[eb], rank[ea], first_k))
    when = {kk: _utc(instants[kk]) for kk in np.unique(np.concatenate((first_k, last_k))).tolist()}
    tracks = samples.tracks
    return [
        Event(
            EventType.SEPARATION,
            track=tracks[x].id,
            party=tracks[x].party,
            other=Other("track", tracks[y].id, tracks[y].party),
            start=when[start],
            end=when[end],
            min_distance_m=dist,
        )
        for x, y, start, end, dist in zip(
            ea[out].tolist(),
            eb[out].tolist(),
            first_k[out].tolist(),
            last_k[out].tolist(),
            d[out].tolist(),
            strict=True,
        )
    ]
