"""Humanitarian notification over HTTP: notices and their status, acknowledgement,
dissemination, the rules and timers, movement outcomes and statistics, the
corridor check and HXL exchange.

Sites and movements themselves are notified, amended and withdrawn with
``POST /objects``, ``PUT`` and ``DELETE /objects/{kind}/{id}`` (see
``routes_objects``); every such change is a notice listed here.
"""

from __future__ import annotations

import functools
import os
import pathlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, status
from fastapi.responses import Response

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import documented
from detente.adapters.api.schemas import MAX_ROW_ID, AckOut
from detente.adapters.api.schemas_humanitarian import (
    CorridorIn,
    DisseminationIn,
    DisseminationOut,
    ImportOut,
    NoticeAckIn,
    NoticeOut,
    NoticeSent,
    OutcomeIn,
    OutcomeOut,
    RulesIn,
    RulesOut,
    Swept,
)
from detente.adapters.interop import hxl, roads
from detente.domain.errors import Forbidden, InvalidInput, Problem
from detente.domain.geo.footprint import geometry_from_geojson
from detente.domain.geo.intervals import TimeWindow
from detente.domain.model import Kind, Role
from detente.engine.corridor import RoadNetwork
from detente.services import audit, corridor, notices, objects, outcomes

router = APIRouter(responses=documented(401, 403, 404), tags=["humanitarian"])

NoticeId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
ObjectId = Annotated[str, Path(max_length=64)]
CSV = "text/csv"


@router.get("/notices")
def list_notices(
    m: Mech,
    who: Who,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    object: Annotated[str | None, Query(max_length=64, description="Only notices of this site or movement")] = None,
) -> list[NoticeOut]:
    """Notices you sent (agency), were sent (military party), or all (secretariat), with acknowledgement status."""
    return [NoticeOut(**n) for n in notices.listing(m, who, after=after, limit=limit, object_id=object)]


@router.get("/notices/{notice_id}")
def show_notice(m: Mech, who: Who, notice_id: NoticeId) -> NoticeOut:
    """Per military party: acknowledged, when, by whom, signed or not; who is overdue; which units were told."""
    return NoticeOut(**notices.show(m, who, notice_id))


@router.post("/notices/{notice_id}/ack", responses=documented(409))
def ack_notice(m: Mech, who: Who, notice_id: NoticeId, body: Annotated[NoticeAckIn, Body()]) -> AckOut:
    """Acknowledge a notice sent to your party: the same as acknowledging its inbox message; returns the receipt."""
    message = notices.inbox_message(m, who, notice_id)
    signature = None if body.signature is None else body.signature.model_dump()
    return AckOut(**audit.ack(m, who, message, signature))


@router.post("/notices/{notice_id}/disseminations", status_code=status.HTTP_201_CREATED)
def disseminate(m: Mech, who: Who, notice_id: NoticeId, body: Annotated[DisseminationIn, Body()]) -> DisseminationOut:
    """Record that your party passed the notice down to named units (relayed, acknowledged by the unit, or by feed)."""
    units = [u.model_dump() for u in body.units]
    return DisseminationOut(ids=notices.disseminate(m, who, notice_id, units))


@router.get("/humanitarian/rules")
def get_rules(m: Mech, who: Who) -> RulesOut:
    """The mechanism's lead times, acknowledgement windows and reminder time, in hours."""
    return RulesOut(**notices.rules(m).to_json())


@router.put("/humanitarian/rules")
def put_rules(m: Mech, who: Who, body: Annotated[RulesIn, Body()]) -> RulesOut:
    """Set lead times and deadlines (secretariat); names left out keep their value."""
    return RulesOut(**notices.set_rules(m, who, body.model_dump(exclude_none=True)).to_json())


@router.post("/humanitarian/timers")
def run_timers(m: Mech, who: Who) -> Swept:
    """Send the reminders and escalations due now (the server also does this every minute)."""
    if who.role is not Role.SECRETARIAT:
        raise Forbidden("only the secretariat runs the timers by hand")
    swept = notices.tick(m)
    return Swept(reminded=swept.reminded, escalated=swept.escalated)


