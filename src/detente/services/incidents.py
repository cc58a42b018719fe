"""Incidents: report, acknowledge, investigate, resolve or dispute; the hotline; the escalation timers.

An incident opens (from the live monitor, or reported by a party) with the
parties involved, the de-escalation protocol in force at that moment
(frozen into the incident) and one timer row per protocol step.  Every
change is a row with its audit entry, and the parties involved and the
secretariat are told through the notifications (inbox, live stream,
webhooks).  :func:`tick` deals with the steps that are due: a step met by
its deadline is marked met; one that is not fires once, to the audiences
the step names.  Timers live in the database, so a restart neither loses
nor repeats one, and tests drive them with an injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from detente.domain.accounts import Caller
from detente.domain.errors import Forbidden, InvalidInput, NotFound, Problem
from detente.domain.geo.box import Box4D
from detente.domain.geo.intervals import TimeWindow, format_time
from detente.domain.incidents import (
    DEFAULT_PROTOCOLS,
    Audience,
    IncidentType,
    Protocol,
    ProtocolStep,
    Severity,
    Status,
    check_transition,
    choose_protocol,
    laggards,
    step_met,
)
from detente.domain.model import Kind, Role
from detente.domain.tracks import Samples
from detente.engine.monitor import ZoneIndex
from detente.services.context import Mechanism
from detente.services.ports import Tx

#: The rules row that holds the escalation protocols.
PROTOCOLS = "incident-protocols"
#: The member named for what the mechanism itself does (notifying, firing a step).
SYSTEM = "detente"
#: Steps dealt with per sweep.
SWEEP_BATCH = 500
MESSAGE_KINDS = ("message", "call", "proposal", "acceptance")
MAX_TEXT = 4000


@dataclass(frozen=True)
class Swept:
    met: int
    fired: int


# -- protocols ------------------------------------------------------------------------------


def current_protocols(tx: Tx) -> tuple[Protocol, ...]:
    stored = tx.rules(PROTOCOLS)
    if stored is None:
        return DEFAULT_PROTOCOLS
    return tuple(Protocol.from_json(p) for p in stored["protocols"])


def protocols(m: Mechanism) -> list[dict[str, Any]]:
    with m.store.read() as tx:
        return [p.to_json() for p in current_protocols(tx)]


def set_protocols(m: Mechanism, caller: Caller, raw: Any) -> list[dict[str, Any]]:
    """Replace the escalation protocols (secretariat only); running incidents keep theirs."""
    if caller.role is not Role.SECRETARIAT:
        raise Forbidden("only the secretariat sets the escalation protocols")
    if not isinstance(raw, list) or not (0 < len(raw) <= 50):
        raise InvalidInput([Problem("protocols", "give a list of 1 to 50 protocols")])
    problems: list[Problem] = []
    parsed = []
    for i, item in enumerate(raw):
        try:
            parsed.append(Protocol.from_json(item))
        except InvalidInput as exc:
            problems.extend(Problem(p.rule, p.message, index=i) for p in exc.problems)
    if problems:
        raise InvalidInput(problems)
    body = {"protocols": [p.to_json() for p in parsed]}
    with m.store.write(world=False, by=caller) as tx:
        tx.set_rules(PROTOCOLS, body, caller.member, m.clock.now())
    return body["protocols"]


# -- opening ----------------------------------------------------------------------------------


def open_incident(
    tx: Tx,
    *,
    type: IncidentType,
    severity: Severity,
    source: str,
    key: str,
    title: str,
    involved: Sequence[str],
    position: tuple[float, float] | None,
    started_at: datetime,
    ended_at: datetime | None,
    reporter: Caller | None,
    description: str,
    now: datetime,
) -> int:
    """Open an incident in ``tx``: its row, parties, frozen protocol, timers, and the notifications.

    Deadlines count from ``now``, when the mechanism learned of it (a
    party cannot acknowledge before it is told).
    """
    parties = tx.parties()
    secretariat = sorted(p.id for p in parties.values() if p.role is Role.SECRETARIAT)
    involved = sorted({p for p in involved if p in parties and p not in secretariat})
    audience = sorted({*involved, *secretariat})
    proof = notice_proof(tx, position, started_at) if position is not None and type in NEAR_PROTECTED else []
    if proof:
        # the notifying agencies are involved, and a strike on what was notified is as grave as it gets
        involved = sorted({*involved, *(p["party"] for p in proof if p["party"] in parties)})
        audience = sorted({*involved, *secretariat})
        if type is IncidentType.STRIKE_NEAR_PROTECTED:
            severity = Severity.CRITICAL
    protocol = choose_protocol(current_protocols(tx), type, severity)
    values = {
        "type": type.value,
        "status": Status.REPORTED.value,
        "severity": severity.value,
        "source": source,
        "key": key,
        "title": title[:300],
        "parties": involved,
        "lon": None if position is None else position[0],
        "lat": None if position is None else position[1],
        "started_at": started_at,
        "ended_at": ended_at,
        "created_at": now,
        "updated_at": now,
        "reported_by": None if reporter is None else reporter.party,
        "description": description,
        "protocol": protocol.to_json(),
        "notice_proof": proof or None,
    }
    incident_id = tx.add_incident(values, audience)
    tx.add_incident_parties(incident_id, involved, audience)
    tx.add_incident_steps(incident_id, [(s.name, now + s.within) for s in protocol.steps], audience)
    who = reporter or Caller(SYSTEM, "monitor" if source == "monitor" else "secretariat", Role.SECRETARIAT)
    tx.add_incident_transition(
        incident_id,
        status=Status.REPORTED.value,
        party=who.party,
        member=who.member,
        note=description[:500] or title[:300],
        now=now,
        audience=audience,
    )
    body = {
        "incident": incident_id,
        "type": type.value,
        "severity": severity.value,
        "title": title[:300],
        "parties": involved,
        "protocol": protocol.id,
        "deadlines": {s.name: format_time(now + s.within) for s in protocol.steps},
        "notified": [f"{p['kind']} {p['id']}" for p in proof],
    }
    tx.notify_many(audience, "incident.opened", body, now)
    _move(
        tx,
        incident_id,
        Status.REPORTED,
        Status.NOTIFIED,
        SYSTEM,
        "secretariat",
        "the parties involved were told",
        now,
        audience,
    )
    return incident_id


#: Incident types checked against the notified sites and movements where and when they happened.
NEAR_PROTECTED = frozenset(
    {IncidentType.STRIKE_NEAR_PROTECTED, IncidentType.PROXIMITY_TO_PROTECTED, IncidentType.CEASEFIRE_VIOLATION}
)


def notice_proof(tx: Tx, position: tuple[float, float], at: datetime) -> list[dict[str, Any]]:
    """The notified sites and movements active at ``at`` whose radius or corridor holds ``position``, each with its
    latest notice and every military party's acknowledgement as it stands: who had been told, and who had said so.
    """
    lon, lat = position
    box = Box4D(lon, lat, lon, lat, time=TimeWindow(at, at + timedelta(seconds=1)))
    keys = [k for k in tx.candidates(box) if k[0] in (Kind.SITE, Kind.MOVEMENT)]
    if not keys:
        return []
    objects = {(o.kind, o.id): o for o, _ in tx.objects(keys)}
    probe = Samples.build([("report", "-", "ground", "unknown", at.timestamp(), lon, lat, 0.0)])
    found = ZoneIndex(objects.values(), tx.parties()).events(probe)
    proof = []
    for event in sorted(found, key=lambda e: (e.other.kind, e.other.id)):
        notice = tx.latest_notice(event.other.kind, event.other.id)
        recipients = [] if notice is None else tx.recipients([notice["id"]])
        proof.append(
            {
                "kind": event.other.kind,
                "id": event.other.id,
                "party": event.other.party,
                "distance_m": round(event.min_distance_m, 1),
                "notice": None if notice is None else notice["id"],
                "action": None if notice is None else notice["action"],
                "notified_at": None if notice is None else format_time(notice["created_at"]),
                "deadline": None if notice is None else format_time(notice["deadline"]),
                "recipients": [
                    {
                        "party": r["party"],
                        "notification": r["notification"],
                        "deadline": format_time(r["deadline"]),
                        "acked_at": format_time(r["acked_at"]),
                        "acked_by": r["acked_by"],
                        "signed": r["signed"],
                        "acknowledged_in_time": r["acked_at"] is not None
                        and (r["deadline"] is None or r["acked_at"] <= r["deadline"]),
                    }
                    for r in recipients
                ],
            }
        )
    return proof


def report(
    m: Mechanism,
    caller: Caller,
    *,
    type: str,
    severity: str,
    parties: Sequence[str],
    title: str,
    description: str,
    position: tuple[float, float] | None,
    started_at: datetime,
    ended_at: datetime | None,
) -> dict[str, Any]:
    """A party, an observer or the secretariat reports an incident; the parties named and the secretariat are told.

    A military party reporting is itself involved; an observer or the
    secretariat names the parties involved.
    """
    problems: list[Problem] = []
    if type not in {t.value for t in IncidentType}:
        problems.append(Problem("type", f"type must be one of {', '.join(IncidentType)}"))
    if severity not in {s.value for s in Severity}:
        problems.append(Problem("severity", f"severity must be one of {', '.join(Severity)}"))
    with m.store.read() as tx:
        known = tx.parties()
    for p in parties:
        if p not in known:
            problems.append(Problem("parties", f"unknown party {p!r}"))
    if started_at.tzinfo is None or (ended_at is not None and (ended_at.tzinfo is None or ended_at < started_at)):
        problems.append(Problem("time", "started_at (and ended_at, not before it) need a UTC offset"))
    if not (0 < len(title) <= 300) or len(description) > MAX_TEXT:
        problems.append(Problem("title", f"a title of 1 to 300 characters and a description of at most {MAX_TEXT}"))
    if problems:
        raise InvalidInput(problems)
    involved = {*parties, *([caller.party] if caller.role is Role.MILITARY else [])}
    if not involved:
        raise InvalidInput([Problem("parties", "name at least one party involved")])
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        incident_id = open_incident(
            tx,
            type=IncidentType(type),
            severity=Severity(severity),
            source="observer" if caller.role is Role.OBSERVER else "party",
            key=f"report|{caller.party}|{now.isoformat()}",
            title=title,
            involved=sorted(involved),
            position=position,
            started_at=started_at,
            ended_at=ended_at,
            reporter=caller,
            description=description,
            now=now,
        )
    return show(m, caller, incident_id)


# -- reading ----------------------------------------------------------------------------------


def _get(tx: Tx, caller: Caller, incident_id: int) -> dict[str, Any]:
    incident = tx.incident(incident_id)
    if incident is None or not _sees(caller, incident):
        raise NotFound(f"no incident {incident_id}")
    return incident


def _sees(caller: Caller, incident: Mapping[str, Any]) -> bool:
    return (
        caller.role is Role.SECRETARIAT
        or caller.party in incident["parties"]
        or incident["reported_by"] == caller.party
    )


def show(m: Mechanism, caller: Caller, incident_id: int) -> dict[str, Any]:
    """The incident with its parties' acknowledgements, protocol steps, transitions and hotline."""
    with m.store.read() as tx:
        incident = _get(tx, caller, incident_id)
        return incident | {
            "involved": tx.incident_parties(incident_id),
            "steps": tx.incident_steps(incident_id),
            "transitions": tx.incident_transitions(incident_id),
            "messages": tx.incident_messages(incident_id),
        }


