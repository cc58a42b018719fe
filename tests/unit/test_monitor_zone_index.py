"""The zone monitor's fast path (``ZoneIndex``) against a plain loop over samples and volumes.

Random worlds of no-fly zones (polygons and circles, several volumes, windows,
bands, ``applies_to`` and ``exempt``), boundaries, sites and movements, and
random tracks of several parties and purposes: ``ZoneIndex.events`` must give
exactly the episodes a loop straight from SEMANTICS.md gives, and one index
kept across batches (its rules decided once per party and purpose) must give
what a fresh index gives for each batch.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, Polygon

from detente.domain.geo.footprint import Footprint, Shape
from detente.domain.geo.geodesic import distance_m
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Party, Role, WorldObject
from detente.domain.rules import nfz_binds
from detente.domain.tracks import Event, EventType, Samples
from detente.engine.measure import pair_distances
from detente.engine.monitor import PROXIMITY_PURPOSES, ZONE_EVENTS, ZoneIndex, zone_events

T0 = datetime(2017, 7, 7, 6, tzinfo=UTC)
PARTIES = {
    p.id: p
    for p in (
        Party("coalition", "Coalition", Role.MILITARY),
        Party("ru", "Russia", Role.MILITARY),
        Party("sy", "Syria", Role.MILITARY),
        Party("ocha", "OCHA", Role.HUMANITARIAN),
    )
}
MILITARY = frozenset(p for p, party in PARTIES.items() if party.role is Role.MILITARY)
PURPOSES = ["armed", "unknown", "humanitarian", "medevac"]
Row = tuple[str, str, str, str, float, float, float, float]


def _window(rng: np.random.Generator) -> TimeWindow:
    if rng.random() < 0.2:
        return TimeWindow()
    start = rng.integers(0, 300)
    return TimeWindow(T0 + timedelta(seconds=int(start)), T0 + timedelta(seconds=int(start + rng.integers(20, 400))))


def _band(rng: np.random.Generator) -> AltitudeBand:
    if rng.random() < 0.2:
        return AltitudeBand()
    lower = float(rng.uniform(0.0, 4000.0))
    return AltitudeBand(None if rng.random() < 0.2 else lower, lower + float(rng.uniform(500.0, 6000.0)))


def _world(rng: np.random.Generator, n: int) -> list[WorldObject]:
    objects = []
    for k in range(n):
        kind = [Kind.NFZ, Kind.NFZ, Kind.BOUNDARY, Kind.SITE, Kind.MOVEMENT][int(rng.integers(0, 5))]
        x, y = rng.uniform(36.0, 36.4), rng.uniform(35.0, 35.4)
        volumes = []
        for _ in range(int(rng.integers(1, 3))):
            if kind is Kind.SITE or (kind is Kind.NFZ and rng.random() < 0.3):
                footprint = Footprint(Point(x, y), float(rng.uniform(2000.0, 15000.0)))
            elif kind is Kind.MOVEMENT:
                footprint = Footprint(LineString([(x, y), (x + rng.uniform(-0.2, 0.2), y + 0.1)]), 1500.0)
            else:
                w, h = rng.uniform(0.05, 0.3, 2)
                footprint = Footprint(Polygon([(x, y), (x + w, y), (x + w / 2, y + h)]))
            volumes.append(Volume4D(footprint, _band(rng), _window(rng)))
            x, y = x + 0.05, y + 0.03
        owner = str(rng.choice(["coalition", "ru", "sy", "ocha"]))
        applies = frozenset(rng.choice(sorted(MILITARY), 2, replace=False)) if rng.random() < 0.3 else None
        exempt = frozenset({"humanitarian", "medevac"}) if rng.random() < 0.5 else frozenset()
        if kind is Kind.NFZ:
            objects.append(WorldObject(kind, f"o{k:03d}", owner, tuple(volumes), applies_to=applies, exempt=exempt))
        else:
            objects.append(WorldObject(kind, f"o{k:03d}", owner, tuple(volumes)))
    return objects


def _tracks(rng: np.random.Generator, n: int) -> list[Row]:
    rows: list[Row] = []
    for k in range(n):
        party, purpose = str(rng.choice(sorted(PARTIES))), str(rng.choice(PURPOSES))
        x, y, alt = rng.uniform(36.0, 36.5), rng.uniform(35.0, 35.5), rng.uniform(0.0, 6000.0)
        vx, vy = rng.normal(0.0, 0.002, 2)
        t = float(rng.integers(0, 100))
        for _ in range(int(rng.integers(1, 40))):
            rows.append((f"t{k:03d}", party, "air", purpose, T0.timestamp() + t, x, y, alt))
            t += float(rng.integers(1, 30))
            x, y, alt = x + vx * 10, y + vy * 10, alt + rng.normal(0.0, 200.0)
    return rows


def _reference(objects: list[WorldObject], samples: Samples) -> list[tuple[str, str, str, float, float, float]]:
    """Episodes by a plain loop: every sample against every volume, runs of consecutive samples per object."""
    hits: dict[tuple[int, int], float] = {}  # (sample, object) -> least distance
    for s in range(len(samples)):
        info = samples.tracks[int(samples.track[s])]
        t, lon, lat, alt = (float(a[s]) for a in (samples.t, samples.lon, samples.lat, samples.alt))
        for o, obj in enumerate(objects):
            if obj.kind is Kind.NFZ:
                concerned = nfz_binds(obj, info.party, info.purpose, MILITARY)
            elif obj.kind is Kind.BOUNDARY:
                concerned = info.party != obj.party
            else:
                concerned = info.purpose in PROXIMITY_PURPOSES
            if not concerned:
                continue
            for vol in obj.volumes:
                if not (vol.time.start_s <= t < vol.time.end_s and vol.altitude.lower_m <= alt < vol.altitude.upper_m):
                    continue
                fp = vol.footprint
                if fp.shape is Shape.POINT:
                    d = distance_m(lon, lat, fp.geometry.x, fp.geometry.y)
                    inside = d <= fp.radius_m
                elif fp.shape is Shape.AREA and fp.radius_m == 0:
                    d, inside = 0.0, bool(shapely.intersects_xy(fp.geometry, lon, lat))
                else:
                    d = float(
                        pair_distances(np.array([Point(lon, lat)]), np.array([fp.geometry]), np.array([fp.radius_m]))[0]
                    )
                    inside = d <= fp.radius_m
                if inside:
                    d = d if ZONE_EVENTS[obj.kind] is EventType.PROXIMITY else 0.0
                    hits[(s, o)] = min(d, hits.get((s, o), np.inf))
    out: list[tuple[str, str, str, float, float, float]] = []
    for (s, o), d in sorted(hits.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        obj, info = objects[o], samples.tracks[int(samples.track[s])]
        event = (ZONE_EVENTS[obj.kind].value, info.id, obj.id, float(samples.t[s]), float(samples.t[s]), d)
        previous = out[-1] if out else None
        if (
            previous is not None
            and previous[2] == obj.id
            and (s - 1, o) in hits
            and samples.track[s - 1] == samples.track[s]
        ):
            out[-1] = (*previous[:4], float(samples.t[s]), min(previous[5], d))
        else:
            out.append(event)
    return sorted(out)


def _got(events: list[Event]) -> list[tuple[str, str, str, float, float, float]]:
    return sorted(
        (e.type.value, e.track, e.other.id, e.start.timestamp(), e.end.timestamp(), e.min_distance_m) for e in events
    )


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), huge=st.booleans())
def test_zone_index_matches_a_plain_loop(seed: int, huge: bool) -> None:
    rng = np.random.default_rng(seed)
    objects = _world(rng, int(rng.integers(5, 40)))
    if huge:  # a zone covering thousands of grid cells, kept aside by the grid and tested against every sample
        square = Footprint(Polygon([(34.5, 33.5), (38.5, 33.5), (38.5, 37.5), (34.5, 37.5)]))
        objects.append(WorldObject(Kind.NFZ, "huge", "coalition", (Volume4D(square, _band(rng), _window(rng)),)))
    samples = Samples.build(_tracks(rng, int(rng.integers(2, 12))))
    got = _got(ZoneIndex(objects, PARTIES).events(samples))
    want = _reference(objects, samples)
    assert [g[:5] for g in got] == [w[:5] for w in want]
    assert all(abs(g[5] - w[5]) < 0.01 for g, w in zip(got, want, strict=True))


def test_one_index_kept_across_batches_gives_what_a_fresh_one_gives() -> None:
    rng = np.random.default_rng(66)
    objects = _world(rng, 40)
    index = ZoneIndex(objects, PARTIES)
    found = 0
    for _ in range(6):  # each batch has its own mix of parties and purposes
        samples = Samples.build(_tracks(rng, int(rng.integers(1, 8))))
        events = index.events(samples)
        assert events == zone_events(objects, PARTIES, samples)
        found += len(events)
    assert found > 10
