"""Half-open intervals in time and altitude, per SEMANTICS.md.

Both kinds are ``[lower, upper)``; ``None`` on either end means unbounded.
Intervals that only touch do not overlap.  Times are kept as aware UTC
datetimes in the model and as float epoch seconds (with +/-inf for open ends)
inside the engine, where numpy does the comparisons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

NEG_INF = -math.inf
POS_INF = math.inf


def to_epoch(t: datetime | None, *, default: float) -> float:
    """Epoch seconds of an aware datetime, or ``default`` for an open end."""
    if t is None:
        return default
    return t.timestamp()


def from_epoch(s: float) -> datetime | None:
    """Inverse of :func:`to_epoch`; infinite values become ``None``."""
    if math.isinf(s):
        return None
    return datetime.fromtimestamp(s, tz=UTC)


def format_time(t: datetime | None) -> str | None:
    """ISO 8601 in UTC with a ``Z`` suffix, whole seconds unless finer."""
    if t is None:
        return None
    t = t.astimezone(UTC)
    text = t.isoformat(timespec="microseconds" if t.microsecond else "seconds")
    return text.replace("+00:00", "Z")


@dataclass(frozen=True)
class TimeWindow:
    """A half-open UTC window ``[start, end)``; ``None`` is unbounded.

    >>> a = TimeWindow(datetime(2017, 7, 7, 6, tzinfo=UTC), datetime(2017, 7, 7, 9, tzinfo=UTC))
    >>> b = TimeWindow(datetime(2017, 7, 7, 9, tzinfo=UTC), None)
    >>> a.overlaps(b)
    False
    """

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        for t in (self.start, self.end):
            if t is not None and t.utcoffset() is None:
                raise ValueError("naive time: an explicit UTC offset is required")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise ValueError("time window end must be after its start")

    @property
    def start_s(self) -> float:
        return to_epoch(self.start, default=NEG_INF)

    @property
    def end_s(self) -> float:
        return to_epoch(self.end, default=POS_INF)

    def overlaps(self, other: TimeWindow) -> bool:
        """True when the windows share a stretch of positive length."""
        return max(self.start_s, other.start_s) < min(self.end_s, other.end_s)

    def intersection(self, other: TimeWindow) -> TimeWindow | None:
        """The shared window, or ``None`` when they do not overlap."""
        if not self.overlaps(other):
            return None
        starts = [t for t in (self.start, other.start) if t is not None]
        ends = [t for t in (self.end, other.end) if t is not None]
        return TimeWindow(max(starts) if starts else None, min(ends) if ends else None)

    def contains(self, t: datetime) -> bool:
        """``start <= t < end``."""
        s = t.timestamp()
        return self.start_s <= s < self.end_s

    def to_json(self) -> list[str | None]:
        return [format_time(self.start), format_time(self.end)]


@dataclass(frozen=True)
class AltitudeBand:
    """A half-open band ``[lower, upper)`` in metres above mean sea level.

    ``None`` lower is the surface (treated as -inf), ``None`` upper unlimited.

    >>> AltitudeBand(0, 1000).overlaps(AltitudeBand(1000, 2000))
    False
    >>> AltitudeBand(0, 1000).gap(AltitudeBand(1500, 2000))
    500.0
    """

    lower: float | None = None
    upper: float | None = None

    def __post_init__(self) -> None:
        for v in (self.lower, self.upper):
            if v is not None and not math.isfinite(v):
                raise ValueError("altitude must be a finite number or null")
        if self.lower is not None and self.upper is not None and self.lower >= self.upper:
            raise ValueError("altitude band lower must be below its upper")

    @property
    def lower_m(self) -> float:
        return NEG_INF if self.lower is None else float(self.lower)

    @property
    def upper_m(self) -> float:
        return POS_INF if self.upper is None else float(self.upper)

    def overlaps(self, other: AltitudeBand) -> bool:
        return max(self.lower_m, other.lower_m) < min(self.upper_m, other.upper_m)

    def gap(self, other: AltitudeBand) -> float:
        """Vertical distance between the bands: 0 when they overlap or touch."""
        return max(0.0, other.lower_m - self.upper_m, self.lower_m - other.upper_m)

    def intersection(self, other: AltitudeBand) -> AltitudeBand | None:
        if not self.overlaps(other):
            return None
        lows = [v for v in (self.lower, other.lower) if v is not None]
        highs = [v for v in (self.upper, other.upper) if v is not None]
        return AltitudeBand(max(lows) if lows else None, min(highs) if highs else None)

    def contains(self, altitude_m: float) -> bool:
        return self.lower_m <= altitude_m < self.upper_m

    def to_json(self) -> list[float | None]:
        return [self.lower, self.upper]


ALWAYS = TimeWindow()
ALL_ALTITUDES = AltitudeBand()
