"""The separation engine's grid hash and fast paths against plain references.

* ``_grid_pairs`` returns every pair of points closer than the radius along
  the chord (and within the slab in altitude when it cuts slabs), each pair
  once, only within a group: regional, global, polar and antimeridian point
  sets, radii from metres to thousands of kilometres, with its dense table
  or its ``searchsorted`` lookup.
* ``separation_events`` on points spread over the whole globe (so that the
  cube faces and their guests matter) matches a brute-force Karney loop.
* An episode's distance from the chord's series matches Karney.
* ``Samples``' integer codes, and the fast event builders, match the slow way.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import detente.domain.tracks as tracks_module
import detente.engine.separation as sep
from detente.domain.geo.geodesic import WGS84, distances_m
from detente.domain.model import Category, Minima
from detente.domain.tracks import (
    Event,
    EventType,
    Other,
    Samples,
    TrackInfo,
    make_events,
    make_pair_events,
)
from detente.engine.separation import separation_events

T0 = datetime(2017, 7, 7, 6, tzinfo=UTC).timestamp()


def _points(rng: np.random.Generator, n: int, where: str) -> tuple[np.ndarray, np.ndarray]:
    """(lon, lat) of ``n`` points: in a small region, anywhere, around a pole or across the antimeridian."""
    if where == "region":
        return rng.uniform(36.0, 37.0, n), rng.uniform(34.5, 35.5, n)
    if where == "globe":
        return rng.uniform(-180.0, 180.0, n), np.degrees(np.arcsin(rng.uniform(-1.0, 1.0, n)))
    if where == "pole":
        return rng.uniform(-180.0, 180.0, n), rng.uniform(88.0, 90.0, n)
    if where == "antimeridian":
        return (rng.uniform(179.0, 181.0, n) + 180.0) % 360.0 - 180.0, rng.uniform(-1.0, 1.0, n)
    # clusters around a few centres anywhere: several faces, each with dense spots
    centres = rng.integers(0, 4, n)
    clon, clat = rng.uniform(-180.0, 180.0, 4), rng.uniform(-80.0, 80.0, 4)
    return (clon[centres] + rng.normal(0.0, 0.5, n) + 180.0) % 360.0 - 180.0, np.clip(
        clat[centres] + rng.normal(0.0, 0.5, n), -90.0, 90.0
    )


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(2, 250),
    where=st.sampled_from(["region", "globe", "pole", "antimeridian", "clusters"]),
    radius=st.sampled_from([5.0, 1_000.0, 9_260.0, 80_000.0, 600_000.0, 3_000_000.0]),
    groups=st.integers(1, 3),
    slab=st.sampled_from([None, 5.0, 305.0]),
    sparse=st.booleans(),
)
def test_grid_pairs_finds_every_close_pair_once(
    seed: int, n: int, where: str, radius: float, groups: int, slab: float | None, sparse: bool
) -> None:
    rng = np.random.default_rng(seed)
    lon, lat = _points(rng, n, where)
    xyz = sep._surface_ecef(lon, lat)
    group = rng.integers(0, groups, n).astype(np.int64)
    alt = rng.uniform(0.0, 2_000.0, n) if slab is not None else None
    with pytest.MonkeyPatch.context() as mp:
        if sparse:  # no dense table: the searchsorted lookup (and no slabs)
            mp.setattr(sep, "_DENSE_MAX", 0)
        i, j = sep._grid_pairs(xyz, group, groups, radius, alt, slab)
    got = list(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist(), strict=True))
    assert len(got) == len(set(got))  # each pair once
    assert all(a != b for a, b in got)
    assert np.array_equal(group[i], group[j])
    a, b = np.triu_indices(n, k=1)
    close = (np.linalg.norm(xyz[:, a] - xyz[:, b], axis=0) < radius) & (group[a] == group[b])
    if alt is not None and slab is not None:
        close &= np.abs(alt[a] - alt[b]) < slab
    want = set(zip(a[close].tolist(), b[close].tolist(), strict=True))
    assert want <= set(got)


def test_the_grid_hash_keeps_the_keys_in_int64_for_tiny_radii_over_the_globe() -> None:
    rng = np.random.default_rng(3)
    lon, lat = _points(rng, 400, "globe")
    # pairs 1 cm apart everywhere: the cells must coarsen (a 1 cm grid of the globe overflows int64)
    lon2, lat2, _ = WGS84.fwd(lon, lat, rng.uniform(0.0, 360.0, 400), np.full(400, 0.01))
    xyz = sep._surface_ecef(np.concatenate((lon, lon2)), np.concatenate((lat, lat2)))
    i, j = sep._grid_pairs(xyz, np.zeros(800, dtype=np.int64), 1, 0.02, None, None)
    got = set(zip(np.minimum(i, j).tolist(), np.maximum(i, j).tolist(), strict=True))
    assert {(k, k + 400) for k in range(400)} <= got


@pytest.mark.parametrize("where", ["globe", "pole", "antimeridian", "clusters"])
def test_one_instant_anywhere_on_the_globe_matches_brute_force(where: str) -> None:
    rng = np.random.default_rng(hash(where) % 2**32)
    n = 600
    lon, lat = _points(rng, n, where)
    alt = rng.uniform(0.0, 30_000.0, n)
    party = rng.choice(["ru", "sy", "coalition"], n)
    category = rng.choice(["air", "ground"], n)
    # minima large enough that pairs straddle the cube's faces in "globe"
    minima = {Category.AIR: Minima(900_000.0, 10_000.0), Category.GROUND: Minima(400_000.0, None)}
    names = [f"t{k:04d}" for k in range(n)]
    rows = [
        (names[k], str(party[k]), str(category[k]), "armed", T0, float(lon[k]), float(lat[k]), float(alt[k]))
        for k in range(n)
    ]
    found = separation_events(Samples.build(rows), minima)
    i, j = np.triu_indices(n, k=1)
    d = distances_m(lon[i], lat[i], lon[j], lat[j])
    air = category[i] == "air"
    horizontal = np.where(air, 900_000.0, 400_000.0)
    vertical = np.where(air, np.abs(alt[i] - alt[j]) < 10_000.0, True)
    hit = (category[i] == category[j]) & (party[i] != party[j]) & (d < horizontal) & vertical
    expected = {(names[a], names[b]): dist for a, b, dist in zip(i[hit], j[hit], d[hit], strict=True)}
    assert len(expected) > 50
    assert {(e.track, e.other.id) for e in found} == set(expected)
    assert len(found) == len(expected)
    assert max(abs(e.min_distance_m - expected[(e.track, e.other.id)]) for e in found) < 0.01


def test_episode_distance_from_the_chord_matches_karney() -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    lon, lat = _points(rng, n, "globe")
    lat = np.clip(lat, -89.99, 89.99)
    lon2, lat2, _ = WGS84.fwd(lon, lat, rng.uniform(0.0, 360.0, n), rng.uniform(0.0, 60_000.0, n))
    chord = np.linalg.norm(sep._surface_ecef(lon, lat) - sep._surface_ecef(lon2, lat2), axis=0)
    rows = {"chord": chord, "lon_a": lon, "lat_a": lat, "lon_b": lon2, "lat_b": lat2}
    got = sep._distances(rows, np.arange(n, dtype=np.int64))
    assert np.max(np.abs(got - distances_m(lon, lat, lon2, lat2))) < 1e-4
    assert np.any(chord > sep._SERIES_MAX_CHORD_M)  # both ways measured


def test_samples_codes_match_the_track_infos() -> None:
    tracks = (
        TrackInfo("zulu", "sy", Category.GROUND, "medevac"),
        TrackInfo("alpha", "ru", Category.AIR, "armed"),
        TrackInfo("mike", "coalition", Category.AIR, "unknown"),
        TrackInfo("bravo", "ru", Category.GROUND, "humanitarian"),
    )
    n = len(tracks)
    # not sorted by id: a Samples built directly may number its tracks any way
    s = Samples(tracks, np.arange(n, dtype=np.int64), np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n))
    assert s.parties == ("coalition", "ru", "sy")
    assert [s.parties[k] for k in s.track_party] == [t.party for t in tracks]
    assert [tuple(Category)[k] for k in s.track_category] == [t.category for t in tracks]
    assert s.track_purpose.tolist() == [
        ["armed", "humanitarian", "medevac", "unknown"].index(t.purpose) for t in tracks
    ]
    assert s.track_rank.tolist() == [3, 0, 2, 1]
    built = Samples.build([(t.id, t.party, t.category.value, t.purpose, 0.0, 0.0, 0.0, 0.0) for t in tracks])
    assert built.track_rank.tolist() == [0, 1, 2, 3]


@pytest.mark.parametrize("plain", [True, False])
def test_fast_event_builders_make_the_same_events(monkeypatch: pytest.MonkeyPatch, plain: bool) -> None:
    monkeypatch.setattr(tracks_module, "_PLAIN", plain and tracks_module._PLAIN)  # False: the constructors
    when = datetime(2017, 7, 7, 6, tzinfo=UTC)
    a, b = TrackInfo("a", "ru", Category.AIR, "armed"), TrackInfo("b", "sy", Category.AIR, "armed")
    slow = Event(EventType.SEPARATION, "a", "ru", Other("track", "b", "sy"), when, when, 12.5)
    (pair,) = make_pair_events(EventType.SEPARATION, [a], [b], [when], [when], [12.5])
    (plain,) = make_events([EventType.SEPARATION], ["a"], ["ru"], [Other("track", "b", "sy")], [when], [when], [12.5])
    for fast in (pair, plain):
        assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
        assert fast.to_json() == slow.to_json()
        assert pickle.loads(pickle.dumps(fast)) == slow
        with pytest.raises(AttributeError):
            fast.track = "c"  # type: ignore[misc]
