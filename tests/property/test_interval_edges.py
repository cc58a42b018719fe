"""Exact, example-based edge cases of SEMANTICS.md's intent check.

Interval rules (half-open windows and bands, open ends, gaps equal to the
minimum) are tested exactly.  Horizontal thresholds are tested exactly where
the geometry makes equality exact (a point on a polygon's edge, a line
touching a polygon), and otherwise 1.5 m either side of the threshold: inside
the spec's 10 m tolerance, beyond its 1 m measurement error.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import shapely
from pyproj import Geod
from shapely.geometry import LineString, Point, box
from shapely.geometry.base import BaseGeometry
from tests.property.reference import key_of, reference_check

from detente.domain.conflicts import Conflict
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.geodesic import split_at_antimeridian
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import DEFAULT_SEPARATION, Category, Kind, Minima, Party, Role, WorldObject
from detente.domain.rules import ConflictType
from detente.engine.world import World

GEOD = Geod(ellps="WGS84")
PARTIES = {
    "m1": Party("m1", "M1", Role.MILITARY),
    "m2": Party("m2", "M2", Role.MILITARY),
    "m3": Party("m3", "M3", Role.MILITARY),
    "h1": Party("h1", "H1", Role.HUMANITARIAN),
}
AREA = box(38.0, 36.0, 38.1, 36.1)


def h(hour: int) -> datetime:
    return datetime(2024, 3, 1, hour, tzinfo=UTC)


def tw(start: int | None, end: int | None) -> TimeWindow:
    return TimeWindow(None if start is None else h(start), None if end is None else h(end))


def vol(
    geom: BaseGeometry,
    radius: float = 0.0,
    alt: tuple[float | None, float | None] = (None, None),
    time: tuple[int | None, int | None] = (None, None),
) -> Volume4D:
    return Volume4D(Footprint(geom, radius), AltitudeBand(*alt), tw(*time))


def intent(
    ident: str = "op",
    party: str = "m1",
    geom: BaseGeometry = AREA,
    alt: tuple[float | None, float | None] = (0.0, 3000.0),
    time: tuple[int | None, int | None] = (6, 9),
    category: Category = Category.AIR,
    purpose: str | None = None,
) -> WorldObject:
    return WorldObject(
        kind=Kind.INTENT,
        id=ident,
        party=party,
        volumes=(vol(geom, alt=alt, time=time),),
        category=category,
        purpose=purpose,
    )


def nfz(
    ident: str = "zone",
    party: str = "m2",
    geom: BaseGeometry = AREA,
    radius: float = 0.0,
    alt: tuple[float | None, float | None] = (None, None),
    time: tuple[int | None, int | None] = (None, None),
    applies_to: frozenset[str] | None = None,
    exempt: frozenset[str] = frozenset(),
) -> WorldObject:
    return WorldObject(
        kind=Kind.NFZ,
        id=ident,
        party=party,
        volumes=(vol(geom, radius, alt, time),),
        applies_to=applies_to,
        exempt=exempt,
    )


def simple(kind: Kind, ident: str, party: str, geom: BaseGeometry, radius: float = 0.0, **kw: object) -> WorldObject:
    return WorldObject(kind=kind, id=ident, party=party, volumes=(vol(geom, radius),), **kw)  # type: ignore[arg-type]


def check(it: WorldObject, *others: WorldObject, separation: dict[Category, Minima] | None = None) -> list[Conflict]:
    """The engine's conflicts of ``it``; the reference must agree on every case here."""
    sep = separation or dict(DEFAULT_SEPARATION)
    world = World(PARTIES, sep)
    for o in (*others, it):
        world.add(o)
    got = world.check(it)
    military = frozenset(p for p, party in PARTIES.items() if party.role is Role.MILITARY)
    expected = reference_check(it, [*others, it], military, sep)
    assert {key_of(c) for c in got} == expected
    return got


def only(conflicts: list[Conflict]) -> Conflict:
    assert len(conflicts) == 1, conflicts
    return conflicts[0]


def types(conflicts: list[Conflict]) -> set[tuple[str, str]]:
    return {(c.type.value, c.other_id) for c in conflicts}


# ---------------------------------------------------------------- time


def test_touching_time_windows_do_not_overlap() -> None:
    it = intent(time=(6, 9))
    assert check(it, nfz(time=(9, None))) == []
    assert check(it, nfz(time=(None, 6))) == []
    assert check(it, nfz(time=(3, 6))) == []
    c = only(check(it, nfz(time=(8, 12))))
    assert (c.time.start, c.time.end) == (h(8), h(9))


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ((None, None), (None, None), (None, None)),
        ((None, None), (None, 9), (None, 9)),
        ((None, None), (7, None), (7, None)),
        ((None, 9), (7, None), (7, 9)),
        ((7, None), (None, 9), (7, 9)),
        ((None, 7), (7, None), None),
        ((7, None), (None, 7), None),
        ((6, 9), (None, None), (6, 9)),
        ((6, 7), (6, 7), (6, 7)),
    ],
)
def test_open_time_ends(
    mine: tuple[int | None, int | None],
    theirs: tuple[int | None, int | None],
    expected: tuple[int | None, int | None] | None,
) -> None:
    got = check(intent(time=mine), nfz(time=theirs))
    if expected is None:
        assert got == []
    else:
        c = only(got)
        assert c.time == tw(*expected)


