"""Reading valid scenario files: what each property becomes in the model."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.unit.geojson_builders import PARTIES, feature, line, point, square

from detente.adapters.interop import scenario as scenario_module
from detente.adapters.interop.scenario import (
    MAX_SCENARIO_BYTES,
    load_scenario,
    objects_from_features,
    parse_object_features,
    parse_scenario,
)
from detente.domain.errors import InvalidInput
from detente.domain.geo.intervals import ALL_ALTITUDES, ALWAYS, AltitudeBand, TimeWindow
from detente.domain.model import DEFAULT_SEPARATION, Category, Kind, Minima, Party, Role, Scenario

# The example of SCENARIO.md (one long line wrapped).
SPEC_EXAMPLE = """
{
  "type": "FeatureCollection",
  "detente": {
    "version": 1,
    "name": "Syria, July 2017",
    "parties": [
      {"id": "coalition", "name": "Counter-ISIS coalition", "role": "military"},
      {"id": "ru", "name": "Russian forces", "role": "military"},
      {"id": "ocha", "name": "UN humanitarian coordination", "role": "humanitarian"},
      {"id": "observers", "name": "Ceasefire monitoring centre", "role": "observer"}
    ],
    "separation": {"air": {"horizontal_m": 9260, "vertical_m": 305},
                   "ground": {"horizontal_m": 1000, "vertical_m": null}}
  },
  "features": [
    {"type": "Feature",
     "geometry": {"type": "Point", "coordinates": [38.618, 33.505]},
     "properties": {"kind": "nfz", "id": "tanf-55km", "party": "coalition",
                    "radius_m": 55000, "altitude_m": [null, null],
                    "time": ["2017-06-01T00:00:00Z", null],
                    "exempt": ["humanitarian"]}},
    {"type": "Feature",
     "geometry": {"type": "Polygon",
                  "coordinates": [[[39.0, 35.9], [39.1, 35.9], [39.1, 36.0], [39.0, 36.0], [39.0, 35.9]]]},
     "properties": {"kind": "intent", "id": "op-17", "volume": 0, "party": "coalition",
                    "category": "air", "altitude_m": [3000, 6000],
                    "time": ["2017-07-07T06:00:00Z", "2017-07-07T09:00:00Z"]}}
  ]
}
"""


def document(*features: dict[str, Any], **detente: Any) -> str:
    member = {"version": 1, "name": "test", "parties": PARTIES, **detente}
    return json.dumps({"type": "FeatureCollection", "detente": member, "features": list(features)})


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def test_the_spec_example_reads_whole() -> None:
    s = parse_scenario(SPEC_EXAMPLE)
    assert s.name == "Syria, July 2017"
    assert list(s.parties) == ["coalition", "ru", "ocha", "observers"]
    assert s.parties["ocha"] == Party("ocha", "UN humanitarian coordination", Role.HUMANITARIAN)
    assert s.separation == {
        Category.AIR: Minima(9260.0, 305.0),
        Category.GROUND: Minima(1000.0, None),
    }
    zone = s.objects[(Kind.NFZ, "tanf-55km")]
    assert zone.party == "coalition"
    assert zone.exempt == frozenset({"humanitarian"})
    assert zone.applies_to is None
    (vol,) = zone.volumes
    assert vol.footprint.geometry.geom_type == "Point"
    assert vol.footprint.radius_m == 55000.0
    assert vol.altitude == ALL_ALTITUDES
    assert vol.time == TimeWindow(utc(2017, 6, 1), None)
    intent = s.objects[(Kind.INTENT, "op-17")]
    assert intent.category is Category.AIR
    assert intent.purpose is None and intent.effective_purpose == "armed"
    assert intent.volumes[0].altitude == AltitudeBand(3000.0, 6000.0)
    assert intent.volumes[0].time == TimeWindow(utc(2017, 7, 7, 6), utc(2017, 7, 7, 9))
    assert s.intents() == [intent]


def test_bytes_and_text_read_the_same() -> None:
    assert parse_scenario(SPEC_EXAMPLE.encode()) == parse_scenario(SPEC_EXAMPLE)


def test_utf8_bom_in_bytes_is_accepted() -> None:
    assert parse_scenario(b"\xef\xbb\xbf" + SPEC_EXAMPLE.encode()).name == "Syria, July 2017"


def test_defaults_for_what_a_feature_leaves_out() -> None:
    s = parse_scenario(
        document(
            feature("boundary", "aor", "blue", square(39, 35)),
            feature("line", "river", "blue", line((38, 36), (39, 36))),
            feature("intent", "op", "red", square(39, 36), category="ground"),
            separation={"air": {"horizontal_m": 5000}},
        )
    )
    aor = s.objects[(Kind.BOUNDARY, "aor")]
    assert aor.volumes[0].altitude == ALL_ALTITUDES
    assert aor.volumes[0].time == ALWAYS
    assert aor.volumes[0].footprint.radius_m == 0.0
    assert s.objects[(Kind.LINE, "river")].volumes[0].footprint.radius_m == 0.0
    assert s.objects[(Kind.LINE, "river")].signatories == frozenset()
    assert s.objects[(Kind.INTENT, "op")].purpose is None
    # A member not given keeps its default; a category not given too.
    assert s.separation[Category.AIR] == Minima(5000.0, 305.0)
    assert s.separation[Category.GROUND] == DEFAULT_SEPARATION[Category.GROUND]
    assert s.extra == {}


def test_separation_defaults_when_absent_and_null_vertical_is_unlimited() -> None:
    assert parse_scenario(document()).separation == DEFAULT_SEPARATION
    s = parse_scenario(document(separation={"air": {"horizontal_m": 5000, "vertical_m": None}}))
    assert s.separation[Category.AIR] == Minima(5000.0, None)


def test_a_party_name_defaults_to_its_id() -> None:
    s = parse_scenario(document(parties=[{"id": "obs", "role": "observer"}]))
    assert s.parties["obs"].name == "obs"
    assert s.parties["obs"].role is Role.OBSERVER


def test_times_with_any_offset_become_utc() -> None:
    s = parse_scenario(
        document(
            feature(
                "movement",
                "convoy",
                "aid",
                line((38, 36), (39, 36)),
                corridor_m=500,
                time=["2017-07-09T12:00:00+03:00", "2017-07-09T18:30:00.250-04:00"],
            ),
            feature("site", "camp", "aid", point(38.7, 33.3), radius_m=2000, time=[None, "2017-07-10T00:00:00Z"]),
        )
    )
    window = s.objects[(Kind.MOVEMENT, "convoy")].volumes[0].time
    assert window.start == utc(2017, 7, 9, 9)
    assert window.end == datetime(2017, 7, 9, 22, 30, 0, 250000, tzinfo=UTC)
    assert window.start is not None and window.start.tzinfo is UTC
    camp = s.objects[(Kind.SITE, "camp")].volumes[0].time
    assert camp == TimeWindow(None, utc(2017, 7, 10))


def test_footprint_radius_comes_from_the_kinds_distance_property() -> None:
    s = parse_scenario(
        document(
            feature("nfz", "circle", "blue", point(38.6, 33.5), radius_m=55000),
            feature("nfz", "polygon", "blue", square(39, 35)),
            feature("site", "camp", "aid", point(38.7, 33.3), radius_m=0),
            feature("movement", "convoy", "aid", line((38, 36), (39, 36)), corridor_m=750.5),
            feature("line", "river", "blue", line((38, 36), (39, 37)), buffer_m=500, signatories=["blue", "red"]),
        )
    )
    radius = {key[1]: obj.volumes[0].footprint.radius_m for key, obj in s.objects.items()}
    assert radius == {"circle": 55000.0, "polygon": 0.0, "camp": 0.0, "convoy": 750.5, "river": 500.0}
    assert s.objects[(Kind.LINE, "river")].signatories == frozenset({"blue", "red"})


def test_volumes_are_ordered_by_index_wherever_they_sit_in_the_file() -> None:
    s = parse_scenario(
        document(
            feature("intent", "op", "red", square(39, 36), volume=2, category="air", name="third"),
            feature("boundary", "aor", "blue", square(30, 30)),
            feature("intent", "op", "red", square(39, 35), volume=0, category="air", name="first"),
            feature("intent", "op", "red", square(39, 34), volume=1, category="air", name="second"),
        )
    )
    op = s.objects[(Kind.INTENT, "op")]
    assert [v.footprint.geometry.bounds[1] for v in op.volumes] == [35, 34, 36]
    assert [e["name"] for e in op.extra] == ["first", "second", "third"]
    # Objects keep the order they first appear in.
    assert list(s.objects) == [(Kind.INTENT, "op"), (Kind.BOUNDARY, "aor")]


def test_same_id_of_another_kind_is_another_object() -> None:
    s = parse_scenario(
        document(
            feature("boundary", "x", "blue", square(30, 30)),
            feature("nfz", "x", "blue", square(30, 30)),
        )
    )
    assert set(s.objects) == {(Kind.BOUNDARY, "x"), (Kind.NFZ, "x")}


def test_uninterpreted_properties_are_kept_per_volume() -> None:
    s = parse_scenario(
        document(
            feature(
                "site",
                "hospital",
                "aid",
                point(36.2, 33.5),
                radius_m=300,
                name="Al-Mujtahid",
                site_type="hospital",
                source={"org": "WHO", "tags": ["verified", 3]},
            ),
            feature("movement", "convoy", "aid", line((38, 36), (39, 36)), corridor_m=500, vehicles=12),
            contact="ops@example.org",
            agreements=[{"id": "sw", "signatories": ["blue", "red"]}],
            parties=[{"id": "blue", "name": "Blue", "role": "military", "callsign": "B"}, *PARTIES[1:]],
        )
    )
    site = s.objects[(Kind.SITE, "hospital")]
    assert site.extra == (
        {"name": "Al-Mujtahid", "site_type": "hospital", "source": {"org": "WHO", "tags": ["verified", 3]}},
    )
    assert s.objects[(Kind.MOVEMENT, "convoy")].extra == ({"vehicles": 12},)
    assert s.extra == {"contact": "ops@example.org", "agreements": [{"id": "sw", "signatories": ["blue", "red"]}]}
    assert s.parties["blue"].extra == {"callsign": "B"}


def test_null_properties_are_the_same_as_absent_ones() -> None:
    # GIS tools write every attribute column on every feature, null where empty.
    columns = dict.fromkeys(
        ["volume", "radius_m", "corridor_m", "buffer_m", "applies_to", "exempt", "signatories", "category", "purpose"]
    )
    s = parse_scenario(document(feature("boundary", "aor", "blue", square(39, 35), **columns, altitude_m=None)))
    aor = s.objects[(Kind.BOUNDARY, "aor")]
    assert aor.volumes[0].altitude == ALL_ALTITUDES
    assert aor.extra == ({},)


def test_multi_geometries_split_antimeridian_and_3d_positions_are_accepted() -> None:
    east = [[[179.0, -17.0], [180.0, -17.0], [180.0, -16.0], [179.0, -16.0], [179.0, -17.0]]]
    west = [[[-180.0, -17.0], [-179.0, -17.0], [-179.0, -16.0], [-180.0, -16.0], [-180.0, -17.0]]]
    s = parse_scenario(
        document(
            feature("intent", "fiji", "red", {"type": "MultiPolygon", "coordinates": [east, west]}, category="air"),
            feature(
                "movement",
                "convoy",
                "aid",
                {"type": "MultiLineString", "coordinates": [[[38, 36, 400], [39, 36, 420]], [[39, 36], [39, 37]]]},
                corridor_m=500,
            ),
        )
    )
    assert s.objects[(Kind.INTENT, "fiji")].volumes[0].footprint.geometry.geom_type == "MultiPolygon"
    assert s.objects[(Kind.MOVEMENT, "convoy")].volumes[0].footprint.geometry.geom_type == "MultiLineString"


def test_nfz_object_properties() -> None:
    s = parse_scenario(
        document(feature("nfz", "z", "blue", square(39, 35), applies_to=["red"], exempt=["medevac", "humanitarian"]))
    )
    zone = s.objects[(Kind.NFZ, "z")]
    assert zone.applies_to == frozenset({"red"})
    assert zone.exempt == frozenset({"medevac", "humanitarian"})


def test_an_empty_applies_to_binds_nobody_and_is_not_the_default() -> None:
    s = parse_scenario(document(feature("nfz", "z", "blue", square(39, 35), applies_to=[])))
    assert s.objects[(Kind.NFZ, "z")].applies_to == frozenset()


def test_load_scenario_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.geojson"
    path.write_text(SPEC_EXAMPLE, encoding="utf-8")
    assert load_scenario(path) == parse_scenario(SPEC_EXAMPLE)
    assert load_scenario(str(path)).name == "Syria, July 2017"


def test_load_scenario_refuses_an_oversized_file_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "huge.geojson"
    with open(path, "wb") as f:
        f.truncate(MAX_SCENARIO_BYTES + 1)  # sparse: costs no disk

    def no_open(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the file must not be opened")

    monkeypatch.setattr(scenario_module, "open", no_open, raising=False)
    with pytest.raises(InvalidInput) as err:
        load_scenario(path)
    assert [p.rule for p in err.value.problems] == ["size"]
    assert str(MAX_SCENARIO_BYTES) in err.value.problems[0].message
    assert os.stat(path).st_size == MAX_SCENARIO_BYTES + 1


def test_load_scenario_lets_a_missing_file_raise_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_scenario(tmp_path / "missing.geojson")


def test_an_input_at_the_limit_is_parsed_not_refused_for_size() -> None:
    text = SPEC_EXAMPLE + " " * (MAX_SCENARIO_BYTES - len(SPEC_EXAMPLE.encode()))
    assert len(text.encode()) == MAX_SCENARIO_BYTES
    assert parse_scenario(text).name == "Syria, July 2017"


PARTY_MAP = {p["id"]: Party(p["id"], p["name"], Role(p["role"])) for p in PARTIES}


def test_parse_object_features_reads_one_intent_with_its_volumes() -> None:
    features = [
        feature(
            "intent", "op", "red", square(39, 35), volume=1, category="air", purpose="medevac", altitude_m=[0, 500]
        ),
        feature("intent", "op", "red", square(39, 36), volume=0, category="air", purpose="medevac"),
    ]
    op = parse_object_features(features, PARTY_MAP)
    assert op.key == (Kind.INTENT, "op")
    assert op.purpose == "medevac"
    assert [v.altitude for v in op.volumes] == [ALL_ALTITUDES, AltitudeBand(0.0, 500.0)]


def test_objects_from_features_groups_features_into_objects() -> None:
    features = [
        feature("site", "camp", "aid", point(38.7, 33.3), radius_m=1000),
        feature("boundary", "aor", "blue", square(39, 35)),
    ]
    objects = objects_from_features(features, PARTY_MAP)
    assert [o.key for o in objects] == [(Kind.SITE, "camp"), (Kind.BOUNDARY, "aor")]


def test_reading_does_not_share_mutable_extras_with_the_caller() -> None:
    features = [feature("site", "camp", "aid", point(38.7, 33.3), radius_m=1000, tags=["a"])]
    obj = parse_object_features(features, PARTY_MAP)
    features[0]["properties"]["tags"].append("b")
    assert obj.extra == ({"tags": ["a"]},)


def test_an_empty_scenario_is_valid() -> None:
    s = parse_scenario('{"type": "FeatureCollection", "features": [], "detente": {"version": 1, "parties": []}}')
    assert s == Scenario(name="", parties={}, objects={})
