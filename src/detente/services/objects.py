"""Zones, sites and movements declared over the API, and need-to-know reads.

Intents are filed through :mod:`detente.services.filing`; lines and
boundaries come into the world only with an in-force agreement
(:mod:`detente.services.agreements`).
"""

from __future__ import annotations

from dataclasses import dataclass

from detente.domain.access import AGREED_KINDS, PROTECTED_KINDS, Sight, may_declare, sight, visible_kinds
from detente.domain.accounts import Caller
from detente.domain.agreements import AgreementKind
from detente.domain.errors import AlreadyExists, Forbidden, NotFound
from detente.domain.geo.box import Box4D
from detente.domain.model import Kind, Party, Role, WorldObject
from detente.domain.rules import nfz_binds
from detente.services.context import Mechanism
from detente.services.ports import Tx

MAX_PAGE = 500
_AGREEMENT_PAGE = 500


@dataclass(frozen=True)
class Page:
    objects: list[WorldObject]
    next_after: tuple[str, str] | None
    world_version: int


def declare(m: Mechanism, caller: Caller, obj: WorldObject, *, replace: bool = False) -> int:
    """Add (or, with ``replace``, replace) one of the caller's own zones; returns the new world version.

    Sites and movements are humanitarian notices, with lead times and
    acknowledgement deadlines: :func:`detente.services.notices.notify`.
    """
    _not_notified(obj.kind)
    may_write(caller, obj)
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        version = place(tx, caller, obj, replace=replace)
        body = {"kind": obj.kind.value, "id": obj.id, "party": obj.party, "world_version": version}
        event = "object.replaced" if replace else "object.declared"
        for party in concerned_by(obj, tx.parties()):
            tx.notify(party, event, body, now)
    return version


def place(tx: Tx, caller: Caller, obj: WorldObject, *, replace: bool) -> int:
    """Put the caller's object in the world inside ``tx``; returns the new world version.

    A new object may not take a used id; a replaced one must exist and be
    the caller's (one it may not see answers as one that does not exist).
    """
    owner = tx.object_party(obj.kind, obj.id)
    if replace and (owner is None or sight(caller.role, caller.party, obj.kind, owner) is Sight.NONE):
        raise NotFound(f"no {obj.kind.value} {obj.id!r} of {caller.party}")
    if owner is not None and (not replace or owner != obj.party):
        raise AlreadyExists(f"{obj.kind.value} {obj.id!r} already exists")
    if replace:
        _not_agreed(tx, obj.kind, obj.id, obj.party)
    version = tx.bump()
    tx.put_object(obj, version)
    return version


def withdraw(m: Mechanism, caller: Caller, kind: Kind, object_id: str) -> int:
    """Remove one of the caller's own zones, sites or movements."""
    _not_notified(kind)
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        obj, version = remove(tx, caller, kind, object_id)
        body = {"kind": kind.value, "id": object_id, "party": obj.party, "world_version": version}
        for party in concerned_by(obj, tx.parties()):
            tx.notify(party, "object.withdrawn", body, now)
    return version


def remove(tx: Tx, caller: Caller, kind: Kind, object_id: str) -> tuple[WorldObject, int]:
    """Take one of the caller's zones, sites or movements out of the world inside ``tx``."""
    if kind is Kind.INTENT:
        raise Forbidden("intents are cancelled with DELETE /intents/{id}")
    if kind in AGREED_KINDS:
        raise Forbidden(f"a {kind.value} leaves the world only when its agreement is withdrawn")
    obj = tx.get_object(kind, object_id)
    if obj is None or sight(caller.role, caller.party, kind, obj.party) is Sight.NONE:
        raise NotFound(f"no {kind.value} {object_id!r}")
    if obj.party != caller.party and caller.role is not Role.SECRETARIAT:
        raise Forbidden(f"{kind.value} {object_id!r} belongs to {obj.party}")
    _not_agreed(tx, kind, object_id, obj.party)
    tx.delete_object(kind, object_id)
    return obj, tx.bump()


