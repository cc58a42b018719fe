"""Request and response bodies of live monitoring: position reports, episodes, tracks, incidents."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from detente.adapters.api.schemas import Strict

Id = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$")


class PositionIn(Strict):
    """One position report, with the names of SCENARIO.md's track files."""

    track: str = Id
    party: str = Field(min_length=1, max_length=64)
    category: Literal["air", "ground"]
    purpose: Literal["armed", "humanitarian", "medevac", "unknown"] = "unknown"
    t: AwareDatetime = Field(description="ISO 8601 with an offset (a time without one is refused)")
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    alt_m: float = Field(ge=-1000, le=100_000, description="metres above mean sea level")


class PositionsIn(Strict):
    positions: list[PositionIn] = Field(min_length=1, max_length=10_000)


class EventOut(BaseModel):
    """An episode (SEMANTICS.md's fields, plus its id, where it began and whether it goes on)."""

    model_config = ConfigDict(extra="allow")

    id: int | None
    type: str
    track: str
    party: str
    other: dict[str, str]
    start: str | datetime
    end: str | datetime
    min_distance_m: float
    open: bool
    position: dict[str, float]


class PositionsOut(BaseModel):
    received: int
    accepted: int = Field(description="checked now (positions newer than their track's latest)")
    stale: int = Field(description="refused as no newer than their track's latest report")
    queued: int = Field(description="waiting for the monitor's next pass (a server with a monitor thread)")
    events: list[EventOut] = Field(description="episodes this batch opened, extended or closed (when checked now)")


class TrackOut(BaseModel):
    track: str
    party: str
    category: str
    purpose: str
    t: str
    lon: float
    lat: float
    alt_m: float
