"""Reports on incidents: the daily situation report, accountability figures, compliance over time.

All three read the stored incidents (``tx.incidents`` and each incident's
parties and protocol steps) and count; nothing here writes.  Who sees what
mirrors :func:`detente.services.incidents.listing`: the secretariat counts
every incident, a party only those it is involved in (so a party's report
never shows another party's incident it was not part of).

* :func:`daily` counts, per area and per party involved, the incidents that
  **started** on a UTC day, by type, next to the day before; it lists that
  day's incidents with their positions, the incidents still open, and the
  protocol steps that were overdue (see :class:`StepLine`).
* :func:`accountability` gives each party's times to acknowledge and to
  resolve, the overdue steps that fired against it and the notified sites
  (and movements) it was near or struck.
* :func:`compliance` is the count of incidents per party per day (or week).

Renderers (HTML, PDF) are adapters (``adapters/reports``); see
``docs/reports.md``.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from shapely.geometry import Point, box, mapping
from shapely.geometry.base import BaseGeometry
from shapely.ops import unary_union

from detente.domain.accounts import Caller
from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.intervals import format_time
from detente.domain.incidents import Condition, IncidentType, Protocol, Status
from detente.domain.model import Kind, Role
from detente.services.context import Mechanism
from detente.services.ports import Tx

#: The area that covers every located incident.
ALL = "all"
#: Where incidents without a position are counted.
UNLOCATED = "unlocated"
#: The name of the counts over every incident, whatever its area.
TOTAL = "total"
#: The property a boundary or zone carries to be reported on as a ceasefire area.
CEASEFIRE_PROPERTY = "ceasefire_area"
#: Incident types that count as a notified site or movement struck (or nearly so).
SITE_TYPES = frozenset({IncidentType.STRIKE_NEAR_PROTECTED.value, IncidentType.PROXIMITY_TO_PROTECTED.value})
#: The longest period the accountability and compliance figures cover.
MAX_DAYS = 366
_PAGE = 500


@dataclass(frozen=True)
class Area:
    """A named area the daily report counts incidents in (lon/lat geometry)."""

    name: str
    geometry: BaseGeometry

    @property
    def everywhere(self) -> bool:
        return self.name == ALL


def everywhere() -> Area:
    return Area(ALL, box(-180.0, -90.0, 180.0, 90.0))


def ceasefire_areas(m: Mechanism) -> list[Area]:
    """Every boundary or zone whose properties say ``"ceasefire_area": true``, then :data:`ALL`."""
    world = m.store.load_world()
    areas: list[Area] = []
    for obj in sorted(world.objects.values(), key=lambda o: o.id):
        if obj.kind not in (Kind.BOUNDARY, Kind.NFZ):
            continue
        if not any(extra.get(CEASEFIRE_PROPERTY) is True for extra in obj.extra):
            continue
        shape = unary_union([v.footprint.to_polygon() for v in obj.volumes])
        if shape.geom_type in ("Polygon", "MultiPolygon") and not shape.is_empty:
            areas.append(Area(obj.id, shape))
    return [*areas, everywhere()]


# -- what the reports hold -------------------------------------------------------------------


@dataclass(frozen=True)
class IncidentLine:
    id: int
    type: str
    severity: str
    status: str
    title: str
    parties: tuple[str, ...]
    lon: float | None
    lat: float | None
    started_at: datetime
    created_at: datetime
    areas: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "severity": self.severity,
            "status": self.status,
            "title": self.title,
            "parties": list(self.parties),
            "position": None if self.lon is None else {"lon": self.lon, "lat": self.lat},
            "started_at": format_time(self.started_at),
            "created_at": format_time(self.created_at),
            "areas": list(self.areas),
        }


@dataclass(frozen=True)
class StepLine:
    """A protocol step overdue: it fired, or it is past due and not yet dealt with (``pending``)."""

    incident: int
    title: str
    step: str
    due_at: datetime
    fired: bool
    late: tuple[str, ...]

    @property
    def pending(self) -> bool:
        return not self.fired

    def to_json(self) -> dict[str, Any]:
        return {
            "incident": self.incident,
            "title": self.title,
            "step": self.step,
            "due_at": format_time(self.due_at),
            "fired": self.fired,
            "late": list(self.late),
        }


@dataclass(frozen=True)
class AreaCounts:
    """One area's incidents of the day and of the day before, by type and by party involved."""

    name: str
    incidents: int
    previous: int
    by_type: dict[str, int]
    previous_by_type: dict[str, int]
    #: party -> type -> count (an incident counts once for each party involved).
    by_party: dict[str, dict[str, int]]
    previous_by_party: dict[str, dict[str, int]]

    def party_total(self, party: str, *, previous: bool = False) -> int:
        source = self.previous_by_party if previous else self.by_party
        return sum(source.get(party, {}).values())

    def parties(self) -> list[str]:
        return sorted({*self.by_party, *self.previous_by_party})

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "incidents": self.incidents,
            "previous": self.previous,
            "change": self.incidents - self.previous,
            "by_type": self.by_type,
            "previous_by_type": self.previous_by_type,
            "by_party": self.by_party,
            "previous_by_party": self.previous_by_party,
        }


