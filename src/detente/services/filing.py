"""Filing an intent: check and file in one step, race-free.

The whole filing runs in one write transaction holding the world's write
lock, so the check and the write see the same world and two filings never
interleave (on SQLite and on PostgreSQL, across processes).  The check
reads only the candidates the database's 4D index returns for the intent's
volumes grown by the separation minimum, and decides them with the engine.

The caller states the world version it last checked against.  A conflict
with an object written after that version (or a separation conflict after
the minima changed) is *new* to the caller: the filing is refused with
:class:`StaleWorld` and those conflicts, never silently accepted (the OVN
rule of ASTM F3548).  Blocking conflicts refuse the filing unless the
party overrides them with a written justification, which is recorded and
sent to the parties concerned.  Advisory conflicts file and notify.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shapely.geometry import mapping

from detente.domain.accounts import Caller
from detente.domain.conflicts import Conflict, Disclosure
from detente.domain.errors import AlreadyExists, DetenteError, Forbidden, InvalidInput, NotFound, Problem
from detente.domain.geo.box import Box4D
from detente.domain.geo.geodesic import grow_box
from detente.domain.geo.intervals import AltitudeBand
from detente.domain.model import Kind, Role, WorldObject
from detente.domain.rules import ConflictType, Severity, minima_for
from detente.engine.world import World
from detente.services import objects
from detente.services.context import Mechanism
from detente.services.ports import Tx

MAX_JUSTIFICATION = 4000


class StaleWorld(DetenteError):
    """The world changed since the caller's check in a way that adds conflicts."""

    def __init__(self, new: list[Conflict], conflicts: list[Conflict], world_version: int) -> None:
        self.new = new
        self.conflicts = conflicts
        self.world_version = world_version
        super().__init__(
            f"the world changed since the version you checked: {len(new)} new conflict(s) at version {world_version}"
        )


class BlockingConflicts(DetenteError):
    """Blocking conflicts and no justification to override them."""

    def __init__(self, conflicts: list[Conflict], world_version: int) -> None:
        self.conflicts = conflicts
        self.world_version = world_version
        blocking = sum(c.severity is Severity.BLOCKING for c in conflicts)
        super().__init__(f"{blocking} blocking conflict(s): not filed (override with a written justification)")


@dataclass(frozen=True)
class Outcome:
    """What a filing (or a dry run) found and did."""

    intent: WorldObject
    filed: bool
    world_version: int
    conflicts: list[Conflict]
    filing_id: int | None = None
    overridden: bool = False
    notified: tuple[str, ...] = ()


def file(
    m: Mechanism,
    caller: Caller,
    intent: WorldObject,
    *,
    checked_version: int | None,
    justification: str | None = None,
    dry_run: bool = False,
    amend: bool = False,
) -> Outcome:
    """Check ``intent`` and, unless ``dry_run``, file it (or amend the filed one)."""
    _may_file(caller, intent)
    justification = _justification(justification)
    if dry_run:
        with m.store.read() as tx:
            version = tx.version()
            world, checked = _check(tx, intent)
        conflicts = [c for c, _ in checked]
        objects.log_reads(m, caller, _probed(world, caller, conflicts), via="dry-run")
        return Outcome(intent, False, version, conflicts)
    if checked_version is None:
        raise InvalidInput([Problem("world-version", "state the world version you checked against (world_version)")])
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        version = tx.version()
        if checked_version > version or checked_version < 0:
            raise InvalidInput(
                [Problem("world-version", f"world_version {checked_version} is not a version (now {version})")]
            )
        _may_take_id(tx, caller, intent, amend)
        world, checked = _check(tx, intent)
        conflicts = [c for c, _ in checked]
        new = [c for c, changed in checked if changed > checked_version]
        if new:
            raise StaleWorld(new, conflicts, version)
        blocking = [c for c in conflicts if c.severity is Severity.BLOCKING]
        if blocking and justification is None:
            raise BlockingConflicts(conflicts, version)
        told_before = _told(_current_run(tx.filings(intent.id), intent.party)[-1:]) if amend else set()
        version = tx.bump()
        tx.put_object(intent, version)
        filing_id = tx.add_filing(
            intent_id=intent.id,
            party=intent.party,
            member=caller.member,
            action="amended" if amend else "filed",
            checked_version=checked_version,
            world_version=version,
            conflicts=[c.to_json() for c in conflicts],
            justification=justification if blocking else None,
            now=now,
        )
        told = _disclose(tx, world, intent, conflicts, filing_id, justification if blocking else None, now, version)
        for party in sorted(told_before - set(told)):
            tx.notify(party, "intent.amended", _withdrawn_body(intent, filing_id, version), now)
    return Outcome(intent, True, version, conflicts, filing_id, bool(blocking), tuple(told))


