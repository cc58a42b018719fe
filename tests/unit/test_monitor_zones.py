"""Conformance of the zone part of the monitor (SEMANTICS.md, "Conflicts found while monitoring tracks").

Constructed tracks, each decision at least 10 m, 1 m and 1 s from its
boundary, except the tests of the interval rules, which are exact.
"""

from __future__ import annotations

from datetime import UTC, datetime

from pyproj import Geod
from shapely.geometry import LineString, Point, Polygon

from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import ALL_ALTITUDES, ALWAYS, AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Party, Role, WorldObject
from detente.domain.tracks import Event, Samples
from detente.engine.monitor import zone_events

GEOD = Geod(ellps="WGS84")
T0 = datetime(2017, 7, 7, 6, tzinfo=UTC).timestamp()
PARTIES = {
    p.id: p
    for p in (
        Party("coalition", "Coalition", Role.MILITARY),
        Party("ru", "Russia", Role.MILITARY),
        Party("sy", "Syria", Role.MILITARY),
        Party("ocha", "OCHA", Role.HUMANITARIAN),
    )
}
SQUARE = Polygon([(38.0, 35.0), (38.2, 35.0), (38.2, 35.2), (38.0, 35.2)])


def window(start_min: float | None = None, end_min: float | None = None) -> TimeWindow:
    def at(m: float | None) -> datetime | None:
        return None if m is None else datetime.fromtimestamp(T0 + 60 * m, tz=UTC)

    return TimeWindow(at(start_min), at(end_min))


def nfz(
    oid: str = "box",
    *,
    footprint: Footprint | None = None,
    altitude: AltitudeBand = ALL_ALTITUDES,
    time: TimeWindow = ALWAYS,
    applies_to: frozenset[str] | None = None,
    exempt: frozenset[str] = frozenset(),
) -> WorldObject:
    """A coalition no-fly zone (SQUARE unless told otherwise)."""
    vol = Volume4D(footprint or Footprint(SQUARE), altitude, time)
    return WorldObject(Kind.NFZ, oid, "coalition", (vol,), applies_to=applies_to, exempt=exempt)


def track(
    name: str,
    party: str,
    points: list[tuple[float, float]],
    *,
    purpose: str = "armed",
    alt: float = 5000.0,
    every_s: float = 10.0,
    category: str = "air",
    first_s: float = 0.0,
) -> list[tuple[str, str, str, str, float, float, float, float]]:
    return [(name, party, category, purpose, T0 + first_s + i * every_s, x, y, alt) for i, (x, y) in enumerate(points)]


#: Outside, three samples inside, outside (west to east across SQUARE at lat 35.1).
ACROSS = [(37.9, 35.1), (38.05, 35.1), (38.1, 35.1), (38.15, 35.1), (38.3, 35.1)]


def run(
    objects: list[WorldObject], *tracks: list[tuple[str, str, str, str, float, float, float, float]]
) -> list[Event]:
    samples = Samples.build([row for t in tracks for row in t])
    return zone_events(objects, PARTIES, samples)


def spans(events: list[Event]) -> list[tuple[str, str, str, float, float]]:
    return [(e.type.value, e.track, e.other.id, e.start.timestamp() - T0, e.end.timestamp() - T0) for e in events]


def test_an_incursion_is_one_episode_from_first_to_last_sample_inside() -> None:
    events = run([nfz()], track("SY-22", "sy", ACROSS))
    assert spans(events) == [("incursion", "SY-22", "box", 10.0, 30.0)]
    assert events[0].min_distance_m == 0.0 and events[0].party == "sy"
    assert events[0].to_json()["other"] == {"kind": "nfz", "id": "box", "party": "coalition"}


def test_leaving_and_coming_back_is_two_episodes() -> None:
    there_and_back = [*ACROSS, (38.1, 35.1), (38.5, 35.1)]
    assert spans(run([nfz()], track("SY-22", "sy", there_and_back))) == [
        ("incursion", "SY-22", "box", 10.0, 30.0),
        ("incursion", "SY-22", "box", 50.0, 50.0),
    ]


def test_the_boundary_counts_as_inside() -> None:
    on_edge = [(38.0, 35.1), (38.2, 35.15)]
    assert len(run([nfz()], track("SY-22", "sy", on_edge))) == 1


def test_time_and_altitude_are_half_open() -> None:
    # The zone is active from minute 0 for exactly 20 s; samples at 0, 10, 20 s are inside it horizontally.
    zone = nfz(time=TimeWindow(window(0).start, datetime.fromtimestamp(T0 + 20, tz=UTC)))
    inside_all = [(38.1, 35.1)] * 3
    assert spans(run([zone], track("A", "sy", inside_all))) == [("incursion", "A", "box", 0.0, 10.0)]
    band = nfz(altitude=AltitudeBand(3000, 6000))
    assert len(run([band], track("low-edge", "sy", inside_all, alt=3000.0))) == 1
    assert run([band], track("high-edge", "sy", inside_all, alt=6000.0)) == []


