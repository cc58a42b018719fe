"""The conflict rules of SEMANTICS.md as pure functions.

The engine and the brute-force reference in the tests both read the rules
from here, so "which pairs are eligible and what test decides them" is
written once.  Geometry is measured elsewhere; these functions only say
what to measure and how to compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from detente.domain.geo.footprint import Shape
from detente.domain.model import DEFAULT_SEPARATION, Category, Kind, Minima, WorldObject


class ConflictType(StrEnum):
    NFZ = "nfz"
    PROTECTED_SITE = "protected_site"
    HUMANITARIAN_MOVEMENT = "humanitarian_movement"
    SEPARATION = "separation"
    BOUNDARY = "boundary"
    LINE = "line"


class Severity(StrEnum):
    BLOCKING = "blocking"
    ADVISORY = "advisory"


class Test(StrEnum):
    """How the horizontal measure decides a pair.

    ``AREA``: the footprints share positive area.  ``WITHIN``: distance
    <= threshold (touching counts).  ``CLOSER``: distance < threshold.
    """

    AREA = "area"
    WITHIN = "within"
    CLOSER = "closer"


@dataclass(frozen=True)
class PairRule:
    """What decides one (intent volume, other volume) pair."""

    type: ConflictType
    severity: Severity
    test: Test
    threshold_m: float
    #: Vertical rule: ``None`` means the bands must overlap; a number means
    #: the vertical gap must be below it; ``inf`` means altitude never matters.
    vertical_m: float | None


SEVERITY = {
    ConflictType.NFZ: Severity.BLOCKING,
    ConflictType.PROTECTED_SITE: Severity.BLOCKING,
    ConflictType.HUMANITARIAN_MOVEMENT: Severity.BLOCKING,
    ConflictType.SEPARATION: Severity.ADVISORY,
    ConflictType.BOUNDARY: Severity.ADVISORY,
    ConflictType.LINE: Severity.ADVISORY,
}


def nfz_binds(nfz: WorldObject, party: str, purpose: str, military: frozenset[str]) -> bool:
    """Whether a no-fly zone binds ``party`` flying for ``purpose``.

    ``applies_to`` defaults to every military party but the owner; purposes
    in ``exempt`` are never bound.
    """
    bound = nfz.applies_to if nfz.applies_to is not None else military - {nfz.party}
    return party in bound and purpose not in nfz.exempt


def minima_for(category: Category | None, separation: dict[Category, Minima]) -> Minima:
    cat = category or Category.AIR
    return separation.get(cat, DEFAULT_SEPARATION[cat])


def pair_rule(
    intent: WorldObject,
    other: WorldObject,
    other_shape: Shape,
    radius_m: float,
    *,
    military: frozenset[str],
    separation: dict[Category, Minima],
) -> PairRule | None:
    """The rule deciding ``intent`` against one volume of ``other``, if any.

    ``other_shape`` and ``radius_m`` describe that volume's footprint.  Returns
    ``None`` when the pair can never conflict (own objects, unbound zones,
    exempt purposes, intents of another category).
    """
    if other.kind is Kind.LINE:
        return PairRule(ConflictType.LINE, Severity.ADVISORY, Test.WITHIN, radius_m, None)
    if other.party == intent.party:
        return None
    if other.kind is Kind.NFZ:
        if not nfz_binds(other, intent.party, intent.effective_purpose, military):
            return None
        test = Test.AREA if other_shape is Shape.AREA else Test.CLOSER
        return PairRule(ConflictType.NFZ, Severity.BLOCKING, test, radius_m, None)
    if other.kind is Kind.SITE:
        return PairRule(ConflictType.PROTECTED_SITE, Severity.BLOCKING, Test.WITHIN, radius_m, None)
    if other.kind is Kind.MOVEMENT:
        return PairRule(ConflictType.HUMANITARIAN_MOVEMENT, Severity.BLOCKING, Test.WITHIN, radius_m, None)
    if other.kind is Kind.BOUNDARY:
        return PairRule(ConflictType.BOUNDARY, Severity.ADVISORY, Test.AREA, 0.0, None)
    if other.kind is Kind.INTENT:
        if (other.category or Category.AIR) != (intent.category or Category.AIR):
            return None
        m = minima_for(intent.category, separation)
        vertical = float("inf") if m.vertical_m is None else m.vertical_m
        return PairRule(ConflictType.SEPARATION, Severity.ADVISORY, Test.CLOSER, m.horizontal_m, vertical)
    return None


def vertical_ok(rule: PairRule, overlap: bool, gap_m: float) -> bool:
    """Whether the altitude bands meet the rule's vertical condition."""
    if rule.vertical_m is None:
        return overlap
    return gap_m < rule.vertical_m


def horizontal_ok(rule: PairRule, distance_m: float, shares_area: bool) -> bool:
    """Whether the horizontal measure meets the rule."""
    if rule.test is Test.AREA:
        return shares_area
    if rule.test is Test.WITHIN:
        return distance_m <= rule.threshold_m
    return distance_m < rule.threshold_m


def notified(intent: WorldObject, other: WorldObject, ctype: ConflictType) -> tuple[str, ...]:
    """The parties a conflict must be disclosed to (never the filer itself)."""
    parties = set(other.signatories) | {other.party} if ctype is ConflictType.LINE else {other.party}
    parties.discard(intent.party)
    return tuple(sorted(parties))
