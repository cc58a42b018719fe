"""Request and response bodies of humanitarian notification, outcomes and the corridor check."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from detente.adapters.api.schemas import FeatureCollection, PartySignature, Strict

HOURS = Field(default=None, ge=0, le=8760)


class RulesIn(Strict):
    """Hours; names left out keep their current value."""

    movement_lead_h: float | None = HOURS
    urgent_movement_lead_h: float | None = HOURS
    site_lead_h: float | None = HOURS
    ack_within_h: float | None = Field(default=None, gt=0, le=8760)
    urgent_ack_within_h: float | None = Field(default=None, gt=0, le=8760)
    remind_before_h: float | None = HOURS


class RulesOut(BaseModel):
    movement_lead_h: float
    urgent_movement_lead_h: float
    site_lead_h: float
    ack_within_h: float
    urgent_ack_within_h: float
    remind_before_h: float


class NoticeSent(BaseModel):
    id: int
    object: str
    action: str
    deadline: datetime | None
    recipients: list[str]
    filed_intents_in_conflict: int


class Notified(BaseModel):
    world_version: int
    notice: NoticeSent


class RecipientStatus(BaseModel):
    party: str
    notification: int = Field(description="The party's inbox message: what it acknowledges")
    state: Literal["pending", "acknowledged", "acknowledged-late", "overdue"]
    deadline: datetime | None
    acked_at: datetime | None
    acked_by: str | None
    signed: bool
    ack_seconds: float | None
    reminded_at: datetime | None
    escalated_at: datetime | None
    units: list[dict[str, Any]]


class NoticeOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    kind: str
    object_id: str
    party: str
    action: str
    urgent: bool
    created_at: datetime
    deadline: datetime | None
    remind_at: datetime | None
    features: list[dict[str, Any]]
    recipients: list[RecipientStatus]
    overdue: list[str]


class NoticeAckIn(Strict):
    signature: PartySignature | None = None


class UnitIn(Strict):
    unit: str = Field(min_length=1, max_length=200)
    method: Literal["relayed", "unit-ack", "feed"] = "relayed"
    told_at: datetime | None = Field(default=None, description="When the unit was told (default: now)")
    reference: str | None = Field(default=None, max_length=500)


class DisseminationIn(Strict):
    units: list[UnitIn] = Field(min_length=1, max_length=200)


class DisseminationOut(BaseModel):
    ids: list[int]


class Swept(BaseModel):
    reminded: int
    escalated: int


class OutcomeIn(Strict):
    outcome: Literal["facilitated", "impeded", "denied", "cancelled"]
    reason: str = Field(min_length=1, max_length=2000)
    attributed_to: str | None = Field(default=None, max_length=64)


class OutcomeOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    movement: str
    party: str
    outcome: str
    reason: str
    attributed_to: str | None
    recorded_at: datetime


class CorridorIn(Strict):
    route: dict[str, Any] = Field(description="A GeoJSON LineString or MultiLineString (lon, lat)")
    start: datetime
    end: datetime
    corridor_m: float = Field(default=1000.0, gt=0, le=50_000)
    plan: bool = Field(default=True, description="Also propose the shortest clear road route")
    roads: FeatureCollection | None = Field(
        default=None, description="Your own road network (LineStrings); default: the server's"
    )


class ImportOut(BaseModel):
    notices: list[NoticeSent]