# ---------------------------------------------------------------- altitude


def test_touching_altitude_bands_do_not_overlap() -> None:
    it = intent(alt=(0.0, 3000.0))
    assert check(it, nfz(alt=(3000.0, 6000.0))) == []
    assert check(it, nfz(alt=(None, 0.0))) == []
    c = only(check(it, nfz(alt=(2999.0, 6000.0))))
    assert c.altitude == AltitudeBand(2999.0, 3000.0)


@pytest.mark.parametrize(
    ("mine", "theirs", "expected"),
    [
        ((None, None), (None, None), (None, None)),
        ((None, None), (3000.0, None), (3000.0, None)),
        ((None, 500.0), (None, 300.0), (None, 300.0)),
        ((100.0, None), (None, 300.0), (100.0, 300.0)),
        ((None, 300.0), (300.0, None), None),
        ((300.0, None), (None, 300.0), None),
    ],
)
def test_open_altitude_ends(
    mine: tuple[float | None, float | None],
    theirs: tuple[float | None, float | None],
    expected: tuple[float | None, float | None] | None,
) -> None:
    got = check(intent(alt=mine), nfz(alt=theirs))
    if expected is None:
        assert got == []
    else:
        assert only(got).altitude == AltitudeBand(*expected)


def test_objects_without_a_band_cover_every_altitude() -> None:
    it = intent(alt=(20_000.0, None))
    site = simple(Kind.SITE, "hospital", "h1", Point(38.05, 36.05), 500.0)
    c = only(check(it, site))
    assert c.type is ConflictType.PROTECTED_SITE
    assert c.altitude == AltitudeBand(20_000.0, None)
    assert c.distance_m == 0.0


# ---------------------------------------------------------------- nfz binding


@pytest.mark.parametrize(
    ("purpose", "conflict"),
    [("humanitarian", False), ("medevac", False), ("armed", True), (None, True), ("unknown", True)],
)
def test_exempt_purposes(purpose: str | None, conflict: bool) -> None:
    zone = nfz(exempt=frozenset({"humanitarian", "medevac"}))
    got = check(intent(purpose=purpose), zone)
    assert types(got) == ({("nfz", "zone")} if conflict else set())


@pytest.mark.parametrize(
    ("applies_to", "bound"),
    [
        (None, {"m1", "m3"}),
        (frozenset({"m1"}), {"m1"}),
        (frozenset({"m3", "h1"}), {"m3"}),
        (frozenset(), set()),
        (frozenset({"m1", "m2", "m3"}), {"m1", "m3"}),  # never the owner's own intents
    ],
)
def test_nfz_applies_to(applies_to: frozenset[str] | None, bound: set[str]) -> None:
    zone = nfz(party="m2", applies_to=applies_to)
    for party in ("m1", "m2", "m3"):
        got = check(intent(party=party), zone)
        assert bool(got) == (party in bound), (party, got)


# ---------------------------------------------------------------- own objects


def test_own_objects_never_conflict() -> None:
    it = intent(party="m1")
    own = [
        nfz("own-zone", party="m1", applies_to=frozenset({"m1", "m2"})),
        simple(Kind.BOUNDARY, "own-aor", "m1", AREA),
        simple(Kind.SITE, "own-site", "m1", Point(38.05, 36.05), 500.0),
        simple(Kind.MOVEMENT, "own-move", "m1", LineString([(38.0, 36.05), (38.1, 36.05)]), 200.0),
        intent("own-op", party="m1"),
    ]
    assert check(it, *own) == []


def test_own_line_still_concerns_own_intents() -> None:
    line = simple(
        Kind.LINE,
        "dl",
        "m1",
        LineString([(38.05, 35.9), (38.05, 36.2)]),
        0.0,
        signatories=frozenset({"m1", "m2"}),
    )
    c = only(check(intent(party="m1"), line))
    assert c.type is ConflictType.LINE
    assert c.notify == ("m2",)
    assert c.distance_m == 0.0
    theirs = simple(
        Kind.LINE,
        "dl2",
        "m2",
        LineString([(38.05, 35.9), (38.05, 36.2)]),
        0.0,
        signatories=frozenset({"m1", "m2", "m3"}),
    )
    assert only(check(intent(party="m1"), theirs)).notify == ("m2", "m3")


