"""Humanitarian notification: sites and movements notified, acknowledged, escalated.

An aid agency notifies a protected site or a movement (or amends or
withdraws one).  In the same transaction as the change to the world, the
notice is stored with its acknowledgement deadline, one inbox message goes
to every military party (the message a party acknowledges, with a signed
receipt, through ``POST /notifications/{id}/ack`` or ``/notices/{id}/ack``),
and every already-filed intent that now conflicts with the site or movement
is found through the 4D index and its party told at once.

The mechanism's rules (lead times, acknowledgement windows, reminders) are
data the secretariat sets.  Reminders and escalations are due times stored
with each recipient; :func:`tick` sends whatever is due at the injected
clock's time, so the API's timer loop, the CLI and the tests all drive the
same code without sleeping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from detente.domain.access import PROTECTED_KINDS
from detente.domain.accounts import Caller
from detente.domain.errors import Forbidden, InvalidInput, NotFound, Problem
from detente.domain.geo.box import Box4D
from detente.domain.geo.intervals import format_time
from detente.domain.humanitarian import (
    Action,
    DisseminationMethod,
    Rules,
    lead_time_problem,
    material_change,
    site_type_problem,
    start_of,
)
from detente.domain.model import Kind, Role, WorldObject
from detente.engine.world import World
from detente.services import objects
from detente.services.context import Mechanism
from detente.services.ports import Tx

RULES = "humanitarian"
MAX_PAGE = 500
#: How many due reminders and escalations one sweep sends (the next sweep sends the rest).
SWEEP_BATCH = 500


@dataclass(frozen=True)
class Sent:
    """What one notice did: its id, the world version, its deadline, whom it went to, what it conflicts with."""

    notice: int
    object_id: str
    action: Action
    world_version: int
    deadline: datetime | None
    recipients: tuple[str, ...]
    conflicts: tuple[dict[str, Any], ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.notice,
            "object": self.object_id,
            "action": self.action.value,
            "deadline": self.deadline,
            "recipients": list(self.recipients),
            "filed_intents_in_conflict": len(self.conflicts),
        }


# -- rules ---------------------------------------------------------------------


def rules(m: Mechanism) -> Rules:
    with m.store.read() as tx:
        return current_rules(tx)


def set_rules(m: Mechanism, caller: Caller, raw: Mapping[str, Any]) -> Rules:
    """Set the humanitarian rules (secretariat only); names left out keep their current value."""
    if caller.role is not Role.SECRETARIAT:
        raise Forbidden("only the secretariat sets the mechanism's rules")
    with m.store.write(world=False, by=caller) as tx:
        merged = {**current_rules(tx).to_json(), **dict(raw)} if isinstance(raw, Mapping) else raw
        new = Rules.from_json(merged)
        tx.set_rules(RULES, new.to_json(), caller.member, m.clock.now())
    return new


def current_rules(tx: Tx) -> Rules:
    stored = tx.rules(RULES)
    return Rules() if stored is None else Rules.from_json(stored)


# -- notifying -------------------------------------------------------------------


def notify(m: Mechanism, caller: Caller, obj: WorldObject, *, replace: bool = False, urgent: bool = False) -> Sent:
    """Notify a new site or movement, or (``replace``) amend one the caller notified."""
    return notify_many(m, caller, [obj], urgent={obj.id: urgent}, replace=replace)[0]


def notify_many(
    m: Mechanism,
    caller: Caller,
    objs: Sequence[WorldObject],
    *,
    urgent: Mapping[str, bool] | None = None,
    replace: bool | None = False,
) -> list[Sent]:
    """Notify several sites and movements in one transaction: all are sent, or none.

    ``replace`` None (an import) amends those that exist and notifies the
    rest.  Every problem is reported, each naming its object's id.
    """
    urgent = urgent or {}
    now = m.clock.now()
    sent: list[Sent] = []
    with m.store.write(by=caller) as tx:
        the_rules = current_rules(tx)
        problems: list[Problem] = []
        plans: list[tuple[WorldObject, bool]] = []
        for obj in objs:
            objects.may_write(caller, obj)
            owner = tx.object_party(obj.kind, obj.id)
            amend = owner is not None if replace is None else replace
            before = tx.get_object(obj.kind, obj.id) if amend and owner == obj.party else None
            problems.extend(_problems(obj, before, now, the_rules, urgent.get(obj.id, False)))
            plans.append((obj, amend))
        if problems:
            raise InvalidInput(problems)
        for obj, amend in plans:
            version = objects.place(tx, caller, obj, replace=amend)
            action = Action.AMENDED if amend else Action.NOTIFIED
            sent.append(send(m, tx, obj, action, urgent.get(obj.id, False), the_rules, now, version, caller))
    return sent


def withdraw(m: Mechanism, caller: Caller, kind: Kind, object_id: str) -> Sent:
    """Withdraw a site or movement: the military parties are told, and need not acknowledge by a deadline."""
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        obj, version = objects.remove(tx, caller, kind, object_id)
        return send(m, tx, obj, Action.WITHDRAWN, False, current_rules(tx), now, version, caller)


def _problems(obj: WorldObject, before: WorldObject | None, now: datetime, rules: Rules, urgent: bool) -> list[Problem]:
    problems = [p for p in (site_type_problem(obj),) if p is not None]
    if obj.kind is Kind.MOVEMENT and any(v.time.start is None or v.time.end is None for v in obj.volumes):
        problems.append(Problem("movement-window", "a movement is notified with its start and end", id=obj.id))
    if before is None or material_change(before, obj):
        late = lead_time_problem(obj, now, rules, urgent)
        if late is not None:
            problems.append(late)
    return problems


def send(
    m: Mechanism,
    tx: Tx,
    obj: WorldObject,
    action: Action,
    urgent: bool,
    rules: Rules,
    now: datetime,
    version: int,
    caller: Caller,
) -> Sent:
    """Store the notice, message every military party, and tell the parties of conflicting filed intents."""
    recipients = objects.concerned_by(obj, tx.parties())
    deadline = remind_at = None
    if action is not Action.WITHDRAWN:
        deadline = rules.deadline(now, start_of(obj), urgent)
        remind_at = rules.remind_at(now, deadline)
    conflicts = [] if action is Action.WITHDRAWN else _filed_conflicts(tx, obj)
    features = m.codec.features(obj)
    notice_id = tx.add_notice(
        kind=obj.kind.value,
        object_id=obj.id,
        party=obj.party,
        member=caller.member,
        action=action.value,
        urgent=urgent,
        now=now,
        deadline=deadline,
        remind_at=remind_at,
        features=features,
        conflicts=conflicts,
        audience=recipients,
    )
    body = {
        "notice": notice_id,
        "action": action.value,
        "kind": obj.kind.value,
        "id": obj.id,
        "party": obj.party,
        "urgent": urgent,
        "ack_by": format_time(deadline),
        "world_version": version,
        "features": features,
    }
    for party in recipients:
        message = tx.notify(party, f"notice.{action.value}", body, now)
        tx.add_recipient(
            notice_id=notice_id,
            party=party,
            owner=obj.party,
            notification_id=message,
            deadline=deadline,
            remind_at=remind_at,
        )
    for found in conflicts:
        tx.notify(
            found["party"],
            "notice.conflict",
            {
                "notice": notice_id,
                "kind": obj.kind.value,
                "id": obj.id,
                "party": obj.party,
                "intent": found["intent"],
                "world_version": version,
                "conflicts": found["conflicts"],
            },
            now,
        )
    return Sent(notice_id, obj.id, action, version, deadline, tuple(recipients), tuple(conflicts))


def _filed_conflicts(tx: Tx, obj: WorldObject) -> list[dict[str, Any]]:
    """Every filed intent the site or movement now conflicts with, found through the 4D index.

    The index returns the intents whose boxes reach the object's volumes
    (a site's box includes its radius, a movement's its corridor); the
    engine decides each one against a world holding just this object, by
    the same rules that would refuse the intent if it were filed now.
    """
    keys: dict[tuple[Kind, str], None] = {}
    for vol in obj.volumes:
        min_lon, min_lat, max_lon, max_lat = vol.footprint.bounds()
        box = Box4D(max(min_lon, -180.0), min_lat, min(max_lon, 180.0), max_lat, vol.altitude, vol.time)
        keys.update(dict.fromkeys(k for k in tx.candidates(box) if k[0] is Kind.INTENT))
    if not keys:
        return []
    minima, _ = tx.separation()
    world = World(tx.parties(), minima)
    world.add(obj)
    out = []
    for intent, _version in tx.objects(list(keys)):
        found = [c for c in world.check(intent) if c.other_id == obj.id and c.other_kind is obj.kind]
        if found:
            out.append({"intent": intent.id, "party": intent.party, "conflicts": [c.to_json() for c in found]})
    return out


# -- reading -----------------------------------------------------------------------


def listing(
    m: Mechanism, caller: Caller, *, after: int = 0, limit: int = 100, object_id: str | None = None
) -> list[dict[str, Any]]:
    """The notices the caller may see, each with its acknowledgement status."""
    limit = max(1, min(limit, MAX_PAGE))
    with m.store.read() as tx:
        if caller.role is Role.SECRETARIAT:
            found = tx.notices(after=after, limit=limit, object_id=object_id)
        elif caller.role is Role.MILITARY:
            found = tx.notices(recipient=caller.party, after=after, limit=limit, object_id=object_id)
        else:
            found = tx.notices(party=caller.party, after=after, limit=limit, object_id=object_id)
        return _with_status(tx, caller, found, m.clock.now())


def show(m: Mechanism, caller: Caller, notice_id: int) -> dict[str, Any]:
    """One notice and, per military party, whether and when it acknowledged, who is overdue, which units know."""
    with m.store.read() as tx:
        found = tx.notice(notice_id)
        if found is None or not _may_see(tx, caller, found):
            raise NotFound(f"no notice {notice_id}")
        return _with_status(tx, caller, [found], m.clock.now())[0]


def _may_see(tx: Tx, caller: Caller, notice: dict[str, Any]) -> bool:
    if caller.role is Role.SECRETARIAT or notice["party"] == caller.party:
        return True
    return caller.role is Role.MILITARY and tx.recipient_of(notice["id"], caller.party) is not None


def _with_status(tx: Tx, caller: Caller, notices: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Each notice with its recipients' status; a military party sees only its own row and its own conflicts.

    Need-to-know: the notifying agency and the secretariat see every
    party's acknowledgement; a military party does not learn whether
    another acknowledged, nor which other parties' intents conflict.
    """
    ids = [n["id"] for n in notices]
    recipients = tx.recipients(ids)
    units = tx.disseminations(ids)
    full = caller.role is Role.SECRETARIAT
    out = []
    for notice in notices:
        owner_view = full or notice["party"] == caller.party
        rows = []
        for r in recipients:
            if r["notice"] != notice["id"] or not (owner_view or r["party"] == caller.party):
                continue
            rows.append(_status(r, notice, now, [u for u in units if u["notice"] == notice["id"]]))
        item = {k: v for k, v in notice.items() if k != "conflicts"}
        item["recipients"] = rows
        item["overdue"] = [r["party"] for r in rows if r["state"] == "overdue"]
        if full:
            item["conflicts"] = notice["conflicts"]
        elif owner_view:
            item["filed_intents_in_conflict"] = len(notice["conflicts"])
        else:
            item["conflicts"] = [c for c in notice["conflicts"] if c["party"] == caller.party]
        out.append(item)
    return out


