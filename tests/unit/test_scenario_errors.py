"""Every rule a scenario file can break, named with the feature it sits in.

Each case breaks one rule in an otherwise valid scenario and expects exactly
that problem (rule, feature index, feature id): no more, so one mistake does
not drown in knock-on errors, and no less.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.geojson_builders import PARTIES, feature, line, point, square

from detente.adapters.interop.scenario import (
    MAX_SCENARIO_BYTES,
    RULES,
    objects_from_features,
    parse_object_features,
    parse_scenario,
    scenario_to_geojson,
)
from detente.domain.errors import InvalidInput, Problem
from detente.domain.model import Party, Role

WINDOW = ["2017-07-07T06:00:00Z", "2017-07-07T09:00:00Z"]

BASE: dict[str, Any] = {
    "type": "FeatureCollection",
    "detente": {
        "version": 1,
        "name": "errors",
        "parties": PARTIES,
        "separation": {"air": {"horizontal_m": 9260, "vertical_m": 305}},
    },
    "features": [
        feature("nfz", "zone", "blue", point(38.6, 33.5), radius_m=55000),  # 0
        feature("boundary", "aor", "blue", square(39, 35)),  # 1
        feature("line", "river", "blue", line((38, 36), (39, 37)), buffer_m=500, signatories=["blue", "red"]),  # 2
        feature("site", "camp", "aid", point(38.7, 33.3), radius_m=2000, name="Rukban"),  # 3
        feature("movement", "convoy", "aid", line((38, 35), (39, 35)), corridor_m=1000, time=WINDOW),  # 4
        feature("intent", "op", "red", square(39, 36), volume=0, category="air", altitude_m=[3000, 6000]),  # 5
        feature("intent", "op", "red", square(39, 37), volume=1, category="air", time=WINDOW),  # 6
    ],
}

REMOVE = object()
Mutation = Callable[[dict[str, Any]], None]


def props(index: int, **changes: Any) -> Mutation:
    """Set (or, with REMOVE, delete) properties of one feature."""

    def apply(doc: dict[str, Any]) -> None:
        target = doc["features"][index]["properties"]
        for name, value in changes.items():
            if value is REMOVE:
                target.pop(name, None)
            else:
                target[name] = value

    return apply


def geometry(index: int, value: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc["features"][index]["geometry"] = value

    return apply


def detente(**changes: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        for name, value in changes.items():
            if value is REMOVE:
                doc["detente"].pop(name, None)
            else:
                doc["detente"][name] = value

    return apply


def party(position: int, **changes: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        target = doc["detente"]["parties"][position]
        for name, value in changes.items():
            if value is REMOVE:
                target.pop(name, None)
            else:
                target[name] = value

    return apply


def top(**changes: Any) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc.update(changes)

    return apply


def append(feat: dict[str, Any]) -> Mutation:
    def apply(doc: dict[str, Any]) -> None:
        doc["features"].append(feat)

    return apply


def raw(text: str) -> str:
    """A value written into the JSON text verbatim (e.g. ``1e400``, a huge integer)."""
    return f"__raw:{text}__"


def render(*mutations: Mutation) -> str:
    doc = copy.deepcopy(BASE)
    for mutate in mutations:
        mutate(doc)
    # json.dumps writes float("nan") as the NaN literal, which Python's json reads back.
    return re.sub(r'"__raw:(.*?)__"', r"\1", json.dumps(doc))


def problems_of(text: str | bytes) -> list[Problem]:
    with pytest.raises(InvalidInput) as err:
        parse_scenario(text)
    return err.value.problems


def found(problems: list[Problem]) -> set[tuple[str, int | None, str | None]]:
    return {(p.rule, p.index, p.id) for p in problems}


def test_the_base_scenario_is_valid() -> None:
    assert len(parse_scenario(render()).objects) == 6


NAN = float("nan")
INF = float("inf")
BOWTIE = {"type": "Polygon", "coordinates": [[[39, 36], [39.1, 36.1], [39.1, 36], [39, 36.1], [39, 36]]]}
OPEN_RING = {"type": "Polygon", "coordinates": [[[39, 36], [39.1, 36], [39.1, 36.1], [39, 36.1]]]}
SHORT_RING = {"type": "Polygon", "coordinates": [[[39, 36], [39.1, 36], [39, 36]]]}

# (mutations, rule, feature index, feature or party id)
CASES: list[Any] = [
    # --- the document
    pytest.param([top(type="Feature")], "feature_collection", None, None, id="not-a-feature-collection"),
    pytest.param([top(features={"a": 1})], "feature_collection", None, None, id="features-not-a-list"),
    pytest.param([top(features=[*BASE["features"], "x"])], "feature", 7, None, id="feature-not-an-object"),
    pytest.param([geometry(1, None)], "geometry", 1, "aor", id="null-geometry"),
    # --- the detente member
    pytest.param([top(detente=None)], "detente", None, None, id="detente-missing"),
    pytest.param([top(detente=[1])], "detente", None, None, id="detente-not-an-object"),
    pytest.param([detente(name=7)], "detente", None, None, id="name-not-a-string"),
    pytest.param([detente(version=2)], "version", None, None, id="version-2"),
    pytest.param([detente(version=REMOVE)], "version", None, None, id="version-missing"),
    pytest.param([detente(version=True)], "version", None, None, id="version-true"),
    pytest.param([detente(version="1")], "version", None, None, id="version-string"),
    pytest.param([detente(parties={"blue": {}})], "parties", None, None, id="parties-not-a-list"),
    pytest.param(
        [detente(parties=[*PARTIES, {"name": "x", "role": "observer"}])], "parties", None, None, id="party-no-id"
    ),
    pytest.param([detente(parties=[*PARTIES, "obs"])], "parties", None, None, id="party-not-an-object"),
    pytest.param([party(0, name=5)], "parties", None, "blue", id="party-name-not-a-string"),
    pytest.param(
        [detente(parties=[*PARTIES, {"id": "red", "name": "again", "role": "military"}])],
        "duplicate_party",
        None,
        "red",
        id="duplicate-party",
    ),
    pytest.param([party(1, role="rebel")], "role", None, "red", id="role-unknown"),
    pytest.param([party(1, role=REMOVE)], "role", None, "red", id="role-missing"),
    pytest.param([detente(separation=[9260])], "separation", None, None, id="separation-not-an-object"),
    pytest.param([detente(separation={"air": 9260})], "separation", None, None, id="separation-minima-not-an-object"),
    pytest.param(
        [detente(separation={"sea": {"horizontal_m": 1}})], "separation", None, None, id="separation-category"
    ),
    pytest.param(
        [detente(separation={"air": {"horizontal_m": -1}})], "separation", None, None, id="separation-negative"
    ),
    pytest.param([detente(separation={"air": {"horizontal_m": 0}})], "separation", None, None, id="separation-zero"),
    pytest.param([detente(separation={"air": {"horizontal_m": NAN}})], "separation", None, None, id="separation-nan"),
    pytest.param(
        [detente(separation={"ground": {"vertical_m": 0}})], "separation", None, None, id="separation-vertical-0"
    ),
    pytest.param(
        [detente(separation={"air": {"vertical_m": "305"}})], "separation", None, None, id="separation-vertical-str"
    ),
    pytest.param(
        [detente(separation={"air": {"horizontal_nm": 5}})], "separation", None, None, id="separation-unknown-member"
    ),
    pytest.param([detente(notes=NAN)], "non_finite", None, None, id="detente-extra-nan"),
    pytest.param([party(2, budget=[1, INF])], "non_finite", None, "aid", id="party-extra-infinity"),
    # --- per feature: identity
    pytest.param([props(1, kind="river")], "kind", 1, "aor", id="kind-unknown"),
    pytest.param([props(1, kind=REMOVE)], "kind", 1, "aor", id="kind-missing"),
    pytest.param([props(1, id=REMOVE)], "id", 1, None, id="id-missing"),
    pytest.param([props(1, id=17)], "id", 1, None, id="id-number"),
    pytest.param([props(1, id="")], "id", 1, None, id="id-empty"),
    pytest.param([props(1, volume=-1)], "volume", 1, "aor", id="volume-negative"),
    pytest.param([props(1, volume=1.5)], "volume", 1, "aor", id="volume-float"),
    pytest.param([props(1, volume="0")], "volume", 1, "aor", id="volume-string"),
    pytest.param([props(1, volume=True)], "volume", 1, "aor", id="volume-bool"),
    pytest.param([props(6, volume=2)], "volume", 6, "op", id="volume-gap"),
    pytest.param(
        [append(copy.deepcopy(BASE["features"][6])), props(6, volume="1"), props(7, volume=2)],
        "volume",
        6,
        "op",
        id="volume-bad-index-is-not-also-a-gap",
    ),
    pytest.param([props(5, volume=1), props(6, volume=2)], "volume", 5, "op", id="volume-not-from-0"),
    pytest.param([props(6, volume=0)], "duplicate_volume", 6, "op", id="duplicate-volume"),
    pytest.param([append(copy.deepcopy(BASE["features"][1]))], "duplicate_volume", 7, "aor", id="duplicate-default"),
    pytest.param([props(1, party=REMOVE)], "party", 1, "aor", id="party-missing"),
    pytest.param([props(1, party=5)], "party", 1, "aor", id="party-number"),
    pytest.param([props(1, party="green")], "unknown_party", 1, "aor", id="party-undeclared"),
    pytest.param([props(0, applies_to=["red", "green"])], "unknown_party", 0, "zone", id="applies-to-undeclared"),
    pytest.param([props(2, signatories=["blue", "green"])], "unknown_party", 2, "river", id="signatory-undeclared"),
    # --- geometry
    pytest.param(
        [geometry(3, {"type": "Point", "coordinates": [NAN, 33.3]})], "geometry", 3, "camp", id="geometry-nan"
    ),
    pytest.param(
        [geometry(3, {"type": "Point", "coordinates": [38.7, INF]})], "geometry", 3, "camp", id="geometry-inf"
    ),
    pytest.param(
        [geometry(3, {"type": "Point", "coordinates": [38.7, raw("1e400")]})],
        "geometry",
        3,
        "camp",
        id="geometry-1e400",
    ),
    pytest.param(
        [geometry(3, {"type": "Point", "coordinates": [raw("1" + "0" * 400), 33.3]})],
        "geometry",
        3,
        "camp",
        id="geometry-huge-integer",
    ),
    pytest.param([geometry(3, point(200, 33.3))], "geometry", 3, "camp", id="geometry-lon-out-of-range"),
    pytest.param([geometry(3, point(38.7, -95))], "geometry", 3, "camp", id="geometry-lat-out-of-range"),
    pytest.param(
        [geometry(3, {"type": "Point", "coordinates": ["38.7", 33.3]})], "geometry", 3, "camp", id="geometry-str"
    ),
    pytest.param([geometry(3, {"type": "Point"})], "geometry", 3, "camp", id="geometry-no-coordinates"),
    pytest.param([geometry(3, "POINT (38.7 33.3)")], "geometry", 3, "camp", id="geometry-wkt-not-geojson"),
    pytest.param([geometry(5, BOWTIE)], "geometry", 5, "op", id="geometry-self-intersecting"),
    pytest.param([geometry(5, OPEN_RING)], "geometry", 5, "op", id="geometry-unclosed-ring"),
    pytest.param([geometry(5, {"type": "Polygon", "coordinates": []})], "geometry", 5, "op", id="geometry-no-rings"),
    pytest.param([geometry(5, SHORT_RING)], "geometry", 5, "op", id="geometry-ring-too-short"),
    pytest.param([geometry(2, line((179, 0), (-179, 0)))], "geometry", 2, "river", id="geometry-antimeridian-unsplit"),
    pytest.param([geometry(2, line((38, 36)))], "geometry", 2, "river", id="geometry-line-one-position"),
    pytest.param([geometry(3, square(38.7, 33.3))], "geometry_type", 3, "camp", id="geometry-site-polygon"),
    pytest.param([geometry(5, point(39, 36))], "geometry_type", 5, "op", id="geometry-intent-point"),
    pytest.param([geometry(1, line((38, 36), (39, 36)))], "geometry_type", 1, "aor", id="geometry-boundary-line"),
    pytest.param([geometry(2, square(38, 36))], "geometry_type", 2, "river", id="geometry-line-polygon"),
    pytest.param([geometry(4, point(38, 35))], "geometry_type", 4, "convoy", id="geometry-movement-point"),
    pytest.param([geometry(0, line((38, 36), (39, 36)))], "geometry_type", 0, "zone", id="geometry-nfz-line"),
    pytest.param(
        [geometry(1, {"type": "GeometryCollection", "geometries": []})],
        "geometry_type",
        1,
        "aor",
        id="geometry-collection",
    ),
    # --- time
    pytest.param([props(4, time=["2017-07-07T06:00:00", None])], "time", 4, "convoy", id="time-naive"),
    pytest.param([props(4, time=["2017-07-07", None])], "time", 4, "convoy", id="time-date-only-is-naive"),
    pytest.param([props(4, time=["7 July 2017", None])], "time", 4, "convoy", id="time-unparseable"),
    pytest.param([props(4, time=[1499407200, None])], "time", 4, "convoy", id="time-epoch-number"),
    pytest.param([props(4, time=[WINDOW[1], WINDOW[0]])], "time", 4, "convoy", id="time-end-before-start"),
    pytest.param([props(4, time=[WINDOW[0], WINDOW[0]])], "time", 4, "convoy", id="time-end-equals-start"),
    pytest.param(
        [props(4, time=["2017-07-07T09:00:00+03:00", "2017-07-07T06:00:00Z"])],
        "time",
        4,
        "convoy",
        id="time-end-equals-start-across-offsets",
    ),
    pytest.param([props(4, time=WINDOW[0])], "time", 4, "convoy", id="time-not-a-list"),
    pytest.param([props(4, time=[WINDOW[0]])], "time", 4, "convoy", id="time-one-element"),
    pytest.param([props(4, time=[*WINDOW, None])], "time", 4, "convoy", id="time-three-elements"),
    pytest.param([props(4, time=["0001-01-01T00:00:00+01:00", None])], "time", 4, "convoy", id="time-out-of-range"),
    # --- altitude
    pytest.param([props(5, altitude_m=[6000, 3000])], "altitude_m", 5, "op", id="altitude-lower-above-upper"),
    pytest.param([props(5, altitude_m=[3000, 3000])], "altitude_m", 5, "op", id="altitude-lower-equals-upper"),
    pytest.param([props(5, altitude_m=[NAN, 3000])], "altitude_m", 5, "op", id="altitude-nan"),
    pytest.param([props(5, altitude_m=[None, INF])], "altitude_m", 5, "op", id="altitude-infinity"),
    pytest.param([props(5, altitude_m=[raw("1e400"), None])], "altitude_m", 5, "op", id="altitude-1e400"),
    pytest.param([props(5, altitude_m=["3000", None])], "altitude_m", 5, "op", id="altitude-string"),
    pytest.param([props(5, altitude_m=[True, None])], "altitude_m", 5, "op", id="altitude-bool"),
    pytest.param([props(5, altitude_m=3000)], "altitude_m", 5, "op", id="altitude-not-a-list"),
    pytest.param([props(5, altitude_m=[0, 1, 2])], "altitude_m", 5, "op", id="altitude-three-elements"),
    # --- distances
    pytest.param([props(3, radius_m=REMOVE)], "radius_m", 3, "camp", id="site-without-radius"),
    pytest.param([props(3, radius_m=-1)], "radius_m", 3, "camp", id="site-negative"),
    pytest.param([props(3, radius_m=NAN)], "radius_m", 3, "camp", id="site-nan"),
    pytest.param([props(3, radius_m="2000")], "radius_m", 3, "camp", id="site-string"),
    pytest.param([props(3, radius_m=True)], "radius_m", 3, "camp", id="site-bool"),
    pytest.param([props(0, radius_m=REMOVE)], "radius_m", 0, "zone", id="nfz-point-without-radius"),
    pytest.param([props(0, radius_m=0)], "radius_m", 0, "zone", id="nfz-point-zero-radius"),
    pytest.param([props(0, radius_m=INF)], "radius_m", 0, "zone", id="nfz-infinite-radius"),
    pytest.param([geometry(0, square(38, 33))], "radius_m", 0, "zone", id="nfz-polygon-with-radius"),
    pytest.param([props(1, radius_m=10)], "radius_m", 1, "aor", id="boundary-with-radius"),
    pytest.param([props(4, corridor_m=REMOVE)], "corridor_m", 4, "convoy", id="movement-without-corridor"),
    pytest.param([props(4, corridor_m=-5)], "corridor_m", 4, "convoy", id="corridor-negative"),
    pytest.param([props(4, corridor_m=NAN)], "corridor_m", 4, "convoy", id="corridor-nan"),
    pytest.param([props(5, corridor_m=100)], "corridor_m", 5, "op", id="intent-with-corridor"),
    pytest.param([props(2, buffer_m=-0.5)], "buffer_m", 2, "river", id="buffer-negative"),
    pytest.param([props(2, buffer_m=INF)], "buffer_m", 2, "river", id="buffer-infinite"),
    pytest.param([props(3, buffer_m=10)], "buffer_m", 3, "camp", id="site-with-buffer"),
    # --- kind properties
    pytest.param([props(0, applies_to="red")], "applies_to", 0, "zone", id="applies-to-string"),
    pytest.param([props(0, applies_to=[1])], "applies_to", 0, "zone", id="applies-to-numbers"),
    pytest.param([props(1, applies_to=["red"])], "applies_to", 1, "aor", id="applies-to-on-boundary"),
    pytest.param([props(0, exempt=["humanitrian"])], "exempt", 0, "zone", id="exempt-typo"),
    pytest.param([props(0, exempt="medevac")], "exempt", 0, "zone", id="exempt-string"),
    pytest.param([props(2, exempt=["medevac"])], "exempt", 2, "river", id="exempt-on-line"),
    pytest.param([props(2, signatories="blue")], "signatories", 2, "river", id="signatories-string"),
    pytest.param([props(0, signatories=["blue"])], "signatories", 0, "zone", id="signatories-on-nfz"),
    pytest.param([props(5, category=REMOVE), props(6, category=REMOVE)], "category", 5, "op", id="category-missing"),
    pytest.param([props(6, category="sea")], "category", 6, "op", id="category-unknown"),
    pytest.param([props(3, category="air")], "category", 3, "camp", id="category-on-site"),
    pytest.param([props(5, purpose="peaceful"), props(6, purpose="peaceful")], "purpose", 5, "op", id="purpose"),
    pytest.param([props(1, purpose="armed")], "purpose", 1, "aor", id="purpose-on-boundary"),
    # --- kept-as-is properties
    pytest.param([props(3, score=NAN)], "non_finite", 3, "camp", id="extra-nan"),
    pytest.param([props(3, stats={"beds": [10, {"x": -INF}]})], "non_finite", 3, "camp", id="nested-infinity"),
    # --- one object, several features
    pytest.param([props(6, party="blue")], "inconsistent_object", 6, "op", id="party-differs"),
    pytest.param([props(6, category="ground")], "inconsistent_object", 6, "op", id="category-differs"),
    pytest.param([props(6, purpose="medevac")], "inconsistent_object", 6, "op", id="purpose-given-once"),
]

# Cases that are not "one problem" because the input breaks two rules at once.
ALSO = {
    "category-missing": {("category", 6, "op")},
    "purpose": {("purpose", 6, "op")},
}


@pytest.mark.parametrize(("mutations", "rule", "index", "fid"), CASES)
def test_each_rule_names_the_feature(
    request: pytest.FixtureRequest, mutations: list[Mutation], rule: str, index: int | None, fid: str | None
) -> None:
    assert rule in RULES
    problems = problems_of(render(*mutations))
    case = request.node.callspec.id
    assert found(problems) == {(rule, index, fid)} | ALSO.get(case, set())
    assert all(p.message for p in problems)


def test_size_is_checked_before_parsing() -> None:
    oversized = b"{" * (MAX_SCENARIO_BYTES + 1)  # would be a JSON error if it were parsed
    assert [p.rule for p in problems_of(oversized)] == ["size"]
    assert [p.rule for p in problems_of(oversized.decode())] == ["size"]


def test_text_size_counts_utf8_bytes_not_characters() -> None:
    text = "é" * (MAX_SCENARIO_BYTES // 2 + 1)  # fewer characters than the limit, more bytes
    assert [p.rule for p in problems_of(text)] == ["size"]


@pytest.mark.parametrize("text", ["{not json", "", '{"type": "FeatureCollection",', "[" * 100_000], ids=repr)
def test_invalid_json(text: str) -> None:
    problems = problems_of(text)
    assert [(p.rule, p.index) for p in problems] == [("json", None)]


def test_invalid_utf8_is_invalid_json() -> None:
    assert [p.rule for p in problems_of(b'{"a": "\xff"}')] == ["json"]


def test_a_json_value_that_is_not_an_object() -> None:
    assert [p.rule for p in problems_of("[]")] == ["feature_collection"]


def test_every_problem_is_listed_not_only_the_first() -> None:
    text = render(
        detente(version=3),
        props(0, radius_m=-1),
        props(3, kind="shelter"),
        props(4, time=["2017-07-07T06:00:00", "tomorrow"]),
        geometry(5, BOWTIE),
        props(6, altitude_m=[10, 5], party="green"),
    )
    problems = problems_of(text)
    assert found(problems) == {
        ("version", None, None),
        ("radius_m", 0, "zone"),
        ("kind", 3, "camp"),
        ("time", 4, "convoy"),
        ("geometry", 5, "op"),
        ("altitude_m", 6, "op"),
        ("unknown_party", 6, "op"),
    }
    # Both bad times of feature 4 are reported.
    assert [p.rule for p in problems if p.index == 4] == ["time", "time"]
    # Header problems come first, then features in file order.
    assert [p.index for p in problems] == [None, 0, 3, 4, 4, 5, 6, 6]


def test_unreadable_parties_do_not_flood_features_with_unknown_party() -> None:
    problems = problems_of(render(detente(parties="blue, red")))
    assert found(problems) == {("parties", None, None)}


def test_a_malformed_party_still_counts_as_declared() -> None:
    problems = problems_of(render(party(0, role="navy")))
    assert found(problems) == {("role", None, "blue")}


def test_the_error_message_names_feature_index_id_and_rule() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_scenario(render(props(3, radius_m=-1)))
    assert "feature 3, id 'camp': [radius_m]" in str(err.value)


PARTY_MAP = {p["id"]: Party(p["id"], p["name"], Role(p["role"])) for p in PARTIES}


def test_parse_object_features_names_the_index_in_the_list() -> None:
    good = copy.deepcopy(BASE["features"][5])
    bad = copy.deepcopy(BASE["features"][6])
    bad["properties"]["time"] = ["2017-07-07T06:00:00", None]
    with pytest.raises(InvalidInput) as err:
        parse_object_features([good, bad], PARTY_MAP)
    assert found(err.value.problems) == {("time", 1, "op")}


def test_parse_object_features_checks_parties_against_those_given() -> None:
    with pytest.raises(InvalidInput) as err:
        parse_object_features([copy.deepcopy(BASE["features"][5])], {"blue": PARTY_MAP["blue"]})
    assert found(err.value.problems) == {("unknown_party", 0, "op")}


@pytest.mark.parametrize("indexes", [[], [1, 5]], ids=["none", "two-objects"])
def test_parse_object_features_wants_exactly_one_object(indexes: list[int]) -> None:
    features = [copy.deepcopy(BASE["features"][i]) for i in indexes]
    with pytest.raises(InvalidInput) as err:
        parse_object_features(features, PARTY_MAP)
    assert [p.rule for p in err.value.problems] == ["one_object"]


def test_objects_from_features_wants_a_list() -> None:
    with pytest.raises(InvalidInput) as err:
        objects_from_features({"type": "FeatureCollection"}, PARTY_MAP)  # type: ignore[arg-type]
    assert [p.rule for p in err.value.problems] == ["feature_collection"]


TESTED_ELSEWHERE = {"size", "json", "one_object"}


def test_every_rule_has_a_case() -> None:
    covered = {case.values[1] for case in CASES} | TESTED_ELSEWHERE
    assert covered == set(RULES)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON document, as a key path."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    return [prefix] + [p for key, child in children for p in _paths(child, (*prefix, key))]


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**400), 10**400)
    | st.floats()
    | st.text(max_size=4)
    | st.sampled_from(["2017-07-07T06:00:00Z", "air", "red", "Point", "Polygon", "medevac", "nfz"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["type", "coordinates", "kind", "id", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(edits=st.lists(st.tuples(st.sampled_from(_paths(BASE)[1:]), JSON_VALUES), min_size=1, max_size=3))
def test_any_value_anywhere_gives_problems_or_a_scenario_that_round_trips(edits: list[tuple[Any, Any]]) -> None:
    """Never a crash: a bad value anywhere is reported, a good one reads and writes back."""
    doc = copy.deepcopy(BASE)
    for path, value in edits:
        target = doc
        try:
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit replaced the container
    try:
        scenario = parse_scenario(json.dumps(doc))
    except InvalidInput as err:
        assert err.problems and all(p.rule in RULES for p in err.problems)
        return
    assert parse_scenario(json.dumps(scenario_to_geojson(scenario), allow_nan=False)) == scenario
