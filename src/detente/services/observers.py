"""Ceasefire observers: their reports, grouped into incidents as they come, and their evidence files.

A report is stored as sent (its OSCE fields), with where it places the
event (:meth:`ObserverReport.estimated_position`).  Then every report
within six hours of it is clustered again (ST-DBSCAN,
:mod:`detente.engine.corroboration`), and the cluster this report falls in
becomes one incident: the one its reports already joined (the oldest, if
they had joined several), or a new ``ceasefire_violation`` incident whose
parties are those the reports attribute the fire to.  Ten observers
hearing one barrage make one incident.

Evidence files (photos, video, documents) are kept as bytes with their
SHA-256 and size, under a size limit and a list of media types; detente
never opens, converts or renders them, and serves them back only as a
download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from detente.domain.accounts import Caller
from detente.domain.errors import AlreadyExists, Forbidden, InvalidInput, NotFound, Problem
from detente.domain.incidents import IncidentType, Severity
from detente.domain.model import Role
from detente.domain.observations import ObserverReport
from detente.engine.corroboration import cluster_reports
from detente.services import incidents
from detente.services.context import Mechanism
from detente.services.ports import Tx

#: Reports this close in time to a new one are clustered again with it.
WINDOW = timedelta(hours=6)
MAX_EVIDENCE_BYTES = 16 * 1024 * 1024
MAX_EVIDENCE_PER_REPORT = 20
#: What an evidence file may be (it is only ever downloaded, but an allowlist says what is held).
MEDIA_TYPES = frozenset(
    {"image/jpeg", "image/png", "image/webp", "video/mp4", "video/quicktime", "application/pdf", "text/plain"}
)
_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._()-]{0,127}$")


def file_report(m: Mechanism, caller: Caller, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Store an observer's report and group it into an incident; returns the report as stored."""
    if caller.role not in (Role.OBSERVER, Role.SECRETARIAT):
        raise Forbidden("observer reports come from observer missions (and the secretariat)")
    if not isinstance(raw, Mapping):
        raise InvalidInput([Problem("report", "a report is a JSON object")])
    attributed = raw.get("attributed_to", [])
    body = {k: v for k, v in raw.items() if k != "attributed_to"} | {"party": caller.party}
    report = ObserverReport.from_json(body)
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        parties = tx.parties()
        if not isinstance(attributed, list) or not all(isinstance(p, str) and p in parties for p in attributed):
            raise InvalidInput(
                [Problem("attributed_to", "attributed_to lists known party ids (those assessed to fire)")]
            )
        if tx.observer_report_by_ref(caller.party, report.id) is not None:
            raise AlreadyExists(f"{caller.party} already filed report {report.id!r}")
        lon, lat, uncertainty = report.estimated_position()
        secretariat = sorted(p.id for p in parties.values() if p.role is Role.SECRETARIAT)
        audience = sorted({caller.party, *secretariat})
        rid = tx.add_observer_report(
            {
                "ref": report.id,
                "party": caller.party,
                "member_id": caller.member,
                "body": report.to_json() | {"attributed_to": sorted(set(attributed))},
                "start": report.start,
                "end": report.end,
                "lon": lon,
                "lat": lat,
                "uncertainty_m": uncertainty,
                "created_at": now,
            },
            audience,
        )
        _group(tx, caller, rid, report, now)
        stored = tx.observer_report(rid)
    assert stored is not None
    return stored


def _group(tx: Tx, caller: Caller, rid: int, report: ObserverReport, now: Any) -> None:
    """Cluster the reports near this one in time; the cluster it falls in is (or joins) one incident."""
    rows = tx.observer_reports(since=report.start - WINDOW, until=report.end + WINDOW)
    by_id = {str(r["id"]): r for r in rows}
    parsed = [dataclasses.replace(_parse(r["report"]), id=str(r["id"])) for r in rows]
    clusters = cluster_reports(parsed)
    mine = next(c for c in clusters if str(rid) in c.report_ids)
    members = [by_id[i] for i in mine.report_ids]
    joined = sorted({r["incident"] for r in members if r["incident"] is not None})
    attributed = sorted({p for r in members for p in r["report"].get("attributed_to", [])})
    kinds = ", ".join(sorted(e.value.replace("_", " ") for e in mine.event_types))
    title = f"{len(members)} observer report{'s' if len(members) > 1 else ''}: {kinds}"
    if joined:
        incident_id = joined[0]
        current = tx.incident(incident_id)
        assert current is not None
        audience = sorted({*current["parties"], caller.party})
        ended = max(mine.end, current["ended_at"] or mine.end)
        values: dict[str, Any] = {"ended_at": ended, "lon": mine.lon, "lat": mine.lat, "title": title[:300]}
        if mine.corroborated and current["severity"] in (Severity.LOW.value, Severity.MEDIUM.value):
            values["severity"] = Severity.HIGH.value  # a second source makes it a corroborated violation
        tx.update_incident(incident_id, values | {"updated_at": now}, audience)
    else:
        incident_id = incidents.open_incident(
            tx,
            type=IncidentType.CEASEFIRE_VIOLATION,
            severity=Severity.HIGH if mine.corroborated else Severity.MEDIUM,
            source="observer",
            key=f"observers|{rid}",
            title=title,
            involved=attributed,
            position=(mine.lon, mine.lat),
            started_at=mine.start,
            ended_at=mine.end,
            reporter=caller,
            description=(
                f"{'corroborated by' if mine.corroborated else 'one source so far;'} {mine.sources} "
                f"observer position(s); located within {mine.uncertainty_m:,.0f} m (ST-DBSCAN, see corroboration.md)"
            ),
            now=now,
        )
    tx.set_report_incident([r["id"] for r in members], incident_id, [caller.party])


