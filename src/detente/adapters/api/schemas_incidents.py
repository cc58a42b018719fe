"""Request and response bodies of incidents: reports, acknowledgements, status, the hotline, protocols."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from detente.adapters.api.schemas import Strict


class Position(Strict):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class IncidentIn(Strict):
    type: Literal[
        "airspace_incursion",
        "boundary_crossing",
        "loss_of_separation",
        "proximity_to_protected",
        "strike_near_protected",
        "ceasefire_violation",
        "other",
    ]
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    parties: list[str] = Field(default_factory=list, max_length=20, description="Parties involved (besides the caller)")
    title: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=4000)
    position: Position | None = None
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = None


class StatusIn(Strict):
    status: Literal["under_investigation", "resolved", "disputed"]
    note: str = Field(min_length=1, max_length=4000)


class MessageIn(Strict):
    kind: Literal["message", "call", "proposal", "acceptance"] = "message"
    text: str = Field(min_length=1, max_length=4000)
    proposal: int | None = Field(default=None, ge=1, description="For an acceptance: the proposal's message id")


class IncidentOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: int
    type: str
    status: str
    severity: str
    source: str
    title: str
    parties: list[str]
    position: dict[str, Any] | None
    started_at: datetime
    ended_at: datetime | None
    created_at: datetime
    updated_at: datetime


class IncidentDetail(IncidentOut):
    involved: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    transitions: list[dict[str, Any]]
    messages: list[dict[str, Any]]
