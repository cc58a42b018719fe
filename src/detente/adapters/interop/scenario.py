"""Scenario files (format v1, SCENARIO.md): read, validate and write.

A scenario is one GeoJSON FeatureCollection with a ``detente`` foreign
member.  A file that breaks a rule is rejected whole: :func:`parse_scenario`
reads everything it can and raises :class:`InvalidInput` listing *every*
problem, each naming the rule, the feature index and the feature id, so a
planner can fix a whole file in one pass.

Rules (the ``rule`` of each :class:`Problem`, see :data:`RULES`):

- document: ``size``, ``json``, ``feature_collection``, ``feature``;
- ``detente`` member: ``detente``, ``version``, ``parties``, ``duplicate_party``,
  ``role``, ``separation``;
- per feature: ``kind``, ``id``, ``volume``, ``party``, ``unknown_party``,
  ``geometry``, ``geometry_type``, ``time``, ``altitude_m``, ``radius_m``,
  ``corridor_m``, ``buffer_m``, ``applies_to``, ``exempt``, ``signatories``,
  ``category``, ``purpose``, ``non_finite``;
- per object: ``duplicate_volume``, ``inconsistent_object``; and
  ``one_object`` for :func:`parse_object_features`.

Choices where SCENARIO.md is silent (a planner's reading, kept strict so
nothing is silently misread):

- Features with the same ``kind`` and ``id`` are the volumes of one object.
  Their ``volume`` indexes must be exactly ``0..n-1`` (unique, no gaps), so
  an index in a conflict report is the index in the file.  Every volume
  repeats the object-level properties (``party``, ``applies_to``, ``exempt``,
  ``signatories``, ``category``, ``purpose``) and they must agree.
- A property set to ``null`` is the same as an absent one (GIS tools write
  every attribute column on every feature).  A property detente interprets
  that does not apply to the feature's kind (``radius_m`` on a boundary,
  ``category`` on a zone, ``radius_m`` on a polygon zone) is an error rather
  than being ignored.
- Every other property (``name``, ``site_type``, ``vehicles``, ``source``,
  anything unknown) is kept per volume in ``WorldObject.extra``; unknown
  members of ``detente`` go to ``Scenario.extra`` and unknown party members
  to ``Party.extra``, so a round trip through :func:`scenario_to_geojson`
  keeps them.  They must not hold NaN or Infinity, which JSON cannot carry.
- ``separation`` may give one category or one member only; the rest keep the
  SEMANTICS.md defaults.  ``null`` ``vertical_m`` means unlimited.
- A party's ``name`` defaults to its id.  Feature-level ``id``/``bbox`` and
  other members outside ``properties`` are not read and not written back.
"""

from __future__ import annotations

import copy
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum, StrEnum
from typing import Any, Final, Literal

from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.footprint import Footprint, geometry_from_geojson
from detente.domain.geo.intervals import ALL_ALTITUDES, ALWAYS, AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import (
    DEFAULT_SEPARATION,
    PURPOSES,
    Category,
    Kind,
    Minima,
    Party,
    Role,
    Scenario,
    WorldObject,
)

MAX_SCENARIO_BYTES = 50 * 1024 * 1024
FORMAT_VERSION = 1

#: Every rule a problem may name, and what it guards.
RULES: Final[dict[str, str]] = {
    "size": f"the input is larger than {MAX_SCENARIO_BYTES} bytes",
    "json": "the input is not valid UTF-8 JSON",
    "feature_collection": "the document is not a GeoJSON FeatureCollection with a features list",
    "feature": "an entry of features is not a GeoJSON Feature with a properties object",
    "detente": "the detente member is missing or malformed",
    "version": "detente.version is not 1",
    "parties": "detente.parties is missing or a party is malformed",
    "duplicate_party": "two parties share an id",
    "role": "a party's role is not military, humanitarian, observer or secretariat",
    "separation": "separation minima are malformed or not positive",
    "kind": "kind is missing or unknown",
    "id": "id is missing or not a non-empty string",
    "volume": "volume is not a non-negative integer, or an object's volumes are not 0..n-1",
    "party": "party is missing or not a string",
    "unknown_party": "party, applies_to or signatories names a party not declared",
    "geometry": "the geometry is missing, malformed, out of range, invalid or crosses the antimeridian",
    "geometry_type": "the geometry type is not allowed for the kind",
    "time": "time is not [start, end] ISO 8601 with an offset, or end <= start",
    "altitude_m": "altitude_m is not [lower, upper] finite numbers or null, or lower >= upper",
    "radius_m": "radius_m is missing, negative, non-finite or does not apply",
    "corridor_m": "corridor_m is missing, negative, non-finite or does not apply",
    "buffer_m": "buffer_m is negative, non-finite or does not apply",
    "applies_to": "applies_to is not a list of party ids or does not apply",
    "exempt": "exempt is not a list of purposes or does not apply",
    "signatories": "signatories is not a list of party ids or does not apply",
    "category": "an intent's category is missing or not air/ground, or category does not apply",
    "purpose": "purpose is not armed/humanitarian/medevac/unknown, or does not apply",
    "non_finite": "a property detente keeps as is holds NaN or Infinity",
    "duplicate_volume": "two features give the same volume of one object",
    "inconsistent_object": "volumes of one object disagree on party or object-level properties",
    "one_object": "the features given do not describe exactly one object",
}

