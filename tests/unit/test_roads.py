"""Road network files: hostile input refused, and the packaged Syria demo network.

The demo routes use the demo scenario's real hazards, copied here by hand
from ``syria-2017.geojson`` (intents ``sy-training-hama`` and
``ru-strike-tanf`` volume 1), on 7 July 2017.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from shapely.geometry import LineString, Polygon, box

from detente.adapters.interop.roads import (
    MAX_ROAD_FEATURES,
    MAX_ROAD_POSITIONS,
    demo_roads,
    load_roads,
    parse_roads,
    road_label,
    roads_from_geojson,
)
from detente.domain.errors import InvalidInput
from detente.domain.geo.intervals import TimeWindow
from detente.engine.corridor import Hazard, route_hazards


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2017, 7, 7, hour, minute, tzinfo=UTC)


def road(coords: Any, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": "LineString", "coordinates": coords}, "properties": props}


def collection(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def problems(doc: Any) -> set[tuple[str, int | None]]:
    with pytest.raises(InvalidInput) as info:
        roads_from_geojson(doc)
    return {(p.rule, p.index) for p in info.value.problems}


# ---------------------------------------------------------------- reading


def test_reads_lines_and_multilines_with_names() -> None:
    doc = collection(
        road([[0, 0], [1, 0]], name="Coast road", ref="M1"),
        {
            "type": "Feature",
            "geometry": {"type": "MultiLineString", "coordinates": [[[1, 0], [1, 1]], [[1, 1], [2, 1]]]},
            "properties": None,
        },
    )
    net = roads_from_geojson(doc)
    assert net.edge_count == 3 and net.components() == 1  # each part's ends are nodes
    plan = net.plan((0, 0), (2, 1), corridor_m=100, window=TimeWindow(), hazards=[])
    assert plan.found and plan.roads == ("M1 Coast road",)  # the unnamed road adds no name


def test_road_label() -> None:
    assert road_label("Homs - Hama", "M5") == "M5 Homs - Hama"
    assert road_label("M5 Homs - Hama", "M5") == "M5 Homs - Hama"
    assert road_label(None, "M2") == "M2"
    assert road_label("", None) is None


@pytest.mark.parametrize("doc", [[], "roads", None, {"type": "Feature"}, {"features": []}])
def test_not_a_feature_collection(doc: Any) -> None:
    assert problems(doc) == {("feature_collection", None)}


@pytest.mark.parametrize("features", [None, [], {"0": 1}])
def test_missing_or_empty_features(features: Any) -> None:
    assert problems({"type": "FeatureCollection", "features": features}) == {("feature_collection", None)}


def test_every_problem_is_listed_with_its_feature_index() -> None:
    doc = collection(
        road([[0, 0], [1, 0]], name="fine"),
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [0, 0]}, "properties": {}},
        road([[0, 0], [float("nan"), 1]]),
        road([[0, 0], [200, 1]]),
        road([[0, 0]]),
        "not a feature",
        road([[0, 0], [1, 1]], name=5, ref=["M5"]),
        {"type": "Feature", "geometry": None, "properties": {}},
        road([[0, 0], [0, 0]]),
        road("nonsense"),
        {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}, "properties": 3},
        road([[0, 0], ["a", 1]]),
        road([[170, 0], [-170, 0]]),
        road([[0, 0], [float("inf"), 1]]),
    )
    assert problems(doc) == {
        ("geometry_type", 1),
        ("geometry", 2),
        ("geometry", 3),
        ("geometry", 4),
        ("feature", 5),
        ("name", 6),
        ("ref", 6),
        ("geometry", 7),
        ("geometry", 8),
        ("geometry", 9),
        ("feature", 10),
        ("geometry", 11),
        ("geometry", 12),
        ("geometry", 13),
    }


def test_too_many_features() -> None:
    feature = road([[0, 0], [1, 0]])
    doc = collection(*([feature] * (MAX_ROAD_FEATURES + 1)))
    assert problems(doc) == {("too_many_features", None)}


def test_too_many_positions() -> None:
    half = MAX_ROAD_POSITIONS // 2 + 1
    doc = collection(road([[0, 0]] * half), road([[0, 0]] * half))
    assert problems(doc) == {("too_many_positions", None)}


def test_parse_and_load(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_roads(b"{not json")
    assert [p.rule for p in info.value.problems] == ["json"]
    with pytest.raises(InvalidInput) as info:
        parse_roads(
            '{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
            ' "geometry": {"type": "LineString", "coordinates": [[0, 0], [NaN, 1]]}}]}'
        )
    assert [(p.rule, p.index) for p in info.value.problems] == [("geometry", 0)]
    path = tmp_path / "roads.geojson"
    path.write_text(json.dumps(collection(road([[0, 0], [1, 0]], name="a"), road([[1, 0], [1, 1]], name="b"))))
    net = load_roads(path)
    assert net.edge_count == 2 and net.node_count == 3


# ---------------------------------------------------------------- the demo network

SHIPPED = resources.files("detente.demo").joinpath("roads-syria.geojson")

HOMS, HAMA = (36.73, 34.72), (36.76, 35.13)
DAMASCUS, RUKBAN = (36.29, 33.51), (38.70, 33.29)

#: ``sy-training-hama`` volume 0: its footprint polygon (bounding box lon
#: 36.40-36.77, lat 34.89-35.17), 05:00-06:30Z.  The polygon, not its box:
#: the box would hold Hama itself.
HAMA_TRAINING = Hazard(
    "intent",
    None,
    Polygon([(36.39586, 35.00675), (36.50414, 34.89325), (36.76534, 35.06145), (36.65706, 35.17495)]),
    TimeWindow(at(5), at(6, 30)),
)
#: ``ru-strike-tanf`` volume 1: the strike box, 09:00-10:30Z.
TANF_STRIKE = Hazard("intent", None, box(38.19, 33.55, 38.31, 33.65), TimeWindow(at(9), at(10, 30)))


def test_demo_network_loads_as_one_connected_network() -> None:
    net = demo_roads()
    assert net.components() == 1
    assert net.edge_count > 30
    assert demo_roads() is net  # built once
    west, south, east, north = net.bounds
    assert 35.7 < west < 36.0 and 32.5 < south < 32.7 and 41.0 < east < 41.5 and 36.8 < north < 37.2
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    for feature in doc["features"]:
        props = feature["properties"]
        assert feature["geometry"]["type"] == "LineString"
        assert isinstance(props["name"], str) and props["name"]
        assert "not surveyed" in props["source"]
    names = {f["properties"]["name"] for f in doc["features"]}
    assert {"M5 Homs - Hama", "Homs - Salamiyah - Hama", "M2 Dumayr - al-Tanf", "Track al-Tanf - Rukban camp"} <= names


def test_demo_m2_crosses_the_tanf_strike_box() -> None:
    doc = json.loads(SHIPPED.read_text(encoding="utf-8"))
    (m2,) = [f for f in doc["features"] if f["properties"]["name"] == "M2 Dumayr - al-Tanf"]
    coords = m2["geometry"]["coordinates"]
    assert coords[-2:] == [[37.67, 33.73], [38.62, 33.5]]
    leg = LineString(coords[-2:])
    assert leg.intersects(TANF_STRIKE.area)
    (track,) = [f for f in doc["features"] if f["properties"]["name"] == "Track al-Tanf - Rukban camp"]
    assert track["geometry"]["coordinates"][-1] == [38.7, 33.29]
    segments = route_hazards(leg, 1000, TimeWindow(at(9, 30), at(10)), [TANF_STRIKE])
    assert segments[0].hazards == ((0, 0.0),)


def test_demo_homs_to_hama_detours_via_salamiyah() -> None:
    net = demo_roads()
    window = TimeWindow(at(5), at(6, 30))
    plan = net.plan(HOMS, HAMA, corridor_m=1000, window=window, hazards=[HAMA_TRAINING])
    assert plan.found, plan.reason
    assert any("Salamiyah" in r for r in plan.roads)
    assert not any(r.startswith("M5") for r in plan.roads)
    assert plan.avoided == (0,)
    assert plan.length_m is not None and plan.shortest_length_m is not None
    assert plan.length_m > plan.shortest_length_m + 20_000
    assert plan.snap_m[0] < 1000 and plan.snap_m[1] < 1000
    # The detour really keeps the hazard out of the corridor; the M5 does not.
    assert plan.path is not None
    assert all(s.hazards == () for s in route_hazards(plan.path, 1000, window, [HAMA_TRAINING]))
    shortest = net.plan(HOMS, HAMA, corridor_m=1000, window=TimeWindow(at(7), at(8)), hazards=[HAMA_TRAINING])
    # (36.73, 34.72) lies 13 m from the Qaryatayn road, 600 m out of Homs; (36.76, 35.13) 90 m from the
    # Salamiyah road, 270 m out of Hama: the snap pieces name those roads.
    assert shortest.found
    assert shortest.roads == ("Dumayr - Qaryatayn - Homs", "M5 Homs - Hama", "Homs - Salamiyah - Hama")
    assert shortest.length_m == pytest.approx(plan.shortest_length_m)


def test_demo_damascus_to_rukban_blocked_during_the_strike() -> None:
    plan = demo_roads().plan(
        DAMASCUS, RUKBAN, corridor_m=1000, window=TimeWindow(at(9), at(10, 30)), hazards=[TANF_STRIKE]
    )
    assert not plan.found and plan.path is None
    assert plan.avoided == (0,)
    assert plan.shortest_length_m is not None
    assert plan.reason == (
        "no road route from (36.29, 33.51) to (38.70, 33.29) avoids the hazards: "
        "every route is blocked by intent active 2017-07-07T09:00:00Z–2017-07-07T10:30:00Z"
    )


def test_demo_damascus_to_rukban_clear_after_the_strike() -> None:
    plan = demo_roads().plan(
        DAMASCUS, RUKBAN, corridor_m=1000, window=TimeWindow(at(12), at(14)), hazards=[TANF_STRIKE]
    )
    assert plan.found and plan.avoided == ()
    assert "M2 Dumayr - al-Tanf" in plan.roads and plan.roads[-1] == "Track al-Tanf - Rukban camp"
    assert plan.length_m == pytest.approx(plan.shortest_length_m)
    assert plan.path is not None and plan.path.coords[-1] == pytest.approx(RUKBAN)
    assert plan.snap_m[1] == 0.0