# -- changes ----------------------------------------------------------------------------------


def acknowledge(m: Mechanism, caller: Caller, incident_id: int) -> dict[str, Any]:
    """The caller's party acknowledges; once every party involved has, the incident is acknowledged."""
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        incident = _get(tx, caller, incident_id)
        audience = _audience(tx, incident)
        if caller.party not in incident["parties"]:
            raise Forbidden(f"{caller.party!r} is not involved in incident {incident_id}")
        if not tx.ack_incident(incident_id, caller.party, caller.member, now, audience):
            raise InvalidInput([Problem("acknowledged", f"{caller.party!r} has already acknowledged")])
        tx.notify_many(audience, "incident.acknowledged", {"incident": incident_id, "party": caller.party}, now)
        status = Status(incident["status"])
        if all(p["acked_at"] is not None for p in tx.incident_parties(incident_id)) and status in (
            Status.REPORTED,
            Status.NOTIFIED,
        ):
            _move(
                tx,
                incident_id,
                status,
                Status.ACKNOWLEDGED,
                caller.member,
                caller.party,
                "every party involved acknowledged",
                now,
                audience,
            )
    return show(m, caller, incident_id)


#: Who may move an incident to each status by hand.
_BY_SECRETARIAT = frozenset({Status.UNDER_INVESTIGATION, Status.RESOLVED})


