"""Loss of separation between tracks (SEMANTICS.md, "Conflicts found while monitoring tracks").

Two tracks of different parties and the same category lose separation at an
instant when both have a position then and they are closer than both minima:
horizontal geodesic distance < ``horizontal_m`` and vertical distance <
``vertical_m`` (``None``: unlimited).  This is the monitor's hot path, so no
Python loop runs over pairs, samples, tracks or instants (only one builds
each event); the shape is:

1. **Where each track is, when.**  Every instant at which any track has a
   sample is evaluated (a superset of "every sample instant of either track";
   SEMANTICS.md allows more).  A sample owns the half-open range of instants
   from itself up to its track's next sample when that follows within
   ``MAX_GAP_S`` (linear interpolation in between), or only its own instant
   otherwise.  The ranges of one track are disjoint, so a track has at most
   one position per instant and expanding (sample, instant) rows with
   ``np.repeat`` gives every position exactly once, with no per-track search.
   Rows are processed in chunks of whole instants to bound memory.
2. **Candidate pairs: a uniform grid hash** (``_grid_pairs``).  Positions go
   to ECEF on the ellipsoid surface, turned so that the chunk's mean
   direction is the +z axis, and each onto the face of the cube whose axis is
   its largest coordinate, dropping that coordinate: a projection that never
   lengthens a distance, so two points closer than the minimum along the
   chord are in the same or adjacent square cells of that size.  Cells are
   keyed by (instant, face, column, row), plus an altitude slab of at least
   the vertical minimum when there is one and the key space is small; keys
   are sorted (a radix sort on 16-bit digits), each occupied cell finds its
   forward neighbours by looking their keys up (a dense table when the key
   space is small, ``searchsorted`` otherwise), and the points of each pair
   of neighbouring cells are expanded into candidate pairs in numpy.  A
   regional chunk lies on one face; points near a face's edge are copied
   onto the neighbouring face as guests, and a pair is counted only on the
   face of the point whose face comes first, so each pair once.  Nothing is
   rebuilt from a tree, and no pair joins two instants (the instant is part
   of the key).
3. **Exact decision, cheaply.**  Candidates are filtered by the vertical
   minimum and the parties (integer codes kept on ``Samples``), then the
   chord: it never exceeds the geodesic, and the geodesic exceeds it by less
   than a known cubic bound, so the chord decides every pair that is clearly
   inside or outside the minimum and Karney's geodesic (``distances_m``) is
   computed only in the thin band where the bound could matter.
4. **Episodes.**  Conflict rows sorted by (pair, instant) form one episode
   while the instants are consecutive *and* no more than ``MAX_GAP_S`` apart.
   The second condition ends an episode at a gap longer than ``MAX_GAP_S``
   even when no track at all was sampled inside it (so no instant there was
   evaluated): across it neither track has a position, so neither can be in
   conflict.  Because every sample instant of every track is evaluated, two
   consecutive instants no more than ``MAX_GAP_S`` apart at which a track has
   a position always lie on one of its interpolated segments, so this is
   the whole test of continuity.  An episode's minimum distance is measured
   at its row of least chord: from the chord by the arc's series (within
   0.1 mm of Karney up to ``_SERIES_MAX_CHORD_M``), by Karney beyond.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.geodesic import distances_m
from detente.domain.geo.intervals import from_epoch
from detente.domain.model import Category, Minima
from detente.domain.tracks import MAX_GAP_S, Event, EventType, Samples, make_pair_events

# WGS84 ellipsoid.
_A = 6_378_137.0
_F = 1.0 / 298.257223563
_E2 = _F * (2.0 - _F)
#: Smallest radius of curvature anywhere on WGS84 (meridian at the equator), metres.
_R_MIN = _A * (1.0 - _E2)
#: Above this chord length the cubic chord/arc bound is not trusted and Karney decides.
_MAX_TRUSTED_CHORD_M = 500_000.0
#: Up to this chord an episode's distance is the chord plus its cubic arc term (Karney beyond).
_SERIES_MAX_CHORD_M = 20_000.0
#: About this many (track, instant) positions go into one batch of the grid.
_CHUNK_ROWS = 1 << 20
#: At most this many instants share one batch.
_CHUNK_INSTANTS = 4096
#: The grid's key space may be this many times the points (plus a constant, up to a maximum) for a dense
#: lookup table (int32; measured faster than ``searchsorted`` even when mostly empty).
_DENSE_PER_POINT = 64
_DENSE_EXTRA = 1 << 16
_DENSE_MAX = 1 << 25
#: Keys stay below this (int64 arithmetic with room to spare).
_MAX_KEY = 1 << 62

_CATEGORIES = tuple(Category)


def separation_events(samples: Samples, separation: Mapping[Category, Minima]) -> list[Event]:
    """Loss of separation between tracks of different parties and the same category (SEMANTICS.md)."""
    n = len(samples)
    if n == 0:
        return []
    minima = {c: m for c, m in separation.items() if m.horizontal_m > 0 and (m.vertical_m is None or m.vertical_m > 0)}
    if not minima:
        return []
    # Integer codes per track, computed once per Samples: no per-track Python work here.
    track_party = samples.track_party
    sample_category = samples.track_category[samples.track]

    t = samples.t
    instants = np.unique(t)
    first, stop = _ownership(samples.track, t, instants)
    chunks = _chunks(first, stop, len(instants))

    found: list[dict[str, Any]] = []
    for category, minimum in minima.items():
        in_category = sample_category == _CATEGORIES.index(category)
        if np.count_nonzero(in_category) == 0:
            continue
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
    live = np.flatnonzero(stop > first).astype(np.int64)
    if m == 1:  # one instant (a live tick): every sample owns it
        return [(0, 1, live)]
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
    if np.all(lo == first[owners]) and np.all(hi == lo + 1):
        # Each owner gives only its own sample's instant (a live tick): no interpolation.
        return owners, lo, samples.lon[owners], samples.lat[owners], samples.alt[owners]
    count = np.maximum(hi - lo, 0)
    total = int(count.sum())
    owner = np.repeat(owners, count)
    k = np.arange(total, dtype=np.int64) + np.repeat(lo - (np.cumsum(count) - count), count)
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
    """Earth-centred (x, y, z) of the points on the WGS84 surface below (lon, lat), metres; shape (3, n)."""
    lam = np.radians(lon)
    phi = np.radians(lat)
    sin_phi = np.sin(phi)
    cos_phi = np.sqrt((1.0 - sin_phi) * (1.0 + sin_phi))  # latitudes are within +/-90 degrees: cos >= 0
    normal = _A / np.sqrt(1.0 - _E2 * sin_phi * sin_phi)
    out = np.empty((3, len(lam)), dtype=np.float64)
    ncos = normal * cos_phi
    np.multiply(ncos, np.cos(lam), out=out[0])
    np.multiply(ncos, np.sin(lam), out=out[1])
    np.multiply(normal * (1.0 - _E2), sin_phi, out=out[2])
    return out


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
    v = minimum.vertical_m
    # The horizontal test ignores altitude, so the points are taken on the ellipsoid surface (altitude 0).
    # There the chord between two points is never longer than the geodesic (a straight segment is the
    # shortest path, the geodesic is one path), so every pair closer than h along the geodesic is within
    # chord h: a grid search at radius h finds a superset.  The tiny margin covers rounding in ECEF.
    radius = h * (1.0 + 1e-9) + 1e-6
    ecef = _surface_ecef(lon, lat)
    i, j = _grid_pairs(ecef, k - k0, k1 - k0, radius, alt if v is not None else None, v)
    party = track_party[samples.track[owner]]
    if v is not None:
        keep = np.abs(alt[i] - alt[j]) < v
        i, j = i[keep], j[keep]
    keep = party[i] != party[j]
    i, j = i[keep], j[keep]
    x, y, z = ecef
    chord = np.sqrt((x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2 + (z[i] - z[j]) ** 2)
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


# --- the grid hash --------------------------------------------------------------------------------


def _argsort_keys(key: IntArray, bound: int) -> IntArray:
    """``np.argsort`` of non-negative keys below ``bound``: a radix sort on 16-bit digits when there are few."""
    if bound <= 1 << 16:
        return np.argsort(key.astype(np.uint16), kind="stable")
    if bound <= 1 << 32:
        order = np.argsort((key & 0xFFFF).astype(np.uint16), kind="stable")
        high = np.argsort((key[order] >> 16).astype(np.uint16), kind="stable")
        result: IntArray = order[high]
        return result
    return np.argsort(key)


def _turned(xyz: FloatArray) -> FloatArray:
    """``xyz`` (shape (3, n)) in an orthonormal frame whose +z axis is the points' mean direction."""
    u = xyz.sum(axis=1)
    norm = float(np.linalg.norm(u))
    u = u / norm if norm > 0 else np.array([0.0, 0.0, 1.0])
    # any axis not close to u, made perpendicular to it
    seed = np.eye(3)[int(np.argmin(np.abs(u)))]
    e1 = seed - float(seed @ u) * u
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(u, e1)
    turned: FloatArray = np.stack((e1, e2, u)) @ xyz
    return turned


