"""Live monitoring over HTTP: position reports in; episodes, latest positions and incidents out.

Episodes reach the parties concerned as notifications too (inbox, live
stream, webhooks): ``track.event.opened`` and ``track.event.closed``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, status

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import documented
from detente.adapters.api.schemas import MAX_ROW_ID
from detente.adapters.api.schemas_monitoring import EventOut, PositionsIn, PositionsOut, TrackOut
from detente.domain.accounts import Caller
from detente.domain.errors import NotFound
from detente.domain.model import Role
from detente.services.live import LiveMonitor

router = APIRouter(responses=documented(401, 403, 404), tags=["monitoring"])

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

POSITIONS_EXAMPLE = {
    "a Russian sortie": {
        "value": {
            "positions": [
                {
                    "track": "RU-SU24-1",
                    "party": "ru",
                    "category": "air",
                    "purpose": "armed",
                    "t": "2017-07-07T09:30:00Z",
                    "lon": 38.64,
                    "lat": 33.52,
                    "alt_m": 6000,
                }
            ]
        }
    }
}


def live(request: Request) -> LiveMonitor:
    monitor: LiveMonitor = request.app.state.live
    return monitor


Live = Annotated[LiveMonitor, Depends(live)]


def _party_filter(who: Caller) -> str | None:
    return None if who.role is Role.SECRETARIAT else who.party


@router.post(
    "/positions",
    status_code=status.HTTP_202_ACCEPTED,
    responses=documented(422, 503),
)
def post_positions(
    monitor: Live, who: Who, body: Annotated[PositionsIn, Body(openapi_examples=POSITIONS_EXAMPLE)]
) -> PositionsOut:
    """Report positions of the caller's party's tracks (any party's, for the secretariat's feeds).

    A bad report refuses the whole request (422, each problem named by its
    index); a full queue answers 503 with ``Retry-After``.  Reports no newer
    than their track's latest are counted as stale and left out.
    """
    rows = [(p.track, p.party, p.category, p.purpose, p.t.timestamp(), p.lon, p.lat, p.alt_m) for p in body.positions]
    result = monitor.submit(rows, who)
    return PositionsOut(
        received=result.received,
        accepted=result.accepted,
        stale=result.stale,
        queued=result.queued,
        events=[EventOut(**e) for e in result.events],
    )


@router.get("/monitor")
def monitor_status(monitor: Live, who: Who) -> dict[str, Any]:
    """The live monitor's health: positions waiting, tracks followed, open episodes, recent pass times."""
    return monitor.status()


@router.get("/tracks")
def tracks(monitor: Live, who: Who) -> list[TrackOut]:
    """Each track's latest position: the caller's party's own (every party's, for the secretariat)."""
    return [TrackOut(**t) for t in monitor.positions(who)]


@router.get("/track-events")
def track_events(
    m: Mech,
    who: Who,
    open: Annotated[bool, Query(description="Only episodes still going on")] = False,
    incident: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventOut]:
    """Episodes concerning the caller's party: its own tracks', and others' near its zones, sites, routes or tracks."""
    with m.store.read() as tx:
        rows = tx.track_events(party=_party_filter(who), open_only=open, incident=incident, after=after, limit=limit)
    return [EventOut(**r) for r in rows]


@router.get("/track-events/{event_id}")
def track_event(m: Mech, who: Who, event_id: RowId) -> EventOut:
    with m.store.read() as tx:
        row = tx.track_event(event_id)
    party = _party_filter(who)
    if row is None or (party is not None and party not in (row["party"], row["other"]["party"])):
        raise NotFound(f"no track event {event_id}")
    return EventOut(**row)