def _status(r: dict[str, Any], notice: dict[str, Any], now: datetime, units: list[dict[str, Any]]) -> dict[str, Any]:
    deadline = r["deadline"]
    if r["acked_at"] is not None:
        state = "acknowledged" if deadline is None or r["acked_at"] <= deadline else "acknowledged-late"
    elif deadline is not None and now >= deadline:
        state = "overdue"
    else:
        state = "pending"
    return {
        "party": r["party"],
        "notification": r["notification"],
        "state": state,
        "deadline": deadline,
        "acked_at": r["acked_at"],
        "acked_by": r["acked_by"],
        "signed": r["signed"],
        "ack_seconds": None if r["acked_at"] is None else (r["acked_at"] - notice["created_at"]).total_seconds(),
        "reminded_at": r["reminded_at"],
        "escalated_at": r["escalated_at"],
        "units": [
            {k: u[k] for k in ("unit", "method", "reference", "told_at", "recorded_at")}
            for u in units
            if u["party"] == r["party"]
        ],
    }


# -- acknowledging and disseminating ---------------------------------------------------


def inbox_message(m: Mechanism, caller: Caller, notice_id: int) -> int:
    """The id of the caller's inbox message for this notice (what the party acknowledges)."""
    with m.store.read() as tx:
        found = tx.recipient_of(notice_id, caller.party)
    if found is None:
        raise NotFound(f"notice {notice_id} was not sent to {caller.party}")
    return int(found["notification"])


