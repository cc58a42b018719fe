"""What every use case is handed: storage, a clock and the GeoJSON codec.

The composition root (the API app factory, the CLI) builds one
:class:`Mechanism`; tests build one with a fixed clock so expiry and
timers are tested without sleeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from detente.domain.model import Party, WorldObject
from detente.services.ports import Storage


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The real time, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    """A clock that moves only when told to (for tests)."""

    at: datetime

    def now(self) -> datetime:
        return self.at


class FeatureCodec(Protocol):
    """GeoJSON features to objects and back (the scenario format's rules)."""

    def objects(self, features: list[dict[str, Any]], parties: Mapping[str, Party]) -> list[WorldObject]: ...

    def features(self, obj: WorldObject) -> list[dict[str, Any]]: ...


@dataclass
class Mechanism:
    """The shared mechanism: one store, one clock, one codec."""

    store: Storage
    clock: Clock
    codec: FeatureCodec