#: GeoJSON geometry types each kind accepts (SEMANTICS.md, "Objects").
ALLOWED_GEOMETRIES: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.NFZ: ("Polygon", "MultiPolygon", "Point"),
    Kind.BOUNDARY: ("Polygon", "MultiPolygon"),
    Kind.LINE: ("LineString", "MultiLineString"),
    Kind.SITE: ("Point",),
    Kind.MOVEMENT: ("LineString", "MultiLineString"),
    Kind.INTENT: ("Polygon", "MultiPolygon"),
}
_ANY_GEOMETRY = ("Polygon", "MultiPolygon", "Point", "LineString", "MultiLineString")

#: The kind-specific properties detente interprets.
_KIND_PROPERTIES: Final[dict[Kind, frozenset[str]]] = {
    Kind.NFZ: frozenset({"radius_m", "applies_to", "exempt"}),
    Kind.BOUNDARY: frozenset(),
    Kind.LINE: frozenset({"buffer_m", "signatories"}),
    Kind.SITE: frozenset({"radius_m"}),
    Kind.MOVEMENT: frozenset({"corridor_m"}),
    Kind.INTENT: frozenset({"category", "purpose"}),
}
_KIND_SPECIFIC = frozenset().union(*_KIND_PROPERTIES.values())
#: Properties read into the model; everything else is kept in ``extra``.
RESERVED_PROPERTIES: Final = frozenset({"kind", "id", "volume", "party", "altitude_m", "time"}) | _KIND_SPECIFIC

#: The property holding the distance grown around the footprint, per kind.
_DISTANCE_PROPERTY: Final[dict[Kind, str]] = {
    Kind.NFZ: "radius_m",
    Kind.SITE: "radius_m",
    Kind.MOVEMENT: "corridor_m",
    Kind.LINE: "buffer_m",
}
_DETENTE_MEMBERS = frozenset({"version", "name", "parties", "separation"})
_PARTY_MEMBERS = frozenset({"id", "name", "role"})
_MINIMA_MEMBERS = frozenset({"horizontal_m", "vertical_m"})


class _Invalid(Enum):
    """Marks a value that could not be read (``None`` is a valid value)."""

    INVALID = "invalid"


_INVALID: Final = _Invalid.INVALID
_Bad = Literal[_Invalid.INVALID]