def cancel(m: Mechanism, caller: Caller, intent_id: str) -> int:
    """Cancel a filed intent; every party told of its conflicts is told it is gone."""
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        intent = tx.get_object(Kind.INTENT, intent_id)
        if intent is None or intent.party != caller.party:
            raise NotFound(f"{caller.party} has no filed intent {intent_id!r}")
        told = _told(_current_run(tx.filings(intent_id), intent.party))
        tx.delete_object(Kind.INTENT, intent_id)
        version = tx.bump()
        filing_id = tx.add_filing(
            intent_id=intent_id,
            party=caller.party,
            member=caller.member,
            action="cancelled",
            checked_version=None,
            world_version=version,
            conflicts=[],
            justification=None,
            now=now,
        )
        for party in sorted(told):
            tx.notify(party, "intent.cancelled", _withdrawn_body(intent, filing_id, version), now)
    return version


def show(m: Mechanism, caller: Caller, intent_id: str) -> tuple[WorldObject | None, list[dict[str, Any]]]:
    """A filed intent (None once cancelled) and its filings: its own party and the secretariat only.

    An id is free again once its intent is cancelled, so one id may carry
    the filings of several parties in turn: a party sees only its own
    (the secretariat sees them all).
    """
    with m.store.read() as tx:
        filings = tx.filings(intent_id)
        intent = tx.get_object(Kind.INTENT, intent_id)
    if caller.role is not Role.SECRETARIAT:
        filings = [f for f in filings if f["party"] == caller.party]
        if intent is not None and intent.party != caller.party:
            intent = None
    if intent is None and not filings:
        raise NotFound(f"no intent {intent_id!r}")
    return intent, filings


# -- the check ---------------------------------------------------------------


def _probed(world: World, caller: Caller, conflicts: list[Conflict]) -> list[WorldObject]:
    """The other parties' intents a dry run names: they go in those parties' access logs.

    A dry run is how a planner avoids conflicts, so it is not refused; but
    repeated wide dry runs would map another party's plans without telling
    it, so each such intent is logged (``via`` ``dry-run``) where its owner
    reads it, ``GET /access-log``.
    """
    keys = dict.fromkeys(
        (c.other_kind, c.other_id) for c in conflicts if c.other_kind is Kind.INTENT and c.other_party != caller.party
    )
    return [world.get(key) for key in keys]


def _check(tx: Tx, intent: WorldObject) -> tuple[World, list[tuple[Conflict, int]]]:
    """Every conflict of the intent, each with the world version its cause last changed at.

    Also returns the small world of candidates it was decided in, which
    holds every object in conflict: the disclosures are cut from it.
    """
    parties = tx.parties()
    minima, separation_changed = tx.separation()
    reach = minima_for(intent.category, minima)
    keys: dict[tuple[Kind, str], None] = {}
    for box in _query_boxes(intent, reach.horizontal_m, reach.vertical_m):
        keys.update(dict.fromkeys(tx.candidates(box)))
    keys.pop(intent.key, None)
    found = tx.objects(list(keys))
    world = World(parties, minima)
    world.add_many(obj for obj, _ in found)
    changed = {obj.key: version for obj, version in found}
    out = []
    for conflict in world.check(intent):
        when = changed[(conflict.other_kind, conflict.other_id)]
        if conflict.type is ConflictType.SEPARATION:
            when = max(when, separation_changed)
        out.append((conflict, when))
    return world, out


