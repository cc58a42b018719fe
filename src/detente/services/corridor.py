"""Is this route clear?  A convoy's route and window checked against what is known to be dangerous.

The hazards are the no-fly zones that do not exempt humanitarian purposes
and the filed intents of armed (or unknown) purpose whose windows overlap
the convoy's.  Other parties' intents are shown as hazard area and window
only: the area clipped to the convoy's corridor, never the plan's id,
party or whole footprint; each such disclosure goes in the intent owner's
access log (``via`` ``corridor``), as a dry run's does.

Given a road network, the check also proposes the shortest road route that
keeps every hazard outside its corridor (``engine.corridor``), or says why
none exists.  Incidents are not yet a hazard: the incidents workflow that
records them is still to come (issue 7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from detente.domain.accounts import Caller
from detente.domain.errors import Forbidden, InvalidInput, Problem
from detente.domain.geo.box import Box4D
from detente.domain.geo.geodesic import grow_box
from detente.domain.geo.intervals import TimeWindow
from detente.domain.model import Kind, Role, WorldObject
from detente.engine.corridor import Hazard, RoadNetwork, route_hazards
from detente.engine.disclosure import disclosure_area
from detente.services import objects
from detente.services.context import Mechanism

#: Corridor half-width when the caller gives none, metres.
DEFAULT_CORRIDOR_M = 1000.0
MAX_CORRIDOR_M = 50_000.0
#: Purposes of intents that endanger a convoy (a humanitarian airdrop or a medevac does not).
HAZARDOUS_PURPOSES = frozenset({"armed", "unknown"})


@dataclass(frozen=True)
class Query:
    """A route (LineString or MultiLineString, lon/lat), its window and its corridor half-width."""

    route: BaseGeometry
    window: TimeWindow
    corridor_m: float = DEFAULT_CORRIDOR_M

    def __post_init__(self) -> None:
        problems = []
        if self.route.geom_type not in ("LineString", "MultiLineString") or self.route.is_empty:
            problems.append(Problem("route", "the route is a GeoJSON LineString or MultiLineString"))
        if not (math.isfinite(self.corridor_m) and 0 < self.corridor_m <= MAX_CORRIDOR_M):
            problems.append(
                Problem("corridor_m", f"corridor_m is a half-width in metres, 0 < corridor_m <= {MAX_CORRIDOR_M:g}")
            )
        if self.window.start is None or self.window.end is None:
            problems.append(Problem("window", "give the movement's start and end"))
        if problems:
            raise InvalidInput(problems)


def check(m: Mechanism, caller: Caller, query: Query, roads: RoadNetwork | None = None) -> dict[str, Any]:
    """Each segment's hazards in the window and, with ``roads``, the shortest clear road route.

    Observers have no part in movements and are refused: the answer
    discloses where other parties plan to operate.
    """
    if caller.role is Role.OBSERVER:
        raise Forbidden("an observer does not plan movements: the corridor check is for the parties")
    area = query.route.bounds if roads is None else _union_bounds(query.route.bounds, roads.bounds)
    found = _hazard_objects(m, area, query)
    hazards, owners = _hazards(found, query.window)
    segments = route_hazards(query.route, query.corridor_m, query.window, hazards)
    shown: list[WorldObject] = []
    out_segments = []
    for seg in segments:
        items = []
        for index, distance in seg.hazards:
            items.append({**_describe(hazards[index], query), "distance_m": round(distance, 1)})
            owner = owners[index]
            if owner is not None:
                shown.append(owner)
        out_segments.append(
            {
                "index": seg.index,
                "from": list(seg.start),
                "to": list(seg.end),
                "length_m": round(seg.length_m, 1),
                "clear": not items,
                "hazards": items,
            }
        )
    result: dict[str, Any] = {
        "window": query.window.to_json(),
        "corridor_m": query.corridor_m,
        "clear": all(s["clear"] for s in out_segments),
        "segments": out_segments,
        "route": None,
    }
    if roads is not None:
        result["route"] = _plan(roads, query, hazards)
    objects.log_reads(m, caller, list({o.key: o for o in shown if o.party != caller.party}.values()), via="corridor")
    return result


def _plan(roads: RoadNetwork, query: Query, hazards: list[Hazard]) -> dict[str, Any]:
    coords = _ends(query.route)
    plan = roads.plan(coords[0], coords[1], corridor_m=query.corridor_m, window=query.window, hazards=hazards)
    detour = None
    if plan.found and plan.length_m is not None and plan.shortest_length_m is not None:
        detour = round(plan.length_m - plan.shortest_length_m, 1)
    return {
        "found": plan.found,
        "path": None if plan.path is None else dict(mapping(plan.path)),
        "length_m": None if plan.length_m is None else round(plan.length_m, 1),
        "shortest_length_m": None if plan.shortest_length_m is None else round(plan.shortest_length_m, 1),
        "detour_m": detour,
        "roads": list(plan.roads),
        "avoided": [_describe(hazards[i], query, clip=False) for i in plan.avoided],
        "snap_m": [round(d, 1) for d in plan.snap_m],
        "reason": plan.reason,
    }


def _hazard_objects(m: Mechanism, bounds: tuple[float, float, float, float], query: Query) -> list[WorldObject]:
    """The zones and intents whose index boxes reach the area and window (one indexed query)."""
    min_lon, min_lat, max_lon, max_lat = grow_box(bounds, query.corridor_m)
    box = Box4D(max(min_lon, -180.0), max(min_lat, -90.0), min(max_lon, 180.0), min(max_lat, 90.0), time=query.window)
    with m.store.read() as tx:
        keys = [k for k in tx.candidates(box) if k[0] in (Kind.NFZ, Kind.INTENT)]
        return [obj for obj, _ in tx.objects(keys)]


def _hazards(found: list[WorldObject], window: TimeWindow) -> tuple[list[Hazard], list[WorldObject | None]]:
    """One hazard per dangerous volume active in the window; for intents, the object (for the access log)."""
    hazards: list[Hazard] = []
    owners: list[WorldObject | None] = []
    for obj in sorted(found, key=lambda o: (o.kind.value, o.id)):
        if obj.kind is Kind.NFZ and "humanitarian" in obj.exempt:
            continue
        if obj.kind is Kind.INTENT and obj.effective_purpose not in HAZARDOUS_PURPOSES:
            continue
        for vol in obj.volumes:
            if not vol.time.overlaps(window):
                continue
            is_intent = obj.kind is Kind.INTENT
            hazards.append(
                Hazard(
                    kind=obj.kind.value,
                    ref=None if is_intent else obj.id,
                    area=vol.footprint.geometry,
                    window=vol.time,
                    reach_m=vol.footprint.radius_m,
                )
            )
            owners.append(obj if is_intent else None)
    return hazards, owners


def _describe(hazard: Hazard, query: Query, *, clip: bool = True) -> dict[str, Any]:
    """What the caller is told of a hazard: a zone in full, an intent as clipped area and window only."""
    window = hazard.window.intersection(query.window) or hazard.window
    out: dict[str, Any] = {"kind": hazard.kind, "window": window.to_json()}
    if hazard.kind == Kind.INTENT.value:
        if clip:
            area = disclosure_area(hazard.area, query.route, query.corridor_m + hazard.reach_m)
            out["area"] = None if area.is_empty else dict(mapping(area))
    else:
        out["id"] = hazard.ref
    return out


def _ends(route: BaseGeometry) -> tuple[tuple[float, float], tuple[float, float]]:
    lines = list(route.geoms) if route.geom_type == "MultiLineString" else [route]
    first, last = lines[0].coords[0], lines[-1].coords[-1]
    return (float(first[0]), float(first[1])), (float(last[0]), float(last[1]))


def _union_bounds(
    a: tuple[float, float, float, float], b: tuple[float, float, float, float]
) -> tuple[float, float, float, float]:
    return (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
