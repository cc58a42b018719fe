"""Ceasefire observers' reports: what was seen or heard, from where, when, and which way.

The fields are those monitoring missions publish.  An OSCE SMM daily report
says, for example, "Positioned at X, the SMM heard 12 undetermined
explosions 3-5 km south-east between 19:10 and 19:25": an observer position,
a time or a span, what happened (:class:`ObservedEvent`), the assessed weapon
if any, a direction and a distance band from the observer, how it was
observed (:class:`ObservedHow`), a count and free text.

:meth:`ObserverReport.from_json` reads one report from hostile input and
refuses it with every problem found (:class:`~detente.domain.errors.InvalidInput`).
:meth:`ObserverReport.estimated_position` turns the observer's position,
bearing and band into an estimate of where the event was, with a radius that
covers the whole sector the report allows; the corroboration engine
(``engine/corroboration.py``) groups reports by those estimates.

Times are closed spans ``[start, end]``; a single instant has ``start ==
end``.  Distances are metres along the WGS84 geodesic.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

import numpy as np

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.arrays import FloatArray
from detente.domain.geo.geodesic import WGS84
from detente.domain.geo.intervals import format_time


class ObservedEvent(StrEnum):
    """What the observer reports (the categories of OSCE SMM ceasefire-violation tables)."""

    IMPACT = "impact"
    OUTGOING = "outgoing"
    AIRBURST = "airburst"
    PROJECTILE_IN_FLIGHT = "projectile_in_flight"
    SMALL_ARMS_FIRE = "small_arms_fire"
    HEAVY_WEAPONS_MOVEMENT = "heavy_weapons_movement"
    OTHER = "other"


class ObservedHow(StrEnum):
    HEARD = "heard"
    SEEN = "seen"
    CAMERA = "camera"
    UAV = "uav"


#: A report's distance band may not reach beyond this: nothing a ground observer hears or sees is further.
MAX_DISTANCE_M = 50_000.0
#: Without a distance band, the event is taken to be within this of the observer (artillery is heard this far).
DEFAULT_RANGE_M = 10_000.0
#: No estimate is surer than this (the observer's own position and the report's rounding).
MIN_UNCERTAINTY_M = 100.0
#: How far either side of the reported bearing the event may be: heard directions are given to the eight
#: points of the compass (+/-22.5 degrees), seen ones to the sixteen (+/-11.25 degrees).
BEARING_HALF_WIDTH_DEG: Mapping[ObservedHow, float] = {
    ObservedHow.HEARD: 22.5,
    ObservedHow.SEEN: 11.25,
    ObservedHow.CAMERA: 11.25,
    ObservedHow.UAV: 11.25,
}
#: Longest span one report may cover (a daily report covers at most a day).
MAX_SPAN = timedelta(hours=24)
MAX_TEXT_CHARS = 4000
MAX_NAME_CHARS = 200
MAX_WEAPON_CHARS = 100
MAX_COUNT = 100_000

_FIELDS = frozenset(
    {
        "id",
        "party",
        "observer",
        "start",
        "end",
        "event_type",
        "weapon",
        "bearing_deg",
        "distance_m",
        "observed_how",
        "count",
        "text",
    }
)
_REQUIRED = ("id", "party", "observer", "start", "event_type", "observed_how")

_E = TypeVar("_E", bound=StrEnum)
#: Where a parser reports a problem: ``bad(rule, message)``.
_Sink = Callable[[str, str], None]


@dataclass(frozen=True)
class ObserverReport:
    """One observer report.  ``distance_m`` is the band ``(min, max)`` from the observer, or ``None``.

    Built directly, it checks the same rules as :meth:`from_json` and raises
    :class:`InvalidInput` listing every one broken.
    """

    id: str
    party: str
    lon: float
    lat: float
    start: datetime
    end: datetime
    event_type: ObservedEvent
    observed_how: ObservedHow
    weapon: str | None = None
    bearing_deg: float | None = None
    distance_m: tuple[float, float] | None = None
    count: int = 1
    text: str = ""

    def __post_init__(self) -> None:
        problems = _check(
            self.id,
            self.party,
            self.lon,
            self.lat,
            self.start,
            self.end,
            self.weapon,
            self.bearing_deg,
            self.distance_m,
            self.count,
            self.text,
            None,
        )
        if problems:
            raise InvalidInput(problems)

    @classmethod
    def from_json(cls, obj: Any, index: int | None = None) -> ObserverReport:
        """A report from its JSON object; every problem listed at once.

        ``{"id", "party", "observer": {"lon", "lat"}, "start", "end"?,
        "event_type", "observed_how", "weapon"?, "bearing_deg"?,
        "distance_m"?: [min, max], "count"?, "text"?}``; times are ISO 8601
        with an explicit offset, ``end`` defaults to ``start``.  ``index``
        (the report's place in a list) is carried into the problems.

        >>> r = ObserverReport.from_json({"id": "r1", "party": "smm", "observer": {"lon": 37.8, "lat": 48.0},
        ...     "start": "2017-07-09T20:10:00Z", "event_type": "impact", "observed_how": "heard",
        ...     "bearing_deg": 135, "distance_m": [3000, 5000], "count": 12})
        >>> (r.start == r.end, r.distance_m, r.count)
        (True, (3000.0, 5000.0), 12)
        """
        rid = obj.get("id") if isinstance(obj, dict) else None
        pid = rid if isinstance(rid, str) else None
        problems: list[Problem] = []

        def bad(rule: str, message: str) -> None:
            problems.append(Problem(rule, message, index=index, id=pid))

        if not isinstance(obj, dict):
            bad("report", f"a report must be a JSON object, not {_kind(obj)}")
            raise InvalidInput(problems)
        for key in sorted(set(obj) - _FIELDS, key=str):
            bad("field", f"unknown field {key!r} (known: {', '.join(sorted(_FIELDS))})")
        for key in _REQUIRED:
            if obj.get(key) is None:
                bad("field", f"{key!r} is required")

        text_fields: dict[str, str | None] = {}
        for key in ("id", "party", "weapon"):
            value = obj.get(key)
            if value is not None and not isinstance(value, str):
                bad(key, f"{key!r} must be a string, not {_kind(value)}")
                value = None
            text_fields[key] = value

        lon = lat = None
        observer = obj.get("observer")
        if observer is not None:
            if not isinstance(observer, dict) or set(observer) != {"lon", "lat"}:
                bad("observer", 'observer must be {"lon": number, "lat": number}')
            else:
                lon = _number(observer["lon"], "observer.lon", "observer", bad)
                lat = _number(observer["lat"], "observer.lat", "observer", bad)

        start = _time(obj.get("start"), "start", bad)
        end = start if obj.get("end") is None else _time(obj.get("end"), "end", bad)

        event_type = _member(obj.get("event_type"), ObservedEvent, "event_type", bad)
        observed_how = _member(obj.get("observed_how"), ObservedHow, "observed_how", bad)

        bearing = (
            None if obj.get("bearing_deg") is None else _number(obj["bearing_deg"], "bearing_deg", "bearing_deg", bad)
        )

        band: tuple[float, float] | None = None
        raw_band = obj.get("distance_m")
        if raw_band is not None:
            if not isinstance(raw_band, list) or len(raw_band) != 2:
                bad("distance_m", f"distance_m must be [min, max] in metres, not {_kind(raw_band)}")
            else:
                lo = _number(raw_band[0], "distance_m min", "distance_m", bad)
                hi = _number(raw_band[1], "distance_m max", "distance_m", bad)
                if lo is not None and hi is not None:
                    band = (lo, hi)

        count: int | None = 1
        raw_count = obj.get("count")
        if raw_count is not None:
            if isinstance(raw_count, bool) or not isinstance(raw_count, int):
                bad("count", f"count must be a whole number, not {_kind(raw_count)}")
                count = None
            else:
                count = raw_count

        text = obj.get("text")
        if text is None:
            text = ""
        elif not isinstance(text, str):
            bad("text", f"text must be a string, not {_kind(text)}")
            text = None

        # The rules on values, for every field that parsed (a field that did not was reported above).
        problems.extend(
            _check(
                text_fields["id"],
                text_fields["party"],
                lon,
                lat,
                start,
                end,
                text_fields["weapon"],
                bearing,
                band,
                count,
                text,
                index,
                id=pid,
            )
        )
        if problems:
            raise InvalidInput(problems)
        assert text_fields["id"] is not None and text_fields["party"] is not None
        assert lon is not None and lat is not None and start is not None and end is not None
        assert event_type is not None and observed_how is not None and count is not None and text is not None
        return cls(
            id=text_fields["id"],
            party=text_fields["party"],
            lon=lon,
            lat=lat,
            start=start,
            end=end,
            event_type=event_type,
            observed_how=observed_how,
            weapon=text_fields["weapon"],
            bearing_deg=bearing,
            distance_m=band,
            count=count,
            text=text,
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON object :meth:`from_json` reads back to an equal report."""
        return {
            "id": self.id,
            "party": self.party,
            "observer": {"lon": self.lon, "lat": self.lat},
            "start": format_time(self.start),
            "end": format_time(self.end),
            "event_type": self.event_type.value,
            "observed_how": self.observed_how.value,
            "weapon": self.weapon,
            "bearing_deg": self.bearing_deg,
            "distance_m": None if self.distance_m is None else list(self.distance_m),
            "count": self.count,
            "text": self.text,
        }

    @property
    def source(self) -> tuple[str, float, float]:
        """Who observed: the mission and the observer's position (to about a metre).

        Two reports from one source are one observation, however many times
        it is filed; corroboration needs two sources.
        """
        return (self.party, round(self.lon, 5), round(self.lat, 5))

    def estimated_position(self) -> tuple[float, float, float]:
        """``(lon, lat, uncertainty_m)``: where the event was, and a radius around it that covers the report.

        With a bearing, the observer's position is carried along it (a WGS84
        geodesic) to the middle of the distance band, and the radius covers
        the whole sector of the band and the bearing's half-width
        (:data:`BEARING_HALF_WIDTH_DEG`).  Without a bearing, the estimate is
        the observer's own position and the radius the band's far edge.  A
        report without a band is taken to be within :data:`DEFAULT_RANGE_M`.
        No radius is below :data:`MIN_UNCERTAINTY_M`.

        >>> from datetime import UTC, datetime
        >>> t = datetime(2017, 7, 9, 20, 10, tzinfo=UTC)
        >>> r = ObserverReport("r", "smm", 36.0, 32.0, t, t, ObservedEvent.IMPACT, ObservedHow.SEEN,
        ...                    bearing_deg=0.0, distance_m=(2000.0, 2000.0))
        >>> lon, lat, u = r.estimated_position()
        >>> (round(lon, 6), round(lat, 4), round(u))
        (36.0, 32.018, 392)
        """
        lon, lat, u = estimate_positions([self])
        return float(lon[0]), float(lat[0]), float(u[0])


def estimate_positions(reports: Sequence[ObserverReport]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """:meth:`ObserverReport.estimated_position` of many reports at once: (lon, lat, uncertainty_m) columns."""
    n = len(reports)
    lon = np.fromiter((r.lon for r in reports), dtype=np.float64, count=n)
    lat = np.fromiter((r.lat for r in reports), dtype=np.float64, count=n)
    lo = np.fromiter((0.0 if r.distance_m is None else r.distance_m[0] for r in reports), dtype=np.float64, count=n)
    hi = np.fromiter(
        (DEFAULT_RANGE_M if r.distance_m is None else r.distance_m[1] for r in reports), dtype=np.float64, count=n
    )
    has_bearing = np.fromiter((r.bearing_deg is not None for r in reports), dtype=bool, count=n)
    bearing = np.fromiter((r.bearing_deg or 0.0 for r in reports), dtype=np.float64, count=n)
    half = np.radians(np.fromiter((BEARING_HALF_WIDTH_DEG[r.observed_how] for r in reports), np.float64, count=n))
    # No bearing: the observer's position, and a circle out to the band's far edge.
    out_lon, out_lat, radius = lon.copy(), lat.copy(), hi.copy()
    if np.any(has_bearing):
        k = np.flatnonzero(has_bearing)
        mid = (lo[k] + hi[k]) / 2.0
        flon, flat, _ = WGS84.fwd(lon[k], lat[k], bearing[k], mid)
        out_lon[k] = flon
        out_lat[k] = flat
        # The sector {distance in [lo, hi], bearing within +/-half} seen from its middle point: the farthest
        # points are its corners (the distance to a point of the sector grows with its angle off the bearing,
        # and is convex in its distance), by the law of cosines in the observer's local plane.
        cos_h = np.cos(half[k])
        near = np.sqrt(np.maximum(lo[k] ** 2 + mid**2 - 2.0 * lo[k] * mid * cos_h, 0.0))
        far = np.sqrt(np.maximum(hi[k] ** 2 + mid**2 - 2.0 * hi[k] * mid * cos_h, 0.0))
        radius[k] = np.maximum(near, far)
    return out_lon, out_lat, np.maximum(radius, MIN_UNCERTAINTY_M)


def reports_from_json(items: Any) -> list[ObserverReport]:
    """Reports from a JSON array; every problem of every report listed at once, and duplicate ids refused."""
    if not isinstance(items, list):
        raise InvalidInput([Problem("reports", f"reports must be a JSON array, not {_kind(items)}")])
    problems: list[Problem] = []
    reports: list[ObserverReport] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        try:
            report = ObserverReport.from_json(item, index=i)
        except InvalidInput as e:
            problems.extend(e.problems)
            continue
        if report.id in seen:
            message = f"id {report.id!r} is already used by report {seen[report.id]}"
            problems.append(Problem("duplicate-id", message, index=i, id=report.id))
        seen.setdefault(report.id, i)
        reports.append(report)
    if problems:
        raise InvalidInput(problems)
    return reports


# ------------------------------------------------------------------ rules


def _check(
    rid: str | None,
    party: str | None,
    lon: float | None,
    lat: float | None,
    start: datetime | None,
    end: datetime | None,
    weapon: str | None,
    bearing: float | None,
    band: tuple[float, float] | None,
    count: int | None,
    text: str | None,
    index: int | None,
    *,
    id: str | None = None,
) -> list[Problem]:
    """Every rule broken by these values; ``None`` values are skipped (missing, or already reported)."""
    problems: list[Problem] = []
    where = id if id is not None else rid

    def bad(rule: str, message: str) -> None:
        problems.append(Problem(rule, message, index=index, id=where))

    for key, name, limit in (("id", rid, MAX_NAME_CHARS), ("party", party, MAX_NAME_CHARS)):
        if name is not None and not (name.strip() and len(name) <= limit):
            bad(key, f"{key} must be a non-blank string of at most {limit} characters")
    if weapon is not None and not (weapon.strip() and len(weapon) <= MAX_WEAPON_CHARS):
        bad("weapon", f"weapon must be null or a non-blank string of at most {MAX_WEAPON_CHARS} characters")
    for key, coord, bound in (("observer.lon", lon, 180.0), ("observer.lat", lat, 90.0)):
        if coord is not None and not (math.isfinite(coord) and -bound <= coord <= bound):
            bad("observer", f"{key} {coord} is not a finite number in [-{bound:g}, {bound:g}]")
    for key, t in (("start", start), ("end", end)):
        if t is not None and t.utcoffset() is None:
            bad("time", f"{key} {t.isoformat()} has no UTC offset; add Z or +hh:mm")
    if start is not None and end is not None and start.utcoffset() is not None and end.utcoffset() is not None:
        if end < start:
            bad("time", f"end {format_time(end)} is before start {format_time(start)}")
        elif end - start > MAX_SPAN:
            bad("time", f"the span {format_time(start)} to {format_time(end)} is longer than {MAX_SPAN}")
    if bearing is not None and not (math.isfinite(bearing) and 0.0 <= bearing <= 360.0):
        bad("bearing_deg", f"bearing_deg {bearing} is not a finite number of degrees in [0, 360]")
    if band is not None:
        lo, hi = band
        if not (math.isfinite(lo) and math.isfinite(hi)):
            bad("distance_m", f"distance_m [{lo}, {hi}] must be finite numbers")
        elif not (0.0 <= lo <= hi):
            bad("distance_m", f"distance_m [{lo:g}, {hi:g}] must satisfy 0 <= min <= max")
        elif hi > MAX_DISTANCE_M:
            bad("distance_m", f"distance_m max {hi:g} m is beyond {MAX_DISTANCE_M:g} m: no observer sees that far")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT):
        bad("count", f"count {count!r} must be a whole number from 1 to {MAX_COUNT}")
    if text is not None and len(text) > MAX_TEXT_CHARS:
        bad("text", f"text has {len(text)} characters; at most {MAX_TEXT_CHARS} are allowed")
    return problems


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        return f"the string {value[:40]!r}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _number(value: Any, key: str, rule: str, bad: _Sink) -> float | None:
    """A JSON number as a float (finiteness is a rule checked later); booleans are not numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        bad(rule, f"{key} must be a number, not {_kind(value)}")
        return None
    try:
        return float(value)
    except OverflowError:
        bad(rule, f"{key} is too large to be a number of degrees or metres")
        return None


def _time(value: Any, key: str, bad: _Sink) -> datetime | None:
    """An ISO 8601 instant with an explicit offset, as UTC; naive times are refused."""
    if value is None:
        return None
    if not isinstance(value, str):
        bad("time", f"{key} must be an ISO 8601 string, not {_kind(value)}")
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        bad("time", f"{key} {value[:40]!r} is not an ISO 8601 time")
        return None
    if parsed.utcoffset() is None:
        bad("time", f"{key} {value!r} has no UTC offset; add Z or +hh:mm")
        return None
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        bad("time", f"{key} {value!r} is out of range in UTC")
        return None


def _member(value: Any, enum: type[_E], key: str, bad: _Sink) -> _E | None:
    if value is None:
        return None
    for member in enum:
        if isinstance(value, str) and value == member.value:
            return member
    bad(key, f"{key} {_kind(value)} is not one of {', '.join(m.value for m in enum)}")
    return None
