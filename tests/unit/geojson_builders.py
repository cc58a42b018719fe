"""Small GeoJSON builders shared by the scenario tests."""

from __future__ import annotations

from typing import Any

PARTIES = [
    {"id": "blue", "name": "Blue force", "role": "military"},
    {"id": "red", "name": "Red force", "role": "military"},
    {"id": "aid", "name": "Aid agency", "role": "humanitarian"},
]


def square(lon: float, lat: float, size: float = 0.1) -> dict[str, Any]:
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def line(*positions: tuple[float, float]) -> dict[str, Any]:
    return {"type": "LineString", "coordinates": [list(p) for p in positions]}


def feature(kind: str, fid: str, party: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, "id": fid, "party": party, **props}}