@dataclass(frozen=True)
class DailyReport:
    day: date
    generated_at: datetime
    #: The party the report was made for (``None``: the secretariat, everything).
    viewer: str | None
    areas: tuple[Area, ...]
    counts: tuple[AreaCounts, ...]
    #: Every incident the report covers, whatever its area.
    totals: AreaCounts
    incidents: tuple[IncidentLine, ...]
    open_incidents: tuple[IncidentLine, ...]
    overdue_steps: tuple[StepLine, ...]
    types: tuple[str, ...] = field(default=tuple(t.value for t in IncidentType))

    def area(self, name: str) -> AreaCounts:
        return next(c for c in self.counts if c.name == name)

    def parties(self) -> list[str]:
        return self.totals.parties()

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "generated_at": format_time(self.generated_at),
            "viewer": self.viewer,
            "types": list(self.types),
            "areas": [
                {"name": a.name, "geometry": None if a.everywhere else dict(mapping(a.geometry))} for a in self.areas
            ],
            "counts": [c.to_json() for c in self.counts],
            "totals": self.totals.to_json(),
            "incidents": [i.to_json() for i in self.incidents],
            "open_incidents": [i.to_json() for i in self.open_incidents],
            "overdue_steps": [s.to_json() for s in self.overdue_steps],
        }


@dataclass(frozen=True)
class PartyFigures:
    """One party's accountability over a period (times in seconds; ``None`` when there is nothing to measure)."""

    party: str
    incidents: int
    acknowledged: int
    median_ack_s: float | None
    p90_ack_s: float | None
    resolved: int
    median_resolve_s: float | None
    overdue_steps: int
    sites_struck: int
    sites: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "party": self.party,
            "incidents": self.incidents,
            "acknowledged": self.acknowledged,
            "median_ack_s": self.median_ack_s,
            "p90_ack_s": self.p90_ack_s,
            "resolved": self.resolved,
            "median_resolve_s": self.median_resolve_s,
            "overdue_steps": self.overdue_steps,
            "sites_struck": self.sites_struck,
            "sites": list(self.sites),
        }


# -- reading ----------------------------------------------------------------------------------


def _viewer(caller: Caller) -> str | None:
    return None if caller.role is Role.SECRETARIAT else caller.party


def _visible(tx: Tx, caller: Caller) -> list[dict[str, Any]]:
    """Every incident the caller sees, in id order (as ``incidents.listing``, without its page limit)."""
    party = _viewer(caller)
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = tx.incidents(party=party, after=after, limit=_PAGE)
        found += page
        if len(page) < _PAGE:
            return found
        after = int(page[-1]["id"])


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _areas_of(incident: Mapping[str, Any], areas: Sequence[Area]) -> tuple[str, ...]:
    position = incident["position"]
    if position is None:
        return (UNLOCATED,)
    point = Point(position["lon"], position["lat"])
    return tuple(a.name for a in areas if a.geometry.covers(point))


def _line(incident: Mapping[str, Any], areas: Sequence[Area]) -> IncidentLine:
    position = incident["position"]
    return IncidentLine(
        id=int(incident["id"]),
        type=incident["type"],
        severity=incident["severity"],
        status=incident["status"],
        title=incident["title"],
        parties=tuple(incident["parties"]),
        lon=None if position is None else float(position["lon"]),
        lat=None if position is None else float(position["lat"]),
        started_at=_utc(incident["started_at"]),
        created_at=_utc(incident["created_at"]),
        areas=_areas_of(incident, areas),
    )


def _count(lines: Iterable[IncidentLine], area: str | None) -> tuple[int, dict[str, int], dict[str, dict[str, int]]]:
    """Incidents in ``area`` (every one for None), by type and by party involved."""
    total = 0
    by_type: Counter[str] = Counter()
    by_party: dict[str, Counter[str]] = defaultdict(Counter)
    for line in lines:
        if area is not None and area not in line.areas:
            continue
        total += 1
        by_type[line.type] += 1
        for party in line.parties:
            by_party[party][line.type] += 1
    return total, dict(sorted(by_type.items())), {p: dict(sorted(c.items())) for p, c in sorted(by_party.items())}