def _parse(body: Mapping[str, Any]) -> ObserverReport:
    return ObserverReport.from_json({k: v for k, v in body.items() if k != "attributed_to"})


def show_report(m: Mechanism, caller: Caller, report_id: int) -> dict[str, Any]:
    with m.store.read() as tx:
        report = _visible(tx, caller, report_id)
        return report | {"evidence": tx.evidence_list(report_id)}


def _visible(tx: Tx, caller: Caller, report_id: int) -> dict[str, Any]:
    """The report, if the caller may see it: its mission, the secretariat, the parties of its incident."""
    report = tx.observer_report(report_id)
    if report is None:
        raise NotFound(f"no observer report {report_id}")
    if caller.role is Role.SECRETARIAT or report["party"] == caller.party:
        return report
    incident = tx.incident(report["incident"]) if report["incident"] is not None else None
    if incident is not None and caller.party in incident["parties"]:
        return report
    raise NotFound(f"no observer report {report_id}")


def add_evidence(
    m: Mechanism, caller: Caller, report_id: int, *, filename: str, media_type: str, content: bytes
) -> dict[str, Any]:
    """Attach a file to one of the caller's mission's reports (checked, hashed, stored; never opened)."""
    with m.store.read() as tx:
        if _visible(tx, caller, report_id)["party"] != caller.party:
            raise Forbidden("evidence is attached by the mission that filed the report")
    problems = []
    if not _FILENAME.fullmatch(filename or ""):
        problems.append(Problem("filename", "a file name of letters, digits, spaces and ._()- (at most 128)"))
    media = media_type.split(";")[0].strip().lower()
    if media not in MEDIA_TYPES:
        problems.append(Problem("media_type", f"{media or 'no type'!s} is not one of {', '.join(sorted(MEDIA_TYPES))}"))
    if not content:
        problems.append(Problem("content", "the file is empty"))
    if len(content) > MAX_EVIDENCE_BYTES:
        problems.append(Problem("content", f"a file is at most {MAX_EVIDENCE_BYTES} bytes"))
    if problems:
        raise InvalidInput(problems)
    digest = hashlib.sha256(content).hexdigest()
    with m.store.write(world=False, by=caller) as tx:
        report = _visible(tx, caller, report_id)
        if report["party"] != caller.party:
            raise Forbidden("evidence is attached by the mission that filed the report")
        existing = tx.evidence_list(report_id)
        if len(existing) >= MAX_EVIDENCE_PER_REPORT:
            raise InvalidInput([Problem("evidence", f"a report has at most {MAX_EVIDENCE_PER_REPORT} files")])
        if any(e["sha256"] == digest for e in existing):
            raise AlreadyExists(f"this file (sha256 {digest}) is already attached")
        secretariat = sorted(p.id for p in tx.parties().values() if p.role is Role.SECRETARIAT)
        eid = tx.add_evidence(
            {
                "report_id": report_id,
                "party": caller.party,
                "member_id": caller.member,
                "filename": filename,
                "media_type": media,
                "size": len(content),
                "sha256": digest,
                "content": content,
                "created_at": m.clock.now(),
            },
            sorted({caller.party, *secretariat}),
        )
    return {
        "id": eid,
        "report_id": report_id,
        "filename": filename,
        "media_type": media,
        "size": len(content),
        "sha256": digest,
    }


def evidence_file(m: Mechanism, caller: Caller, evidence_id: int) -> tuple[dict[str, Any], bytes]:
    with m.store.read() as tx:
        found = tx.evidence_file(evidence_id)
        if found is None:
            raise NotFound(f"no evidence {evidence_id}")
        _visible(tx, caller, found[0]["report_id"])
        return found
