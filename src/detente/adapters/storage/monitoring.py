"""The live monitor's rows: episodes (track events) and the incidents they open.

A mixin of :class:`~detente.adapters.storage.transaction.Tx`, like
``notices``.  Every write records an audit entry carrying the row as it now
stands, told to the parties concerned (and so to the secretariat, which
reads the whole log).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from detente.adapters.storage import audit_rows
from detente.adapters.storage.recording import Recording
from detente.adapters.storage.tables import IncidentRow, TrackEventRow


def _event(row: TrackEventRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "track": row.track,
        "party": row.party,
        "other": {"kind": row.other_kind, "id": row.other_id, "party": row.other_party},
        "start": row.start,
        "end": row.end,
        "min_distance_m": row.min_distance_m,
        "position": {"lon": row.lon, "lat": row.lat, "alt_m": row.alt_m},
        "open": row.open,
        "incident": row.incident_id,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def _incident(row: IncidentRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "severity": row.severity,
        "source": row.source,
        "title": row.title,
        "parties": list(row.parties),
        "position": None if row.lon is None else {"lon": row.lon, "lat": row.lat},
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "reported_by": row.reported_by,
        "description": row.description,
        "protocol": row.protocol,
        "resolved_at": row.resolved_at,
        "notice_proof": row.notice_proof,
    }


class MonitoringRows:
    """Reads and writes of the track events and incidents (mixed into ``Tx``)."""

    def add_track_event(self: Recording, values: dict[str, Any], audience: Sequence[str]) -> int:
        row = TrackEventRow(**values)
        self.session.add(row)
        self.session.flush()
        self.record("track-event.opened", audit_rows.subject("track-event", row.id), audience)
        return int(row.id)

    def update_track_event(self: Recording, event_id: int, values: dict[str, Any], audience: Sequence[str]) -> None:
        row = self.session.get(TrackEventRow, event_id)
        if row is None:
            raise LookupError(f"no track event {event_id}")
        was_open = row.open
        for name, value in values.items():
            setattr(row, name, value)
        kind = "track-event.closed" if was_open and not row.open else "track-event.updated"
        self.record(kind, audit_rows.subject("track-event", event_id), audience)

    def track_event(self: Recording, event_id: int) -> dict[str, Any] | None:
        row = self.session.get(TrackEventRow, event_id)
        return None if row is None else _event(row)

    def track_events(
        self: Recording,
        *,
        party: str | None,
        open_only: bool = False,
        incident: int | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Episodes concerning ``party`` (its track, or its zone, site, movement or track); all for None."""
        query = select(TrackEventRow).where(TrackEventRow.id > after)
        if party is not None:
            query = query.where(or_(TrackEventRow.party == party, TrackEventRow.other_party == party))
        if open_only:
            query = query.where(TrackEventRow.open.is_(True))
        if incident is not None:
            query = query.where(TrackEventRow.incident_id == incident)
        rows = self.session.scalars(query.order_by(TrackEventRow.id).limit(limit))
        return [_event(r) for r in rows]

    def add_incident(self: Recording, values: dict[str, Any], audience: Sequence[str]) -> int:
        row = IncidentRow(**values)
        self.session.add(row)
        self.session.flush()
        self.record("incident.opened", audit_rows.subject("incident", row.id), audience)
        return int(row.id)

    def update_incident(self: Recording, incident_id: int, values: dict[str, Any], audience: Sequence[str]) -> None:
        row = self.session.get(IncidentRow, incident_id)
        if row is None:
            raise LookupError(f"no incident {incident_id}")
        for name, value in values.items():
            setattr(row, name, value)
        self.record("incident.updated", audit_rows.subject("incident", incident_id), audience)

    def incident(self: Recording, incident_id: int) -> dict[str, Any] | None:
        row = self.session.get(IncidentRow, incident_id)
        return None if row is None else _incident(row)

    def incident_by_key(self: Recording, key: str, ended_after: datetime, before: datetime) -> dict[str, Any] | None:
        """The latest incident of this key still going, or that ended between ``ended_after`` and ``before``."""
        recent = IncidentRow.ended_at.between(ended_after, before)
        row = self.session.scalars(
            select(IncidentRow)
            .where(
                IncidentRow.key == key, IncidentRow.started_at <= before, or_(IncidentRow.ended_at.is_(None), recent)
            )
            .order_by(IncidentRow.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _incident(row)

    def incidents(
        self: Recording, *, party: str | None = None, after: int = 0, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Incidents in id order that involve ``party`` or that it reported (every incident for None)."""
        found: list[dict[str, Any]] = []
        while len(found) < limit:
            rows = list(
                self.session.scalars(
                    select(IncidentRow).where(IncidentRow.id > after).order_by(IncidentRow.id).limit(500)
                )
            )
            if not rows:
                break
            found += [_incident(r) for r in rows if party is None or party in r.parties or r.reported_by == party]
            after = rows[-1].id
        return found[:limit]
