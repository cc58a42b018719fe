"""Need-to-know: who may see and who may write which objects.

A party sees its own objects in full.  Agreed geography (no-fly zones,
boundaries, deconfliction lines) is shown to every party, because every
party must respect it.  Humanitarian sites and movements are shown to the
military parties, which must avoid them, and to the secretariat; each such
read is logged (who, when).  Other parties' intents are never shown: a
party learns of them only through the disclosure of a conflict that
concerns it.  The secretariat sees everything.
"""

from __future__ import annotations

from enum import StrEnum

from detente.domain.model import Kind, Role


class Sight(StrEnum):
    """How a party may read an object."""

    FULL = "full"
    LOGGED = "logged"
    NONE = "none"


#: Agreed geography: visible to every party.
SHARED_KINDS = frozenset({Kind.NFZ, Kind.BOUNDARY, Kind.LINE})
#: Humanitarian data: visible to military parties and the secretariat, every read logged.
PROTECTED_KINDS = frozenset({Kind.SITE, Kind.MOVEMENT})
#: Kinds that only an in-force agreement creates.
AGREED_KINDS = frozenset({Kind.LINE, Kind.BOUNDARY})


def sight(role: Role, party: str, kind: Kind, owner: str) -> Sight:
    """How ``party`` (of ``role``) may read an object of ``kind`` owned by ``owner``.

    >>> sight(Role.MILITARY, "ru", Kind.SITE, "sarc")
    <Sight.LOGGED: 'logged'>
    >>> sight(Role.OBSERVER, "un", Kind.INTENT, "coalition")
    <Sight.NONE: 'none'>
    """
    if owner == party:
        return Sight.FULL
    if kind in SHARED_KINDS:
        return Sight.FULL
    if kind in PROTECTED_KINDS:
        return Sight.LOGGED if role in (Role.MILITARY, Role.SECRETARIAT) else Sight.NONE
    return Sight.FULL if role is Role.SECRETARIAT else Sight.NONE


def visible_kinds(role: Role) -> frozenset[Kind]:
    """The kinds of other parties' objects a party of ``role`` may read."""
    return frozenset(k for k in Kind if sight(role, "\x00self", k, "\x00other") is not Sight.NONE)


def may_declare(role: Role, kind: Kind) -> bool:
    """Whether a party of ``role`` may create an object of ``kind`` for itself.

    Lines and boundaries come only from in-force agreements; intents are
    filed by military parties through the filing use case.

    >>> may_declare(Role.HUMANITARIAN, Kind.SITE), may_declare(Role.MILITARY, Kind.SITE)
    (True, False)
    """
    if kind is Kind.NFZ:
        return role in (Role.MILITARY, Role.SECRETARIAT)
    if kind in PROTECTED_KINDS:
        return role in (Role.HUMANITARIAN, Role.SECRETARIAT)
    if kind is Kind.INTENT:
        return role is Role.MILITARY
    return False
