"""Incidents: their types, lifecycle and de-escalation protocols (pure rules, no storage).

An incident is reported (by the monitor, a party or an observer), the
parties involved are notified, each acknowledges, the mechanism
investigates, and it ends resolved, or disputed.  Every transition is
made by someone at some time, and the services log it.

A **de-escalation protocol** is an ordered list of steps with deadlines
counted from the incident's start (for example: the parties involved
acknowledge within 10 minutes, or the next level of each party and the
secretariat are told; a joint call within an hour; a finding within 72
hours).  The protocol is chosen by the incident's type and severity and
**frozen** into the incident when it opens, so editing the policies later
does not change an escalation already running.  Whether a step is met is
decided from the incident's state (acknowledgements, hotline calls,
resolution); a step due and not met *fires* once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from detente.domain.errors import InvalidInput, Problem


class IncidentType(StrEnum):
    AIRSPACE_INCURSION = "airspace_incursion"
    BOUNDARY_CROSSING = "boundary_crossing"
    LOSS_OF_SEPARATION = "loss_of_separation"
    PROXIMITY_TO_PROTECTED = "proximity_to_protected"
    STRIKE_NEAR_PROTECTED = "strike_near_protected"
    CEASEFIRE_VIOLATION = "ceasefire_violation"
    OTHER = "other"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Status(StrEnum):
    REPORTED = "reported"
    NOTIFIED = "notified"
    ACKNOWLEDGED = "acknowledged"
    UNDER_INVESTIGATION = "under_investigation"
    RESOLVED = "resolved"
    DISPUTED = "disputed"


#: Where an incident may go from each status.  Resolved is the end; a disputed one may still be resolved.
TRANSITIONS: Mapping[Status, frozenset[Status]] = {
    Status.REPORTED: frozenset({Status.NOTIFIED, Status.ACKNOWLEDGED, Status.UNDER_INVESTIGATION, Status.DISPUTED}),
    Status.NOTIFIED: frozenset({Status.ACKNOWLEDGED, Status.UNDER_INVESTIGATION, Status.RESOLVED, Status.DISPUTED}),
    Status.ACKNOWLEDGED: frozenset({Status.UNDER_INVESTIGATION, Status.RESOLVED, Status.DISPUTED}),
    Status.UNDER_INVESTIGATION: frozenset({Status.RESOLVED, Status.DISPUTED}),
    Status.DISPUTED: frozenset({Status.UNDER_INVESTIGATION, Status.RESOLVED}),
    Status.RESOLVED: frozenset(),
}


def check_transition(current: Status, new: Status) -> None:
    """Raise ``InvalidInput`` naming both states if an incident may not go from ``current`` to ``new``."""
    if new not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current])) or "nothing (it is closed)"
        raise InvalidInput(
            [
                Problem(
                    "transition", f"an incident that is {current.value} cannot become {new.value}; allowed: {allowed}"
                )
            ]
        )


class Condition(StrEnum):
    """What meets a protocol step."""

    ACKNOWLEDGED_BY_ALL = "acknowledged_by_all"
    JOINT_CALL_HELD = "joint_call_held"
    RESOLVED = "resolved"


class Audience(StrEnum):
    """Who is told when a step fires."""

    INVOLVED = "involved"
    #: The next level of each involved party that has not met the step (a notification flagged ``level: 2``).
    NEXT_LEVEL = "next_level"
    SECRETARIAT = "secretariat"


@dataclass(frozen=True)
class ProtocolStep:
    """One step: met by ``condition`` within ``within`` of the incident's start, or it fires to ``notify``."""

    name: str
    within: timedelta
    condition: Condition
    notify: tuple[Audience, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "within_s": self.within.total_seconds(),
            "condition": self.condition.value,
            "notify": [a.value for a in self.notify],
        }

    @classmethod
    def from_json(cls, obj: Any, where: str) -> ProtocolStep:
        problems: list[Problem] = []
        if not isinstance(obj, Mapping):
            raise InvalidInput([Problem("protocol", f"{where} must be an object")])
        name = obj.get("name")
        if not isinstance(name, str) or not (0 < len(name) <= 64):
            problems.append(Problem("protocol", f"{where}: name must be 1 to 64 characters"))
        within = obj.get("within_s")
        if isinstance(within, bool) or not isinstance(within, int | float) or not (0 < within <= 365 * 86400):
            problems.append(Problem("protocol", f"{where}: within_s must be seconds, more than 0 and at most a year"))
        condition = obj.get("condition")
        if condition not in {c.value for c in Condition}:
            problems.append(
                Problem("protocol", f"{where}: condition must be one of {', '.join(c.value for c in Condition)}")
            )
        notify = obj.get("notify")
        audiences = {a.value for a in Audience}
        if not isinstance(notify, list) or not notify or not all(n in audiences for n in notify):
            problems.append(Problem("protocol", f"{where}: notify must list some of {', '.join(sorted(audiences))}"))
        unknown = set(obj) - {"name", "within_s", "condition", "notify"}
        if unknown:
            problems.append(Problem("protocol", f"{where}: unknown members {sorted(unknown)}"))
        if problems:
            raise InvalidInput(problems)
        assert isinstance(name, str) and isinstance(within, int | float) and isinstance(notify, list)
        assert isinstance(condition, str)
        return cls(name, timedelta(seconds=float(within)), Condition(condition), tuple(Audience(n) for n in notify))


