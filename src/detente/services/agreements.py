"""Agreements with multi-party consent, and what they put in force.

A party (or the secretariat) proposes; the proposer's own signature is
recorded with the proposal when it is a named party.  Each named party
signs or rejects the current version.  Once every named party has signed,
the agreement is in force: its lines, zones or boundaries enter the world
(or its separation minima replace the ones in force for the categories it
names) at a new world version, so filings checked before it see it as new.
The minima in force are those no agreement set, overlaid by every separation
agreement in force in the order they came into force, so withdrawing one
never undoes another.  An amendment is a new version needing the same
consent; the version in force stays in force until the amendment is.  A
named party's withdrawal suspends an in-force agreement: what it put in the
world leaves it, and every party concerned is told.
"""

from __future__ import annotations

import dataclasses
import math
import secrets
from datetime import datetime
from typing import Any

from detente.domain.accounts import Caller
from detente.domain.agreements import (
    Agreement,
    AgreementKind,
    Decision,
    NotAllowed,
    Status,
    after_reject,
    after_sign,
    after_withdraw,
)
from detente.domain.errors import Forbidden, InvalidInput, NotFound, Problem
from detente.domain.model import Category, Kind, Minima, Party, Role, WorldObject
from detente.services import audit
from detente.services.context import Mechanism
from detente.services.ports import Tx

MAX_PARTIES = 32


def propose(
    m: Mechanism,
    caller: Caller,
    *,
    kind: AgreementKind,
    title: str,
    parties: list[str],
    body: dict[str, Any],
) -> Agreement:
    """A new agreement (version 1), told to every named party."""
    if caller.role is Role.OBSERVER:
        raise Forbidden("observers do not propose agreements")
    named = tuple(dict.fromkeys(parties))
    if caller.role is not Role.SECRETARIAT and caller.party not in named:
        raise Forbidden(f"{caller.party} may propose only agreements it is a party to (or ask the secretariat)")
    now = m.clock.now()
    agreement_id = f"agr-{secrets.token_hex(5)}"
    with m.store.write(by=caller) as tx:
        known = tx.parties()
        canonical = _validate(m, tx, agreement_id, kind, named, caller.party, body, known)
        agreement = Agreement(
            id=agreement_id,
            version=1,
            kind=kind,
            title=_title(title),
            proposer=caller.party,
            parties=named,
            body=canonical,
            status=Status.PROPOSED,
            created_at=now,
            updated_at=now,
        )
        tx.add_agreement(agreement)
        _sign_as_proposer(tx, agreement, caller, now)
        for party in named:
            if party != caller.party:
                tx.notify(party, "agreement.proposed", _summary(agreement), now)
        return _latest(tx, agreement_id)


def amend(m: Mechanism, caller: Caller, agreement_id: str, *, title: str | None, body: dict[str, Any]) -> Agreement:
    """A new version of an agreement with a new body; the same parties must sign it."""
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        current = _visible(tx, caller, agreement_id)
        if caller.party not in current.parties and caller.role is not Role.SECRETARIAT:
            raise Forbidden(f"{caller.party} is not a party to agreement {agreement_id}")
        if current.status is Status.PROPOSED:
            tx.set_agreement_status(agreement_id, current.version, Status.SUPERSEDED, now)
        canonical = _validate(m, tx, agreement_id, current.kind, current.parties, current.proposer, body, tx.parties())
        agreement = dataclasses.replace(
            current,
            version=current.version + 1,
            title=_title(title) if title is not None else current.title,
            body=canonical,
            status=Status.PROPOSED,
            created_at=now,
            updated_at=now,
            signed=frozenset(),
            previous=None,
        )
        tx.add_agreement(agreement)
        _sign_as_proposer(tx, agreement, caller, now)
        for party in agreement.parties:
            if party != caller.party:
                tx.notify(party, "agreement.amended", _summary(agreement), now)
        return _latest(tx, agreement_id)


def sign(
    m: Mechanism, caller: Caller, agreement_id: str, version: int, signature: dict[str, Any] | None = None
) -> Agreement:
    """Sign one version; a party with a registered key signs ``audit.decision_statement`` with it."""
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        agreement = _version(tx, caller, agreement_id, version)
        status = after_sign(agreement, caller.party)
        block = audit.signed(tx, caller, audit.decision_statement(caller.party, agreement, "sign"), signature)
        tx.add_decision(agreement_id, version, caller.party, caller.member, Decision.SIGNED, None, now, block)
        if status is Status.IN_FORCE:
            _enter_force(m, tx, agreement, now)
            event = "agreement.in_force"
        else:
            event = "agreement.signed"
        updated = _latest(tx, agreement_id)
        for party in updated.parties:
            if party != caller.party or status is Status.IN_FORCE:
                tx.notify(party, event, _summary(updated, by=caller.party), now)
        return updated