# ---------------------------------------------------------------- separation


@pytest.mark.parametrize(
    ("mine", "theirs", "conflict"),
    [
        (Category.AIR, Category.GROUND, False),
        (Category.GROUND, Category.AIR, False),
        (Category.AIR, Category.AIR, True),
        (Category.GROUND, Category.GROUND, True),
    ],
)
def test_separation_same_category_only(mine: Category, theirs: Category, conflict: bool) -> None:
    got = check(intent(category=mine), intent("other", party="m2", category=theirs))
    assert types(got) == ({("separation", "other")} if conflict else set())


def test_ground_separation_ignores_altitude() -> None:
    low = intent(alt=(0.0, 100.0), category=Category.GROUND)
    high = intent("high", party="m2", alt=(50_000.0, 60_000.0), category=Category.GROUND)
    c = only(check(low, high))
    assert c.type is ConflictType.SEPARATION
    assert c.altitude is None
    assert c.distance_m == 0.0
    air_low = intent(alt=(0.0, 100.0))
    air_high = intent("high", party="m2", alt=(50_000.0, 60_000.0))
    assert check(air_low, air_high) == []


@pytest.mark.parametrize(
    ("lower", "conflict", "band"),
    [
        (1305.0, False, None),  # gap == 305: not below the minimum
        (1304.0, True, None),
        (1000.0, True, None),  # touching bands: gap 0, no shared band
        (999.0, True, (999.0, 1000.0)),
    ],
)
def test_air_vertical_gap_is_strict(lower: float, conflict: bool, band: tuple[float, float] | None) -> None:
    got = check(intent(alt=(0.0, 1000.0)), intent("other", party="m2", alt=(lower, 5000.0)))
    if not conflict:
        assert got == []
        return
    c = only(got)
    assert c.altitude == (None if band is None else AltitudeBand(*band))


def test_separation_with_unlimited_vertical_from_scenario_minima() -> None:
    sep = {Category.AIR: Minima(2000.0, None), Category.GROUND: Minima(500.0, 10.0)}
    assert only(check(intent(alt=(0.0, 10.0)), intent("o", party="m2", alt=(9000.0, None)), separation=sep))
    g1 = intent(alt=(0.0, 10.0), category=Category.GROUND)
    g2 = intent("o", party="m2", alt=(20.0, 30.0), category=Category.GROUND)
    assert check(g1, g2, separation=sep) == []


# ---------------------------------------------------------------- horizontal thresholds


def test_site_on_the_footprint_edge_with_zero_radius_counts() -> None:
    """distance == radius == 0, constructed exactly: a point on the polygon's edge."""
    for p in (Point(38.1, 36.05), Point(38.0, 36.0)):
        c = only(check(intent(), simple(Kind.SITE, "s", "h1", p, 0.0)))
        assert c.distance_m == 0.0
    assert check(intent(), simple(Kind.SITE, "s", "h1", Point(38.2, 36.05), 0.0)) == []


# A point due south of the intent's southern edge (an edge along a parallel):
# its nearest point on the edge is on the same meridian.
SOUTH = (38.05, 35.99)
D_SOUTH = GEOD.inv(SOUTH[0], SOUTH[1], SOUTH[0], 36.0)[2]


@pytest.mark.parametrize(("delta", "conflict"), [(1.5, True), (-1.5, False)])
def test_site_radius_is_inclusive(delta: float, conflict: bool) -> None:
    site = simple(Kind.SITE, "s", "h1", Point(*SOUTH), D_SOUTH + delta)
    got = check(intent(), site)
    assert bool(got) == conflict
    if got:
        assert abs(got[0].distance_m - D_SOUTH) <= 1.0


@pytest.mark.parametrize(("delta", "conflict"), [(1.5, True), (-1.5, False)])
def test_nfz_circle_radius(delta: float, conflict: bool) -> None:
    got = check(intent(), nfz(geom=Point(*SOUTH), radius=D_SOUTH + delta))
    assert bool(got) == conflict


@pytest.mark.parametrize(("delta", "conflict"), [(1.5, True), (-1.5, False)])
def test_movement_corridor_is_inclusive(delta: float, conflict: bool) -> None:
    # The route runs along the parallel of SOUTH, under the intent's southern
    # edge (along 36N): the nearest points are a meridian arc apart.
    route = LineString([(37.9, SOUTH[1]), (38.2, SOUTH[1])])
    d = D_SOUTH
    got = check(intent(), simple(Kind.MOVEMENT, "mv", "h1", route, d + delta))
    assert bool(got) == conflict


