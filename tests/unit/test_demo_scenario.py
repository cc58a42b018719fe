"""The shipped Syria, July 2017 demo scenario.

Three layers:

* the file itself follows SCENARIO.md (checked on the raw GeoJSON);
* the conflicts the demo is built to show are really there: an independent
  check on the raw GeoJSON with shapely and pyproj (no detente code) finds
  exactly the expected table, with every decision well clear of its
  threshold, so the result cannot hinge on rounding;
* the engine (``load_scenario`` + ``World.check``) finds the same table.

And the builder reproduces the shipped file byte for byte from the
reference data (skipped where the reference data is not available).
"""

from __future__ import annotations

import json
import math
import os
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod, Proj
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

SHIPPED = Path(str(resources.files("detente.demo").joinpath("syria-2017.geojson")))

#: Every conflict the demo is built to show: intent -> {(volume, type, other id)}.
EXPECTED: dict[str, set[tuple[int, str, str]]] = {
    "sy-su22-tabqa": {
        (0, "line", "euphrates-line"),
        (0, "boundary", "aor-sdf"),
        (0, "separation", "coalition-cas-tabqa"),
    },
    "coalition-cas-tabqa": {(0, "separation", "sy-su22-tabqa")},
    "ru-strike-tanf": {(1, "nfz", "tanf-55km")},
    "sy-strike-daraa": {(0, "protected_site", "hospital-daraa")},
    "sdf-ground-m4": {(0, "humanitarian_movement", "convoy-qamishli-ain-issa")},
    "ru-airdrop-tanf": set(),
    "sy-training-hama": set(),
    "tr-patrol-al-bab": set(),
    "ru-cap-hmeimim": set(),
}
HARMLESS = ["ru-airdrop-tanf", "sy-training-hama", "tr-patrol-al-bab", "ru-cap-hmeimim"]

#: Every distance decision stays at least this far from its threshold.
MARGIN_M = 500.0

KINDS = {"nfz", "boundary", "line", "site", "movement", "intent"}
GEOMETRY_TYPES = {
    "nfz": {"Polygon", "MultiPolygon", "Point"},
    "boundary": {"Polygon", "MultiPolygon"},
    "line": {"LineString", "MultiLineString"},
    "site": {"Point"},
    "movement": {"LineString", "MultiLineString"},
    "intent": {"Polygon", "MultiPolygon"},
}