def set_status(m: Mechanism, caller: Caller, incident_id: int, status: str, note: str) -> dict[str, Any]:
    """Investigate or resolve (the secretariat), dispute (a party involved or the secretariat)."""
    if status not in {s.value for s in Status} or status in (Status.REPORTED.value, Status.NOTIFIED.value):
        raise InvalidInput(
            [Problem("status", "status must be under_investigation, resolved, disputed or acknowledged")]
        )
    new = Status(status)
    if not note or len(note) > MAX_TEXT:
        raise InvalidInput([Problem("note", f"say why, in 1 to {MAX_TEXT} characters")])
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        incident = _get(tx, caller, incident_id)
        secretariat = caller.role is Role.SECRETARIAT
        if new in _BY_SECRETARIAT and not secretariat:
            raise Forbidden(f"only the secretariat makes an incident {new.value}")
        if new is Status.DISPUTED and not (secretariat or caller.party in incident["parties"]):
            raise Forbidden("only a party involved or the secretariat disputes an incident")
        if new is Status.ACKNOWLEDGED:
            raise InvalidInput([Problem("status", "each party acknowledges with POST /incidents/{id}/ack")])
        _move(
            tx,
            incident_id,
            Status(incident["status"]),
            new,
            caller.member,
            caller.party,
            note,
            now,
            _audience(tx, incident),
        )
    return show(m, caller, incident_id)