def _steps(incident: Mapping[str, Any], steps: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], Any]]:
    """Each step row with its protocol step (None if the incident has no frozen protocol)."""
    protocol = None if incident["protocol"] is None else Protocol.from_json(incident["protocol"])
    out: list[tuple[Mapping[str, Any], Any]] = []
    for row in steps:
        step = None if protocol is None or row["index"] >= len(protocol.steps) else protocol.steps[row["index"]]
        out.append((row, step))
    return out


def _late(step: Any, acked: Mapping[str, datetime | None], due_at: datetime, involved: Sequence[str]) -> list[str]:
    """The parties a step was overdue against: those not acknowledged by ``due_at`` for an acknowledgement
    step, every party involved for the others."""
    if step is not None and step.condition is Condition.ACKNOWLEDGED_BY_ALL:
        return sorted(p for p, at in acked.items() if at is None or _utc(at) > due_at)
    return sorted(involved)


# -- the daily report -------------------------------------------------------------------------


#: The days a report can be asked for (the day before and after must exist too).
FIRST_DAY, LAST_DAY = date(1900, 1, 2), date(9999, 12, 30)


def daily(m: Mechanism, caller: Caller, day: date, areas: Sequence[Area]) -> DailyReport:
    """The situation report of UTC day ``day``: counts per area and party against the day before, open
    incidents and overdue steps, as the caller may see them.

    An incident counts on the day it **started**, in every area that covers
    its position (areas may overlap; :data:`ALL` covers every located one),
    or in :data:`UNLOCATED`.  Open: started by the end of the day and not
    resolved now.  Overdue: a step of a visible incident due before the end
    of the day that fired, or that is past due now and not yet dealt with.
    """
    if not (FIRST_DAY <= day <= LAST_DAY):
        raise InvalidInput([Problem("date", f"a day between {FIRST_DAY} and {LAST_DAY}")])
    now = _utc(m.clock.now())
    start, end = _day_start(day), _day_start(day + timedelta(days=1))
    before = start - timedelta(days=1)
    names = [a.name for a in areas]
    if len(set(names)) != len(names) or {UNLOCATED, TOTAL} & set(names):
        raise InvalidInput([Problem("areas", f"area names must differ and not be {UNLOCATED!r} or {TOTAL!r}")])
    today: list[IncidentLine] = []
    yesterday: list[IncidentLine] = []
    open_now: list[IncidentLine] = []
    overdue: list[StepLine] = []
    with m.store.read() as tx:
        for incident in _visible(tx, caller):
            started = _utc(incident["started_at"])
            if started >= end:
                continue
            line = _line(incident, areas)
            if started >= start:
                today.append(line)
            elif started >= before:
                yesterday.append(line)
            if incident["status"] != Status.RESOLVED.value:
                open_now.append(line)
            rows = tx.incident_steps(line.id)
            if not any(_utc(r["due_at"]) < end and (r["fired"] or r["done_at"] is None) for r in rows):
                continue
            acked = {p["party"]: p["acked_at"] for p in tx.incident_parties(line.id)}
            for row, step in _steps(incident, rows):
                due_at = _utc(row["due_at"])
                if due_at >= end or not (row["fired"] or (row["done_at"] is None and due_at <= now)):
                    continue
                late = _late(step, acked, due_at, line.parties)
                overdue.append(StepLine(line.id, line.title, row["name"], due_at, bool(row["fired"]), tuple(late)))
    counts = []
    for name in [*names, UNLOCATED, None]:
        n, by_type, by_party = _count(today, name)
        p, prev_type, prev_party = _count(yesterday, name)
        counts.append(AreaCounts(name or TOTAL, n, p, by_type, prev_type, by_party, prev_party))
    return DailyReport(
        day=day,
        generated_at=now,
        viewer=_viewer(caller),
        areas=tuple(areas),
        counts=tuple(counts[:-1]),
        totals=counts[-1],
        incidents=tuple(sorted(today, key=lambda i: (i.started_at, i.id))),
        open_incidents=tuple(open_now),
        overdue_steps=tuple(sorted(overdue, key=lambda s: (s.due_at, s.incident, s.step))),
    )


# -- accountability ---------------------------------------------------------------------------