@cache
def _doc() -> dict[str, Any]:
    with open(SHIPPED, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


# ---------------------------------------------------------------------------
# The file follows SCENARIO.md


def _positions(coords: Any) -> list[list[float]]:
    if coords and isinstance(coords[0], int | float):
        return [coords]
    return [p for c in coords for p in _positions(c)]


def test_file_follows_the_format() -> None:
    doc = _doc()
    assert doc["type"] == "FeatureCollection"
    meta = doc["detente"]
    assert meta["version"] == 1
    parties = {p["id"]: p["role"] for p in meta["parties"]}
    assert parties == {
        "coalition": "military",
        "ru": "military",
        "sy": "military",
        "sdf": "military",
        "tr": "military",
        "ocha": "humanitarian",
        "observers": "observer",
    }
    assert meta["separation"] == {
        "air": {"horizontal_m": 9260, "vertical_m": 305},
        "ground": {"horizontal_m": 1000, "vertical_m": None},
    }
    seen: set[tuple[str, str, int]] = set()
    for i, f in enumerate(doc["features"]):
        p = f["properties"]
        where = f"feature {i} ({p.get('id')})"
        assert p["kind"] in KINDS, where
        assert p["party"] in parties, where
        assert p.get("source"), f"{where}: no source"
        key = (p["kind"], p["id"], p.get("volume", 0))
        assert key not in seen, f"{where}: duplicate volume"
        seen.add(key)
        assert f["geometry"]["type"] in GEOMETRY_TYPES[p["kind"]], where
        geom = shape(f["geometry"])
        assert geom.is_valid and not geom.is_empty, where
        for pos in _positions(f["geometry"]["coordinates"]):
            assert len(pos) == 2, where
            assert all(round(v, 5) == v for v in pos), f"{where}: more than 5 decimals"
        for poly in getattr(geom, "geoms", [geom]):
            if poly.geom_type == "Polygon":
                assert poly.exterior.is_ccw, f"{where}: exterior ring not counterclockwise"
        if "time" in p:
            start, end = p["time"]
            for t in (start, end):
                assert t is None or t.endswith("Z"), where
            if start is not None and end is not None:
                assert _time(start) < _time(end), where
        if "altitude_m" in p:
            lo, hi = p["altitude_m"]
            assert lo is None or hi is None or lo < hi, where
        if p["kind"] == "intent":
            assert p["category"] in ("air", "ground"), where
            assert parties[p["party"]] == "military", where
            assert p["time"][0].startswith("2017-07-07"), where
        for field in ("applies_to", "signatories"):
            assert set(p.get(field, [])) <= set(parties), where
    assert {i for (k, i, _) in seen if k == "intent"} == set(EXPECTED)


# ---------------------------------------------------------------------------
# An independent check of the conflicts, on the raw GeoJSON

_GEOD = Geod(ellps="WGS84")


def _time(s: str | None) -> datetime | None:
    return None if s is None else datetime.fromisoformat(s.replace("Z", "+00:00"))


def _time_overlap(a: list[str | None] | None, b: list[str | None] | None) -> bool:
    a = a or [None, None]
    b = b or [None, None]
    starts = [t for t in (_time(a[0]), _time(b[0])) if t is not None]
    ends = [t for t in (_time(a[1]), _time(b[1])) if t is not None]
    return not starts or not ends or max(starts) < min(ends)


def _alt_gap(a: list[float | None] | None, b: list[float | None] | None) -> float:
    """0 when the half-open bands overlap; else the gap (inf-safe)."""
    a = a or [None, None]
    b = b or [None, None]
    lo = max(-math.inf if a[0] is None else a[0], -math.inf if b[0] is None else b[0])
    hi = min(math.inf if a[1] is None else a[1], math.inf if b[1] is None else b[1])
    return 0.0 if lo < hi else lo - hi


def _alt_overlap(a: list[float | None] | None, b: list[float | None] | None) -> bool:
    a = a or [None, None]
    b = b or [None, None]
    lo = max(-math.inf if a[0] is None else a[0], -math.inf if b[0] is None else b[0])
    hi = min(math.inf if a[1] is None else a[1], math.inf if b[1] is None else b[1])
    return lo < hi


def _project(geom: BaseGeometry, lon0: float, lat0: float) -> BaseGeometry:
    proj = Proj(proj="aeqd", lon_0=lon0, lat_0=lat0, ellps="WGS84")
    dense = shapely.segmentize(geom, 0.002)
    return shapely.transform(dense, lambda xy: np.column_stack(proj(xy[:, 0], xy[:, 1])))


def _distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """Geodesic distance between two lon/lat geometries (0 when they meet)."""
    if a.intersects(b):
        return 0.0
    pa, pb = nearest_points(a, b)
    for _ in range(3):
        lon0, lat0 = (pa.x + pb.x) / 2, (pa.y + pb.y) / 2
        qa, qb = nearest_points(_project(a, lon0, lat0), _project(b, lon0, lat0))
        inv = Proj(proj="aeqd", lon_0=lon0, lat_0=lat0, ellps="WGS84")
        pa = Point(inv(qa.x, qa.y, inverse=True))
        pb = Point(inv(qb.x, qb.y, inverse=True))
    _, _, d = _GEOD.inv(pa.x, pa.y, pb.x, pb.y)
    return float(d)


def _shares_area(a: BaseGeometry, b: BaseGeometry) -> bool:
    return bool(a.relate_pattern(b, "2********"))


def _reference_conflicts(doc: dict[str, Any]) -> tuple[dict[str, set[tuple[int, str, str]]], float]:
    """SEMANTICS.md's intent check on the raw GeoJSON: the table and the least margin."""
    parties = {p["id"]: p["role"] for p in doc["detente"]["parties"]}
    military = {pid for pid, role in parties.items() if role == "military"}
    sep = doc["detente"]["separation"]
    feats = [(f["properties"], shape(f["geometry"])) for f in doc["features"]]
    found: dict[str, set[tuple[int, str, str]]] = {}
    margins: list[float] = []

    def within(d: float, threshold: float, strict: bool) -> bool:
        margins.append(abs(d - threshold))
        return d < threshold if strict else d <= threshold

    def area(a: BaseGeometry, b: BaseGeometry) -> bool:
        shared = _shares_area(a, b)
        margins.append(math.inf if shared else _distance_m(a, b))
        return shared

    for ip, ig in feats:
        if ip["kind"] != "intent":
            continue
        out = found.setdefault(ip["id"], set())
        party, purpose = ip["party"], ip.get("purpose", "armed")
        category = ip.get("category", "air")
        for op, og in feats:
            if op is ip or (op["kind"] == "intent" and op["id"] == ip["id"]):
                continue
            if not _time_overlap(ip.get("time"), op.get("time")):
                continue
            kind, hit = op["kind"], None
            if kind == "line":
                if within(_distance_m(og, ig), op.get("buffer_m", 0), strict=False):
                    hit = "line"
            elif op["party"] == party:
                continue
            elif kind == "nfz":
                bound = set(op["applies_to"]) if "applies_to" in op else military - {op["party"]}
                binds = party in bound and purpose not in op.get("exempt", [])
                if binds and _alt_overlap(ip.get("altitude_m"), op.get("altitude_m")):
                    if og.geom_type == "Point":
                        ok = within(_distance_m(og, ig), op["radius_m"], strict=True)
                    else:
                        ok = area(og, ig)
                    if ok:
                        hit = "nfz"
            elif kind == "site":
                if within(_distance_m(og, ig), op["radius_m"], strict=False):
                    hit = "protected_site"
            elif kind == "movement":
                if within(_distance_m(og, ig), op["corridor_m"], strict=False):
                    hit = "humanitarian_movement"
            elif kind == "boundary":
                if area(og, ig):
                    hit = "boundary"
            elif kind == "intent" and op.get("category", "air") == category:
                minima = sep[category]
                vertical = math.inf if minima["vertical_m"] is None else minima["vertical_m"]
                if _alt_gap(ip.get("altitude_m"), op.get("altitude_m")) < vertical and within(
                    _distance_m(og, ig), minima["horizontal_m"], strict=True
                ):
                    hit = "separation"
            if hit:
                out.add((ip.get("volume", 0), hit, op["id"]))
    return found, min(margins)


def test_conflicts_are_there_by_construction() -> None:
    found, margin = _reference_conflicts(_doc())
    assert found == EXPECTED
    assert margin >= MARGIN_M


def test_designed_relations() -> None:
    """The facts the story rests on, measured directly."""
    f = {(p["properties"]["id"], p["properties"].get("volume", 0)): shape(p["geometry"]) for p in _doc()["features"]}
    river = f[("euphrates-line", 0)]
    su22 = f[("sy-su22-tabqa", 0)]
    assert su22.crosses(river)
    assert su22.intersection(river).length > 0.05  # the river runs through the box, not past a corner
    assert not su22.contains(river.interpolate(0)) and not su22.contains(river.interpolate(1, normalized=True))
    jadin = Point(38.4, 35.8)
    assert su22.contains(jadin)
    tanf = f[("tanf-55km", 0)]
    strike = f[("ru-strike-tanf", 1)]
    # The whole strike box lies inside the 55 km circle, not just its edge.
    far = max(_GEOD.inv(tanf.x, tanf.y, x, y)[2] for x, y in strike.exterior.coords)
    assert far < 55_000 - MARGIN_M
    rukban = f[("camp-rukban", 0)]
    assert _distance_m(tanf, rukban) < 55_000  # the camp is inside the zone
    for v in (0, 1):
        assert _distance_m(rukban, f[("ru-airdrop-tanf", v)]) > 3000 + MARGIN_M
    # The airdrop does enter the zone: only its purpose keeps it clear.
    assert _distance_m(tanf, f[("ru-airdrop-tanf", 1)]) < 55_000 - MARGIN_M


# ---------------------------------------------------------------------------
# The builder reproduces the shipped file


def test_builder_is_reproducible() -> None:
    from detente.demo import build_syria

    if not Path(build_syria.DEFAULT_REFERENCE).exists():
        reason = (
            f"reference data not at {build_syria.DEFAULT_REFERENCE}; this test runs wherever "
            "shared/ sits beside the repository, as it does in CI"
        )
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure", pytrace=False)
        pytest.skip(reason)
    text = build_syria.dumps(build_syria.build(build_syria.DEFAULT_REFERENCE))
    assert text == SHIPPED.read_text(encoding="utf-8")
    assert json.loads(text) == _doc()


# ---------------------------------------------------------------------------
# The engine finds the same conflicts


@pytest.fixture(scope="module")
def engine() -> Any:
    from detente.adapters.interop.scenario import load_scenario
    from detente.engine.world import World

    scenario = load_scenario(SHIPPED)
    world = World.from_scenario(scenario)
    intents = {o.id: o for o in scenario.intents()}
    return world, intents


def _check(engine: Any, intent_id: str) -> list[Any]:
    world, intents = engine
    return list(world.check(intents[intent_id]))


def _table(conflicts: list[Any]) -> set[tuple[int, str, str]]:
    return {(c.volume, c.type.value, c.other_id) for c in conflicts}


def test_scenario_loads(engine: Any) -> None:
    _, intents = engine
    assert set(intents) == set(EXPECTED)


@pytest.mark.parametrize("intent_id", sorted(EXPECTED))
def test_engine_finds_the_expected_conflicts(engine: Any, intent_id: str) -> None:
    assert _table(_check(engine, intent_id)) == EXPECTED[intent_id]


def test_su22_crosses_the_euphrates_line(engine: Any) -> None:
    lines = [c for c in _check(engine, "sy-su22-tabqa") if c.type.value == "line"]
    assert [c.other_id for c in lines] == ["euphrates-line"]
    assert lines[0].severity.value == "advisory"
    assert set(lines[0].notify) == {"coalition", "ru", "sdf"}


def test_su22_and_coalition_sortie_are_separated(engine: Any) -> None:
    for intent_id, other, other_party in (
        ("sy-su22-tabqa", "coalition-cas-tabqa", "coalition"),
        ("coalition-cas-tabqa", "sy-su22-tabqa", "sy"),
    ):
        sep = [c for c in _check(engine, intent_id) if c.type.value == "separation"]
        assert [(c.other_id, c.other_party) for c in sep] == [(other, other_party)]
        assert sep[0].severity.value == "advisory"
        assert 0 < sep[0].distance_m < 9260


def test_tanf_strike_hits_the_zone(engine: Any) -> None:
    nfz = [c for c in _check(engine, "ru-strike-tanf") if c.type.value == "nfz"]
    assert [(c.volume, c.other_id, c.other_party) for c in nfz] == [(1, "tanf-55km", "coalition")]
    assert nfz[0].severity.value == "blocking"


def test_daraa_strike_hits_the_hospital_but_not_the_ceasefire_yet(engine: Any) -> None:
    conflicts = _check(engine, "sy-strike-daraa")
    assert ("protected_site", "hospital-daraa") in {(c.type.value, c.other_id) for c in conflicts}
    # The southwest ceasefire takes effect on 9 July; the strike is on 7 July.
    assert not [c for c in conflicts if c.other_id == "sw-ceasefire"]


def test_sdf_move_crosses_the_convoy(engine: Any) -> None:
    moves = [c for c in _check(engine, "sdf-ground-m4") if c.type.value == "humanitarian_movement"]
    assert [(c.other_id, c.other_party) for c in moves] == [("convoy-qamishli-ain-issa", "ocha")]
    assert moves[0].severity.value == "blocking"


def test_humanitarian_airdrop_is_exempt_from_tanf(engine: Any) -> None:
    conflicts = _check(engine, "ru-airdrop-tanf")
    assert not [c for c in conflicts if c.type.value == "nfz" and c.other_id == "tanf-55km"]


@pytest.mark.parametrize("intent_id", HARMLESS)
def test_harmless_intents_have_no_conflict(engine: Any, intent_id: str) -> None:
    assert _check(engine, intent_id) == []
