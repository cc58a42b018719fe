"""Incidents over HTTP: report, read, acknowledge, investigate, resolve or dispute, the hotline, protocols.

Incidents open from the live monitor too (see ``routes_monitoring``).
Every change reaches the parties involved and the secretariat as
notifications (``incident.*``) and is in the audit log.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, status

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import documented
from detente.adapters.api.schemas import MAX_ROW_ID
from detente.adapters.api.schemas_incidents import IncidentDetail, IncidentIn, IncidentOut, MessageIn, StatusIn
from detente.services import incidents

router = APIRouter(responses=documented(401, 403, 404), tags=["incidents"])

IncidentId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


@router.get("/incidents")
def list_incidents(
    m: Mech,
    who: Who,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[IncidentOut]:
    """Incidents that involve the caller's party (every incident, for the secretariat)."""
    return [IncidentOut(**r) for r in incidents.listing(m, who, after=after, limit=limit)]


@router.post("/incidents", status_code=status.HTTP_201_CREATED, responses=documented(422))
def report_incident(m: Mech, who: Who, body: IncidentIn) -> IncidentDetail:
    """Report an incident; its protocol's deadlines start now."""
    shown = incidents.report(
        m,
        who,
        type=body.type,
        severity=body.severity,
        parties=body.parties,
        title=body.title,
        description=body.description,
        position=None if body.position is None else (body.position.lon, body.position.lat),
        started_at=body.started_at,
        ended_at=body.ended_at,
    )
    return IncidentDetail(**shown)


@router.get("/incidents/{incident_id}")
def show_incident(m: Mech, who: Who, incident_id: IncidentId) -> IncidentDetail:
    """The incident, each party's acknowledgement, its protocol steps, transitions and hotline."""
    return IncidentDetail(**incidents.show(m, who, incident_id))


@router.post("/incidents/{incident_id}/ack", responses=documented(422))
def acknowledge_incident(m: Mech, who: Who, incident_id: IncidentId) -> IncidentDetail:
    return IncidentDetail(**incidents.acknowledge(m, who, incident_id))


@router.post("/incidents/{incident_id}/status", responses=documented(422))
def set_incident_status(m: Mech, who: Who, incident_id: IncidentId, body: StatusIn) -> IncidentDetail:
    return IncidentDetail(**incidents.set_status(m, who, incident_id, body.status, body.note))


@router.post("/incidents/{incident_id}/messages", status_code=status.HTTP_201_CREATED, responses=documented(422))
def post_incident_message(m: Mech, who: Who, incident_id: IncidentId, body: MessageIn) -> IncidentDetail:
    """A hotline message, a joint call held (secretariat), a proposed resolution, or its acceptance."""
    return IncidentDetail(**incidents.post_message(m, who, incident_id, body.kind, body.text, body.proposal))


@router.get("/incident-protocols")
def get_protocols(m: Mech, who: Who) -> list[dict[str, Any]]:
    """The escalation protocols new incidents get (running incidents keep the one they started with)."""
    return incidents.protocols(m)


@router.put("/incident-protocols", responses=documented(422))
def put_protocols(m: Mech, who: Who, body: Annotated[list[dict[str, Any]], Body()]) -> list[dict[str, Any]]:
    """Replace the escalation protocols (secretariat)."""
    return incidents.set_protocols(m, who, body)