# ---------------------------------------------------------------- reading


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario file.

    The size is checked with ``os.stat`` first so an oversized file is
    refused without reading it; at most one byte over the limit is read in
    case the file grows in between.  ``OSError`` (missing file, no
    permission) propagates unchanged.
    """
    size = os.stat(path).st_size
    if size > MAX_SCENARIO_BYTES:
        raise InvalidInput([_size_problem(size)])
    with open(path, "rb") as f:
        return parse_scenario(f.read(MAX_SCENARIO_BYTES + 1))


def parse_scenario(data: bytes | str) -> Scenario:
    """Parse and validate a scenario; raise :class:`InvalidInput` with every problem.

    >>> s = parse_scenario('{"type": "FeatureCollection", "features": [],'
    ...                    ' "detente": {"version": 1, "name": "empty", "parties": []}}')
    >>> s.name, s.objects
    ('empty', {})
    """
    size = _byte_size(data)
    if size > MAX_SCENARIO_BYTES:
        raise InvalidInput([_size_problem(size)])
    problems: list[Problem] = []
    scenario = _read_document(_load_json(data), problems)
    if problems or scenario is None:
        raise InvalidInput(problems)
    return scenario


def objects_from_features(features: list[dict[str, Any]], parties: Mapping[str, Party]) -> list[WorldObject]:
    """Validate GeoJSON features against known parties and group them into objects.

    Problems name the index in ``features``.  Used for scenario files and for
    objects filed on their own (an intent from the CLI or the API).
    """
    problems: list[Problem] = []
    if not isinstance(features, list):
        raise InvalidInput([Problem("feature_collection", "features must be a list of GeoJSON Features")])
    objects = _read_objects(features, frozenset(parties), problems)
    if problems:
        raise InvalidInput(problems)
    return objects


def parse_object_features(features: list[dict[str, Any]], parties: Mapping[str, Party]) -> WorldObject:
    """Read exactly one object (all its volumes) from GeoJSON features."""
    objects = objects_from_features(features, parties)
    if len(objects) != 1:
        found = ", ".join(f"{o.kind} {o.id!r}" for o in objects) or "none"
        raise InvalidInput([Problem("one_object", f"expected the features of exactly one object, found: {found}")])
    return objects[0]


def _byte_size(data: bytes | str) -> int:
    """Size in UTF-8 bytes, without encoding a string already too long in characters."""
    if isinstance(data, bytes) or len(data) > MAX_SCENARIO_BYTES:
        return len(data)
    return len(data.encode("utf-8", "surrogatepass"))


def _size_problem(size: int) -> Problem:
    return Problem("size", f"the scenario is {size} bytes; the limit is {MAX_SCENARIO_BYTES} bytes")


def _load_json(data: bytes | str) -> Any:
    """Decode JSON; NaN and Infinity literals are caught later, where they sit."""
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidInput([Problem("json", f"not valid JSON: {exc}")]) from None


@dataclass
class _Sink:
    """Collects problems, stamped with the feature index and id being read."""

    problems: list[Problem]
    index: int | None = None
    id: str | None = None

    def add(self, rule: str, message: str) -> None:
        self.problems.append(Problem(rule=rule, message=message, index=self.index, id=self.id))


@dataclass
class _Header:
    """What the ``detente`` member says; ``declared`` is ``None`` when unreadable."""

    name: str = ""
    parties: dict[str, Party] = field(default_factory=dict)
    declared: frozenset[str] | None = None
    separation: dict[Category, Minima] = field(default_factory=lambda: dict(DEFAULT_SEPARATION))
    extra: dict[str, Any] = field(default_factory=dict)


def _read_document(doc: Any, problems: list[Problem]) -> Scenario | None:
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        problems.append(Problem("feature_collection", "the document must be a GeoJSON FeatureCollection"))
        return None
    header = _read_header(doc.get("detente"), _Sink(problems))
    features = doc.get("features")
    if not isinstance(features, list):
        problems.append(Problem("feature_collection", "the FeatureCollection needs a features list"))
        features = []
    objects = _read_objects(features, header.declared, problems)
    if problems:
        return None
    return Scenario(
        name=header.name,
        parties=header.parties,
        objects={o.key: o for o in objects},
        separation=header.separation,
        extra=header.extra,
    )


# ------------------------------------------------------- the detente member


def _read_header(raw: Any, sink: _Sink) -> _Header:
    if not isinstance(raw, dict):
        sink.add("detente", "the FeatureCollection needs a 'detente' object (version, name, parties)")
        return _Header()
    version = raw.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version != FORMAT_VERSION:
        sink.add("version", f"detente.version must be {FORMAT_VERSION}, got {version!r}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        sink.add("detente", f"detente.name must be a string, got {name!r}")
        name = ""
    parties, declared = _read_parties(raw.get("parties"), sink)
    extra = {k: v for k, v in raw.items() if k not in _DETENTE_MEMBERS}
    _check_finite(extra, sink, "detente")
    return _Header(name, parties, declared, _read_separation(raw.get("separation"), sink), extra)


def _read_parties(raw: Any, sink: _Sink) -> tuple[dict[str, Party], frozenset[str] | None]:
    """The parties, and every id declared (even by a malformed party, to avoid knock-on errors)."""
    if not isinstance(raw, list):
        sink.add("parties", "detente.parties must be a list of {id, name, role}")
        return {}, None
    parties: dict[str, Party] = {}
    declared: set[str] = set()
    for position, item in enumerate(raw):
        pid, party = _read_party(position, item, sink)
        if pid is None:
            continue
        if pid in declared:
            message = f"party {pid!r} is declared more than once (parties[{position}])"
            _Sink(sink.problems, id=pid).add("duplicate_party", message)
            continue
        declared.add(pid)
        if party is not None:
            parties[pid] = party
    return parties, frozenset(declared)


def _read_party(position: int, raw: Any, sink: _Sink) -> tuple[str | None, Party | None]:
    where = f"parties[{position}]"
    if not isinstance(raw, dict):
        sink.add("parties", f"{where} must be an object {{id, name, role}}")
        return None, None
    pid = raw.get("id")
    if not isinstance(pid, str) or not pid:
        sink.add("parties", f"{where} needs a non-empty string id")
        return None, None
    party_sink = _Sink(sink.problems, id=pid)
    name = raw.get("name", pid)
    role = raw.get("role")
    if not isinstance(name, str):
        party_sink.add("parties", f"{where}: name must be a string, got {name!r}")
    if not _is_value_of(Role, role):
        party_sink.add("role", f"{where}: role must be one of {_choices(Role)}, got {role!r}")
        role = None
    extra = {k: v for k, v in raw.items() if k not in _PARTY_MEMBERS}
    finite = _check_finite(extra, party_sink, where)
    if not isinstance(name, str) or role is None or not finite:
        return pid, None
    return pid, Party(id=pid, name=name, role=Role(role), extra=extra)


def _read_separation(raw: Any, sink: _Sink) -> dict[Category, Minima]:
    """Minima per category; what is not given keeps the SEMANTICS.md default."""
    result = dict(DEFAULT_SEPARATION)
    if raw is None:
        return result
    if not isinstance(raw, dict):
        sink.add("separation", f"detente.separation must be an object keyed by category, got {raw!r}")
        return result
    for key, value in raw.items():
        if not _is_value_of(Category, key):
            sink.add("separation", f"separation category {key!r} is unknown (known: {_choices(Category)})")
            continue
        minima = _read_minima(Category(key), value, sink)
        if minima is not None:
            result[Category(key)] = minima
    return result


def _read_minima(category: Category, raw: Any, sink: _Sink) -> Minima | None:
    """One category's minima; a member not given keeps its default, null vertical is unlimited."""
    where = f"separation.{category}"
    if not isinstance(raw, dict):
        sink.add("separation", f"{where} must be {{horizontal_m, vertical_m}}, got {raw!r}")
        return None
    for unknown in sorted(set(raw) - _MINIMA_MEMBERS):
        sink.add("separation", f"{where}.{unknown} is unknown (known: horizontal_m, vertical_m)")
    default = DEFAULT_SEPARATION[category]
    given_h = raw.get("horizontal_m", default.horizontal_m)
    given_v = raw.get("vertical_m", default.vertical_m)
    horizontal = _positive(given_h)
    vertical = None if given_v is None else _positive(given_v)
    if horizontal is None:
        sink.add("separation", f"{where}.horizontal_m must be a positive number, got {given_h!r}")
    if given_v is not None and vertical is None:
        sink.add("separation", f"{where}.vertical_m must be a positive number or null, got {given_v!r}")
    if horizontal is None or (given_v is not None and vertical is None):
        return None
    return Minima(horizontal_m=horizontal, vertical_m=vertical)


