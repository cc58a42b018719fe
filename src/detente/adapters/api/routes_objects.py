"""Zones, sites and movements, and need-to-know listing of every kind."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import AUTHED, documented
from detente.adapters.api.schemas import (
    DECLARE_EXAMPLES,
    REPLACE_EXAMPLES,
    FeatureCollection,
    ObjectCollection,
    WorldChange,
)
from detente.domain.accounts import Caller
from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.box import Box4D
from detente.domain.geo.intervals import TimeWindow
from detente.domain.model import Kind, WorldObject
from detente.services import notices, objects
from detente.services.context import Mechanism

router = APIRouter(responses=AUTHED, tags=["objects"])


@router.get("/objects")
def list_objects(
    m: Mech,
    who: Who,
    kind: Annotated[list[Kind] | None, Query(description="Only these kinds")] = None,
    bbox: Annotated[str | None, Query(description="min_lon,min_lat,max_lon,max_lat", max_length=200)] = None,
    start: Annotated[datetime | None, Query(description="Window start, ISO 8601 with offset")] = None,
    end: Annotated[datetime | None, Query(description="Window end, ISO 8601 with offset")] = None,
    after: Annotated[str | None, Query(description="The `next` of the previous page", max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> ObjectCollection:
    """The objects the caller's party may see, as GeoJSON, by (kind, id).

    Own objects in full; agreed zones, lines and boundaries of every party;
    humanitarian sites and movements for military parties (each read
    logged); other parties' intents never (see ``/disclosures``).
    """
    box = _box(bbox, start, end)
    page = objects.browse(m, who, kinds=kind, box=box, after=_after(after), limit=limit)
    return ObjectCollection(
        features=[f for o in page.objects for f in m.codec.features(o)],
        world_version=page.world_version,
        next=None if page.next_after is None else "/".join(page.next_after),
    )


@router.post("/objects", status_code=status.HTTP_201_CREATED, responses=documented(409))
def declare_object(
    m: Mech,
    who: Who,
    body: Annotated[FeatureCollection, Body(openapi_examples=DECLARE_EXAMPLES)],
    urgent: Annotated[bool, Query(description="An urgent notice: the shorter lead time and deadline")] = False,
) -> WorldChange:
    """Declare a no-fly zone (military, secretariat), or notify a protected site or a movement (humanitarian).

    ``party`` defaults to the caller's party; it may not name another.  A
    site or movement is a notice: held to the lead time, sent to every
    military party to acknowledge by its deadline (``/notices``).
    """
    obj = parse_one(m, who, body, kind=None)
    return _change(m, who, obj, replace=False, urgent=urgent)


@router.get("/objects/{kind}/{object_id}")
def read_object(m: Mech, who: Who, kind: Kind, object_id: str) -> FeatureCollection:
    obj = objects.read(m, who, kind, object_id)
    return FeatureCollection(type="FeatureCollection", features=m.codec.features(obj))


@router.put("/objects/{kind}/{object_id}", responses=documented(409))
def replace_object(
    m: Mech,
    who: Who,
    kind: Kind,
    object_id: str,
    body: Annotated[FeatureCollection, Body(openapi_examples=REPLACE_EXAMPLES)],
    urgent: Annotated[bool, Query(description="An urgent amendment: the shorter lead time and deadline")] = False,
) -> WorldChange:
    """Replace a zone, or amend a site or movement (a notice the military parties acknowledge again)."""
    obj = parse_one(m, who, body, kind=kind, object_id=object_id)
    return _change(m, who, obj, replace=True, urgent=urgent)


@router.delete("/objects/{kind}/{object_id}")
def withdraw_object(m: Mech, who: Who, kind: Kind, object_id: str) -> WorldChange:
    """Withdraw a zone, site or movement (a site's or movement's withdrawal is a notice too)."""
    if notices.is_notified_kind(kind):
        sent = notices.withdraw(m, who, kind, object_id)
        return WorldChange(world_version=sent.world_version, notice=sent.to_json())
    return WorldChange(world_version=objects.withdraw(m, who, kind, object_id))


def _change(m: Mechanism, who: Caller, obj: WorldObject, *, replace: bool, urgent: bool) -> WorldChange:
    if notices.is_notified_kind(obj.kind):
        sent = notices.notify(m, who, obj, replace=replace, urgent=urgent)
        return WorldChange(world_version=sent.world_version, notice=sent.to_json())
    return WorldChange(world_version=objects.declare(m, who, obj, replace=replace))


def parse_one(
    m: Mechanism, who: Caller, body: FeatureCollection, *, kind: Kind | None, object_id: str | None = None
) -> WorldObject:
    """Exactly one object from the features, ``party`` (and ``kind``) filled in from the request."""
    features = [dict(f) for f in body.features]
    for f in features:
        props = f.get("properties")
        if isinstance(props, dict):
            props = f["properties"] = dict(props)
            props.setdefault("party", who.party)
            if kind is not None:
                props.setdefault("kind", kind.value)
            if object_id is not None:
                props.setdefault("id", object_id)
    with m.store.read() as tx:
        parties = tx.parties()
    found = m.codec.objects(features, parties)
    if len(found) != 1:
        names = ", ".join(f"{o.kind.value} {o.id!r}" for o in found) or "none"
        raise InvalidInput([Problem("one-object", f"expected the features of exactly one object, found: {names}")])
    obj = found[0]
    problems = []
    if kind is not None and obj.kind is not kind:
        problems.append(Problem("kind", f"the URL names a {kind.value}, the features a {obj.kind.value}", id=obj.id))
    if object_id is not None and obj.id != object_id:
        problems.append(Problem("id", f"the URL names {object_id!r}, the features {obj.id!r}", id=obj.id))
    if problems:
        raise InvalidInput(problems)
    return obj


def _box(bbox: str | None, start: datetime | None, end: datetime | None) -> Box4D | None:
    if bbox is None and start is None and end is None:
        return None
    problems: list[Problem] = []
    for name, value in (("start", start), ("end", end)):
        if value is not None and value.utcoffset() is None:
            problems.append(Problem("naive-time", f"{name} needs an explicit UTC offset (e.g. Z or +03:00)"))
    bounds: Any = (-180.0, -90.0, 180.0, 90.0)
    if bbox is not None:
        try:
            bounds = tuple(float(v) for v in bbox.split(","))
            if len(bounds) != 4:
                raise ValueError
        except ValueError:
            problems.append(Problem("bbox", "bbox is four numbers: min_lon,min_lat,max_lon,max_lat"))
    window = None
    if not problems:
        try:
            window = TimeWindow(start, end)
        except (ValueError, TypeError) as exc:
            problems.append(Problem("time", str(exc)))
    if problems or window is None:
        raise InvalidInput(problems)
    try:
        min_lon, min_lat, max_lon, max_lat = bounds
        return Box4D(min_lon, min_lat, max_lon, max_lat, time=window)
    except ValueError as exc:
        raise InvalidInput([Problem("bbox", str(exc))]) from None


def _after(after: str | None) -> tuple[str, str] | None:
    if after is None:
        return None
    kind, slash, oid = after.partition("/")
    if not slash or kind not in {k.value for k in Kind}:
        raise InvalidInput([Problem("after", "after is the `next` value of a previous page: <kind>/<id>")])
    return kind, oid