def reject(m: Mechanism, caller: Caller, agreement_id: str, version: int, reason: str | None) -> Agreement:
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        agreement = _version(tx, caller, agreement_id, version)
        status = after_reject(agreement, caller.party)
        tx.add_decision(agreement_id, version, caller.party, caller.member, Decision.REJECTED, _reason(reason), now)
        tx.set_agreement_status(agreement_id, version, status, now)
        updated = _latest(tx, agreement_id)
        for party in updated.parties:
            tx.notify(party, "agreement.rejected", _summary(updated, by=caller.party, reason=reason), now)
        return updated


def withdraw(m: Mechanism, caller: Caller, agreement_id: str, reason: str | None) -> Agreement:
    """Suspend the version in force (or withdraw the pending proposal); everyone concerned is told."""
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        latest = _visible(tx, caller, agreement_id)
        target = tx.in_force_version(agreement_id) or latest
        status = after_withdraw(target, caller.party)
        tx.add_decision(
            agreement_id, target.version, caller.party, caller.member, Decision.WITHDRAWN, _reason(reason), now
        )
        tx.set_agreement_status(agreement_id, target.version, status, now)
        concerned = set(target.parties)
        if status is Status.SUSPENDED:
            concerned |= _leave_force(tx, target)
        updated = _latest(tx, agreement_id)
        for party in sorted(concerned):
            tx.notify(party, "agreement.withdrawn", _summary(updated, by=caller.party, reason=reason), now)
        return updated


def show(
    m: Mechanism, caller: Caller, agreement_id: str, version: int | None = None
) -> tuple[Agreement, list[dict[str, Any]]]:
    """An agreement version (latest by default) and the decisions on it."""
    with m.store.read() as tx:
        agreement = (
            _visible(tx, caller, agreement_id) if version is None else _version(tx, caller, agreement_id, version)
        )
        return agreement, tx.decisions(agreement_id, agreement.version)


def browse(m: Mechanism, caller: Caller, *, after: str | None = None, limit: int = 100) -> list[Agreement]:
    """The agreements the caller is named in (all of them for the secretariat and observers)."""
    sees_all = caller.role in (Role.SECRETARIAT, Role.OBSERVER)
    with m.store.read() as tx:
        return tx.agreements(None if sees_all else caller.party, after, max(1, min(limit, 500)))


# -- in force and out of it ------------------------------------------------------


def agreement_objects(m: Mechanism, agreement: Agreement, parties: dict[str, Party]) -> list[WorldObject]:
    """The world objects an agreement's body puts in force."""
    return m.codec.objects(list(agreement.body.get("features", [])), parties)


def _enter_force(m: Mechanism, tx: Tx, agreement: Agreement, now: datetime) -> None:
    old = tx.in_force_version(agreement.id)
    objects = [] if agreement.kind is AgreementKind.SEPARATION else agreement_objects(m, agreement, tx.parties())
    # Ids are checked at proposal, but another agreement (or a declaration) may have taken one since:
    # never overwrite an object this agreement does not own (its withdrawal would delete it).
    taken = [o for o in objects if tx.object_party(o.kind, o.id) is not None and not _belongs_to(tx, agreement.id, o)]
    if taken:
        names = ", ".join(f"{o.kind.value} {o.id!r}" for o in taken)
        raise NotAllowed("id-taken", f"{names} already in the world; amend agreement {agreement.id} to use new ids")
    version = tx.bump()
    if old is not None:
        tx.set_agreement_status(agreement.id, old.version, Status.SUPERSEDED, now)
        if agreement.kind is not AgreementKind.SEPARATION:
            for obj in agreement_objects(m, old, tx.parties()):
                tx.delete_object(obj.kind, obj.id)
    if agreement.kind is AgreementKind.SEPARATION:
        # The minima are recomputed, not patched: the base (the minima no agreement set, kept in
        # ``previous`` for withdrawal) overlaid by every separation agreement in force, this one last.
        others = _separations_in_force(tx, excluding=agreement.id)
        base = _base_minima(tx, [*others, *([] if old is None else [old])])
        tx.set_agreement_previous(agreement.id, agreement.version, _minima_json(base))
        tx.set_separation(_overlay(base, [*others, agreement]), version)
    else:
        for obj in objects:
            tx.put_object(obj, version)
    tx.set_agreement_status(agreement.id, agreement.version, Status.IN_FORCE, now)