# ----------------------------------------------------------------- features


@dataclass
class _Piece:
    """What one feature says about its object, as far as it could be read."""

    index: int
    id: str | None
    kind: Kind | None
    volume: int | None
    #: Object-level properties that were read: party, applies_to, exempt, ...
    fields: dict[str, Any]
    volume4d: Volume4D | None
    extra: dict[str, Any]
    #: True when the feature raised no problem at all.
    complete: bool


def _read_objects(features: list[Any], declared: frozenset[str] | None, problems: list[Problem]) -> list[WorldObject]:
    """Read every feature, then check and assemble the objects they form."""
    pieces = [_read_feature(i, raw, declared, problems) for i, raw in enumerate(features)]
    groups: dict[tuple[Kind, str], list[_Piece]] = {}
    for piece in pieces:
        if piece is not None and piece.kind is not None and piece.id is not None:
            groups.setdefault((piece.kind, piece.id), []).append(piece)
    objects = [_assemble(key, group, problems) for key, group in groups.items()]
    return [o for o in objects if o is not None]


def _read_feature(index: int, raw: Any, declared: frozenset[str] | None, problems: list[Problem]) -> _Piece | None:
    sink = _Sink(problems, index)
    props = raw.get("properties") if isinstance(raw, dict) else None
    if not isinstance(raw, dict) or raw.get("type") != "Feature" or not isinstance(props, dict):
        sink.add("feature", "must be a GeoJSON Feature with a properties object")
        return None
    before = len(problems)
    sink.id = _read_id(props.get("id"), sink)
    kind = _read_kind(props.get("kind"), sink)
    volume = _read_volume_index(props.get("volume"), sink)
    fields = _read_object_fields(kind, props, declared, sink)
    volume4d = _read_volume(kind, raw.get("geometry"), props, sink)
    extra = {k: copy.deepcopy(v) for k, v in props.items() if k not in RESERVED_PROPERTIES}
    _check_finite(extra, sink, "properties")
    return _Piece(index, sink.id, kind, volume, fields, volume4d, extra, complete=len(problems) == before)


