"""Agreements and multi-party consent.

An agreement names its parties; it is in force only once every named party
has signed its current version.  A rejection ends that version; an
amendment is a new version that needs the same consent (the old version
stays in force until the new one is); a party's withdrawal suspends an
in-force agreement.  Only in-force agreements bind the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from detente.domain.errors import DetenteError
from detente.domain.model import Kind


class AgreementKind(StrEnum):
    LINE = "line"
    NFZ = "nfz"
    BOUNDARY = "boundary"
    SEPARATION = "separation"

    @property
    def object_kind(self) -> Kind | None:
        """The kind of world object the agreement puts in force (None: minima)."""
        return None if self is AgreementKind.SEPARATION else Kind(self.value)


class Status(StrEnum):
    PROPOSED = "proposed"
    IN_FORCE = "in_force"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"
    SUPERSEDED = "superseded"


class Decision(StrEnum):
    SIGNED = "signed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class NotAllowed(DetenteError):
    """A step the agreement's state or the party's place in it does not allow."""

    def __init__(self, rule: str, message: str) -> None:
        self.rule = rule
        super().__init__(message)


@dataclass(frozen=True)
class Agreement:
    id: str
    version: int
    kind: AgreementKind
    title: str
    proposer: str
    parties: tuple[str, ...]
    body: dict[str, Any]
    status: Status
    created_at: datetime
    updated_at: datetime
    signed: frozenset[str] = field(default_factory=frozenset)
    previous: dict[str, Any] | None = None

    @property
    def unsigned(self) -> tuple[str, ...]:
        return tuple(p for p in self.parties if p not in self.signed)


def after_sign(agreement: Agreement, party: str) -> Status:
    """The status once ``party`` signs; raises :class:`NotAllowed` when it may not.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2017, 7, 1, tzinfo=UTC)
    >>> a = Agreement("l1", 1, AgreementKind.LINE, "Euphrates", "us", ("us", "ru"), {}, Status.PROPOSED, t, t,
    ...               signed=frozenset({"us"}))
    >>> after_sign(a, "ru")
    <Status.IN_FORCE: 'in_force'>
    """
    _must_be_named(agreement, party)
    if agreement.status is not Status.PROPOSED:
        raise NotAllowed("not-proposed", f"agreement {agreement.id} v{agreement.version} is {agreement.status}")
    if party in agreement.signed:
        raise NotAllowed("already-signed", f"{party} has already signed {agreement.id} v{agreement.version}")
    return Status.IN_FORCE if set(agreement.unsigned) == {party} else Status.PROPOSED


def after_reject(agreement: Agreement, party: str) -> Status:
    _must_be_named(agreement, party)
    if agreement.status is not Status.PROPOSED:
        raise NotAllowed("not-proposed", f"agreement {agreement.id} v{agreement.version} is {agreement.status}")
    return Status.REJECTED


def after_withdraw(agreement: Agreement, party: str) -> Status:
    """An in-force agreement is suspended; a proposal is withdrawn."""
    _must_be_named(agreement, party)
    if agreement.status is Status.IN_FORCE:
        return Status.SUSPENDED
    if agreement.status is Status.PROPOSED:
        return Status.WITHDRAWN
    raise NotAllowed("not-active", f"agreement {agreement.id} v{agreement.version} is {agreement.status}")


def _must_be_named(agreement: Agreement, party: str) -> None:
    if party not in agreement.parties:
        raise NotAllowed("not-a-party", f"{party} is not a party to agreement {agreement.id}")
