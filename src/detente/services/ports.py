"""What the use cases need from the outside world, as protocols.

Services depend on these, never on an adapter; the composition root (the
CLI, later the API) hands in the real storage.
"""

from __future__ import annotations

from typing import Protocol

from detente.domain.model import Kind, Scenario, WorldObject


class WorldStore(Protocol):
    """Durable storage of one world (parties, minima, objects)."""

    def replace_world(self, scenario: Scenario) -> None: ...

    def load_world(self) -> Scenario: ...

    def put_object(self, obj: WorldObject) -> None: ...

    def delete_object(self, kind: Kind | str, id: str) -> bool: ...

    def world_version(self) -> int: ...