def _read_id(raw: Any, sink: _Sink) -> str | None:
    if isinstance(raw, str) and raw:
        return raw
    sink.add("id", f"id must be a non-empty string, got {raw!r}")
    return None


def _read_kind(raw: Any, sink: _Sink) -> Kind | None:
    if _is_value_of(Kind, raw):
        return Kind(raw)
    sink.add("kind", f"kind must be one of {_choices(Kind)}, got {raw!r}")
    return None


def _read_volume_index(raw: Any, sink: _Sink) -> int | None:
    if raw is None:
        return 0
    if isinstance(raw, int) and not isinstance(raw, bool) and raw >= 0:
        return raw
    sink.add("volume", f"volume must be an integer >= 0, got {raw!r}")
    return None


def _read_object_fields(
    kind: Kind | None, props: dict[str, Any], declared: frozenset[str] | None, sink: _Sink
) -> dict[str, Any]:
    """Object-level properties that read cleanly, keyed by property name."""
    fields: dict[str, Any] = {}
    party = props.get("party")
    if not isinstance(party, str) or not party:
        sink.add("party", f"party must be the id of a declared party, got {party!r}")
    elif _all_declared([party], declared, "party", sink):
        fields["party"] = party
    if kind is None:
        return fields
    for name in sorted(_KIND_SPECIFIC - _KIND_PROPERTIES[kind]):
        if props.get(name) is not None:
            sink.add(name, f"{name} does not apply to {kind} features")
    for name in sorted(_KIND_PROPERTIES[kind] - set(_DISTANCE_PROPERTY.values())):
        value = _read_kind_field(name, props.get(name), declared, sink)
        if value is not _INVALID:
            fields[name] = value
    return fields


def _read_kind_field(name: str, raw: Any, declared: frozenset[str] | None, sink: _Sink) -> Any:
    """One object-level kind property (applies_to, exempt, signatories, category, purpose)."""
    if name == "applies_to":
        return _read_party_set(name, raw, None, declared, sink)
    if name == "signatories":
        return _read_party_set(name, raw, frozenset(), declared, sink)
    if name == "exempt":
        return _read_exempt(raw, sink)
    if name == "category":
        return _read_category(raw, sink)
    return _read_purpose(raw, sink)


def _all_declared(ids: Iterable[str], declared: frozenset[str] | None, name: str, sink: _Sink) -> bool:
    """Report party ids not declared; True when all are known (or parties are unreadable)."""
    if declared is None:
        return True
    unknown = sorted(set(ids) - declared)
    for pid in unknown:
        sink.add("unknown_party", f"{name}: party {pid!r} is not declared in detente.parties")
    return not unknown


def _read_party_set(
    name: str, raw: Any, default: frozenset[str] | None, declared: frozenset[str] | None, sink: _Sink
) -> frozenset[str] | _Bad | None:
    if raw is None:
        return default
    if not _is_string_list(raw):
        sink.add(name, f"{name} must be a list of party ids, got {raw!r}")
        return _INVALID
    return frozenset(raw) if _all_declared(raw, declared, name, sink) else _INVALID


def _read_exempt(raw: Any, sink: _Sink) -> frozenset[str] | _Bad:
    if raw is None:
        return frozenset()
    if not _is_string_list(raw) or not set(raw) <= set(PURPOSES):
        sink.add("exempt", f"exempt must be a list of purposes ({', '.join(PURPOSES)}), got {raw!r}")
        return _INVALID
    return frozenset(raw)


