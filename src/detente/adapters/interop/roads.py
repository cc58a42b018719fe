"""Road networks from GeoJSON: a user's file, or the packaged Syria demo.

A road network file is a GeoJSON FeatureCollection of ``LineString`` and
``MultiLineString`` features; the optional properties ``name`` and ``ref``
(strings) name the road, every other property is ignored.  The input is
treated as hostile: it is checked whole and refused with
:class:`~detente.domain.errors.InvalidInput` listing *every* problem, each
naming its rule and feature index, before any geometry work is done.

Rules (the ``rule`` of each :class:`Problem`, see :data:`RULES`).
"""

from __future__ import annotations

import json
import os
from functools import cache
from importlib import resources
from typing import Any, Final

from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.footprint import geometry_from_geojson
from detente.engine.corridor import RoadNetwork

#: Limits that keep a hostile file from exhausting memory or time.
MAX_ROAD_FEATURES: Final = 200_000
MAX_ROAD_POSITIONS: Final = 2_000_000
MAX_ROADS_BYTES: Final = 100 * 1024 * 1024

ALLOWED: Final = ("LineString", "MultiLineString")

RULES: Final[dict[str, str]] = {
    "size": f"the file is larger than {MAX_ROADS_BYTES} bytes",
    "json": "the input is not valid UTF-8 JSON",
    "feature_collection": "the document is not a GeoJSON FeatureCollection with a non-empty features list",
    "too_many_features": f"more than {MAX_ROAD_FEATURES} features",
    "too_many_positions": f"more than {MAX_ROAD_POSITIONS} positions in all",
    "feature": "an entry of features is not a GeoJSON Feature with a properties object (or null)",
    "geometry": "the geometry is missing, malformed, out of range, has fewer than 2 positions or is invalid",
    "geometry_type": "the geometry is not a LineString or MultiLineString",
    "name": "name is not a string",
    "ref": "ref is not a string",
}

DEMO_RESOURCE: Final = "roads-syria.geojson"


def road_label(name: str | None, ref: str | None) -> str | None:
    """The name a route reports: ``name``, prefixed by ``ref`` unless the name already says it.

    >>> road_label("Homs - Hama", "M5"), road_label("M5 Homs - Hama", "M5"), road_label(None, "M2")
    ('M5 Homs - Hama', 'M5 Homs - Hama', 'M2')
    """
    if name and ref and ref not in name.split():
        return f"{ref} {name}"
    return name or ref or None


def _count_positions(geometry: Any) -> int:
    """Positions a line geometry claims, counted without reading them (0 if malformed)."""
    if not isinstance(geometry, dict):
        return 0
    coords = geometry.get("coordinates")
    if not isinstance(coords, list):
        return 0
    if geometry.get("type") == "MultiLineString":
        return sum(len(part) for part in coords if isinstance(part, list))
    return len(coords)


def roads_from_geojson(doc: Any) -> RoadNetwork:
    """Check a decoded GeoJSON document and build its road network.

    Raises :class:`InvalidInput` with every problem found.
    """
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise InvalidInput([Problem("feature_collection", "the document must be a GeoJSON FeatureCollection")])
    features = doc.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput([Problem("feature_collection", "the FeatureCollection needs a non-empty features list")])
    if len(features) > MAX_ROAD_FEATURES:
        raise InvalidInput(
            [Problem("too_many_features", f"{len(features)} features; the limit is {MAX_ROAD_FEATURES}")]
        )
    total = sum(_count_positions(f.get("geometry")) for f in features if isinstance(f, dict))
    if total > MAX_ROAD_POSITIONS:
        raise InvalidInput(
            [Problem("too_many_positions", f"{total} positions in all; the limit is {MAX_ROAD_POSITIONS}")]
        )
    problems: list[Problem] = []
    lines: list[BaseGeometry] = []
    names: list[str | None] = []
    for index, raw in enumerate(features):
        read = _read_feature(index, raw, problems)
        if read is not None:
            lines.append(read[0])
            names.append(read[1])
    if problems:
        raise InvalidInput(problems)
    return RoadNetwork.from_lines(lines, names)


def _read_feature(index: int, raw: Any, problems: list[Problem]) -> tuple[BaseGeometry, str | None] | None:
    def add(rule: str, message: str) -> None:
        problems.append(Problem(rule, message, index=index))

    if not isinstance(raw, dict) or raw.get("type") != "Feature":
        add("feature", "each entry of features must be a GeoJSON Feature")
        return None
    props = raw.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, dict):
        add("feature", "properties must be an object or null")
        props = {}
    texts: dict[str, str | None] = {}
    for key in ("name", "ref"):
        value = props.get(key)
        if value is not None and not isinstance(value, str):
            add(key, f"{key} must be a string, got {value!r}")
            value = None
        texts[key] = value
    geometry = raw.get("geometry")
    if geometry is None:
        add("geometry", "the feature has no geometry")
        return None
    if isinstance(geometry, dict) and geometry.get("type") not in ALLOWED:
        add("geometry_type", f"roads are LineString or MultiLineString, not {geometry.get('type')!r}")
        return None
    try:
        geom, messages = geometry_from_geojson(geometry, allowed=ALLOWED)
    except (OverflowError, ValueError, TypeError, ShapelyError) as exc:
        geom, messages = None, [f"unreadable geometry: {exc}"]
    for message in messages:
        add("geometry", message)
    if geom is None:
        return None
    return geom, road_label(texts["name"], texts["ref"])


def parse_roads(data: bytes | str) -> RoadNetwork:
    """Decode and check a road network GeoJSON text; raise :class:`InvalidInput` with every problem."""
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_ROADS_BYTES:
        raise InvalidInput([Problem("size", f"the road network is {size} bytes; the limit is {MAX_ROADS_BYTES}")])
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidInput([Problem("json", f"not valid JSON: {exc}")]) from None
    return roads_from_geojson(doc)


def load_roads(path: str | os.PathLike[str]) -> RoadNetwork:
    """Read a road network file; an oversized file is refused before it is read.

    ``OSError`` (missing file, no permission) propagates unchanged.
    """
    size = os.stat(path).st_size
    if size > MAX_ROADS_BYTES:
        raise InvalidInput([Problem("size", f"the road network is {size} bytes; the limit is {MAX_ROADS_BYTES}")])
    with open(path, "rb") as f:
        return parse_roads(f.read(MAX_ROADS_BYTES + 1))


@cache
def demo_roads() -> RoadNetwork:
    """The packaged schematic Syria road network (see ``demo/SOURCES.md``), built once.

    A :class:`RoadNetwork` never changes after construction, so one shared
    instance is safe.
    """
    text = resources.files("detente.demo").joinpath(DEMO_RESOURCE).read_bytes()
    return parse_roads(text)
