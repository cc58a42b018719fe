"""The "is this route clear?" engine on small hand-made road networks.

Networks sit near the equator where one degree is about 111 km, so the
expected outcomes are plain to see; every distance is checked against pyproj.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import shapely
from shapely.geometry import LineString, MultiLineString, Point, box

from detente.domain.geo.geodesic import distance_m
from detente.domain.geo.intervals import TimeWindow
from detente.engine.corridor import Hazard, RoadNetwork, route_hazards


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2017, 7, 7, hour, minute, tzinfo=UTC)


WINDOW = TimeWindow(at(9), at(11))


def ladder() -> RoadNetwork:
    """A direct road (0,0)-(1,0) and a detour via (0,0.5)-(1,0.5)."""
    return RoadNetwork.from_lines(
        [LineString([(0, 0), (1, 0)]), LineString([(0, 0), (0, 0.5), (1, 0.5), (1, 0)])],
        ["direct", "detour"],
    )


def nfz(area: object, window: TimeWindow = WINDOW, ref: str = "x", reach_m: float = 0.0) -> Hazard:
    assert isinstance(area, shapely.Geometry)
    return Hazard("nfz", ref, area, window, reach_m)


MIDDLE = box(0.4, -0.1, 0.6, 0.1)  # across the direct road only


def test_detour_around_a_polygon_hazard() -> None:
    plan = ladder().plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(MIDDLE)])
    assert plan.found and plan.reason is None
    assert plan.roads == ("detour",)
    assert plan.avoided == (0,)
    assert plan.length_m is not None and plan.shortest_length_m is not None
    assert plan.length_m > plan.shortest_length_m
    assert plan.shortest_length_m == pytest.approx(distance_m(0, 0, 1, 0), abs=1e-3)
    expected = distance_m(0, 0, 0, 0.5) + distance_m(0, 0.5, 1, 0.5) + distance_m(1, 0.5, 1, 0)
    assert plan.length_m == pytest.approx(expected, abs=1e-3)
    assert plan.path is not None
    assert list(plan.path.coords) == [(0, 0), (0, 0.5), (1, 0.5), (1, 0)]
    assert not plan.path.intersects(MIDDLE)
    assert plan.snap_m == (0.0, 0.0)


def test_hazard_outside_the_window_is_ignored() -> None:
    later = TimeWindow(at(12), at(13))
    plan = ladder().plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(MIDDLE, later)])
    assert plan.found and plan.roads == ("direct",) and plan.avoided == ()
    assert plan.length_m == plan.shortest_length_m


def test_touching_windows_do_not_overlap() -> None:
    before = TimeWindow(at(7), at(9))  # ends exactly when the query starts: half-open, no overlap
    after = TimeWindow(at(11), None)  # starts exactly when it ends
    plan = ladder().plan(
        (0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(MIDDLE, before), nfz(MIDDLE, after)]
    )
    assert plan.found and plan.roads == ("direct",) and plan.avoided == ()
    assert route_hazards(LineString([(0, 0), (1, 0)]), 1000, WINDOW, [nfz(MIDDLE, before)])[0].hazards == ()


def test_no_route_when_the_only_road_is_blocked() -> None:
    net = RoadNetwork.from_lines([LineString([(0, 0), (1, 0)])], ["only"])
    plan = net.plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(MIDDLE, ref="zone-a")])
    assert not plan.found
    assert plan.path is None and plan.length_m is None and plan.roads == ()
    assert plan.avoided == (0,)
    assert plan.shortest_length_m == pytest.approx(distance_m(0, 0, 1, 0), abs=1e-3)
    assert plan.reason == (
        "no road route from (0.00, 0.00) to (1.00, 0.00) avoids the hazards: every route is blocked by nfz 'zone-a'"
    )


def test_undisclosed_hazard_is_named_by_index_only() -> None:
    net = RoadNetwork.from_lines([LineString([(0, 0), (1, 0)])], ["only"])
    far = nfz(box(5, 5, 6, 6), ref="far")
    secret = Hazard("intent", None, MIDDLE, WINDOW)
    plan = net.plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[far, secret])
    assert not plan.found and plan.avoided == (1,)
    assert plan.reason is not None and plan.reason.endswith(
        "every route is blocked by intent active 2017-07-07T09:00:00Z–2017-07-07T11:00:00Z"
    )


def test_start_inside_a_hazard() -> None:
    around_start = box(-0.05, -0.05, 0.05, 0.05)
    plan = ladder().plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(around_start)])
    assert not plan.found
    assert plan.reason == "the start point lies inside hazard 0 (nfz 'x')"
    assert plan.avoided == (0,)


def test_end_within_the_corridor_of_a_hazard() -> None:
    # 0.005 degrees east of the end point on the equator: about 557 m, inside a 1 km corridor.
    near_end = Point(1.005, 0)
    plan = ladder().plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(near_end)])
    assert not plan.found
    assert plan.reason == "the end point lies 557 m from hazard 0 (nfz 'x'), within the corridor (1.0 km)"


def test_snap_limit_exceeded() -> None:
    far = (1.3, 0.25)  # about 33 km east of the detour's eastern side (x = 1)
    gap = distance_m(1.3, 0.25, 1.0, 0.25)
    plan = ladder().plan((0, 0), far, corridor_m=1000, window=WINDOW, hazards=[], max_snap_m=20_000)
    assert not plan.found and plan.path is None
    assert plan.snap_m[0] == 0.0 and plan.snap_m[1] == pytest.approx(gap, abs=1.0)
    assert plan.reason == f"the end point is {gap / 1000:.1f} km from the nearest road (limit 20 km)"
    assert plan.reason == "the end point is 33.4 km from the nearest road (limit 20 km)"
    assert plan.shortest_length_m is None
    assert ladder().plan((0, 0), far, corridor_m=1000, window=WINDOW, hazards=[], max_snap_m=40_000).found


def test_start_snaps_to_the_nearest_point_of_an_edge() -> None:
    # 0.001 degrees north of the middle of the direct road: about 110.6 m.
    plan = ladder().plan((0.5, 0.001), (1, 0), corridor_m=100, window=WINDOW, hazards=[])
    assert plan.found and plan.path is not None
    assert plan.snap_m[0] == pytest.approx(distance_m(0.5, 0.001, 0.5, 0.0), abs=1.0)
    assert plan.path.coords[0] == pytest.approx((0.5, 0.0), abs=1e-9)
    assert plan.length_m == pytest.approx(distance_m(0.5, 0, 1, 0), abs=1e-3)


def test_piece_of_a_blocked_edge_beyond_the_hazard_stays_open() -> None:
    # Start and end on the direct road, both west of the hazard: the direct piece between them is clear.
    plan = ladder().plan((0.1, 0), (0.3, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(MIDDLE)])
    assert plan.found and plan.roads == ("direct",)
    assert plan.length_m == pytest.approx(distance_m(0.1, 0, 0.3, 0), abs=1e-3)


def test_reach_widens_the_test() -> None:
    # A point 0.02 degrees (about 2.2 km) south of the direct road.
    south = Point(0.5, -0.02)
    d = distance_m(0.5, -0.02, 0.5, 0.0)
    assert 2000 < d < 2500
    clear = ladder().plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(south)])
    assert clear.roads == ("direct",) and clear.avoided == ()
    wide = ladder().plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[nfz(south, reach_m=1500)])
    assert wide.found and wide.roads == ("detour",) and wide.avoided == (0,)
    (seg,) = route_hazards(LineString([(0, 0), (1, 0)]), 1000, WINDOW, [nfz(south, reach_m=1500)])
    assert seg.hazards[0][0] == 0 and seg.hazards[0][1] == pytest.approx(d, abs=1.0)


def test_crossing_roads_are_noded() -> None:
    net = RoadNetwork.from_lines(
        [LineString([(0, -1), (0, 1)]), LineString([(-1, 0), (1, 0)])], ["north-south", "east-west"]
    )
    assert net.node_count == 5 and net.edge_count == 4 and net.components() == 1
    plan = net.plan((0, -1), (1, 0), corridor_m=100, window=WINDOW, hazards=[])
    assert plan.found and plan.roads == ("north-south", "east-west")
    assert plan.path is not None and list(plan.path.coords) == [(0, -1), (0, 0), (1, 0)]
    assert plan.length_m == pytest.approx(distance_m(0, -1, 0, 0) + distance_m(0, 0, 1, 0), abs=1e-3)


def test_multilinestring_roads_and_routes() -> None:
    road = MultiLineString([[(0, 0), (1, 0)], [(1, 0), (1, 1)]])
    net = RoadNetwork.from_lines([road], ["bent road"])
    plan = net.plan((0, 0), (1, 1), corridor_m=100, window=WINDOW, hazards=[])
    assert plan.found and plan.roads == ("bent road",)
    assert plan.path is not None and list(plan.path.coords) == [(0, 0), (1, 0), (1, 1)]
    hz = nfz(box(0.9, 0.4, 1.1, 0.6))
    segments = route_hazards(road, 1000, WINDOW, [hz])
    assert [s.index for s in segments] == [0, 1]
    assert segments[0].hazards == () and segments[1].hazards == ((0, 0.0),)
    assert segments[1].start == (1.0, 0.0) and segments[1].end == (1.0, 1.0)


def test_route_hazards_reports_segments_with_distances() -> None:
    route = LineString([(0, 0), (1, 0), (1, 1)])
    point = nfz(Point(0.5, 0.005), ref="p")  # about 553 m north of segment 0
    across = nfz(box(0.2, -0.1, 0.3, 0.1), ref="box")  # across segment 0
    elsewhere = nfz(box(5, 5, 6, 6), ref="far")
    segments = route_hazards(route, 1000, WINDOW, [point, across, elsewhere])
    assert len(segments) == 2
    first, second = segments
    assert first.index == 0 and first.start == (0.0, 0.0) and first.end == (1.0, 0.0)
    assert first.length_m == pytest.approx(distance_m(0, 0, 1, 0), abs=1e-6)
    assert [h for h, _ in first.hazards] == [1, 0]  # nearest first
    assert first.hazards[0][1] == 0.0
    assert first.hazards[1][1] == pytest.approx(distance_m(0.5, 0.005, 0.5, 0.0), abs=1.0)
    assert second.hazards == ()
    # The corridor decides: at 500 m the point is out of reach.
    narrow = route_hazards(route, 500, WINDOW, [point])
    assert narrow[0].hazards == ()


def test_empty_hazard_list() -> None:
    plan = ladder().plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=[])
    assert plan.found and plan.roads == ("direct",) and plan.avoided == ()
    assert plan.length_m == plan.shortest_length_m
    segments = route_hazards(LineString([(0, 0), (1, 0), (1, 1)]), 1000, WINDOW, [])
    assert [s.hazards for s in segments] == [(), ()]


def test_separate_networks() -> None:
    net = RoadNetwork.from_lines([LineString([(0, 0), (1, 0)]), LineString([(0, 1), (1, 1)])], ["a", "b"])
    assert net.components() == 2
    plan = net.plan((0, 0), (1, 1), corridor_m=100, window=WINDOW, hazards=[])
    assert not plan.found and plan.shortest_length_m is None
    assert plan.reason == "no road connects (0.00, 0.00) to (1.00, 1.00): they lie on separate networks"


def test_avoided_leaves_out_hazards_the_search_never_came_near() -> None:
    net = RoadNetwork.from_lines(
        [
            LineString([(0, 0), (1, 0)]),
            LineString([(0, 0), (0, 0.5), (1, 0.5), (1, 0)]),
            LineString([(1, 0), (3, 0)]),  # beyond the end
        ],
        ["direct", "detour", "beyond"],
    )
    hazards = [nfz(MIDDLE, ref="middle"), nfz(box(2.4, -0.1, 2.6, 0.1), ref="beyond")]
    plan = net.plan((0, 0), (1, 0), corridor_m=1000, window=WINDOW, hazards=hazards)
    assert plan.found and plan.avoided == (0,)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        Hazard("nfz", "x", MIDDLE, WINDOW, reach_m=-1.0)
    with pytest.raises(ValueError):
        ladder().plan((0, 0), (1, 0), corridor_m=float("nan"), window=WINDOW, hazards=[])
    with pytest.raises(ValueError):
        route_hazards(Point(0, 0), 100, WINDOW, [])
    with pytest.raises(ValueError):
        RoadNetwork.from_lines([LineString([(0, 0), (1, 0)])], [])