def _read_category(raw: Any, sink: _Sink) -> Category | _Bad:
    if _is_value_of(Category, raw):
        return Category(raw)
    sink.add("category", f"intent features need category {_choices(Category)}, got {raw!r}")
    return _INVALID


def _read_purpose(raw: Any, sink: _Sink) -> str | _Bad | None:
    if raw is None:
        return None
    if isinstance(raw, str) and raw in PURPOSES:
        return raw
    sink.add("purpose", f"purpose must be one of {', '.join(PURPOSES)}, got {raw!r}")
    return _INVALID


# ------------------------------------------------------------------ volumes


def _read_volume(kind: Kind | None, geometry: Any, props: dict[str, Any], sink: _Sink) -> Volume4D | None:
    footprint = _read_footprint(kind, geometry, props, sink)
    altitude = _read_altitude(props.get("altitude_m"), sink)
    time = _read_time(props.get("time"), sink)
    if footprint is None or altitude is None or time is None:
        return None
    return Volume4D(footprint, altitude, time)


def _read_footprint(kind: Kind | None, raw: Any, props: dict[str, Any], sink: _Sink) -> Footprint | None:
    geometry = _read_geometry(kind, raw, sink)
    gtype = raw.get("type") if isinstance(raw, dict) else None
    radius = _read_distance(kind, gtype, props, sink) if kind is not None else _INVALID
    if geometry is None or radius is _INVALID:
        return None
    return Footprint(geometry, radius)


def _read_geometry(kind: Kind | None, raw: Any, sink: _Sink) -> BaseGeometry | None:
    """The geometry via the domain's checks, with a type error of its own rule."""
    allowed = ALLOWED_GEOMETRIES[kind] if kind is not None else _ANY_GEOMETRY
    if raw is None:
        sink.add("geometry", "the feature has no geometry")
        return None
    if isinstance(raw, dict) and raw.get("type") not in allowed:
        sink.add("geometry_type", f"{kind or 'detente'} features take {', '.join(allowed)}, not {raw.get('type')!r}")
        return None
    try:
        geometry, messages = geometry_from_geojson(raw, allowed=allowed)
    except (OverflowError, ValueError, TypeError, ShapelyError) as exc:  # e.g. an integer too large for a float
        geometry, messages = None, [f"unreadable geometry: {exc}"]
    for message in messages:
        sink.add("geometry", message)
    return geometry


def _read_distance(kind: Kind, gtype: Any, props: dict[str, Any], sink: _Sink) -> float | _Bad:
    """The distance grown around the footprint: radius, corridor half-width or buffer."""
    name = _DISTANCE_PROPERTY.get(kind)
    if name is None:
        return 0.0
    raw = props.get(name)
    if kind is Kind.NFZ and gtype != "Point":
        if raw is not None and gtype in ("Polygon", "MultiPolygon"):  # other types: geometry_type says it
            sink.add(name, "radius_m applies only to a Point nfz; a polygon zone is its own footprint")
            return _INVALID
        return 0.0
    if raw is None:
        if kind is Kind.LINE:
            return 0.0
        sink.add(name, f"{kind} features need {name}")
        return _INVALID
    value = _finite(raw)
    if value is None or value < 0 or (kind is Kind.NFZ and value == 0):
        bound = "> 0" if kind is Kind.NFZ else ">= 0"
        sink.add(name, f"{name} must be a finite number {bound}, got {raw!r}")
        return _INVALID
    return value


def _read_altitude(raw: Any, sink: _Sink) -> AltitudeBand | None:
    if raw is None:
        return ALL_ALTITUDES
    if not isinstance(raw, list) or len(raw) != 2:
        sink.add("altitude_m", f"altitude_m must be [lower, upper] (numbers or null), got {raw!r}")
        return None
    bounds = [None if v is None else _finite(v) for v in raw]
    if any(b is None and v is not None for b, v in zip(bounds, raw, strict=True)):
        sink.add("altitude_m", f"altitude_m bounds must be finite numbers or null, got {raw!r}")
        return None
    lower, upper = bounds
    if lower is not None and upper is not None and lower >= upper:
        sink.add("altitude_m", f"altitude_m lower {lower} must be below upper {upper}")
        return None
    return AltitudeBand(lower, upper)