def _faces(r: FloatArray, radius: float) -> tuple[IntArray, IntArray, IntArray] | None:
    """Each point on its own cube face, and as a guest on the faces it may have a partner on.

    ``None`` when every point is on the +z face with no guest (a regional
    chunk, turned to face +z); else (point, face, guest flag as 0/1) for
    every copy, a face being ``2 * axis + (coordinate < 0)``.  A point p of
    face G (its coordinate along G's axis, signed, is at least its others'
    magnitudes) and a point q closer than ``radius`` have q's signed
    coordinate above its others' magnitudes minus twice the radius: that is
    when q is copied onto G.
    """
    margin = r[2] - np.maximum(np.abs(r[0]), np.abs(r[1]))
    if float(margin.min()) > 2.0 * radius:
        return None
    n = r.shape[1]
    a = np.abs(r)
    axis = np.argmax(a, axis=0)
    top = a[axis, np.arange(n)]
    face = 2 * axis + (r[axis, np.arange(n)] < 0)
    second = a.sum(axis=0) - top - a.min(axis=0)
    points = np.arange(n, dtype=np.int64)
    pts, faces = [points], [face.astype(np.int64)]
    near = np.flatnonzero((top - second < 2.0 * radius) | (top + second < 2.0 * radius))
    if len(near):
        rn = np.abs(r[:, near])
        for g, (ax, sign) in enumerate(itertools.product(range(3), (1.0, -1.0))):
            others = [m for m in range(3) if m != ax]
            margin = sign * r[ax, near] - np.maximum(rn[others[0]], rn[others[1]])
            guest = near[(margin > -2.0 * radius) & (face[near] != g)]
            pts.append(guest)
            faces.append(np.full(len(guest), g, dtype=np.int64))
    guests = np.zeros(sum(map(len, pts)), dtype=np.int64)
    guests[n:] = 1
    return np.concatenate(pts), np.concatenate(faces), guests


