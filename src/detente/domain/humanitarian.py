"""Humanitarian notification: the mechanism's rules for sites and movements.

An aid agency *notifies* a protected site or a movement; every military
party must *acknowledge* it before a deadline.  The rules here are the ones
the parties agree on in the mechanism (lead times, acknowledgement windows,
reminders); they are data, set by the secretariat, so each theatre can
choose its own.  Everything here is pure: the services apply the rules to
what storage holds, at the time the injected clock says.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.intervals import format_time
from detente.domain.model import Kind, WorldObject

#: The site types OCHA's notification forms use; anything else is ``other``.
SITE_TYPES = ("hospital", "school", "camp", "warehouse", "office", "other")


class Action(StrEnum):
    """What a notice tells the military parties."""

    NOTIFIED = "notified"
    AMENDED = "amended"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    """How a notified movement went: the categories OCHA reports access by."""

    FACILITATED = "facilitated"
    IMPEDED = "impeded"
    DENIED = "denied"
    CANCELLED = "cancelled"


class DisseminationMethod(StrEnum):
    """How a military party knows its unit was told."""

    #: The party's liaison officer passed it down and records that.
    RELAYED = "relayed"
    #: The unit itself acknowledged (on the party's behalf).
    UNIT_ACK = "unit-ack"
    #: The party's own C2 feed confirmed delivery to the unit.
    FEED = "feed"


_HOURS = (
    "movement_lead_h",
    "urgent_movement_lead_h",
    "site_lead_h",
    "ack_within_h",
    "urgent_ack_within_h",
    "remind_before_h",
)


@dataclass(frozen=True)
class Rules:
    """Lead times and acknowledgement windows, in hours.

    >>> Rules().movement_lead
    datetime.timedelta(days=2)
    """

    movement_lead_h: float = 48.0
    urgent_movement_lead_h: float = 24.0
    site_lead_h: float = 0.0
    ack_within_h: float = 24.0
    urgent_ack_within_h: float = 6.0
    remind_before_h: float = 6.0

    def __post_init__(self) -> None:
        problems = [
            Problem("rules", f"{name} must be a number of hours between 0 and 8760")
            for name in _HOURS
            if not _hours_ok(getattr(self, name))
        ]
        if not problems and self.ack_within_h <= 0:
            problems.append(Problem("rules", "ack_within_h must be more than 0"))
        if not problems and self.urgent_ack_within_h <= 0:
            problems.append(Problem("rules", "urgent_ack_within_h must be more than 0"))
        if problems:
            raise InvalidInput(problems)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Rules:
        """Rules from JSON; unknown names and non-numbers are refused, missing ones keep their default."""
        if not isinstance(raw, Mapping):
            raise InvalidInput([Problem("rules", "rules are a JSON object of hours")])
        unknown = sorted(set(raw) - set(_HOURS))
        problems = [Problem("rules", f"unknown rule {name!r} (known: {', '.join(_HOURS)})") for name in unknown]
        values: dict[str, float] = {}
        for name in _HOURS:
            if name in raw:
                value = raw[name]
                if isinstance(value, bool) or not isinstance(value, int | float):
                    problems.append(Problem("rules", f"{name} must be a number of hours"))
                else:
                    values[name] = float(value)
        if problems:
            raise InvalidInput(problems)
        return cls(**values)

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    @property
    def movement_lead(self) -> timedelta:
        return timedelta(hours=self.movement_lead_h)

    def lead(self, kind: Kind, urgent: bool) -> timedelta:
        """How far ahead of its start a site or movement must be notified."""
        if kind is Kind.MOVEMENT:
            return timedelta(hours=self.urgent_movement_lead_h if urgent else self.movement_lead_h)
        return timedelta(hours=self.site_lead_h)

    def deadline(self, now: datetime, start: datetime | None, urgent: bool) -> datetime:
        """When every military party must have acknowledged a notice sent ``now``.

        The acknowledgement window, but never later than the start of what
        is notified: a party that has not acknowledged by then has not
        acknowledged in time to spare it.
        """
        due = now + timedelta(hours=self.urgent_ack_within_h if urgent else self.ack_within_h)
        if start is not None and now < start < due:
            return start
        return due

    def remind_at(self, now: datetime, deadline: datetime) -> datetime:
        """When an unacknowledged party is reminded: ``remind_before_h`` ahead of the deadline.

        If that is already past when the notice goes out, half-way to the deadline.
        """
        at = deadline - timedelta(hours=self.remind_before_h)
        return at if at > now else now + (deadline - now) / 2


def _hours_ok(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and 0 <= value <= 8760


def start_of(obj: WorldObject) -> datetime | None:
    """The earliest start among the object's volumes (None: unbounded, from always)."""
    starts = [v.time.start for v in obj.volumes]
    if any(s is None for s in starts):
        return None
    return min(s for s in starts if s is not None)


def lead_time_problem(obj: WorldObject, now: datetime, rules: Rules, urgent: bool) -> Problem | None:
    """The refusal of a notice that comes too late, naming the earliest acceptable start.

    A site or movement whose start is unbounded is valid from now on; only
    a bounded start is held to the lead time.
    """
    lead = rules.lead(obj.kind, urgent)
    start = start_of(obj)
    if lead <= timedelta(0) or start is None or start >= now + lead:
        return None
    hours = lead.total_seconds() / 3600
    label = "an urgent " if urgent and obj.kind is Kind.MOVEMENT else "a "
    return Problem(
        "lead-time",
        f"{label}{obj.kind.value} must be notified at least {hours:g} h before it starts: "
        f"it starts {format_time(start)}, the earliest acceptable start now is {format_time(now + lead)}",
        id=obj.id,
    )


def site_type_problem(obj: WorldObject) -> Problem | None:
    """A site must say what it is (hospital, school, camp, warehouse, office, other)."""
    if obj.kind is not Kind.SITE:
        return None
    types = {str(e.get("site_type", "other")) for e in obj.extra}
    bad = sorted(types - set(SITE_TYPES))
    if bad:
        return Problem("site-type", f"site_type {bad[0]!r} is not one of {', '.join(SITE_TYPES)}", id=obj.id)
    return None


def material_change(before: WorldObject, after: WorldObject) -> bool:
    """Whether an amendment moves the site or movement in space or time (then the lead time applies again)."""
    return before.volumes != after.volumes


def percentile(values: list[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank), None for no values.

    >>> percentile([4.0, 1.0, 3.0, 2.0], 50)
    2.0
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