def post_message(
    m: Mechanism, caller: Caller, incident_id: int, kind: str, text: str, proposal: int | None = None
) -> dict[str, Any]:
    """A hotline message: ``message``; ``call`` (the secretariat records a joint call held); ``proposal`` of a
    resolution; ``acceptance`` of a proposal (once every other party involved has accepted, it is resolved)."""
    if kind not in MESSAGE_KINDS:
        raise InvalidInput([Problem("kind", f"kind must be one of {', '.join(MESSAGE_KINDS)}")])
    if not text or len(text) > MAX_TEXT:
        raise InvalidInput([Problem("text", f"text of 1 to {MAX_TEXT} characters")])
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        incident = _get(tx, caller, incident_id)
        audience = _audience(tx, incident)
        if Status(incident["status"]) is Status.RESOLVED:
            raise InvalidInput([Problem("status", f"incident {incident_id} is resolved; its hotline is closed")])
        secretariat = caller.role is Role.SECRETARIAT
        if not (secretariat or caller.party in incident["parties"]):
            raise Forbidden("only the parties involved and the secretariat use an incident's hotline")
        if kind == "call" and not secretariat:
            raise Forbidden("the secretariat records that a joint call was held")
        messages = tx.incident_messages(incident_id)
        if kind == "acceptance":
            target = next((x for x in messages if x["id"] == proposal and x["kind"] == "proposal"), None)
            if target is None:
                raise InvalidInput([Problem("proposal", f"no proposal {proposal} in incident {incident_id}")])
            if target["party"] == caller.party:
                raise InvalidInput([Problem("proposal", "a party does not accept its own proposal")])
        elif proposal is not None:
            raise InvalidInput([Problem("proposal", "only an acceptance names a proposal")])
        mid = tx.add_incident_message(
            incident_id,
            party=caller.party,
            member=caller.member,
            kind=kind,
            text=text,
            proposal_id=proposal,
            now=now,
            audience=audience,
        )
        body = {"incident": incident_id, "message": mid, "kind": kind, "party": caller.party, "text": text[:500]}
        tx.notify_many([p for p in audience if p != caller.party], "incident.message", body, now)
        if kind == "acceptance":
            assert target is not None
            accepted = {x["party"] for x in messages if x["kind"] == "acceptance" and x["proposal"] == proposal}
            accepted |= {caller.party, target["party"]}
            if set(incident["parties"]) <= accepted:
                note = f"resolution {proposal} accepted by every party involved: {target['text'][:300]}"
                _move(
                    tx,
                    incident_id,
                    Status(incident["status"]),
                    Status.RESOLVED,
                    caller.member,
                    caller.party,
                    note,
                    now,
                    audience,
                )
    return show(m, caller, incident_id)