MAX_UNITS = 200


def disseminate(m: Mechanism, caller: Caller, notice_id: int, units: Sequence[Mapping[str, Any]]) -> list[int]:
    """Record that the caller's party passed a notice down to named units (all or nothing).

    Each unit is ``{unit, method, told_at, reference}``: ``method`` says
    how the party knows (``relayed`` by its liaison, ``unit-ack`` from the
    unit itself, ``feed``: a delivery confirmation from its own C2 feed);
    ``told_at`` may not be in the future nor before the notice was sent.
    """
    if not units:
        raise InvalidInput([Problem("units", "name at least one unit")])
    if len(units) > MAX_UNITS:
        raise InvalidInput([Problem("units", f"at most {MAX_UNITS} units at once")])
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        notice = tx.notice(notice_id)
        if notice is None or tx.recipient_of(notice_id, caller.party) is None:
            raise NotFound(f"notice {notice_id} was not sent to {caller.party}")
        problems: list[Problem] = []
        rows = []
        for i, raw in enumerate(units):
            unit = str(raw.get("unit") or "").strip()
            method = str(raw.get("method") or "relayed")
            told_at = raw.get("told_at") or now
            reference = raw.get("reference")
            if not unit or len(unit) > 200:
                problems.append(Problem("unit", "a unit is named in 1 to 200 characters", index=i))
            if method not in {d.value for d in DisseminationMethod}:
                known = ", ".join(d.value for d in DisseminationMethod)
                problems.append(Problem("method", f"method {method!r} is not one of {known}", index=i))
            if not isinstance(told_at, datetime) or told_at.utcoffset() is None:
                problems.append(Problem("told-at", "told_at is an ISO 8601 time with an explicit offset", index=i))
            elif not notice["created_at"] <= told_at <= now:
                problems.append(
                    Problem("told-at", "told_at lies between the notice's sending and now (not in the future)", index=i)
                )
            if reference is not None and (not isinstance(reference, str) or len(reference) > 500):
                problems.append(Problem("reference", "a reference is text of at most 500 characters", index=i))
            rows.append((unit, method, told_at, reference))
        if problems:
            raise InvalidInput(problems)
        return [
            tx.add_dissemination(
                notice_id=notice_id,
                party=caller.party,
                owner=notice["party"],
                unit=unit,
                method=method,
                reference=reference,
                member=caller.member,
                told_at=told_at,
                now=now,
            )
            for unit, method, told_at, reference in rows
        ]


