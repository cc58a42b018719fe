"""How each notified movement went, and the per-party record of acknowledgements and outcomes.

OCHA reports humanitarian access by what happened to each movement:
facilitated, impeded, denied or cancelled.  The agency records the outcome
(with a reason, and for impeded or denied movements the party it holds
responsible); the statistics put that beside how fast each military party
acknowledged, so the mechanism's meetings argue from the same numbers.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

from detente.domain.accounts import Caller
from detente.domain.errors import Forbidden, InvalidInput, NotFound, Problem
from detente.domain.humanitarian import Action, Outcome, percentile
from detente.domain.model import Kind, Role
from detente.services import notices, objects
from detente.services.context import Mechanism

MAX_REASON = 2000


def record(
    m: Mechanism,
    caller: Caller,
    movement_id: str,
    outcome: str,
    reason: str,
    attributed_to: str | None = None,
) -> dict[str, Any]:
    """Record a movement's outcome; a cancelled movement still in the world is withdrawn in the same step.

    A later record supersedes an earlier one (both stay in the log).
    """
    problems = []
    if outcome not in {o.value for o in Outcome}:
        problems.append(Problem("outcome", f"outcome {outcome!r} is not one of {', '.join(o.value for o in Outcome)}"))
    reason = (reason or "").strip()
    if not reason or len(reason) > MAX_REASON:
        problems.append(Problem("reason", f"give the reason in 1 to {MAX_REASON} characters"))
    if attributed_to is not None and outcome not in (Outcome.IMPEDED.value, Outcome.DENIED.value):
        problems.append(Problem("attributed-to", "only an impeded or denied movement is attributed to a party"))
    if problems:
        raise InvalidInput(problems)
    now = m.clock.now()
    with m.store.write(by=caller) as tx:
        live = tx.get_object(Kind.MOVEMENT, movement_id)
        last = tx.latest_notice(Kind.MOVEMENT.value, movement_id)
        owner = live.party if live is not None else None if last is None else last["party"]
        if owner is None or (owner != caller.party and caller.role is not Role.SECRETARIAT):
            raise NotFound(f"no movement {movement_id!r} of {caller.party}")
        parties = tx.parties()
        if attributed_to is not None:
            found = parties.get(attributed_to)
            if found is None or found.role is not Role.MILITARY:
                raise InvalidInput([Problem("attributed-to", f"{attributed_to!r} is not a military party")])
        outcome_id = tx.add_outcome(
            movement_id=movement_id,
            party=owner,
            outcome=outcome,
            reason=reason,
            attributed_to=attributed_to,
            member=caller.member,
            now=now,
        )
        withdrawn = None
        if outcome == Outcome.CANCELLED.value and live is not None:
            obj, version = objects.remove(tx, caller, Kind.MOVEMENT, movement_id)
            withdrawn = notices.send(
                m, tx, obj, Action.WITHDRAWN, False, notices.current_rules(tx), now, version, caller
            )
        body = {
            "movement": movement_id,
            "party": owner,
            "outcome": outcome,
            "reason": reason,
            "attributed_to": attributed_to,
        }
        told = [p.id for p in parties.values() if p.role is Role.SECRETARIAT and p.id != caller.party]
        if attributed_to is not None:
            told.append(attributed_to)
        for party in dict.fromkeys(told):
            tx.notify(party, "movement.outcome", body, now)
    return {
        "id": outcome_id,
        **body,
        "recorded_at": now,
        "withdrawn": None if withdrawn is None else withdrawn.to_json(),
    }


def history(m: Mechanism, caller: Caller, movement_id: str) -> list[dict[str, Any]]:
    """The outcomes recorded for a movement: its agency, the secretariat and a party it is attributed to."""
    with m.store.read() as tx:
        found = tx.outcomes(movement_id=movement_id)
    if caller.role is not Role.SECRETARIAT:
        found = [o for o in found if caller.party in (o["party"], o["attributed_to"])]
    if not found:
        raise NotFound(f"no outcome recorded for movement {movement_id!r} that you may see")
    return found


def stats(m: Mechanism, caller: Caller, since: datetime | None = None, until: datetime | None = None) -> dict[str, Any]:
    """Per military party, how it acknowledged; per agency and per party held responsible, how movements went.

    Counts and times only, never the notices themselves, so every party may
    read them.  Acknowledgement times run from the notice's sending to the
    party's acknowledgement; withdrawals, which have no deadline, are left out.
    """
    if caller.role is Role.OBSERVER:
        raise Forbidden("an observer has no part in humanitarian notification")
    now = m.clock.now()
    with m.store.read() as tx:
        rows = [r for r in tx.ack_history(since, until) if r["action"] != Action.WITHDRAWN.value]
        recorded = tx.outcomes()
    per_party: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        per_party[r["party"]].append(r)
    acks = {}
    for party, items in sorted(per_party.items()):
        times = [(r["acked_at"] - r["sent_at"]).total_seconds() for r in items if r["acked_at"] is not None]
        on_time = sum(1 for r in items if r["acked_at"] is not None and r["acked_at"] <= r["deadline"])
        acks[party] = {
            "notices": len(items),
            "acknowledged": len(times),
            "on_time": on_time,
            "late": len(times) - on_time,
            "overdue": sum(1 for r in items if r["acked_at"] is None and now >= r["deadline"]),
            "pending": sum(1 for r in items if r["acked_at"] is None and now < r["deadline"]),
            "escalated": sum(1 for r in items if r["escalated_at"] is not None),
            "median_ack_s": percentile(times, 50),
            "p90_ack_s": percentile(times, 90),
        }
    latest: dict[str, dict[str, Any]] = {}
    for o in recorded:
        if (since is None or o["recorded_at"] >= since) and (until is None or o["recorded_at"] < until):
            latest[o["movement"]] = o
    by_agency: dict[str, Counter[str]] = defaultdict(Counter)
    by_party: dict[str, Counter[str]] = defaultdict(Counter)
    for o in latest.values():
        by_agency[o["party"]][o["outcome"]] += 1
        if o["attributed_to"] is not None:
            by_party[o["attributed_to"]][o["outcome"]] += 1
    return {
        "since": since,
        "until": until,
        "at": now,
        "acknowledgements": acks,
        "outcomes": {a: _counts(c) for a, c in sorted(by_agency.items())},
        "attributed": {p: _counts(c) for p, c in sorted(by_party.items())},
    }


def _counts(c: Counter[str]) -> dict[str, int]:
    return {o.value: c.get(o.value, 0) for o in Outcome}
