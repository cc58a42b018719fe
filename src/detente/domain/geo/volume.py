"""A 4D volume: a footprint, an altitude band and a time window."""

from __future__ import annotations

from dataclasses import dataclass, field

from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import ALL_ALTITUDES, ALWAYS, AltitudeBand, TimeWindow


@dataclass(frozen=True)
class Volume4D:
    """Space x altitude x time; altitude and time are half-open."""

    footprint: Footprint
    altitude: AltitudeBand = field(default=ALL_ALTITUDES)
    time: TimeWindow = field(default=ALWAYS)