_NEIGHBOURS = {
    dims: np.array([d for d in itertools.product((-1, 0, 1), repeat=dims) if d > (0,) * dims], dtype=np.int64)
    for dims in (2, 3)
}


def _dense_limit(points: int) -> int:
    """The largest key space looked up in a dense table for this many points (else ``searchsorted``)."""
    return min(_DENSE_PER_POINT * points + _DENSE_EXTRA, _DENSE_MAX)


def _layout(
    points: int,
    groups: int,
    faces: int,
    span_u: float,
    span_w: float,
    radius: float,
    span_alt: float,
    slab: float | None,
) -> tuple[float, float | None, list[int]]:
    """The grid's cell (metres), altitude slab (metres, or none) and key dimensions.

    Cells are at least ``radius`` (so close points are in adjacent cells)
    and slabs at least ``slab``.  Slabs are used only while the key space
    fits a dense lookup table, thickened if need be; sparse points get
    coarser cells (up to about a point per cell) for the same reason; and
    the key space always fits in int64.
    """
    limit = _dense_limit(points)
    cell = radius * (1.0 + 1e-6) + 1e-6  # rounding in a division never puts two close points two cells apart
    thick = None if slab is None else slab * (1.0 + 1e-9) + 1e-9

    def dims(cell: float, thick: float | None) -> list[int]:
        out = [groups, faces, int(span_u / cell) + 3, int(span_w / cell) + 3]
        return out if thick is None else [*out, int(span_alt / thick) + 3]

    while thick is not None and math.prod(dims(cell, thick)) > limit:
        thick = thick * 2.0 if thick <= span_alt else None
    while thick is None and limit < math.prod(dims(cell, thick)) > 4 * points and cell <= max(span_u, span_w):
        cell *= 2.0
    while math.prod(dims(cell, thick)) >= _MAX_KEY:
        cell *= 2.0
    return cell, thick, dims(cell, thick)