def _query_boxes(intent: WorldObject, horizontal_m: float, vertical_m: float | None) -> list[Box4D]:
    """Boxes covering everything an intent volume may conflict with (a superset)."""
    boxes = []
    for vol in intent.volumes:
        min_lon, min_lat, max_lon, max_lat = grow_box(vol.footprint.bounds(), horizontal_m)
        if min_lon < -180.0 or max_lon > 180.0:
            min_lon, max_lon = -180.0, 180.0
        alt = vol.altitude
        if vertical_m is not None and (alt.lower is not None or alt.upper is not None):
            alt = AltitudeBand(
                None if alt.lower is None else alt.lower - vertical_m,
                None if alt.upper is None else alt.upper + vertical_m,
            )
        elif vertical_m is None:
            alt = AltitudeBand()
        boxes.append(Box4D(min_lon, min_lat, max_lon, max_lat, alt, vol.time))
    return boxes


def _disclose(
    tx: Tx,
    world: World,
    intent: WorldObject,
    conflicts: list[Conflict],
    filing_id: int,
    justification: str | None,
    now: datetime,
    version: int,
) -> list[str]:
    """Store what each party is told and put one notification in each inbox; returns the parties told."""
    per_party: dict[str, list[dict[str, Any]]] = {}
    for conflict in conflicts:
        for disclosure in world.disclose(conflict, intent):
            per_party.setdefault(disclosure.recipient, []).append(_disclosure_json(disclosure))
    rows = [
        {"recipient": party, "filing_id": filing_id, "intent_id": intent.id, "body": body, "created_at": now}
        for party, bodies in per_party.items()
        for body in bodies
    ]
    tx.add_disclosures(rows)
    for party, bodies in sorted(per_party.items()):
        note: dict[str, Any] = {
            "filing": filing_id,
            "intent": intent.id,
            "filing_party": intent.party,
            "world_version": version,
            "severity": "blocking" if any(b["severity"] == "blocking" for b in bodies) else "advisory",
            "disclosures": bodies,
        }
        if justification is not None and note["severity"] == "blocking":
            note["override"] = {"justification": justification}
        tx.notify(party, "conflict.disclosed", note, now)
    return sorted(per_party)


def _disclosure_json(d: Disclosure) -> dict[str, Any]:
    out = d.to_json()
    out["area"] = dict(mapping(d.area))
    return out


def _current_run(filings: list[dict[str, Any]], party: str) -> list[dict[str, Any]]:
    """The filings of the intent as filed now: ``party``'s, since the id was last cancelled."""
    last_cancel = max((i for i, f in enumerate(filings) if f["action"] == "cancelled"), default=-1)
    return [f for f in filings[last_cancel + 1 :] if f["party"] == party]


def _told(filings: list[dict[str, Any]]) -> set[str]:
    """The parties these filings disclosed a conflict to (a conflict record names whom it notifies)."""
    return {p for f in filings for c in f["conflicts"] for p in c.get("notify", ())}


def _withdrawn_body(intent: WorldObject, filing_id: int, version: int) -> dict[str, Any]:
    return {"intent": intent.id, "filing_party": intent.party, "filing": filing_id, "world_version": version}


def _may_file(caller: Caller, intent: WorldObject) -> None:
    if intent.kind is not Kind.INTENT:
        raise InvalidInput(
            [Problem("not-an-intent", f"expected kind 'intent', got {intent.kind.value!r}", id=intent.id)]
        )
    if caller.role is not Role.MILITARY:
        raise Forbidden(f"only military parties file intents; {caller.party} is {caller.role.value}")
    if intent.party != caller.party:
        raise Forbidden(f"{caller.party} may file intents only for itself, not for {intent.party!r}")


def _may_take_id(tx: Tx, caller: Caller, intent: WorldObject, amend: bool) -> None:
    owner = tx.object_party(Kind.INTENT, intent.id)
    if amend and owner != caller.party:
        raise NotFound(f"{caller.party} has no filed intent {intent.id!r}")
    if not amend and owner is not None:
        raise AlreadyExists(f"intent {intent.id!r} is already filed (amend it with PUT /intents/{intent.id})")


def _justification(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) < 10:
        raise InvalidInput(
            [Problem("justification", "an override needs a written justification (10 characters or more)")]
        )
    if len(text) > MAX_JUSTIFICATION:
        raise InvalidInput([Problem("justification", f"a justification is at most {MAX_JUSTIFICATION} characters")])
    return text