def test_who_a_zone_binds() -> None:
    zone = nfz(exempt=frozenset({"humanitarian"}))
    assert run([zone], track("own", "coalition", ACROSS)) == []  # the owner is not bound by default
    assert run([zone], track("aid", "ru", ACROSS, purpose="humanitarian")) == []  # exempt purpose
    assert run([zone], track("ngo", "ocha", ACROSS)) == []  # not a military party
    only_ru = nfz(applies_to=frozenset({"ru"}))
    assert [e.track for e in run([only_ru], track("R", "ru", ACROSS), track("S", "sy", ACROSS))] == ["R"]


def test_a_circular_zone_is_measured_geodesically() -> None:
    zone = nfz(footprint=Footprint(Point(38.62, 33.50), 55_000.0))
    inside = GEOD.fwd(38.62, 33.50, 60.0, 54_990.0)[:2]
    outside = GEOD.fwd(38.62, 33.50, 60.0, 55_010.0)[:2]
    events = run([zone], track("in", "sy", [inside]))
    assert len(events) == 1 and events[0].min_distance_m == 0.0  # inside the zone: an area, distance 0
    assert run([zone], track("out", "sy", [outside])) == []


def test_boundary_crossing_concerns_other_parties_only() -> None:
    aor = WorldObject(Kind.BOUNDARY, "aor-sdf", "coalition", (Volume4D(Footprint(SQUARE)),))
    events = run([aor], track("RU-1", "ru", ACROSS, category="ground", alt=300.0), track("CO-1", "coalition", ACROSS))
    assert spans(events) == [("boundary_crossing", "RU-1", "aor-sdf", 10.0, 30.0)]


def test_proximity_to_an_active_site_for_armed_and_unknown_tracks() -> None:
    site = WorldObject(Kind.SITE, "hospital", "ocha", (Volume4D(Footprint(Point(38.5, 35.5), 1000.0)),))
    near = GEOD.fwd(38.5, 35.5, 10.0, 990.0)[:2]
    far = GEOD.fwd(38.5, 35.5, 10.0, 1010.0)[:2]
    events = run(
        [site],
        track("armed", "sy", [near], alt=200.0),
        track("unknown", "ru", [near], purpose="unknown"),
        track("medevac", "ru", [near], purpose="medevac"),
        track("far", "sy", [far]),
    )
    assert sorted((e.type.value, e.track) for e in events) == [("proximity", "armed"), ("proximity", "unknown")]
    assert abs(events[0].min_distance_m - 990.0) < 1.0


def test_proximity_to_a_movement_only_while_it_is_active() -> None:
    route = LineString([(39.0, 36.0), (39.5, 36.0)])
    convoy = WorldObject(Kind.MOVEMENT, "convoy", "ocha", (Volume4D(Footprint(route, 1000.0), time=window(0, 1)),))
    near = GEOD.fwd(39.2, 36.0, 0.0, 900.0)[:2]
    during = track("during", "sy", [near, near], category="ground", alt=400.0)
    after = track("after", "sy", [near], category="ground", alt=400.0, first_s=60.0)
    events = run([convoy], during, after)
    assert spans(events) == [("proximity", "during", "convoy", 0.0, 10.0)]
    assert abs(events[0].min_distance_m - 900.0) < 1.0


def test_a_zone_of_two_volumes_gives_one_episode() -> None:
    halves = (
        Volume4D(Footprint(Polygon([(38.0, 35.0), (38.12, 35.0), (38.12, 35.2), (38.0, 35.2)]))),
        Volume4D(Footprint(Polygon([(38.08, 35.0), (38.2, 35.0), (38.2, 35.2), (38.08, 35.2)]))),
    )
    zone = WorldObject(Kind.NFZ, "split", "coalition", halves)
    assert spans(run([zone], track("SY-22", "sy", ACROSS))) == [("incursion", "SY-22", "split", 10.0, 30.0)]


def test_tracks_do_not_merge_into_one_episode() -> None:
    # A's last sample and B's first are adjacent rows; both inside: still two episodes.
    a = track("A", "sy", [(37.9, 35.1), (38.1, 35.1)])
    b = track("B", "sy", [(38.1, 35.1), (38.3, 35.1)])
    assert [(e.track, e.start == e.end) for e in run([nfz()], a, b)] == [("A", True), ("B", True)]


def test_no_zones_or_no_samples() -> None:
    assert run([], track("A", "sy", ACROSS)) == []
    assert zone_events([nfz()], PARTIES, Samples.build([])) == []
