"""The engine's intent check against the brute-force reference, on random worlds.

For each random world (three region modes: mid-latitude, Arctic, across the
antimeridian) and each intent in it, ``World.check`` must report exactly the
pairs the reference finds, except pairs whose horizontal decision lies within
SEMANTICS.md's 10 m tolerance of its boundary.  Times sit on whole minutes and
altitudes on a 100 m grid, so the interval rules (touching windows and bands,
gaps equal to the minimum) are compared exactly, with no tolerance.

Every reported conflict's fields are checked too: the overlapping window and
band, the distance (within max(1 m, 0.01 %) of the reference; 0 when the
footprints meet), severity, parties and who is notified.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from tests.property.reference import PairResult, key_of, reference_evaluate
from tests.property.strategies import REGION_MODES, scenarios

from detente.domain.conflicts import Conflict
from detente.domain.model import Kind, Scenario, WorldObject
from detente.domain.rules import ConflictType
from detente.engine.world import World

#: Examples per region mode; raise it for a long hunt, e.g. DETENTE_PROPERTY_EXAMPLES=2000.
MAX_EXAMPLES = int(os.environ.get("DETENTE_PROPERTY_EXAMPLES", "80"))

SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def distance_tolerance(d: float) -> float:
    """SEMANTICS "Units and frames": error under 1 m or 0.01 %, whichever is larger."""
    return max(1.0, 1e-4 * d)


def describe(r: PairResult | None) -> str:
    if r is None:
        return "not eligible / no time overlap in the reference"
    return (
        f"ref conflict={r.conflict} borderline={r.borderline} distance={r.distance_m} "
        f"threshold={r.rule.threshold_m} test={r.rule.test.value} gap={r.gap_m} "
        f"vertical={r.rule.vertical_m} time={r.time} altitude={r.altitude}"
    )


def check_fields(c: Conflict, intent: WorldObject, r: PairResult) -> None:
    other = r.other
    assert c.severity is r.rule.severity, (key_of(c), c.severity)
    assert c.party == intent.party
    assert c.other_party == other.party
    # time: the intersection of the two windows
    assert (c.time.start, c.time.end) == r.time, (key_of(c), c.time, r.time)
    # altitude: the intersection of the bands (None only where bands need not overlap)
    if r.altitude is None:
        assert c.type is ConflictType.SEPARATION, key_of(c)
        assert c.altitude is None, (key_of(c), c.altitude)
    else:
        assert c.altitude is not None, key_of(c)
        assert (c.altitude.lower, c.altitude.upper) == r.altitude, (key_of(c), c.altitude, r.altitude)
    # distance: minimum horizontal distance, 0 when the footprints overlap.  A
    # no-fly zone (polygon or circle) or boundary in conflict shares area with
    # the intent, so 0 (docs/semantics.md: a circle's gap is max(0, d - radius));
    # otherwise the distance to what the rule measures against.
    assert r.distance_m is not None
    want = 0.0 if c.type in (ConflictType.NFZ, ConflictType.BOUNDARY) else r.distance_m
    assert abs(c.distance_m - want) <= distance_tolerance(want), (key_of(c), c.distance_m, want)
    if want == 0.0:
        assert c.distance_m == 0.0, (key_of(c), c.distance_m)
    # notification: never the filer; a line tells its signatories, others their owner
    assert intent.party not in c.notify
    expected = set(other.signatories) | {other.party} if c.type is ConflictType.LINE else {other.party}
    assert set(c.notify) == expected - {intent.party}, (key_of(c), c.notify)


def compare(world: World, scenario: Scenario, intent: WorldObject) -> tuple[int, int]:
    """Assert the engine agrees with the reference for one intent; (compared, skipped)."""
    results = reference_evaluate(
        intent, list(scenario.objects.values()), scenario.military_parties(), scenario.separation
    )
    by_key = {r.key: r for r in results}
    expected = {r.key for r in results if r.conflict and not r.borderline}
    borderline = {r.key for r in results if r.borderline}
    conflicts = world.check(intent)
    got_list = [key_of(c) for c in conflicts]
    got = set(got_list)
    assert len(got_list) == len(got), f"duplicate conflicts: {got_list}"
    missing = expected - got
    extra = got - expected - borderline
    if missing or extra:
        lines = [f"intent {intent.id} ({intent.party}, {intent.category}, {intent.effective_purpose})"]
        lines += [f"  missing {k}: {describe(by_key.get(k))}" for k in sorted(missing)]
        lines += [f"  extra   {k}: {describe(by_key.get(k))}" for k in sorted(extra)]
        raise AssertionError("\n".join(lines))
    for c in conflicts:
        check_fields(c, intent, by_key[key_of(c)])
    for r in results:
        event(f"{r.rule.type.value}: {'borderline' if r.borderline else r.conflict}")
    return len(results) - len(borderline), len(borderline)


@pytest.mark.parametrize("mode", REGION_MODES)
@SETTINGS
@given(data=st.data())
def test_check_matches_reference(mode: str, data: st.DataObject) -> None:
    scenario = data.draw(scenarios(mode), label="scenario")
    note(f"region: {scenario.extra['region']}")
    world = World.from_scenario(scenario)
    for intent in scenario.intents():
        compare(world, scenario, intent)


@settings(SETTINGS, max_examples=max(1, MAX_EXAMPLES // 2))
@given(scenario=scenarios(), data=st.data())
def test_incremental_world_matches_bulk(scenario: Scenario, data: st.DataObject) -> None:
    """add/remove one at a time gives the same answers as a world built in bulk.

    Also: an intent checked without being in the world gets the same answer
    (it never conflicts with itself).
    """
    world = World(scenario.parties, scenario.separation)
    for obj in scenario.objects.values():
        world.add(obj)
    bulk = World.from_scenario(scenario)
    for intent in scenario.intents():
        assert world.check(intent) == bulk.check(intent)
    gone = data.draw(st.sampled_from(sorted(scenario.objects)), label="removed")
    world.remove(gone)
    rest = {k: v for k, v in scenario.objects.items() if k != gone}
    smaller = Scenario(scenario.name, scenario.parties, rest, scenario.separation)
    for intent in scenario.intents():
        got = world.check(intent)
        assert all((c.other_kind, c.other_id) != gone for c in got)
        if gone[0] is Kind.INTENT and gone[1] == intent.id:
            assert got == bulk.check(intent)
        else:
            compare(world, smaller, intent)