def _grid_pairs(
    xyz: FloatArray, group: IntArray, groups: int, radius: float, alt: FloatArray | None, slab: float | None
) -> tuple[IntArray, IntArray]:
    """Candidate pairs ``(i, j)`` of points (``xyz`` is (3, n)) of one group: every pair with chord < ``radius``, once.

    With ``alt`` and ``slab`` the grid also cuts altitude into slabs at
    least ``slab`` thick when that keeps the key space small, so that the
    pairs returned are mostly within the vertical minimum too (the caller
    still tests both minima exactly).
    """
    r = _turned(xyz)
    copies = _faces(r, radius)
    if copies is None:
        src = None
        m = r.shape[1]
        nfaces = 1
        face = guest = None
        u, w = r[0], r[1]
        gr = group
    else:
        src, face, guest = copies
        axis = face // 2
        # the face's two other coordinates: dropping one never lengthens a distance
        u = np.where(axis == 0, r[1, src], r[0, src])
        w = np.where(axis == 2, r[1, src], r[2, src])
        faces, face = np.unique(face, return_inverse=True)
        face = face.astype(np.int64)
        nfaces = len(faces)
        m = len(src)
        gr = group[src]
        if alt is not None:
            alt = alt[src]
    alt0 = float(alt.min()) if alt is not None else 0.0
    span_alt = float(alt.max()) - alt0 if alt is not None else 0.0
    u0, w0 = float(u.min()), float(w.min())
    cell, thick, dims = _layout(m, groups, nfaces, float(u.max()) - u0, float(w.max()) - w0, radius, span_alt, slab)
    size = math.prod(dims)
    dense = size <= _dense_limit(m)
    itype = np.int32 if dense else np.int64
    key = np.floor((u - u0) / cell).astype(itype)
    key += 1
    if groups > 1 or nfaces > 1:
        key += ((gr * nfaces + (face if face is not None else 0)) * dims[2]).astype(itype)
    key *= dims[3]
    key += np.floor((w - w0) / cell).astype(itype)
    key += 1
    if thick is not None and alt is not None:
        key *= dims[4]
        key += np.floor((alt - alt0) / thick).astype(itype)
        key += 1
    order = _argsort_keys(key, size)
    sorted_keys = key[order]
    new = np.empty(m, dtype=bool)
    new[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    cells = sorted_keys[starts]
    counts = np.diff(starts, append=m)
    # Forward neighbours of every occupied cell (the other half find them as theirs).
    strides = [dims[3] * dims[4], dims[4], 1] if len(dims) == 5 else [dims[3], 1]
    deltas = (_NEIGHBOURS[len(strides)] @ np.array(strides, dtype=np.int64)).astype(itype)
    wanted = (deltas[:, None] + cells[None, :]).ravel()
    if dense:
        table = np.full(size, -1, dtype=np.int32)
        table[cells] = np.arange(len(cells), dtype=np.int32)
        found = table[wanted]
        hit = np.flatnonzero(found >= 0)
        b = found[hit].astype(np.int64)
    else:
        at = np.minimum(np.searchsorted(cells, wanted), len(cells) - 1)
        hit = np.flatnonzero(cells[at] == wanted)
        b = at[hit]
    a = hit % len(cells)
    # Rows: (point, first partner, partners), every point with the later points of its own cell, and every
    # point of a cell with all points of each neighbouring cell.  Indices are in sorted order.
    na = counts[a]
    before = np.cumsum(na) - na
    pos = np.arange(m, dtype=np.int64)
    row_i = np.concatenate((pos, np.arange(int(na.sum()), dtype=np.int64) + np.repeat(starts[a] - before, na)))
    row_lo = np.concatenate((pos + 1, np.repeat(starts[b], na)))
    row_n = np.concatenate((np.repeat(starts + counts, counts) - pos - 1, np.repeat(counts[b], na)))
    before = np.cumsum(row_n) - row_n
    i = np.repeat(row_i, row_n)
    j = np.arange(len(i), dtype=np.int64) + np.repeat(row_lo - before, row_n)
    i, j = order[i], order[j]
    if src is None or guest is None or face is None:
        return i, j
    if guest.any():
        # A pair on a face where one point is a guest counts only if that face comes before the guest's own
        # (where the pair is found again with the roles swapped); two guests never count.
        own = np.empty(r.shape[1], dtype=np.int64)
        own[src[guest == 0]] = face[guest == 0]
        gi, gj = guest[i] == 1, guest[j] == 1
        keep = ~(gi & gj) & (~gi | (face[i] < own[src[i]])) & (~gj | (face[j] < own[src[j]]))
        i, j = i[keep], j[keep]
    return src[i], src[j]


# --- episodes and events --------------------------------------------------------------------------


def _utc(s: np.float64) -> datetime:
    when = from_epoch(float(s))
    assert when is not None  # sample instants are finite
    return when


def _distances(rows: dict[str, Any], at: IntArray) -> FloatArray:
    """The geodesic distance of rows ``at``: the chord plus its arc term when short, Karney otherwise.

    On a sphere of radius R an arc exceeds its chord c by c³ / (24 R²) plus
    terms of order c⁵; with R the Gaussian radius at the mean latitude this
    is within 0.1 mm of Karney on WGS84 up to ``_SERIES_MAX_CHORD_M``.
    """
    chord: FloatArray = rows["chord"][at]
    s = np.sin(np.radians((rows["lat_a"][at] + rows["lat_b"][at]) / 2.0))
    gauss = _A * np.sqrt(1.0 - _E2) / (1.0 - _E2 * s * s)
    d: FloatArray = chord + chord**3 / (24.0 * gauss * gauss)
    far = np.flatnonzero(chord > _SERIES_MAX_CHORD_M)
    if len(far):
        f = at[far]
        d[far] = distances_m(rows["lon_a"][f], rows["lat_a"][f], rows["lon_b"][f], rows["lat_b"][f])
    return d


def _episodes(rows: dict[str, Any], instants: FloatArray, samples: Samples) -> list[Event]:
    """One event per maximal run of conflict rows of a pair at consecutive instants no more than MAX_GAP_S apart."""
    # The pair's first track is the one with the smaller id, whatever the track numbering.
    rank = samples.track_rank
    swap = rank[rows["a"]] > rank[rows["b"]]
    a: IntArray = np.where(swap, rows["b"], rows["a"])
    b: IntArray = np.where(swap, rows["a"], rows["b"])
    k: IntArray = rows["k"]
    single = bool(np.all(k == k[0]))
    if single:
        # One instant (a live tick): every row is a pair's whole episode.
        order = np.arange(len(k), dtype=np.int64)
        starts = ends = order
        nearest = order
    else:
        order = np.lexsort((k, b, a))
        a, b, k = a[order], b[order], k[order]
        chord: FloatArray = rows["chord"][order]
        new = np.ones(len(k), dtype=bool)
        new[1:] = (
            (a[1:] != a[:-1])
            | (b[1:] != b[:-1])
            | (k[1:] != k[:-1] + 1)
            | (instants[k[1:]] - instants[k[:-1]] > MAX_GAP_S)
        )
        starts = np.flatnonzero(new)
        ends = np.append(starts[1:], len(k)) - 1
        episode = np.cumsum(new) - 1
        # Within each episode, the row of least chord; its distance is the episode's minimum
        # (to within the chord/arc bound, under a millimetre at separation minima).
        nearest = order[np.lexsort((chord, episode))[starts]]
    d = _distances(rows, nearest)
    # Events in order of (start, track id, other id), built from plain Python values and all at once.
    first_k, last_k, ea, eb = k[starts], k[ends], a[starts], b[starts]
    if single:
        out = np.argsort(rank[ea] * len(rank) + rank[eb], kind="stable")
    else:
        out = np.lexsort((rank[eb], rank[ea], first_k))
    when = {kk: _utc(instants[kk]) for kk in np.unique(np.concatenate((first_k, last_k))).tolist()}
    tracks = samples.tracks
    return make_pair_events(
        EventType.SEPARATION,
        map(tracks.__getitem__, ea[out].tolist()),
        map(tracks.__getitem__, eb[out].tolist()),
        map(when.__getitem__, first_k[out].tolist()),
        map(when.__getitem__, last_k[out].tolist()),
        d[out].tolist(),
    )
