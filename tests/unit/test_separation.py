"""Loss of separation between tracks (SEMANTICS.md, "Conflicts found while monitoring tracks").

Constructed tracks with known geodesic distances (placed with Karney's
direct problem), plus brute-force references on random tracks.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pyproj import Geod

import detente.engine.separation as separation_module
from detente.domain.geo.geodesic import distance_m, distances_m
from detente.domain.model import DEFAULT_SEPARATION, Category, Minima
from detente.domain.tracks import MAX_GAP_S, Event, EventType, Other, Samples, TrackInfo
from detente.engine.separation import separation_events

GEOD = Geod(ellps="WGS84")
T0 = datetime(2017, 7, 7, 6, tzinfo=UTC).timestamp()
P0 = (36.0, 35.0)  # lon, lat
Row = tuple[str, str, str, str, float, float, float, float]


def at(s: float) -> datetime:
    return datetime.fromtimestamp(T0 + s, tz=UTC)


def moved(distance: float, azimuth: float = 90.0, origin: tuple[float, float] = P0) -> tuple[float, float]:
    """The point ``distance`` metres from ``origin`` along the geodesic leaving at ``azimuth``."""
    lon, lat, _ = GEOD.fwd(origin[0], origin[1], azimuth, distance)
    return float(lon), float(lat)


def row(
    track: str, party: str, s: float, where: tuple[float, float], alt: float = 3000.0, category: str = "air"
) -> Row:
    return (track, party, category, "armed", T0 + s, where[0], where[1], alt)


def static(
    track: str, party: str, times: list[float], where: tuple[float, float], alt: float = 3000.0, category: str = "air"
) -> list[Row]:
    return [row(track, party, s, where, alt, category) for s in times]


def events(rows: list[Row], minima: dict[Category, Minima] | None = None) -> list[Event]:
    return separation_events(Samples.build(rows), DEFAULT_SEPARATION if minima is None else minima)


def spans(found: list[Event]) -> list[tuple[str, str, float, float]]:
    return [(e.track, e.other.id, e.start.timestamp() - T0, e.end.timestamp() - T0) for e in found]


# --- basic geometry -----------------------------------------------------------------------------------


def test_head_on_one_episode_with_first_and_last_conflicting_instants() -> None:
    # Both on one geodesic, closing at 400 m/s from 100 km: distance |100000 - 400 s|, below 9260 m
    # for s in (226.85, 273.15); sampled at 3, 13, 23, ... s.
    times = [3.0 + 10 * i for i in range(60)]
    rows = [row("a-1", "ru", s, moved(200.0 * s)) for s in times]
    rows += [row("b-1", "coalition", s, moved(100_000.0 - 200.0 * s)) for s in times]
    found = events(rows)
    assert spans(found) == [("a-1", "b-1", 233.0, 273.0)]
    e = found[0]
    assert e.type is EventType.SEPARATION
    assert (e.party, e.other) == ("ru", Other("track", "b-1", "coalition"))
    assert e.start.utcoffset() == timedelta(0) and e.end.utcoffset() == timedelta(0)
    # Closest sampled approach at s = 253: 100000 - 400 * 253 = -1200.
    a, b = moved(200.0 * 253), moved(100_000.0 - 200.0 * 253)
    assert e.min_distance_m == pytest.approx(distance_m(*a, *b), abs=1.0)
    assert e.min_distance_m == pytest.approx(1200.0, abs=1.0)


def test_same_party_is_not_a_conflict() -> None:
    rows = static("a", "ru", [0, 10], P0) + static("b", "ru", [0, 10], moved(1000.0))
    assert events(rows) == []


def test_different_categories_are_not_a_conflict() -> None:
    rows = static("a", "ru", [0, 10], P0, category="air") + static("b", "sy", [0, 10], moved(500.0), category="ground")
    assert events(rows) == []


def test_ground_minima_have_no_vertical_limit() -> None:
    rows = static("a", "ru", [0, 10], P0, alt=0.0, category="ground")
    rows += static("b", "sy", [0, 10], moved(900.0), alt=1000.0, category="ground")
    assert spans(events(rows)) == [("a", "b", 0.0, 10.0)]
    # ... but the horizontal minimum (1,000 m) still applies.
    rows = static("a", "ru", [0, 10], P0, category="ground") + static(
        "b", "sy", [0, 10], moved(1010.0), category="ground"
    )
    assert events(rows) == []


@pytest.mark.parametrize(("gap", "expected"), [(305.0, 0), (320.0, 0), (300.0, 1), (0.0, 1)])
def test_vertical_minimum_is_strict(gap: float, expected: int) -> None:
    rows = static("a", "ru", [0], P0, alt=3000.0) + static("b", "sy", [0], moved(1000.0), alt=3000.0 + gap)
    assert len(events(rows)) == expected


def test_horizontal_minimum_is_strict() -> None:
    where = moved(9260.0)
    d = distance_m(*P0, *where)
    rows = static("a", "ru", [0], P0) + static("b", "sy", [0], where)
    exactly = {Category.AIR: Minima(horizontal_m=d, vertical_m=305.0)}
    assert events(rows, exactly) == []
    # Just inside the minimum, by far less than the chord/arc shortcut's margin: Karney decides.
    barely = {Category.AIR: Minima(horizontal_m=d + 0.0005, vertical_m=305.0)}
    assert len(events(rows, barely)) == 1
    assert events(rows, {Category.AIR: Minima(horizontal_m=d - 0.0005, vertical_m=305.0)}) == []
    # Default minima: 10 m inside conflicts, 10 m outside does not.
    inside = static("a", "ru", [0], P0) + static("b", "sy", [0], moved(9250.0))
    outside = static("a", "ru", [0], P0) + static("b", "sy", [0], moved(9270.0))
    assert len(events(inside)) == 1
    assert events(outside) == []


def test_no_minima_for_a_category_means_no_check() -> None:
    rows = static("a", "ru", [0], P0) + static("b", "sy", [0], moved(100.0))
    assert events(rows, {Category.GROUND: DEFAULT_SEPARATION[Category.GROUND]}) == []


# --- time: interpolation, gaps, episodes ----------------------------------------------------------------


def test_interpolated_position_between_samples_finds_the_conflict() -> None:
    # A is static, sampled every 20 s; B flies east along the parallel through A, sampled every 30 s,
    # 12 km west of A at 0 s and 12 km east at 30 s: at no instant of B is it within 9,260 m of A,
    # but at A's instant 20 s B's interpolated position is 4 km east of A.
    lon_per_m = 1.0 / (np.pi / 180.0 * 6_378_137.0 * np.cos(np.radians(35.0)))
    b_lon = {0.0: 36.0 - 12_000 * lon_per_m, 30.0: 36.0 + 12_000 * lon_per_m, 60.0: 36.0 + 36_000 * lon_per_m}
    rows = static("a", "ru", [0, 20, 40, 60], P0)
    rows += [row("b", "coalition", s, (lon, 35.0)) for s, lon in b_lon.items()]
    found = events(rows)
    assert spans(found) == [("a", "b", 20.0, 20.0)]
    lon_20 = b_lon[0.0] + 2 / 3 * (b_lon[30.0] - b_lon[0.0])
    assert found[0].min_distance_m == pytest.approx(distance_m(*P0, lon_20, 35.0), abs=1.0)
    # Without A's sample at 20 s there is nothing at a shared instant.
    assert events([r for r in rows if not (r[0] == "a" and r[4] == T0 + 20)]) == []


def test_gap_longer_than_60_s_leaves_no_position() -> None:
    rows = static("a", "ru", [10.0 * i for i in range(21)], P0)
    rows += static("b", "sy", [0, 30, 60, 60 + MAX_GAP_S + 1, 150, 180], moved(2000.0))
    assert spans(events(rows)) == [("a", "b", 0.0, 60.0), ("a", "b", 121.0, 180.0)]


def test_gap_longer_than_60_s_splits_episodes_even_with_no_instant_inside() -> None:
    rows = static("a", "ru", [0, 61], P0) + static("b", "sy", [0, 61], moved(2000.0))
    assert spans(events(rows)) == [("a", "b", 0.0, 0.0), ("a", "b", 61.0, 61.0)]


def test_gap_of_exactly_60_s_is_interpolated() -> None:
    rows = static("a", "ru", [10.0 * i for i in range(7)], P0)
    rows += static("b", "sy", [0, MAX_GAP_S], moved(2000.0))
    assert spans(events(rows)) == [("a", "b", 0.0, 60.0)]
    rows = static("a", "ru", [0, 60], P0) + static("b", "sy", [0, 60], moved(2000.0))
    assert spans(events(rows)) == [("a", "b", 0.0, 60.0)]


def test_separating_and_closing_again_makes_two_episodes() -> None:
    distance = {0: 2000.0, 10: 2000.0, 20: 3000.0, 30: 20_000.0, 40: 25_000.0, 50: 20_000.0, 60: 5000.0}
    distance |= {70: 2000.0, 80: 1500.0, 90: 15_000.0}
    rows = static("a", "ru", list(map(float, distance)), P0)
    rows += [row("b", "sy", float(s), moved(d)) for s, d in distance.items()]
    found = events(rows)
    assert spans(found) == [("a", "b", 0.0, 20.0), ("a", "b", 60.0, 80.0)]
    assert [e.min_distance_m for e in found] == pytest.approx([2000.0, 1500.0], abs=1.0)


def test_three_tracks_each_pair_once_smaller_id_first() -> None:
    rows = static("charlie", "sy", [0, 10], moved(1000.0, 0.0))
    rows += static("alpha", "coalition", [0, 10], P0)
    rows += static("bravo", "ru", [0, 10], moved(1000.0, 90.0))
    rows += static("delta", "ru", [0, 10], moved(1500.0, 180.0))  # same party as bravo
    found = events(rows)
    pairs = sorted((e.track, e.other.id) for e in found)
    assert pairs == [
        ("alpha", "bravo"),
        ("alpha", "charlie"),
        ("alpha", "delta"),
        ("bravo", "charlie"),
        ("charlie", "delta"),
    ]
    assert all(e.start == at(0) and e.end == at(10) for e in found)
    assert [(e.start, e.track, e.other.id) for e in found] == sorted((e.start, e.track, e.other.id) for e in found)


def test_smaller_id_first_whatever_the_track_numbering() -> None:
    # Built by hand with the tracks not in id order.
    tracks = (TrackInfo("zulu", "ru", Category.AIR, "armed"), TrackInfo("alpha", "sy", Category.AIR, "armed"))
    where = moved(1000.0)
    samples = Samples(
        tracks,
        np.array([0, 1], dtype=np.int64),
        np.array([T0, T0]),
        np.array([P0[0], where[0]]),
        np.array([P0[1], where[1]]),
        np.array([3000.0, 3000.0]),
    )
    (e,) = separation_events(samples, DEFAULT_SEPARATION)
    assert (e.track, e.party, e.other) == ("alpha", "sy", Other("track", "zulu", "ru"))


def test_events_sorted_by_start() -> None:
    rows = static("a", "ru", [0, 10, 20, 30], P0)
    rows += static("b", "sy", [20, 30], moved(1000.0))
    rows += static("c", "coalition", [0, 10], moved(1000.0, 180.0))
    assert spans(events(rows)) == [("a", "c", 0.0, 10.0), ("a", "b", 20.0, 30.0)]


def test_tracks_far_apart_in_time_do_not_conflict() -> None:
    rows = static("a", "ru", [0, 30, 60], P0) + static("b", "sy", [1000, 1030, 1060], P0)
    assert events(rows) == []


def test_empty_samples() -> None:
    assert events([]) == []
    assert separation_events(Samples.build([]), DEFAULT_SEPARATION) == []


def test_track_with_a_single_sample() -> None:
    lone = static("a", "ru", [30], P0)
    # B is interpolated at A's only instant.
    assert spans(events(lone + static("b", "sy", [0, 60], moved(1000.0)))) == [("a", "b", 30.0, 30.0)]
    # B has no position at 30 s (a 61 s gap).
    assert events(lone + static("b", "sy", [0, 61], moved(1000.0))) == []
    # Both alone at one instant.
    assert spans(events(lone + static("b", "sy", [30], moved(1000.0)))) == [("a", "b", 30.0, 30.0)]


def test_track_crossing_the_antimeridian_is_interpolated_the_short_way() -> None:
    rows = [row("a", "ru", 0, (179.99, 10.0)), row("a", "ru", 20, (-179.99, 10.0))]
    rows += static("b", "sy", [0, 10, 20], (180.0, 10.0))
    assert spans(events(rows)) == [("a", "b", 0.0, 20.0)]


# --- against brute force --------------------------------------------------------------------------------


def test_one_instant_random_tracks_match_brute_force() -> None:
    rng = np.random.default_rng(6)
    n = 2000
    lon = rng.uniform(36.0, 37.5, n)
    lat = rng.uniform(34.5, 35.5, n)
    alt = rng.uniform(0.0, 2000.0, n)
    party = rng.choice(["ru", "sy", "coalition"], n)
    category = rng.choice(["air", "ground"], n, p=[0.6, 0.4])
    names = [f"t{k:04d}" for k in range(n)]
    rows = [
        (names[k], str(party[k]), str(category[k]), "armed", T0, float(lon[k]), float(lat[k]), float(alt[k]))
        for k in range(n)
    ]
    found = separation_events(Samples.build(rows), DEFAULT_SEPARATION)

    i, j = np.triu_indices(n, k=1)
    d = distances_m(lon[i], lat[i], lon[j], lat[j])
    air = category[i] == "air"
    horizontal = np.where(air, 9260.0, 1000.0)
    vertical = np.where(air, np.abs(alt[i] - alt[j]) < 305.0, True)
    hit = (category[i] == category[j]) & (party[i] != party[j]) & (d < horizontal) & vertical
    expected = {(names[a], names[b]) for a, b in zip(i[hit], j[hit], strict=True)}
    assert len(expected) > 1000  # dense enough to mean something
    assert {(e.track, e.other.id) for e in found} == expected
    assert len(found) == len(expected)
    by_pair = {(names[a], names[b]): dist for a, b, dist in zip(i[hit], j[hit], d[hit], strict=True)}
    assert max(abs(e.min_distance_m - by_pair[(e.track, e.other.id)]) for e in found) < 0.01


def _reference(rows: list[Row], minima: dict[Category, Minima]) -> list[tuple[str, str, float, float]]:
    """Episodes by a plain loop over pairs and instants, straight from SEMANTICS.md."""
    tracks: dict[str, list[Row]] = {}
    for r in sorted(rows, key=lambda r: (r[0], r[4])):
        tracks.setdefault(r[0], []).append(r)
    instants = sorted({r[4] for r in rows})

    def position(samples: list[Row], t: float) -> tuple[int, float, float, float] | None:
        """(run, lon, lat, alt) at t, ``run`` numbering the unbroken stretches of the track."""
        run = 0
        for k, s in enumerate(samples):
            if s[4] == t:
                return run, s[5], s[6], s[7]
            if k + 1 < len(samples):
                nxt = samples[k + 1]
                if s[4] < t < nxt[4] and nxt[4] - s[4] <= MAX_GAP_S:
                    f = (t - s[4]) / (nxt[4] - s[4])
                    return run, s[5] + f * (nxt[5] - s[5]), s[6] + f * (nxt[6] - s[6]), s[7] + f * (nxt[7] - s[7])
                if nxt[4] - s[4] > MAX_GAP_S:
                    run += 1
        return None

    out = []
    for a, b in itertools.combinations(sorted(tracks), 2):
        ra, rb = tracks[a][0], tracks[b][0]
        if ra[1] == rb[1] or ra[2] != rb[2] or Category(ra[2]) not in minima:
            continue
        m = minima[Category(ra[2])]
        episode: list[float] | None = None
        last: tuple[int, int] | None = None
        for t in instants:
            pa, pb = position(tracks[a], t), position(tracks[b], t)
            conflict = False
            if pa is not None and pb is not None:
                d = distance_m(pa[1], pa[2], pb[1], pb[2])
                conflict = d < m.horizontal_m and (m.vertical_m is None or abs(pa[3] - pb[3]) < m.vertical_m)
            if conflict and pa is not None and pb is not None:
                if episode is not None and last == (pa[0], pb[0]):
                    episode[1] = t
                else:
                    if episode is not None:
                        out.append((a, b, episode[0] - T0, episode[1] - T0))
                    episode = [t, t]
                last = (pa[0], pb[0])
            else:
                if episode is not None:
                    out.append((a, b, episode[0] - T0, episode[1] - T0))
                episode, last = None, None
        if episode is not None:
            out.append((a, b, episode[0] - T0, episode[1] - T0))
    return sorted(out, key=lambda e: (e[2], e[0], e[1]))


@pytest.mark.parametrize(("chunk_rows", "chunk_instants"), [(1 << 20, 4096), (7, 4096), (1 << 20, 5)])
def test_moving_random_tracks_match_a_plain_reference(
    monkeypatch: pytest.MonkeyPatch, chunk_rows: int, chunk_instants: int
) -> None:
    # Small chunks force many batches of trees; the result must not depend on them.
    monkeypatch.setattr(separation_module, "_CHUNK_ROWS", chunk_rows)
    monkeypatch.setattr(separation_module, "_CHUNK_INSTANTS", chunk_instants)
    rng = np.random.default_rng(60)
    rows: list[Row] = []
    for k in range(30):
        party = str(rng.choice(["ru", "sy", "coalition"]))
        category = str(rng.choice(["air", "ground"]))
        lon, lat, alt = rng.uniform(36.0, 36.1), rng.uniform(35.0, 35.1), rng.uniform(0.0, 1000.0)
        vlon, vlat, valt = rng.normal(0, 5e-5, 3) * np.array([1.0, 1.0, 5e4])
        t = float(rng.integers(0, 60))
        while t < 400:
            rows.append((f"t{k:02d}", party, category, "armed", T0 + t, lon, lat, alt))
            step = float(rng.choice([7.0, 13.0, 30.0, 60.0, 61.0, 90.0]))
            t += step
            lon, lat, alt = lon + vlon * step, lat + vlat * step, alt + valt * step
    minima = {Category.AIR: Minima(4000.0, 300.0), Category.GROUND: Minima(2500.0, None)}
    got = spans(separation_events(Samples.build(rows), minima))
    expected = _reference(rows, minima)
    assert len(expected) > 50  # about 60 episodes, some pairs with several
    assert got == expected