def read(m: Mechanism, caller: Caller, kind: Kind, object_id: str) -> WorldObject:
    """One object the caller may see; a read of protected data is logged."""
    with m.store.read() as tx:
        obj = tx.get_object(kind, object_id)
    seen = Sight.NONE if obj is None else sight(caller.role, caller.party, kind, obj.party)
    if obj is None or seen is Sight.NONE:
        raise NotFound(f"no {kind.value} {object_id!r}")
    if seen is Sight.LOGGED:
        log_reads(m, caller, [obj], via="read")
    return obj


def browse(
    m: Mechanism,
    caller: Caller,
    *,
    kinds: list[Kind] | None = None,
    box: Box4D | None = None,
    after: tuple[str, str] | None = None,
    limit: int = 100,
) -> Page:
    """A page of the objects the caller may see, by (kind, id); protected reads are logged."""
    limit = max(1, min(limit, MAX_PAGE))
    with m.store.read() as tx:
        found = tx.list_objects(
            party=caller.party,
            other_kinds=visible_kinds(caller.role),
            kinds=kinds,
            box=box,
            after=after,
            limit=limit,
        )
        version = tx.version()
    log_reads(m, caller, [o for o in found if o.kind in PROTECTED_KINDS and o.party != caller.party], via="list")
    last = (found[-1].kind.value, found[-1].id) if len(found) == limit else None
    return Page(objects=found, next_after=last, world_version=version)


def log_reads(m: Mechanism, caller: Caller, objects: list[WorldObject], *, via: str) -> None:
    """Write the caller's reads of other parties' protected data to the access log.

    Its own short write, only when there is something to log, so plain reads
    never wait for the write lock (SQLite has one writer at a time).
    """
    if objects:
        with m.store.write(world=False, by=caller) as tx:
            tx.log_access(party=caller.party, member=caller.member, objects=objects, via=via, now=m.clock.now())


def concerned_by(obj: WorldObject, parties: dict[str, Party]) -> list[str]:
    """The parties told when a zone, site or movement appears or goes: those it binds or protects against."""
    military = frozenset(p.id for p in parties.values() if p.role is Role.MILITARY)
    if obj.kind is Kind.NFZ:
        return [p for p in sorted(military) if p != obj.party and nfz_binds(obj, p, "armed", military)]
    if obj.kind in PROTECTED_KINDS:
        return [p for p in sorted(military) if p != obj.party]
    return []


def _not_agreed(tx: Tx, kind: Kind, object_id: str, owner: str) -> None:
    """Refuse to touch a zone an in-force agreement brought into the world (it is the signatories', not its owner's).

    Such a zone changes only when its agreement is amended, suspended or withdrawn.
    """
    if kind is not Kind.NFZ:
        return
    after: str | None = None
    while True:
        page = tx.agreements(owner, after, _AGREEMENT_PAGE)
        for agreement in page:
            if agreement.kind is not AgreementKind.NFZ:
                continue
            in_force = tx.in_force_version(agreement.id)
            if in_force is not None and any(
                isinstance(f, dict)
                and isinstance(f.get("properties"), dict)
                and f["properties"].get("kind") == kind.value
                and f["properties"].get("id") == object_id
                for f in in_force.body.get("features", [])
            ):
                raise Forbidden(
                    f"{kind.value} {object_id!r} is in force under agreement {agreement.id!r}: "
                    "it changes only when that agreement is amended or withdrawn"
                )
        if len(page) < _AGREEMENT_PAGE:
            return
        after = page[-1].id


def _not_notified(kind: Kind) -> None:
    if kind in PROTECTED_KINDS:
        raise Forbidden(f"a {kind.value} is notified, amended and withdrawn through detente.services.notices")


def may_write(caller: Caller, obj: WorldObject) -> None:
    """Refuse an object the caller may not declare (another party's, an intent, agreed geography)."""
    if obj.party != caller.party:
        raise Forbidden(f"{caller.party} may declare objects only for itself, not for {obj.party!r}")
    if obj.kind is Kind.INTENT:
        raise Forbidden("intents are filed with POST /intents, which checks them first")
    if obj.kind in AGREED_KINDS:
        raise Forbidden(f"a {obj.kind.value} comes into force only through an agreement (POST /agreements)")
    if not may_declare(caller.role, obj.kind):
        raise Forbidden(f"a {caller.role.value} party may not declare a {obj.kind.value}")