@router.post("/movements/{movement_id}/outcome", status_code=status.HTTP_201_CREATED)
def record_outcome(m: Mech, who: Who, movement_id: ObjectId, body: Annotated[OutcomeIn, Body()]) -> OutcomeOut:
    """Record how a movement went: facilitated, impeded, denied or cancelled (a cancelled one is withdrawn)."""
    return OutcomeOut(**outcomes.record(m, who, movement_id, body.outcome, body.reason, body.attributed_to))


@router.get("/movements/{movement_id}/outcomes")
def outcome_history(m: Mech, who: Who, movement_id: ObjectId) -> list[OutcomeOut]:
    return [OutcomeOut(**o) for o in outcomes.history(m, who, movement_id)]


@router.get("/humanitarian/stats")
def stats(
    m: Mech,
    who: Who,
    since: Annotated[datetime | None, Query(description="Notices sent from (ISO 8601 with offset)")] = None,
    until: Annotated[datetime | None, Query(description="Notices sent before")] = None,
) -> dict[str, Any]:
    """Per military party: acknowledgement counts and times; per agency and party held responsible: outcomes."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.utcoffset() is None:
            raise InvalidInput([Problem("naive-time", f"{name} needs an explicit UTC offset")])
    return outcomes.stats(m, who, since, until)


@router.post("/corridor")
def check_corridor(m: Mech, who: Who, body: Annotated[CorridorIn, Body()]) -> dict[str, Any]:
    """Is this route clear in this window?  Hazards per segment and, over a road network, the shortest clear route."""
    route, errors = geometry_from_geojson(body.route, allowed=("LineString", "MultiLineString"))
    problems = [Problem("route", e) for e in errors]
    window = None
    for name, value in (("start", body.start), ("end", body.end)):
        if value.utcoffset() is None:
            problems.append(Problem("naive-time", f"{name} needs an explicit UTC offset"))
    if not problems:
        try:
            window = TimeWindow(body.start, body.end)
        except ValueError as exc:
            problems.append(Problem("window", str(exc)))
    if problems or route is None or window is None:
        raise InvalidInput(problems or [Problem("route", "the route is a GeoJSON LineString or MultiLineString")])
    network = None
    if body.plan:
        network = default_roads() if body.roads is None else roads.roads_from_geojson(body.roads.model_dump())
    return corridor.check(m, who, corridor.Query(route, window, body.corridor_m), network)


@router.post(
    "/humanitarian/hxl",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={"requestBody": {"required": True, "content": {CSV: {"schema": {"type": "string"}}}}},
)
async def import_hxl(m: Mech, who: Who, request: Request) -> ImportOut:
    """Notify (or amend) sites and movements from an HXL-tagged CSV: every row, or none, with errors per row."""
    text = _text(await request.body())
    with m.store.read() as tx:
        parties = tx.parties()
    found = hxl.read_hxl(text, parties)
    try:
        sent = notices.notify_many(m, who, found.objects, urgent=found.urgent, replace=None)
    except InvalidInput as refused:
        raise found.on_rows(refused) from None
    return ImportOut(notices=[NoticeSent(**s.to_json()) for s in sent])


@router.get("/humanitarian/hxl", response_class=Response, responses={200: {"content": {CSV: {}}}})
def export_hxl(m: Mech, who: Who) -> Response:
    """The sites and movements you may see, as HXL-tagged CSV (other parties' reads are logged)."""
    page_after = None
    found = []
    while True:
        page = objects.browse(m, who, kinds=[Kind.SITE, Kind.MOVEMENT], after=page_after, limit=objects.MAX_PAGE)
        found.extend(page.objects)
        if page.next_after is None:
            break
        page_after = page.next_after
    with m.store.read() as tx:
        parties = tx.parties()
    return Response(hxl.write_hxl(found, parties), media_type=f"{CSV}; charset=utf-8")


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput([Problem("hxl-encoding", f"the CSV is not UTF-8 (byte {exc.start})")]) from None


@functools.cache
def default_roads() -> RoadNetwork:
    """The server's road network: the file ``DETENTE_ROADS`` names, else the demo's (Syria)."""
    path = os.environ.get("DETENTE_ROADS")
    return roads.demo_roads() if not path else roads.load_roads(pathlib.Path(path))