def _leave_force(tx: Tx, agreement: Agreement) -> set[str]:
    """Take a suspended agreement out of the world; returns the further parties concerned."""
    version = tx.bump()
    if agreement.kind is AgreementKind.SEPARATION:
        others = _separations_in_force(tx, excluding=agreement.id)
        base = _base_minima(tx, [agreement, *others])
        tx.set_separation(_overlay(base, others), version)
        return {p.id for p in tx.parties().values() if p.role is Role.MILITARY}
    concerned: set[str] = set()
    for feature in agreement.body.get("features", []):
        props = feature.get("properties", {})
        kind, oid = Kind(props["kind"]), str(props["id"])
        if tx.delete_object(kind, oid) and kind is Kind.NFZ:
            concerned |= {p.id for p in tx.parties().values() if p.role is Role.MILITARY}
    return concerned


def _separations_in_force(tx: Tx, *, excluding: str) -> list[Agreement]:
    """The separation agreements in force but ``excluding``, in the order they came into force."""
    found: list[Agreement] = []
    after: str | None = None
    while True:
        page = tx.agreements(None, after, 500)
        for latest in page:
            if latest.kind is not AgreementKind.SEPARATION or latest.id == excluding:
                continue
            current = latest if latest.status is Status.IN_FORCE else tx.in_force_version(latest.id)
            if current is not None:
                found.append(current)
        if len(page) < 500:
            break
        after = page[-1].id
    return sorted(found, key=lambda a: (a.updated_at, a.id))


def _base_minima(tx: Tx, in_force: list[Agreement]) -> dict[Category, Minima]:
    """The minima no agreement set: kept by every separation agreement in force, else the ones in force."""
    for agreement in in_force:
        if agreement.previous is not None:
            return _minima(agreement.previous)
    current, _ = tx.separation()
    return current


def _overlay(base: dict[Category, Minima], in_force: list[Agreement]) -> dict[Category, Minima]:
    """The minima in force: the base, each agreement replacing the categories it names (later ones prevail)."""
    minima = dict(base)
    for agreement in in_force:
        minima.update(_minima(agreement.body))
    return minima


# -- validation ------------------------------------------------------------------


def _validate(
    m: Mechanism,
    tx: Tx,
    agreement_id: str,
    kind: AgreementKind,
    named: tuple[str, ...],
    proposer: str,
    body: dict[str, Any],
    known: dict[str, Party],
) -> dict[str, Any]:
    """The canonical body, or :class:`InvalidInput` naming every problem."""
    problems = [Problem("unknown-party", f"party {p!r} does not exist") for p in named if p not in known]
    if len(named) < 2:
        problems.append(Problem("parties", "an agreement names at least two parties"))
    if len(named) > MAX_PARTIES:
        problems.append(Problem("parties", f"an agreement names at most {MAX_PARTIES} parties"))
    if problems:
        raise InvalidInput(problems)
    if kind is AgreementKind.SEPARATION:
        return _minima_json(_minima(body))
    features = body.get("features")
    if not isinstance(features, list) or not features:
        raise InvalidInput([Problem("body", f"a {kind.value} agreement carries a GeoJSON FeatureCollection")])
    for feature in features:
        props = feature.get("properties") if isinstance(feature, dict) else None
        if isinstance(props, dict):
            props.setdefault("kind", kind.value)
            props.setdefault("party", proposer)
    objects = m.codec.objects(features, known)
    wanted = kind.object_kind
    canonical: list[WorldObject] = []
    for obj in objects:
        if obj.kind is not wanted:
            problems.append(Problem("kind", f"a {kind.value} agreement holds only {kind.value} objects", id=obj.id))
            continue
        if kind is AgreementKind.BOUNDARY and obj.party not in named:
            problems.append(Problem("party", f"boundary owner {obj.party!r} is not a named party", id=obj.id))
        if kind is AgreementKind.LINE:
            obj = dataclasses.replace(obj, party=proposer, signatories=frozenset(named))
        if kind is AgreementKind.NFZ:
            obj = dataclasses.replace(obj, party=proposer)
        owner = tx.object_party(obj.kind, obj.id)
        if owner is not None and not _belongs_to(tx, agreement_id, obj):
            problems.append(Problem("id-taken", f"{obj.kind.value} {obj.id!r} already exists", id=obj.id))
        canonical.append(obj)
    if problems:
        raise InvalidInput(problems)
    return {"type": "FeatureCollection", "features": [f for o in canonical for f in m.codec.features(o)]}


