"""Writing a scenario back: parse(write(s)) gives s again, extras included."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from detente.adapters.interop.scenario import (
    object_to_features,
    parse_object_features,
    parse_scenario,
    scenario_to_geojson,
)
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Category, Kind, Party, Role, Scenario, WorldObject


def square(lon: float, lat: float, size: float = 0.1) -> list[list[list[float]]]:
    return [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]


def feature(kind: str, fid: str, party: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, "id": fid, "party": party, **props}}


POLY = "Polygon"
DONUT = [square(39, 35, 1.0)[0], [[39.4, 35.4], [39.6, 35.4], [39.6, 35.6], [39.4, 35.6], [39.4, 35.4]]]

# Every kind, multi-volume objects given out of order, extras everywhere,
# open-ended and offset times, null and half-null altitudes, 3D positions.
RICH: dict[str, Any] = {
    "type": "FeatureCollection",
    "detente": {
        "version": 1,
        "name": "Syria, July 2017 (rich)",
        "parties": [
            {"id": "coalition", "name": "Counter-ISIS coalition", "role": "military", "hq": "Al Udeid"},
            {"id": "ru", "name": "Russian forces", "role": "military", "contact": {"hotline": "+7 000"}},
            {"id": "ocha", "name": "UN OCHA", "role": "humanitarian"},
            {"id": "observers", "name": "Monitoring centre", "role": "observer"},
            {"id": "secretariat", "name": "Mechanism secretariat", "role": "secretariat"},
        ],
        "separation": {"air": {"horizontal_m": 5556, "vertical_m": 300}, "ground": {"horizontal_m": 500}},
        "description": "a scenario exercising every property",
        "agreements": [{"id": "sw-ceasefire", "signatories": ["coalition", "ru"], "in_force": "2017-07-09"}],
    },
    "features": [
        feature(
            "nfz",
            "tanf-55km",
            "coalition",
            {"type": "Point", "coordinates": [38.618, 33.505]},
            radius_m=55000,
            altitude_m=[None, None],
            time=["2017-06-01T00:00:00Z", None],
            exempt=["humanitarian", "medevac"],
            applies_to=["ru"],
            name="Al-Tanf deconfliction zone",
        ),
        feature(
            "nfz",
            "sw-zone",
            "ru",
            {"type": POLY, "coordinates": square(36.0, 32.6, 0.5)},
            volume=1,
            altitude_m=[3000.5, None],
            time=["2017-07-09T12:00:00+03:00", None],
            source="ceasefire annex, 2nd phase",
        ),
        feature(
            "boundary",
            "coalition-aor",
            "coalition",
            {"type": "MultiPolygon", "coordinates": [DONUT, square(41, 36, 0.5)]},
            notes=None,
        ),
        feature(
            "nfz",
            "sw-zone",
            "ru",
            {"type": POLY, "coordinates": square(36.0, 32.6, 0.5)},
            volume=0,
            altitude_m=[None, 3000.5],
            time=["2017-07-09T06:00:00Z", "2017-07-09T12:00:00+03:00"],
            source="ceasefire annex",
        ),
        feature(
            "line",
            "euphrates",
            "coalition",
            {
                "type": "MultiLineString",
                "coordinates": [[[38.0, 36.95], [38.02, 36.83]], [[39.0, 35.92], [40.0, 35.5]]],
            },
            buffer_m=2000,
            signatories=["ru", "coalition"],
        ),
        feature("line", "m4", "ru", {"type": "LineString", "coordinates": [[36.5, 35.5], [37.5, 36.5]]}),
        feature(
            "site",
            "rukban",
            "ocha",
            {"type": "Point", "coordinates": [38.70, 33.29, 650.0]},
            radius_m=5000,
            site_type="camp",
            population=45000,
            beds=None,
        ),
        feature(
            "movement",
            "convoy-7",
            "ocha",
            {"type": "LineString", "coordinates": [[36.3, 33.5], [37.2, 34.5], [38.7, 33.29]]},
            corridor_m=1000,
            time=[None, "2017-07-12T18:00:00.125Z"],
            vehicles=31,
            manifest=["flour", "medical"],
        ),
        feature(
            "intent",
            "op-17",
            "coalition",
            {"type": POLY, "coordinates": square(39.0, 35.9)},
            volume=2,
            category="air",
            purpose="medevac",
            altitude_m=[6000, 9000],
            time=["2017-07-07T09:00:00Z", "2017-07-07T10:00:00Z"],
            callsign="DUSTOFF 3",
        ),
        feature(
            "intent",
            "op-17",
            "coalition",
            {"type": POLY, "coordinates": square(39.0, 35.8)},
            volume=0,
            category="air",
            purpose="medevac",
            altitude_m=[None, 1000],
            time=["2017-07-07T06:00:00Z", "2017-07-07T08:00:00Z"],
            callsign="DUSTOFF 1",
        ),
        feature(
            "intent",
            "op-17",
            "coalition",
            {"type": "MultiPolygon", "coordinates": [square(39.1, 35.8), square(39.3, 35.8)]},
            volume=1,
            category="air",
            purpose="medevac",
            altitude_m=[1000, 6000],
            time=["2017-07-07T08:00:00Z", "2017-07-07T09:00:00Z"],
        ),
        feature(
            "intent",
            "patrol-3",
            "ru",
            {"type": POLY, "coordinates": square(37.0, 35.0)},
            category="ground",
            time=["2017-07-08T00:00:00+02:00", None],
        ),
    ],
}


def round_trip(s: Scenario) -> Scenario:
    return parse_scenario(json.dumps(scenario_to_geojson(s), allow_nan=False))


def assert_same(a: Scenario, b: Scenario) -> None:
    """Field by field, so a failure says which field of which object differs."""
    assert a.name == b.name
    assert a.separation == b.separation
    assert a.extra == b.extra
    assert list(a.parties) == list(b.parties)
    for pid, party in a.parties.items():
        twin = b.parties[pid]
        assert (party.id, party.name, party.role, party.extra) == (twin.id, twin.name, twin.role, twin.extra)
    assert list(a.objects) == list(b.objects)
    for key, obj in a.objects.items():
        other = b.objects[key]
        for name in ("kind", "id", "party", "applies_to", "exempt", "signatories", "category", "purpose", "extra"):
            assert getattr(obj, name) == getattr(other, name), (key, name)
        assert len(obj.volumes) == len(other.volumes), key
        for i, (va, vb) in enumerate(zip(obj.volumes, other.volumes, strict=True)):
            assert va.footprint == vb.footprint, (key, i, "footprint")
            assert va.altitude == vb.altitude, (key, i, "altitude")
            assert va.time == vb.time, (key, i, "time")
    assert a == b


def test_rich_scenario_round_trips() -> None:
    original = parse_scenario(json.dumps(RICH))
    assert len(original.objects) == 9
    assert [len(o.volumes) for o in original.objects.values()] == [1, 2, 1, 1, 1, 1, 1, 3, 1]
    assert_same(original, round_trip(original))


def test_writing_is_stable_after_one_round_trip() -> None:
    written = scenario_to_geojson(parse_scenario(json.dumps(RICH)))
    assert scenario_to_geojson(parse_scenario(json.dumps(written))) == written


def test_output_is_plain_json_types() -> None:
    written = scenario_to_geojson(parse_scenario(json.dumps(RICH)))
    assert json.loads(json.dumps(written, allow_nan=False)) == written  # no tuples, no NaN


def test_one_feature_per_volume_with_every_property() -> None:
    written = scenario_to_geojson(parse_scenario(json.dumps(RICH)))
    op = [f["properties"] for f in written["features"] if f["properties"]["id"] == "op-17"]
    assert [p["volume"] for p in op] == [0, 1, 2]
    assert op[0] == {
        "kind": "intent",
        "id": "op-17",
        "volume": 0,
        "party": "coalition",
        "altitude_m": [None, 1000.0],
        "time": ["2017-07-07T06:00:00Z", "2017-07-07T08:00:00Z"],
        "category": "air",
        "purpose": "medevac",
        "callsign": "DUSTOFF 1",
    }
    tanf = next(f for f in written["features"] if f["properties"]["id"] == "tanf-55km")
    assert tanf["geometry"] == {"type": "Point", "coordinates": [38.618, 33.505]}
    assert tanf["properties"]["radius_m"] == 55000.0
    assert tanf["properties"]["applies_to"] == ["ru"]
    assert tanf["properties"]["exempt"] == ["humanitarian", "medevac"]
    assert tanf["properties"]["time"] == ["2017-06-01T00:00:00Z", None]
    river = next(f for f in written["features"] if f["properties"]["id"] == "euphrates")
    assert river["properties"]["buffer_m"] == 2000.0
    assert river["properties"]["signatories"] == ["coalition", "ru"]
    convoy = next(f for f in written["features"] if f["properties"]["id"] == "convoy-7")
    assert convoy["properties"]["corridor_m"] == 1000.0
    assert convoy["properties"]["time"] == [None, "2017-07-12T18:00:00.125000Z"]
    assert convoy["properties"]["vehicles"] == 31
    sw = [f["properties"] for f in written["features"] if f["properties"]["id"] == "sw-zone"]
    assert "radius_m" not in sw[0]  # a polygon zone has no radius
    assert sw[1]["time"] == ["2017-07-09T09:00:00Z", None]  # +03:00 written as UTC


def test_the_detente_member_is_written_whole() -> None:
    written = scenario_to_geojson(parse_scenario(json.dumps(RICH)))
    member = written["detente"]
    assert member["version"] == 1
    assert member["separation"] == {
        "air": {"horizontal_m": 5556.0, "vertical_m": 300.0},
        "ground": {"horizontal_m": 500.0, "vertical_m": None},
    }
    assert member["agreements"] == RICH["detente"]["agreements"]
    assert member["parties"][1] == RICH["detente"]["parties"][1]


def test_extras_never_override_interpreted_properties() -> None:
    geometry = Footprint(Point(38.7, 33.3), 500.0)
    site = WorldObject(
        kind=Kind.SITE,
        id="camp",
        party="ocha",
        volumes=(Volume4D(geometry),),
        extra=({"kind": "nfz", "radius_m": 1, "name": "Rukban"},),
    )
    (written,) = object_to_features(site)
    assert written["properties"]["kind"] == "site"
    assert written["properties"]["radius_m"] == 500.0
    assert written["properties"]["name"] == "Rukban"


def test_an_object_built_in_code_round_trips_through_its_features() -> None:
    parties = {"blue": Party("blue", "Blue", Role.MILITARY)}
    volumes = (
        Volume4D(
            Footprint(Polygon([(39, 36), (39.1, 36), (39.1, 36.1), (39, 36)])),
            AltitudeBand(0.0, 1500.0),
            TimeWindow(
                datetime(2017, 7, 7, 6, 0, 0, 1, tzinfo=UTC),
                datetime(2017, 7, 7, 9, tzinfo=timezone(timedelta(hours=3))) + timedelta(hours=4),
            ),
        ),
    )
    intent = WorldObject(Kind.INTENT, "op", "blue", volumes, category=Category.AIR, purpose="armed", extra=({},))
    assert parse_object_features(object_to_features(intent), parties) == intent


times = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
) | st.datetimes(
    min_value=datetime(1970, 1, 2),
    max_value=datetime(2100, 1, 1),
    timezones=st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m))),
)
altitudes = st.none() | st.floats(-500, 30000, allow_nan=False) | st.integers(-500, 30000)


@settings(max_examples=200, deadline=None)
@given(start=st.none() | times, length=st.none() | st.timedeltas(timedelta(microseconds=1), timedelta(days=400)))
def test_any_time_window_round_trips(start: datetime | None, length: timedelta | None) -> None:
    end = None if length is None else (start or datetime(2017, 1, 1, tzinfo=UTC)) + length
    props = RICH["features"][-1]["properties"]
    window = [None if t is None else t.isoformat() for t in (start, end)]
    doc = {**RICH, "features": [{**RICH["features"][-1], "properties": {**props, "time": window}}]}
    s = parse_scenario(json.dumps(doc))
    assert s.objects[(Kind.INTENT, "patrol-3")].volumes[0].time == TimeWindow(start, end)
    assert_same(s, round_trip(s))


@settings(max_examples=200, deadline=None)
@given(a=altitudes, b=altitudes)
def test_any_altitude_band_round_trips(a: float | None, b: float | None) -> None:
    if a is not None and b is not None and a >= b:
        a, b = b, a
    if a is not None and a == b:
        b = None
    props = RICH["features"][-1]["properties"]
    doc = {**RICH, "features": [{**RICH["features"][-1], "properties": {**props, "altitude_m": [a, b]}}]}
    s = parse_scenario(json.dumps(doc))
    assert s.objects[(Kind.INTENT, "patrol-3")].volumes[0].altitude == AltitudeBand(a, b)
    assert_same(s, round_trip(s))