def _read_time(raw: Any, sink: _Sink) -> TimeWindow | None:
    if raw is None:
        return ALWAYS
    if not isinstance(raw, list) or len(raw) != 2:
        sink.add("time", f"time must be [start, end] (ISO 8601 with offset, or null), got {raw!r}")
        return None
    start, end = (_read_instant(v, sink) for v in raw)
    if start is _INVALID or end is _INVALID:
        return None
    if start is not None and end is not None and end <= start:
        sink.add("time", f"time end {raw[1]} must be after start {raw[0]}")
        return None
    return TimeWindow(start, end)


def _read_instant(raw: Any, sink: _Sink) -> datetime | _Bad | None:
    """An ISO 8601 instant with an explicit offset, as UTC; naive times are refused."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        sink.add("time", f"time {raw!r} must be an ISO 8601 string or null")
        return _INVALID
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        sink.add("time", f"time {raw!r} is not ISO 8601")
        return _INVALID
    if parsed.utcoffset() is None:
        sink.add("time", f"time {raw!r} has no UTC offset; add Z or +hh:mm")
        return _INVALID
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        sink.add("time", f"time {raw!r} is out of range in UTC")
        return _INVALID


# ------------------------------------------------------------------ objects


def _assemble(key: tuple[Kind, str], pieces: list[_Piece], problems: list[Problem]) -> WorldObject | None:
    """Check the volumes of one object against each other and build it."""
    ordered = _order_volumes(key, pieces, problems)
    _check_agreement(pieces, problems)
    if ordered is None or not all(p.complete for p in pieces):
        return None
    fields = ordered[0].fields
    return WorldObject(
        kind=key[0],
        id=key[1],
        party=fields["party"],
        volumes=tuple(p.volume4d for p in ordered if p.volume4d is not None),
        applies_to=fields.get("applies_to"),
        exempt=fields.get("exempt", frozenset()),
        signatories=fields.get("signatories", frozenset()),
        category=fields.get("category"),
        purpose=fields.get("purpose"),
        extra=tuple(p.extra for p in ordered),
    )


def _order_volumes(key: tuple[Kind, str], pieces: list[_Piece], problems: list[Problem]) -> list[_Piece] | None:
    """The pieces by volume index, or ``None`` unless the indexes are exactly 0..n-1."""
    numbered = [(p.volume, p) for p in pieces if p.volume is not None]
    if len(numbered) != len(pieces):
        return None  # a bad index is already reported; a gap check now would only add noise
    kind, oid = key
    by_volume: dict[int, _Piece] = {}
    for volume, piece in numbered:
        if volume in by_volume:
            message = f"{kind} {oid!r} volume {volume} is already given by feature {by_volume[volume].index}"
            problems.append(Problem("duplicate_volume", message, piece.index, piece.id))
        else:
            by_volume[volume] = piece
    ordered = [by_volume[v] for v in sorted(by_volume)]
    for position, piece in enumerate(ordered):
        if piece.volume != position:
            message = f"{kind} {oid!r} volumes must be numbered 0..n-1 without gaps; volume {position} is missing"
            problems.append(Problem("volume", message, piece.index, piece.id))
            return None
    return ordered if len(ordered) == len(pieces) else None


def _check_agreement(pieces: list[_Piece], problems: list[Problem]) -> None:
    """Every volume must repeat the object's party and object-level properties alike."""
    first = pieces[0]
    for piece in pieces[1:]:
        for name, value in piece.fields.items():
            if name in first.fields and first.fields[name] != value:
                message = (
                    f"{name} is {_show(value)} here but {_show(first.fields[name])} in feature "
                    f"{first.index}; the volumes of one object must agree"
                )
                problems.append(Problem("inconsistent_object", message, piece.index, piece.id))


# ------------------------------------------------------------------ helpers


def _finite(value: Any) -> float | None:
    """The value as a float if it is a finite JSON number (booleans are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _positive(value: Any) -> float | None:
    number = _finite(value)
    return number if number is not None and number > 0 else None


def _is_value_of(enum: type[StrEnum], value: Any) -> bool:
    """Whether ``value`` is one of the enum's strings (safe for lists and dicts too)."""
    return isinstance(value, str) and value in enum._value2member_map_


def _is_string_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _choices(enum: Iterable[Enum]) -> str:
    return "/".join(str(e.value) for e in enum)


