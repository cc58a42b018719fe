"""An incident's rows beyond the incident itself: parties involved, protocol steps, transitions, hotline.

A mixin of :class:`~detente.adapters.storage.transaction.Tx`, like
``notices`` and ``monitoring``; every write records its audit entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select

from detente.adapters.storage import audit_rows
from detente.adapters.storage.recording import Recording
from detente.adapters.storage.tables import (
    EvidenceRow,
    IncidentMessageRow,
    IncidentPartyRow,
    IncidentStepRow,
    IncidentTransitionRow,
    ObserverReportRow,
)


class IncidentRows:
    """Reads and writes of the incident tables (mixed into ``Tx``)."""

    def add_incident_parties(
        self: Recording, incident_id: int, parties: Sequence[str], audience: Sequence[str]
    ) -> None:
        for party in parties:
            row = IncidentPartyRow(incident_id=incident_id, party=party)
            self.session.add(row)
            self.session.flush()
            self.record("incident.party-added", audit_rows.subject("incident-party", row.id), audience)

    def incident_parties(self: Recording, incident_id: int) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(IncidentPartyRow).where(IncidentPartyRow.incident_id == incident_id).order_by(IncidentPartyRow.party)
        )
        return [{"party": r.party, "acked_at": r.acked_at, "acked_by": r.acked_by} for r in rows]

    def ack_incident(
        self: Recording, incident_id: int, party: str, member: str, now: datetime, audience: Sequence[str]
    ) -> bool:
        """Record ``party``'s acknowledgement; False if it is not involved or had acknowledged already."""
        row = self.session.scalars(
            select(IncidentPartyRow).where(IncidentPartyRow.incident_id == incident_id, IncidentPartyRow.party == party)
        ).first()
        if row is None or row.acked_at is not None:
            return False
        row.acked_at, row.acked_by = now, member
        self.record("incident.acknowledged", audit_rows.subject("incident-party", row.id), audience)
        return True

    def add_incident_steps(
        self: Recording, incident_id: int, steps: Sequence[tuple[str, datetime]], audience: Sequence[str]
    ) -> None:
        for idx, (name, due_at) in enumerate(steps):
            row = IncidentStepRow(incident_id=incident_id, idx=idx, name=name, due_at=due_at, fired=False)
            self.session.add(row)
            self.session.flush()
            self.record("incident.step-set", audit_rows.subject("incident-step", row.id), audience)

    def incident_steps(self: Recording, incident_id: int) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(IncidentStepRow).where(IncidentStepRow.incident_id == incident_id).order_by(IncidentStepRow.idx)
        )
        return [
            {"id": r.id, "index": r.idx, "name": r.name, "due_at": r.due_at, "done_at": r.done_at, "fired": r.fired}
            for r in rows
        ]

    def due_incident_steps(self: Recording, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Steps due and not yet dealt with, oldest first (SKIP LOCKED on PostgreSQL: two sweeps share them)."""
        query = (
            select(IncidentStepRow)
            .where(IncidentStepRow.done_at.is_(None), IncidentStepRow.due_at <= now)
            .order_by(IncidentStepRow.due_at, IncidentStepRow.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [
            {"id": r.id, "incident_id": r.incident_id, "index": r.idx, "name": r.name, "due_at": r.due_at}
            for r in self.session.scalars(query)
        ]

    def finish_incident_step(
        self: Recording, step_id: int, *, fired: bool, now: datetime, audience: Sequence[str]
    ) -> None:
        row = self.session.get(IncidentStepRow, step_id)
        if row is None:
            raise LookupError(f"no incident step {step_id}")
        row.done_at, row.fired = now, fired
        self.record(
            "incident.step-fired" if fired else "incident.step-met",
            audit_rows.subject("incident-step", step_id),
            audience,
        )

    def add_incident_transition(
        self: Recording,
        incident_id: int,
        *,
        status: str,
        party: str,
        member: str,
        note: str,
        now: datetime,
        audience: Sequence[str],
    ) -> int:
        row = IncidentTransitionRow(
            incident_id=incident_id, status=status, party=party, member_id=member, at=now, note=note
        )
        self.session.add(row)
        self.session.flush()
        self.record(f"incident.{status}", audit_rows.subject("incident-transition", row.id), audience)
        return int(row.id)

    def incident_transitions(self: Recording, incident_id: int) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(IncidentTransitionRow)
            .where(IncidentTransitionRow.incident_id == incident_id)
            .order_by(IncidentTransitionRow.id)
        )
        return [
            {"id": r.id, "status": r.status, "party": r.party, "member": r.member_id, "at": r.at, "note": r.note}
            for r in rows
        ]

    def add_incident_message(
        self: Recording,
        incident_id: int,
        *,
        party: str,
        member: str,
        kind: str,
        text: str,
        proposal_id: int | None,
        now: datetime,
        audience: Sequence[str],
    ) -> int:
        row = IncidentMessageRow(
            incident_id=incident_id,
            party=party,
            member_id=member,
            kind=kind,
            text=text,
            proposal_id=proposal_id,
            at=now,
        )
        self.session.add(row)
        self.session.flush()
        self.record(f"incident.{kind}", audit_rows.subject("incident-message", row.id), audience)
        return int(row.id)

    def incident_messages(self: Recording, incident_id: int, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(IncidentMessageRow)
            .where(IncidentMessageRow.incident_id == incident_id, IncidentMessageRow.id > after)
            .order_by(IncidentMessageRow.id)
            .limit(limit)
        )
        return [
            {
                "id": r.id,
                "party": r.party,
                "member": r.member_id,
                "kind": r.kind,
                "text": r.text,
                "proposal": r.proposal_id,
                "at": r.at,
            }
            for r in rows
        ]

    # -- observer reports and evidence -----------------------------------------------------

    def add_observer_report(self: Recording, values: dict[str, Any], audience: Sequence[str]) -> int:
        row = ObserverReportRow(**values)
        self.session.add(row)
        self.session.flush()
        self.record("observer-report.filed", audit_rows.subject("observer-report", row.id), audience)
        return int(row.id)

    def observer_report_by_ref(self: Recording, party: str, ref: str) -> dict[str, Any] | None:
        row = self.session.scalars(
            select(ObserverReportRow).where(ObserverReportRow.party == party, ObserverReportRow.ref == ref)
        ).first()
        return None if row is None else _report(row)

    def observer_report(self: Recording, report_id: int) -> dict[str, Any] | None:
        row = self.session.get(ObserverReportRow, report_id)
        return None if row is None else _report(row)

    def observer_reports(
        self: Recording, *, since: datetime, until: datetime, limit: int = 5000
    ) -> list[dict[str, Any]]:
        """Reports whose span meets [since, until], oldest first."""
        rows = self.session.scalars(
            select(ObserverReportRow)
            .where(ObserverReportRow.end >= since, ObserverReportRow.start <= until)
            .order_by(ObserverReportRow.start, ObserverReportRow.id)
            .limit(limit)
        )
        return [_report(r) for r in rows]

    def set_report_incident(
        self: Recording, report_ids: Sequence[int], incident_id: int, audience: Sequence[str]
    ) -> None:
        for rid in report_ids:
            row = self.session.get(ObserverReportRow, rid)
            if row is not None and row.incident_id != incident_id:
                row.incident_id = incident_id
                self.record("observer-report.grouped", audit_rows.subject("observer-report", rid), audience)

    def add_evidence(self: Recording, values: dict[str, Any], audience: Sequence[str]) -> int:
        row = EvidenceRow(**values)
        self.session.add(row)
        self.session.flush()
        self.record("evidence.filed", audit_rows.subject("evidence", row.id), audience)
        return int(row.id)

    def evidence_list(self: Recording, report_id: int) -> list[dict[str, Any]]:
        rows = self.session.execute(
            select(
                EvidenceRow.id,
                EvidenceRow.filename,
                EvidenceRow.media_type,
                EvidenceRow.size,
                EvidenceRow.sha256,
                EvidenceRow.party,
                EvidenceRow.created_at,
            )
            .where(EvidenceRow.report_id == report_id)
            .order_by(EvidenceRow.id)
        ).mappings()
        return [dict(r) for r in rows]

    def evidence_file(self: Recording, evidence_id: int) -> tuple[dict[str, Any], bytes] | None:
        row = self.session.get(EvidenceRow, evidence_id)
        if row is None:
            return None
        meta = {
            "id": row.id,
            "report_id": row.report_id,
            "filename": row.filename,
            "media_type": row.media_type,
            "size": row.size,
            "sha256": row.sha256,
        }
        return meta, bytes(row.content)


def _report(row: ObserverReportRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "ref": row.ref,
        "party": row.party,
        "member": row.member_id,
        "report": dict(row.body),
        "estimated": {"lon": row.lon, "lat": row.lat, "uncertainty_m": row.uncertainty_m},
        "incident": row.incident_id,
        "created_at": row.created_at,
    }