# -- timers -------------------------------------------------------------------------


@dataclass(frozen=True)
class Swept:
    reminded: int
    escalated: int


def tick(m: Mechanism) -> Swept:
    """Send every reminder and escalation that is due at the clock's time.

    A recipient that has not acknowledged by ``remind_at`` gets one
    reminder; one that has not acknowledged by its deadline is escalated:
    the secretariat is told (the incidents workflow takes it from there),
    and so are the late party and the notifying agency.  Each is sent once.
    """
    now = m.clock.now()
    reminded = escalated = 0
    with m.store.write(world=False) as tx:
        secretariat = sorted(p.id for p in tx.parties().values() if p.role is Role.SECRETARIAT)
        for due in tx.due_recipients(now, SWEEP_BATCH):
            about = {
                "notice": due["notice"],
                "kind": due["kind"],
                "id": due["object_id"],
                "notifying_party": due["owner"],
                "party": due["party"],
                "notification": due["notification"],
                "deadline": format_time(due["deadline"]),
            }
            if due["deadline"] is not None and now >= due["deadline"]:
                tx.mark_recipient(due["id"], "escalated_at", now, [due["party"], due["owner"], *secretariat])
                for party in dict.fromkeys([*secretariat, due["party"], due["owner"]]):
                    tx.notify(party, "notice.overdue", about, now)
                escalated += 1
            else:
                tx.mark_recipient(due["id"], "reminded_at", now, [due["party"], due["owner"]])
                tx.notify(due["party"], "notice.reminder", about, now)
                reminded += 1
    return Swept(reminded, escalated)


def is_notified_kind(kind: Kind) -> bool:
    """Sites and movements go through notification; other kinds are declared directly."""
    return kind in PROTECTED_KINDS
