"""Conflict reports and their disclosure to other parties (SEMANTICS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shapely.geometry import mapping
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.model import Kind
from detente.domain.rules import ConflictType, Severity


@dataclass(frozen=True)
class Conflict:
    """One (intent volume x other volume) pair in conflict."""

    intent: str
    volume: int
    type: ConflictType
    severity: Severity
    other_kind: Kind
    other_id: str
    other_party: str
    other_volume: int
    time: TimeWindow
    altitude: AltitudeBand | None
    distance_m: float
    party: str
    notify: tuple[str, ...]
    vertical_gap_m: float = 0.0

    @property
    def sort_key(self) -> tuple[str, int, str, str, str, int]:
        return (
            self.intent,
            self.volume,
            self.type.value,
            self.other_kind.value,
            self.other_id,
            self.other_volume,
        )

    def to_json(self) -> dict[str, Any]:
        """The spec's JSON object, plus ``party`` and ``notify``."""
        return {
            "intent": self.intent,
            "volume": self.volume,
            "type": self.type.value,
            "severity": self.severity.value,
            "other": {
                "kind": self.other_kind.value,
                "id": self.other_id,
                "party": self.other_party,
                "volume": self.other_volume,
            },
            "time": self.time.to_json(),
            "altitude_m": None if self.altitude is None else self.altitude.to_json(),
            "distance_m": round(self.distance_m, 3),
            "party": self.party,
            "notify": list(self.notify),
        }


@dataclass(frozen=True)
class Disclosure:
    """What another party is told of a conflict: never the rest of the plan.

    Only the filing party, the conflict type and severity, the overlapping
    window and band, and the part of the intent's footprint that concerns
    the recipient (clipped to the other object's reach).
    """

    recipient: str
    filing_party: str
    type: ConflictType
    severity: Severity
    other_kind: Kind
    other_id: str
    time: TimeWindow
    altitude: AltitudeBand | None
    area: BaseGeometry

    def to_json(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "filing_party": self.filing_party,
            "type": self.type.value,
            "severity": self.severity.value,
            "concerns": {"kind": self.other_kind.value, "id": self.other_id},
            "time": self.time.to_json(),
            "altitude_m": None if self.altitude is None else self.altitude.to_json(),
            "area": dict(mapping(self.area)),
        }