def _show(value: Any) -> str:
    if value is None:
        return "not given"
    if isinstance(value, frozenset):
        return repr(sorted(value))
    return repr(value.value if isinstance(value, Enum) else value)


def _check_finite(members: dict[str, Any], sink: _Sink, where: str) -> bool:
    """Report NaN/Infinity nested anywhere in kept-as-is members; True when there is none."""
    clean = True
    for name, value in members.items():
        stack = [value]
        while stack:
            item = stack.pop()
            if isinstance(item, float) and not math.isfinite(item):
                sink.add("non_finite", f"{where}.{name} holds {item}, which JSON cannot carry")
                clean = False
                break
            if isinstance(item, dict):
                stack.extend(item.values())
            elif isinstance(item, list):
                stack.extend(item)
    return clean


# ------------------------------------------------------------------ writing


def scenario_to_geojson(scenario: Scenario) -> dict[str, Any]:
    """The scenario as a format-v1 FeatureCollection, one feature per volume.

    Plain JSON types only (lists, not tuples), so the result can be dumped,
    compared or fed back to :func:`parse_scenario` as is.
    """
    return {
        "type": "FeatureCollection",
        "detente": _detente_member(scenario),
        "features": [f for obj in scenario.objects.values() for f in object_to_features(obj)],
    }


def _detente_member(scenario: Scenario) -> dict[str, Any]:
    member: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "name": scenario.name,
        "parties": [_party_to_json(p) for p in scenario.parties.values()],
        "separation": {
            str(cat): {"horizontal_m": m.horizontal_m, "vertical_m": m.vertical_m}
            for cat, m in scenario.separation.items()
        },
    }
    member.update({k: copy.deepcopy(v) for k, v in scenario.extra.items() if k not in _DETENTE_MEMBERS})
    return member


def _party_to_json(party: Party) -> dict[str, Any]:
    out: dict[str, Any] = {"id": party.id, "name": party.name, "role": str(party.role)}
    out.update({k: copy.deepcopy(v) for k, v in party.extra.items() if k not in _PARTY_MEMBERS})
    return out


def object_to_features(obj: WorldObject) -> list[dict[str, Any]]:
    """One GeoJSON Feature per volume, every property written, extras last."""
    return [_volume_to_feature(obj, i) for i in range(len(obj.volumes))]


def _volume_to_feature(obj: WorldObject, index: int) -> dict[str, Any]:
    volume = obj.volumes[index]
    props: dict[str, Any] = {
        "kind": str(obj.kind),
        "id": obj.id,
        "volume": index,
        "party": obj.party,
        "altitude_m": volume.altitude.to_json(),
        "time": volume.time.to_json(),
    }
    props.update(_kind_properties(obj, volume))
    extra = obj.extra[index] if index < len(obj.extra) else {}
    props.update({k: copy.deepcopy(v) for k, v in extra.items() if k not in RESERVED_PROPERTIES})
    return {"type": "Feature", "geometry": _plain(volume.footprint.geojson()), "properties": props}


def _kind_properties(obj: WorldObject, volume: Volume4D) -> dict[str, Any]:
    props: dict[str, Any] = {}
    distance = _DISTANCE_PROPERTY.get(obj.kind)
    if distance is not None and (obj.kind is not Kind.NFZ or volume.footprint.geometry.geom_type == "Point"):
        props[distance] = volume.footprint.radius_m
    if obj.kind is Kind.NFZ:
        props["applies_to"] = None if obj.applies_to is None else sorted(obj.applies_to)
        props["exempt"] = sorted(obj.exempt)
    elif obj.kind is Kind.LINE:
        props["signatories"] = sorted(obj.signatories)
    elif obj.kind is Kind.INTENT:
        props["category"] = None if obj.category is None else str(obj.category)
        props["purpose"] = obj.purpose
    return props


def _plain(value: Any) -> Any:
    """Tuples (as Shapely's ``mapping`` gives) turned into lists, recursively."""
    if isinstance(value, list | tuple):
        if value and isinstance(value[0], int | float):
            return list(value)  # a position: the common case, kept fast
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


class ScenarioCodec:
    """The scenario format's feature rules as the services' ``FeatureCodec`` port."""

    def objects(self, features: list[dict[str, Any]], parties: Mapping[str, Party]) -> list[WorldObject]:
        return objects_from_features(features, parties)

    def features(self, obj: WorldObject) -> list[dict[str, Any]]:
        return object_to_features(obj)