def _move(
    tx: Tx,
    incident_id: int,
    current: Status,
    new: Status,
    member: str,
    party: str,
    note: str,
    now: datetime,
    audience: Sequence[str],
) -> None:
    check_transition(current, new)
    values: dict[str, Any] = {"status": new.value, "updated_at": now}
    if new is Status.RESOLVED:
        values["resolved_at"] = now
    tx.update_incident(incident_id, values, audience)
    tx.add_incident_transition(
        incident_id, status=new.value, party=party, member=member, note=note, now=now, audience=audience
    )
    if new is not Status.NOTIFIED:
        tx.notify_many(
            audience, "incident.status", {"incident": incident_id, "status": new.value, "note": note[:500]}, now
        )


def _audience(tx: Tx, incident: Mapping[str, Any]) -> list[str]:
    secretariat = [p.id for p in tx.parties().values() if p.role is Role.SECRETARIAT]
    return sorted({*incident["parties"], *secretariat})


# -- timers -------------------------------------------------------------------------------------


def tick(m: Mechanism) -> Swept:
    """Deal with every protocol step due at the clock's time: met ones are marked, the others fire once."""
    now = m.clock.now()
    met = fired = 0
    with m.store.write(world=False) as tx:
        secretariat = sorted(p.id for p in tx.parties().values() if p.role is Role.SECRETARIAT)
        for due in tx.due_incident_steps(now, SWEEP_BATCH):
            incident = tx.incident(due["incident_id"])
            if incident is None or incident["protocol"] is None:
                continue
            step = Protocol.from_json(incident["protocol"]).steps[due["index"]]
            acked = {p["party"]: p["acked_at"] for p in tx.incident_parties(due["incident_id"])}
            calls = [x["at"] for x in tx.incident_messages(due["incident_id"]) if x["kind"] == "call"]
            audience = sorted({*incident["parties"], *secretariat})
            if step_met(step, acked=acked, calls=calls, resolved_at=incident["resolved_at"], by=due["due_at"]):
                tx.finish_incident_step(due["id"], fired=False, now=now, audience=audience)
                met += 1
                continue
            tx.finish_incident_step(due["id"], fired=True, now=now, audience=audience)
            _fire(tx, incident, step, due, acked, secretariat, now)
            fired += 1
    return Swept(met, fired)


def _fire(
    tx: Tx,
    incident: Mapping[str, Any],
    step: ProtocolStep,
    due: Mapping[str, Any],
    acked: Mapping[str, datetime | None],
    secretariat: Sequence[str],
    now: datetime,
) -> None:
    late = laggards(step, acked, due["due_at"])
    body = {
        "incident": incident["id"],
        "step": step.name,
        "due_at": format_time(due["due_at"]),
        "condition": step.condition.value,
        "late": late,
        "title": incident["title"],
    }
    if Audience.NEXT_LEVEL in step.notify:
        for party in late:
            tx.notify(party, "incident.escalated", body | {"level": 2}, now)
    told = set(late) if Audience.NEXT_LEVEL in step.notify else set()
    targets: set[str] = set()
    if Audience.SECRETARIAT in step.notify:
        targets |= set(secretariat)
    if Audience.INVOLVED in step.notify:
        targets |= set(incident["parties"]) - told
    if targets:
        tx.notify_many(sorted(targets), "incident.overdue", body, now)


def listing(m: Mechanism, caller: Caller, *, after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    party = None if caller.role is Role.SECRETARIAT else caller.party
    with m.store.read() as tx:
        return tx.incidents(party=party, after=after, limit=limit)
