"""The one root error of detente and the validation error that lists problems.

Validation collects every problem it finds rather than stopping at the first,
so a planner can fix a whole file in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass


class DetenteError(Exception):
    """Root of every error detente raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One broken rule: where it is (feature index and id) and what is wrong."""

    rule: str
    message: str
    index: int | None = None
    id: str | None = None

    def __str__(self) -> str:
        where = []
        if self.index is not None:
            where.append(f"feature {self.index}")
        if self.id is not None:
            where.append(f"id {self.id!r}")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}[{self.rule}] {self.message}"


class InvalidInput(DetenteError):
    """Input that breaks the rules; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) found:\n{lines}")


class NotFound(DetenteError):
    """An object, intent or party that does not exist."""


class Unauthenticated(DetenteError):
    """No valid credential: missing, malformed, unknown, expired or revoked."""


class Forbidden(DetenteError):
    """The caller's party may not do this."""


class AlreadyExists(DetenteError):
    """An id that is already taken."""


class Busy(DetenteError):
    """The service cannot take this now (a queue is full); nothing was taken, and it is safe to send again."""
