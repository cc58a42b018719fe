"""Domain objects to table rows and back, losslessly.

The round trip must give back an equal object: geometries go through GeoJSON
text (Python's float repr is exact), times through UTC, sets through sorted
lists, and ``WorldObject.extra`` keeps its length (a row without extras holds
SQL NULL, not ``{}``, should an object ever carry fewer extras than volumes).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from detente.adapters.storage.box import footprint_box
from detente.adapters.storage.tables import PartyRow, ScenarioMetaRow, VolumeRow
from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Category, Kind, Minima, Party, Role, WorldObject


def geometry_to_text(geometry: BaseGeometry) -> str:
    """GeoJSON text of a Shapely geometry (``json`` writes floats exactly)."""
    return json.dumps(mapping(geometry), separators=(",", ":"))


def geometry_from_text(text: str) -> BaseGeometry:
    return shape(json.loads(text))


def party_row(party: Party) -> dict[str, Any]:
    return {"id": party.id, "name": party.name, "role": party.role.value, "extra": dict(party.extra)}


def party_from_row(row: PartyRow) -> Party:
    return Party(id=row.id, name=row.name, role=Role(row.role), extra=dict(row.extra or {}))


def meta_row(name: str, separation: dict[Category, Minima], extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": 1,
        "name": name,
        "separation": {
            cat.value: {"horizontal_m": m.horizontal_m, "vertical_m": m.vertical_m} for cat, m in separation.items()
        },
        "extra": dict(extra),
    }


def separation_from_row(row: ScenarioMetaRow) -> dict[Category, Minima]:
    return {
        Category(cat): Minima(horizontal_m=m["horizontal_m"], vertical_m=m["vertical_m"])
        for cat, m in row.separation.items()
    }


def _properties(obj: WorldObject) -> dict[str, Any]:
    return {
        "applies_to": None if obj.applies_to is None else sorted(obj.applies_to),
        "exempt": sorted(obj.exempt),
        "signatories": sorted(obj.signatories),
        "category": None if obj.category is None else obj.category.value,
        "purpose": obj.purpose,
    }


def check_storable(obj: WorldObject) -> None:
    """Refuse an object the volume table cannot hold faithfully.

    Objects live as their volume rows, so one with no volume would vanish;
    extras are per volume, so more extras than volumes would be cut.
    """
    problems = []
    if not obj.volumes:
        problems.append(Problem("storable", "an object needs at least one volume", id=obj.id))
    if len(obj.extra) > len(obj.volumes):
        problems.append(Problem("storable", f"{len(obj.extra)} extras for {len(obj.volumes)} volumes", id=obj.id))
    if problems:
        raise InvalidInput(problems)


def volume_rows(obj: WorldObject) -> list[dict[str, Any]]:
    """One row per volume of the object, ready for an insert into ``volumes``."""
    check_storable(obj)
    props = _properties(obj)
    rows = []
    for index, vol in enumerate(obj.volumes):
        min_lon, min_lat, max_lon, max_lat = footprint_box(vol.footprint)
        rows.append(
            {
                "kind": obj.kind.value,
                "object_id": obj.id,
                "volume": index,
                "party": obj.party,
                "geojson": geometry_to_text(vol.footprint.geometry),
                "radius_m": float(vol.footprint.radius_m),
                "min_lon": min_lon,
                "min_lat": min_lat,
                "max_lon": max_lon,
                "max_lat": max_lat,
                "altitude_lower_m": vol.altitude.lower,
                "altitude_upper_m": vol.altitude.upper,
                "time_start": vol.time.start,
                "time_end": vol.time.end,
                "properties": props,
                "extra": dict(obj.extra[index]) if index < len(obj.extra) else None,
            }
        )
    return rows


def _volume(row: VolumeRow) -> Volume4D:
    return Volume4D(
        footprint=Footprint(geometry_from_text(row.geojson), row.radius_m),
        altitude=AltitudeBand(row.altitude_lower_m, row.altitude_upper_m),
        time=TimeWindow(row.time_start, row.time_end),
    )


def object_from_rows(rows: Sequence[VolumeRow]) -> WorldObject:
    """The object whose volume rows these are (any order, all of one object)."""
    rows = sorted(rows, key=lambda r: r.volume)
    first = rows[0]
    if [r.volume for r in rows] != list(range(len(rows))):
        raise ValueError(f"object {first.kind}/{first.object_id}: volume indexes are not 0..n-1")
    props = first.properties
    extras = []
    for row in rows:
        if row.extra is None:
            break
        extras.append(dict(row.extra))
    applies_to = props.get("applies_to")
    category = props.get("category")
    return WorldObject(
        kind=Kind(first.kind),
        id=first.object_id,
        party=first.party,
        volumes=tuple(_volume(r) for r in rows),
        applies_to=None if applies_to is None else frozenset(applies_to),
        exempt=frozenset(props.get("exempt", ())),
        signatories=frozenset(props.get("signatories", ())),
        category=None if category is None else Category(category),
        purpose=props.get("purpose"),
        extra=tuple(extras),
    )


def objects_from_rows(rows: Iterable[VolumeRow]) -> list[WorldObject]:
    """Group volume rows by object, objects in the order their first row comes."""
    groups: dict[tuple[str, str], list[VolumeRow]] = {}
    for row in rows:
        groups.setdefault((row.kind, row.object_id), []).append(row)
    return [object_from_rows(g) for g in groups.values()]
