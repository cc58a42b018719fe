"""Use cases: check intents against a world, from a file or from storage."""

from __future__ import annotations

from dataclasses import dataclass

from detente.domain.conflicts import Conflict, Disclosure
from detente.domain.errors import InvalidInput, NotFound, Problem
from detente.domain.model import Kind, Scenario, WorldObject
from detente.engine.world import World
from detente.services.ports import WorldStore


@dataclass(frozen=True)
class CheckResult:
    """Conflicts of each checked intent, in file order."""

    intents: list[WorldObject]
    conflicts: list[Conflict]

    @property
    def blocking(self) -> list[Conflict]:
        return [c for c in self.conflicts if c.severity.value == "blocking"]


def check_scenario(scenario: Scenario, *, intent_id: str | None = None) -> CheckResult:
    """Check every intent of a scenario (or one) against the rest of it."""
    world = World.from_scenario(scenario)
    intents = scenario.intents()
    if intent_id is not None:
        intents = [i for i in intents if i.id == intent_id]
        if not intents:
            raise NotFound(f"the scenario has no intent with id {intent_id!r}")
    conflicts = [c for intent in intents for c in world.check(intent)]
    return CheckResult(intents=intents, conflicts=conflicts)


def check_against_store(store: WorldStore, intents: list[WorldObject]) -> CheckResult:
    """Check intents (not yet filed) against the stored world."""
    scenario = store.load_world()
    problems = [
        Problem(rule="unknown-party", message=f"party {i.party!r} is not a party of the stored world", id=i.id)
        for i in intents
        if i.party not in scenario.parties
    ]
    if problems:
        raise InvalidInput(problems)
    world = World.from_scenario(scenario)
    conflicts = [c for intent in intents for c in world.check(intent)]
    return CheckResult(intents=intents, conflicts=conflicts)


def disclosures(scenario: Scenario, result: CheckResult) -> list[Disclosure]:
    """What each other party would be told of these conflicts."""
    world = World.from_scenario(scenario)
    by_id = {i.id: i for i in result.intents}
    return [d for c in result.conflicts for d in world.disclose(c, by_id[c.intent])]


def import_world(store: WorldStore, scenario: Scenario) -> int:
    """Store a whole scenario (replacing the stored one); returns the object count."""
    store.replace_world(scenario)
    return len(scenario.objects)


def export_world(store: WorldStore) -> Scenario:
    return store.load_world()


def intents_of(objects: list[WorldObject]) -> list[WorldObject]:
    """Only the intents, refusing any other kind with a clear problem."""
    problems = [
        Problem(rule="not-an-intent", message=f"expected kind 'intent', got {o.kind.value!r}", id=o.id)
        for o in objects
        if o.kind is not Kind.INTENT
    ]
    if problems:
        raise InvalidInput(problems)
    return objects
