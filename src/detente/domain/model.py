"""Parties, objects and scenarios: the world a planner checks against.

Objects follow the kinds of SEMANTICS.md.  An object has one or more 4D
volumes and the kind-specific properties the rules read (``applies_to``,
``exempt``, ``signatories``, ``category``, ``purpose``).  Properties detente
does not interpret are kept in ``extra`` so a scenario round-trips whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from detente.domain.geo.volume import Volume4D


class Role(StrEnum):
    MILITARY = "military"
    HUMANITARIAN = "humanitarian"
    OBSERVER = "observer"
    SECRETARIAT = "secretariat"


class Kind(StrEnum):
    NFZ = "nfz"
    BOUNDARY = "boundary"
    LINE = "line"
    SITE = "site"
    MOVEMENT = "movement"
    INTENT = "intent"


class Category(StrEnum):
    AIR = "air"
    GROUND = "ground"


#: Purposes an intent or a track may declare.  ``armed`` is the default.
PURPOSES = ("armed", "humanitarian", "medevac", "unknown")


@dataclass(frozen=True)
class Party:
    id: str
    name: str
    role: Role
    extra: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Minima:
    """Separation minima for one category; ``None`` vertical means unlimited."""

    horizontal_m: float
    vertical_m: float | None


DEFAULT_SEPARATION: dict[Category, Minima] = {
    Category.AIR: Minima(horizontal_m=9260.0, vertical_m=305.0),
    Category.GROUND: Minima(horizontal_m=1000.0, vertical_m=None),
}


@dataclass(frozen=True)
class WorldObject:
    """One zone, boundary, line, site, movement or intent with its volumes."""

    kind: Kind
    id: str
    party: str
    volumes: tuple[Volume4D, ...]
    applies_to: frozenset[str] | None = None
    exempt: frozenset[str] = frozenset()
    signatories: frozenset[str] = frozenset()
    category: Category | None = None
    purpose: str | None = None
    #: Uninterpreted properties, per volume index, kept for the round trip.
    extra: tuple[dict[str, Any], ...] = ()

    def __post_init__(self) -> None:
        # one dict of extras per volume, so an object equals its round trip
        if len(self.extra) < len(self.volumes):
            padded = tuple(self.extra) + tuple({} for _ in range(len(self.volumes) - len(self.extra)))
            object.__setattr__(self, "extra", padded)

    @property
    def key(self) -> tuple[Kind, str]:
        return (self.kind, self.id)

    @property
    def effective_purpose(self) -> str:
        """An intent's purpose, ``armed`` unless it says otherwise."""
        return self.purpose or "armed"


@dataclass
class Scenario:
    """Parties, separation minima and objects: one world."""

    name: str
    parties: dict[str, Party]
    objects: dict[tuple[Kind, str], WorldObject]
    separation: dict[Category, Minima] = field(default_factory=lambda: dict(DEFAULT_SEPARATION))
    extra: dict[str, Any] = field(default_factory=dict)

    def military_parties(self) -> frozenset[str]:
        return frozenset(p.id for p in self.parties.values() if p.role is Role.MILITARY)

    def intents(self) -> list[WorldObject]:
        return [o for o in self.objects.values() if o.kind is Kind.INTENT]