def _belongs_to(tx: Tx, agreement_id: str, obj: WorldObject) -> bool:
    current = tx.in_force_version(agreement_id)
    if current is None:
        return False
    return any(
        f.get("properties", {}).get("id") == obj.id and f.get("properties", {}).get("kind") == obj.kind.value
        for f in current.body.get("features", [])
    )


def _minima(body: dict[str, Any]) -> dict[Category, Minima]:
    problems: list[Problem] = []
    out: dict[Category, Minima] = {}
    unknown = set(body) - {c.value for c in Category}
    if unknown:
        problems.append(Problem("separation", f"unknown categories {sorted(unknown)}; use 'air' and/or 'ground'"))
    for cat in Category:
        raw = body.get(cat.value)
        if raw is None:
            continue
        h = raw.get("horizontal_m") if isinstance(raw, dict) else None
        v = raw.get("vertical_m") if isinstance(raw, dict) else None
        if h is None or not _positive(h):
            problems.append(Problem("separation", f"{cat.value}.horizontal_m must be a positive number of metres"))
            continue
        if v is not None and not _positive(v):
            problems.append(Problem("separation", f"{cat.value}.vertical_m must be a positive number or null"))
            continue
        out[cat] = Minima(float(h), None if v is None else float(v))
    if not out and not problems:
        problems.append(Problem("separation", "a separation agreement sets minima for 'air' and/or 'ground'"))
    if problems:
        raise InvalidInput(problems)
    return out


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _minima_json(minima: dict[Category, Minima]) -> dict[str, Any]:
    return {c.value: {"horizontal_m": m.horizontal_m, "vertical_m": m.vertical_m} for c, m in minima.items()}


def _title(title: str) -> str:
    title = title.strip()
    if not 1 <= len(title) <= 200:
        raise InvalidInput([Problem("title", "a title has 1 to 200 characters")])
    return title


def _reason(reason: str | None) -> str | None:
    if reason is not None and len(reason) > 4000:
        raise InvalidInput([Problem("reason", "a reason is at most 4000 characters")])
    return reason


# -- lookups ----------------------------------------------------------------------


def _visible(tx: Tx, caller: Caller, agreement_id: str) -> Agreement:
    agreement = tx.agreement(agreement_id)
    if agreement is None or not _may_see(caller, agreement):
        raise NotFound(f"no agreement {agreement_id!r}")
    return agreement


def _version(tx: Tx, caller: Caller, agreement_id: str, version: int) -> Agreement:
    _visible(tx, caller, agreement_id)
    agreement = tx.agreement(agreement_id, version)
    if agreement is None:
        raise NotFound(f"agreement {agreement_id!r} has no version {version}")
    return agreement


def _latest(tx: Tx, agreement_id: str) -> Agreement:
    agreement = tx.agreement(agreement_id)
    assert agreement is not None
    return agreement


def _may_see(caller: Caller, agreement: Agreement) -> bool:
    return (
        caller.role in (Role.SECRETARIAT, Role.OBSERVER)
        or caller.party in agreement.parties
        or caller.party == agreement.proposer
    )


def _sign_as_proposer(tx: Tx, agreement: Agreement, caller: Caller, now: datetime) -> None:
    """Proposing is signing, unless the party signs with its own key: then it signs explicitly."""
    if caller.party in agreement.parties and not audit.active_keys(tx, caller.party):
        tx.add_decision(agreement.id, agreement.version, caller.party, caller.member, Decision.SIGNED, None, now)


def _summary(agreement: Agreement, *, by: str | None = None, reason: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "agreement": agreement.id,
        "version": agreement.version,
        "kind": agreement.kind.value,
        "title": agreement.title,
        "status": agreement.status.value,
        "parties": list(agreement.parties),
        "signed": sorted(agreement.signed),
    }
    if by is not None:
        out["by"] = by
    if reason:
        out["reason"] = reason
    return out