@dataclass(frozen=True)
class Protocol:
    """An escalation policy: the incident types and severities it covers, and its ordered steps."""

    id: str
    types: frozenset[IncidentType]
    severities: frozenset[Severity]
    steps: tuple[ProtocolStep, ...]

    def covers(self, type: IncidentType, severity: Severity) -> bool:
        return (not self.types or type in self.types) and (not self.severities or severity in self.severities)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "types": sorted(t.value for t in self.types),
            "severities": sorted(s.value for s in self.severities),
            "steps": [s.to_json() for s in self.steps],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Protocol:
        if not isinstance(obj, Mapping):
            raise InvalidInput([Problem("protocol", "a protocol must be an object")])
        problems: list[Problem] = []
        pid = obj.get("id")
        if not isinstance(pid, str) or not (0 < len(pid) <= 64):
            problems.append(Problem("protocol", "id must be 1 to 64 characters"))
        types = obj.get("types", [])
        if not isinstance(types, list) or not all(t in {x.value for x in IncidentType} for t in types):
            problems.append(Problem("protocol", f"types must list incident types ({', '.join(IncidentType)})"))
            types = []
        severities = obj.get("severities", [])
        if not isinstance(severities, list) or not all(s in {x.value for x in Severity} for s in severities):
            problems.append(Problem("protocol", f"severities must list some of {', '.join(Severity)}"))
            severities = []
        raw_steps = obj.get("steps")
        steps: list[ProtocolStep] = []
        if not isinstance(raw_steps, list) or not (0 < len(raw_steps) <= 20):
            problems.append(Problem("protocol", "steps must list 1 to 20 steps"))
        else:
            for i, step in enumerate(raw_steps):
                try:
                    steps.append(ProtocolStep.from_json(step, f"step {i}"))
                except InvalidInput as exc:
                    problems.extend(exc.problems)
        if [s.within for s in steps] != sorted(s.within for s in steps):
            problems.append(Problem("protocol", "steps must be in the order of their deadlines"))
        if len({s.name for s in steps}) != len(steps):
            problems.append(Problem("protocol", "step names must differ"))
        if problems:
            raise InvalidInput(problems)
        return cls(
            str(pid),
            frozenset(IncidentType(t) for t in types),
            frozenset(Severity(s) for s in severities),
            tuple(steps),
        )


#: The mechanism's default protocols (the secretariat may replace them; incidents keep the one they started with).
DEFAULT_PROTOCOLS: tuple[Protocol, ...] = (
    Protocol(
        "urgent",
        frozenset(),
        frozenset({Severity.HIGH, Severity.CRITICAL}),
        (
            ProtocolStep(
                "acknowledge",
                timedelta(minutes=10),
                Condition.ACKNOWLEDGED_BY_ALL,
                (Audience.NEXT_LEVEL, Audience.SECRETARIAT),
            ),
            ProtocolStep(
                "joint call", timedelta(hours=1), Condition.JOINT_CALL_HELD, (Audience.INVOLVED, Audience.SECRETARIAT)
            ),
            ProtocolStep("finding", timedelta(hours=72), Condition.RESOLVED, (Audience.INVOLVED, Audience.SECRETARIAT)),
        ),
    ),
    Protocol(
        "routine",
        frozenset(),
        frozenset(),
        (
            ProtocolStep(
                "acknowledge",
                timedelta(hours=1),
                Condition.ACKNOWLEDGED_BY_ALL,
                (Audience.NEXT_LEVEL, Audience.SECRETARIAT),
            ),
            ProtocolStep("finding", timedelta(days=7), Condition.RESOLVED, (Audience.INVOLVED, Audience.SECRETARIAT)),
        ),
    ),
)


def choose_protocol(protocols: Sequence[Protocol], type: IncidentType, severity: Severity) -> Protocol:
    """The first protocol that covers this type and severity (the defaults end with a catch-all)."""
    for protocol in protocols:
        if protocol.covers(type, severity):
            return protocol
    return DEFAULT_PROTOCOLS[-1]


@dataclass(frozen=True)
class StepState:
    """Where one step of a running incident stands."""

    index: int
    step: ProtocolStep
    due_at: datetime
    met: bool
    fired_at: datetime | None


def step_met(
    step: ProtocolStep,
    *,
    acked: Mapping[str, datetime | None],
    calls: Iterable[datetime],
    resolved_at: datetime | None,
    by: datetime,
) -> bool:
    """Whether ``step`` was met by time ``by`` (each party's acknowledgement time, hotline calls, resolution)."""
    if step.condition is Condition.ACKNOWLEDGED_BY_ALL:
        return all(at is not None and at <= by for at in acked.values())
    if step.condition is Condition.JOINT_CALL_HELD:
        return any(at <= by for at in calls)
    return resolved_at is not None and resolved_at <= by


def laggards(step: ProtocolStep, acked: Mapping[str, datetime | None], by: datetime) -> list[str]:
    """The involved parties that had not met an acknowledgement step by ``by`` (all of them for other steps)."""
    if step.condition is Condition.ACKNOWLEDGED_BY_ALL:
        return sorted(p for p, at in acked.items() if at is None or at > by)
    return sorted(acked)