def _period(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput([Problem("period", "since and until need a UTC offset")])
    since, until = _utc(since), _utc(until)
    if not (since.date() >= FIRST_DAY and until.date() <= LAST_DAY):
        raise InvalidInput([Problem("period", f"since and until between {FIRST_DAY} and {LAST_DAY}")])
    if not since < until or until - since > timedelta(days=MAX_DAYS):
        raise InvalidInput([Problem("period", f"since must come before until, at most {MAX_DAYS} days apart")])
    return since, until


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (``q`` in 0..100) of ``values``; ``None`` for none.

    >>> percentile([60.0, 120.0, 300.0, 600.0], 90)
    600.0
    >>> percentile([60.0, 120.0, 300.0, 600.0], 50)
    120.0
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _median(values: Sequence[float]) -> float | None:
    return None if not values else float(statistics.median(values))


def _sites_named(title: str, owners: Mapping[str, str]) -> list[str]:
    """The notified sites and movements whose ids the title names (as a whole word)."""
    return [oid for oid in owners if re.search(rf"(?<![\w-]){re.escape(oid)}(?![\w-])", title)]


def accountability(m: Mechanism, caller: Caller, since: datetime, until: datetime) -> list[PartyFigures]:
    """Each party's figures over the incidents that started in [since, until).

    * time to acknowledge: from the incident's ``created_at`` (when the
      mechanism learned of it and told the party) to the party's
      acknowledgement; median and 90th percentile (nearest rank);
    * time to resolve: ``created_at`` to ``resolved_at``, median;
    * overdue steps: fired steps against the party (an acknowledgement step
      the party had not met by its due time; any other fired step counts for
      every party involved);
    * sites struck: incidents typed ``strike_near_protected`` or
      ``proximity_to_protected`` whose title names a notified site or
      movement of the world (by id), counted for each party involved other
      than the site's owner.

    The secretariat gets every party involved in some incident; a party only
    its own figures.
    """
    since, until = _period(since, until)
    viewer = _viewer(caller)
    world = m.store.load_world()
    owners = {o.id: o.party for o in world.objects.values() if o.kind in (Kind.SITE, Kind.MOVEMENT)}
    involved: Counter[str] = Counter()
    ack_times: dict[str, list[float]] = defaultdict(list)
    resolve_times: dict[str, list[float]] = defaultdict(list)
    overdue: Counter[str] = Counter()
    struck: dict[str, list[str]] = defaultdict(list)
    with m.store.read() as tx:
        for incident in _visible(tx, caller):
            if not since <= _utc(incident["started_at"]) < until:
                continue
            parties = list(incident["parties"])
            created = _utc(incident["created_at"])
            acked = {p["party"]: p["acked_at"] for p in tx.incident_parties(int(incident["id"]))}
            for party in parties:
                involved[party] += 1
                at = acked.get(party)
                if at is not None:
                    ack_times[party].append((_utc(at) - created).total_seconds())
                if incident["resolved_at"] is not None:
                    resolve_times[party].append((_utc(incident["resolved_at"]) - created).total_seconds())
            for row, step in _steps(incident, tx.incident_steps(int(incident["id"]))):
                if row["fired"]:
                    for party in _late(step, acked, _utc(row["due_at"]), parties):
                        overdue[party] += 1
            if incident["type"] in SITE_TYPES:
                named = _sites_named(incident["title"], owners)
                for party in parties:
                    hit = [s for s in named if owners[s] != party]
                    if hit:
                        struck[party] += hit
    figures = []
    for party in sorted(involved):
        if viewer is not None and party != viewer:
            continue
        figures.append(
            PartyFigures(
                party=party,
                incidents=involved[party],
                acknowledged=len(ack_times[party]),
                median_ack_s=_median(ack_times[party]),
                p90_ack_s=percentile(ack_times[party], 90),
                resolved=len(resolve_times[party]),
                median_resolve_s=_median(resolve_times[party]),
                overdue_steps=overdue[party],
                sites_struck=len(struck[party]),
                sites=tuple(sorted(set(struck[party]))),
            )
        )
    return figures


# -- compliance over time ---------------------------------------------------------------------


def compliance(m: Mechanism, caller: Caller, since: datetime, until: datetime, by: str = "day") -> dict[str, Any]:
    """Incidents per party per day (``by="day"``) or per ISO week starting Monday (``by="week"``), over the
    incidents that started in [since, until); every bucket of the period is listed, empty ones as 0."""
    if by not in ("day", "week"):
        raise InvalidInput([Problem("by", "by must be day or week")])
    since, until = _period(since, until)

    def bucket(d: date) -> date:
        return d if by == "day" else d - timedelta(days=d.weekday())

    buckets: list[date] = []
    d = since.date()
    while _day_start(d) < until:
        if not buckets or buckets[-1] != bucket(d):
            buckets.append(bucket(d))
        d += timedelta(days=1)
    counts: dict[str, Counter[date]] = defaultdict(Counter)
    totals: Counter[date] = Counter()
    with m.store.read() as tx:
        for incident in _visible(tx, caller):
            started = _utc(incident["started_at"])
            if not since <= started < until:
                continue
            b = bucket(started.date())
            totals[b] += 1
            for party in incident["parties"]:
                counts[party][b] += 1
    return {
        "by": by,
        "since": format_time(since),
        "until": format_time(until),
        "viewer": _viewer(caller),
        "periods": [b.isoformat() for b in buckets],
        "total": [totals[b] for b in buckets],
        "parties": {p: [c[b] for b in buckets] for p, c in sorted(counts.items())},
    }