def test_line_with_zero_buffer_touching_counts() -> None:
    along_edge = LineString([(38.1, 35.9), (38.1, 36.2)])  # shares the east edge
    at_vertex = LineString([(38.1, 36.1), (38.3, 36.3)])  # touches one corner
    apart = LineString([(38.2, 35.9), (38.2, 36.2)])
    for geom, hit in ((along_edge, True), (at_vertex, True), (apart, False)):
        line = simple(Kind.LINE, "dl", "m2", geom, 0.0, signatories=frozenset({"m2", "m3"}))
        got = check(intent(), line)
        assert bool(got) == hit, geom
        if hit:
            assert got[0].distance_m == 0.0


def test_polygons_sharing_only_an_edge_have_no_area_in_common() -> None:
    east = box(38.1, 36.0, 38.2, 36.1)
    corner = box(38.1, 36.1, 38.2, 36.2)
    for geom in (east, corner):
        assert check(intent(), nfz(geom=geom)) == []
        assert check(intent(), simple(Kind.BOUNDARY, "aor", "m2", geom)) == []
    c = only(check(intent(), simple(Kind.BOUNDARY, "aor", "m2", box(38.09, 36.0, 38.2, 36.1))))
    assert c.type is ConflictType.BOUNDARY
    assert c.notify == ("m2",)
    assert c.distance_m == 0.0


# ---------------------------------------------------------------- antimeridian and Arctic


SPLIT = split_at_antimeridian(box(179.9, 50.0, 180.1, 50.1))


def test_split_intent_is_a_multipolygon() -> None:
    assert SPLIT.geom_type == "MultiPolygon"
    assert shapely.get_coordinates(SPLIT)[:, 0].max() <= 180.0


@pytest.mark.parametrize(
    ("zone", "conflict"),
    [
        (box(-179.95, 50.02, -179.8, 50.08), True),  # west of 180, overlaps the western part
        (box(179.85, 50.02, 179.95, 50.08), True),  # east of 180, overlaps the eastern part
        (box(-179.7, 50.02, -179.6, 50.08), False),
        (box(179.7, 50.02, 179.8, 50.08), False),
        (split_at_antimeridian(box(179.98, 50.09, 180.02, 50.2)), True),
    ],
)
def test_antimeridian_split_polygons(zone: BaseGeometry, conflict: bool) -> None:
    got = check(intent(geom=SPLIT), nfz(geom=zone))
    assert bool(got) == conflict
    # and the other way round: the zone is split, the intent on one side
    got = check(intent(geom=zone), nfz(geom=SPLIT))
    assert bool(got) == conflict


def test_antimeridian_distances() -> None:
    site = simple(Kind.SITE, "s", "h1", Point(-179.95, 50.05), 100.0)
    assert only(check(intent(geom=SPLIT), site)).distance_m == 0.0
    # another party's intent 0.1 degree of longitude west of the split intent's western edge
    other = intent("other", party="m2", geom=box(-179.8, 50.0, -179.75, 50.1))
    c = only(check(intent(geom=SPLIT), other))
    expected = GEOD.inv(-179.9, 50.1, -179.8, 50.1)[2]  # nearest points on the north edge
    assert abs(c.distance_m - expected) <= max(1.0, 1e-4 * expected)
    # same, measured across the line from the east side
    east = intent("east", party="m2", geom=box(179.75, 50.0, 179.8, 50.1))
    c = only(check(intent(geom=SPLIT), east))
    assert abs(c.distance_m - expected) <= max(1.0, 1e-4 * expected)


ARCTIC = box(0.0, 83.9, 10.0, 84.0)  # northern edge along the 84N parallel


def test_arctic_edges_are_straight_in_lonlat() -> None:
    """The geodesic between (0, 84) and (10, 84) bulges to about 84.022N; the
    edge does not: it follows the parallel."""
    it = intent(geom=ARCTIC)
    assert check(it, nfz(geom=box(4.0, 84.005, 6.0, 84.015))) == []
    assert only(check(it, nfz(geom=box(4.0, 83.995, 6.0, 84.015)))).distance_m == 0.0
    d = GEOD.inv(5.0, 84.01, 5.0, 84.0)[2]  # about 1117 m
    assert check(it, simple(Kind.SITE, "s", "h1", Point(5.0, 84.01), d - 1.5)) == []
    c = only(check(it, simple(Kind.SITE, "s", "h1", Point(5.0, 84.01), d + 1.5)))
    assert abs(c.distance_m - d) <= 1.0


def test_arctic_antimeridian_polygon() -> None:
    split = split_at_antimeridian(box(178.0, 82.0, 182.0, 82.2))
    assert split.geom_type == "MultiPolygon"
    it = intent(geom=split)
    assert only(check(it, nfz(geom=box(-179.5, 82.1, -179.0, 82.3)))).type is ConflictType.NFZ
    assert check(it, nfz(geom=box(-179.5, 82.2, -179.0, 82.3))) == []  # shares an edge only
