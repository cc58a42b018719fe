"""The humanitarian notices' rows: notices, recipients, disseminations, outcomes, rules.

A mixin of :class:`~detente.adapters.storage.transaction.Tx`, kept apart so
the transaction module stays readable.  Like every other write, each method
that changes a row records an audit entry carrying the row as it now stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, insert, or_, select, update

from detente.adapters.storage import audit_rows
from detente.adapters.storage.recording import Recording
from detente.adapters.storage.tables import (
    DisseminationRow,
    NoticeRecipientRow,
    NoticeRow,
    NotificationRow,
    OutcomeRow,
    RulesRow,
)
from detente.audit import EVERYONE

_RECIPIENT_COLUMNS = (
    NoticeRecipientRow.id,
    NoticeRecipientRow.notice_id,
    NoticeRecipientRow.party,
    NoticeRecipientRow.notification_id,
    NoticeRecipientRow.deadline,
    NoticeRecipientRow.remind_at,
    NoticeRecipientRow.reminded_at,
    NoticeRecipientRow.escalated_at,
    NotificationRow.acked_at,
    NotificationRow.acked_by,
    NotificationRow.ack_signature,
)


class NoticeRows:
    """Reads and writes of the humanitarian notification tables (mixed into ``Tx``)."""

    # -- rules ----------------------------------------------------------------

    def rules(self: Recording, name: str) -> dict[str, Any] | None:
        row = self.session.get(RulesRow, name)
        return None if row is None else dict(row.body)

    def set_rules(self: Recording, name: str, body: dict[str, Any], member: str, now: datetime) -> None:
        row = self.session.get(RulesRow, name)
        if row is None:
            self.session.add(RulesRow(name=name, body=body, updated_at=now, updated_by=member))
        else:
            row.body, row.updated_at, row.updated_by = body, now, member
        self.record("rules.set", audit_rows.subject("rules", name), [EVERYONE])

    # -- notices --------------------------------------------------------------

    def add_notice(
        self: Recording,
        *,
        kind: str,
        object_id: str,
        party: str,
        member: str,
        action: str,
        urgent: bool,
        now: datetime,
        deadline: datetime | None,
        remind_at: datetime | None,
        features: list[dict[str, Any]],
        conflicts: list[dict[str, Any]],
        audience: Sequence[str],
    ) -> int:
        values = {
            "kind": kind,
            "object_id": object_id,
            "party": party,
            "member_id": member,
            "action": action,
            "urgent": urgent,
            "created_at": now,
            "deadline": deadline,
            "remind_at": remind_at,
            "features": features,
            "conflicts": conflicts,
        }
        notice_id = int(self.session.execute(insert(NoticeRow).returning(NoticeRow.id), [values]).scalar_one())
        self.record(f"notice.{action}", audit_rows.subject("notice", notice_id), [party, *audience])
        return notice_id

    def add_recipient(
        self: Recording,
        *,
        notice_id: int,
        party: str,
        owner: str,
        notification_id: int,
        deadline: datetime | None,
        remind_at: datetime | None,
    ) -> int:
        values = {
            "notice_id": notice_id,
            "party": party,
            "notification_id": notification_id,
            "deadline": deadline,
            "remind_at": remind_at,
        }
        rid = int(
            self.session.execute(insert(NoticeRecipientRow).returning(NoticeRecipientRow.id), [values]).scalar_one()
        )
        self.record("notice.addressed", audit_rows.subject("recipient", rid), [party, owner])
        return rid

    def notice(self: Recording, notice_id: int) -> dict[str, Any] | None:
        row = self.session.get(NoticeRow, notice_id)
        return None if row is None else _notice(row)

    def notices(
        self: Recording,
        *,
        party: str | None = None,
        recipient: str | None = None,
        kind: str | None = None,
        object_id: str | None = None,
        after: int = 0,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """Notices by id: of one notifying party, or sent to one recipient, or all (None, None)."""
        query = select(NoticeRow).where(NoticeRow.id > after)
        if party is not None:
            query = query.where(NoticeRow.party == party)
        if recipient is not None:
            sent = select(NoticeRecipientRow.notice_id).where(NoticeRecipientRow.party == recipient)
            query = query.where(NoticeRow.id.in_(sent))
        if kind is not None:
            query = query.where(NoticeRow.kind == kind)
        if object_id is not None:
            query = query.where(NoticeRow.object_id == object_id)
        return [_notice(r) for r in self.session.scalars(query.order_by(NoticeRow.id).limit(limit))]

    def latest_notice(self: Recording, kind: str, object_id: str) -> dict[str, Any] | None:
        row = self.session.scalars(
            select(NoticeRow)
            .where(NoticeRow.kind == kind, NoticeRow.object_id == object_id)
            .order_by(NoticeRow.id.desc())
            .limit(1)
        ).first()
        return None if row is None else _notice(row)

    def recipients(self: Recording, notice_ids: Sequence[int]) -> list[dict[str, Any]]:
        """Each recipient of these notices, with its acknowledgement (from its inbox message)."""
        if not notice_ids:
            return []
        rows = self.session.execute(
            select(*_RECIPIENT_COLUMNS)
            .join(NotificationRow, NotificationRow.id == NoticeRecipientRow.notification_id)
            .where(NoticeRecipientRow.notice_id.in_(list(notice_ids)))
            .order_by(NoticeRecipientRow.notice_id, NoticeRecipientRow.party)
        ).mappings()
        return [_recipient(r) for r in rows]

    def recipient_of(self: Recording, notice_id: int, party: str) -> dict[str, Any] | None:
        row = (
            self.session.execute(
                select(*_RECIPIENT_COLUMNS)
                .join(NotificationRow, NotificationRow.id == NoticeRecipientRow.notification_id)
                .where(NoticeRecipientRow.notice_id == notice_id, NoticeRecipientRow.party == party)
            )
            .mappings()
            .first()
        )
        return None if row is None else _recipient(row)

    def due_recipients(self: Recording, now: datetime, limit: int) -> list[dict[str, Any]]:
        """Unacknowledged recipients whose reminder or deadline has come and who are not yet escalated.

        On PostgreSQL the rows are locked (``SKIP LOCKED``) so two servers'
        timers never send the same reminder or escalation twice; SQLite has
        one writer at a time.
        """
        query = (
            select(*_RECIPIENT_COLUMNS, NoticeRow.party.label("owner"), NoticeRow.kind, NoticeRow.object_id)
            .join(NotificationRow, NotificationRow.id == NoticeRecipientRow.notification_id)
            .join(NoticeRow, NoticeRow.id == NoticeRecipientRow.notice_id)
            .where(
                NoticeRecipientRow.escalated_at.is_(None),
                NoticeRecipientRow.remind_at <= now,
                NotificationRow.acked_at.is_(None),
                or_(NoticeRecipientRow.deadline <= now, NoticeRecipientRow.reminded_at.is_(None)),
            )
            .order_by(NoticeRecipientRow.deadline, NoticeRecipientRow.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=NoticeRecipientRow)
        out = []
        for r in self.session.execute(query).mappings():
            item = _recipient(r)
            item.update(owner=r["owner"], kind=r["kind"], object_id=r["object_id"])
            out.append(item)
        return out

    def mark_recipient(self: Recording, recipient_id: int, field: str, now: datetime, audience: Sequence[str]) -> None:
        """Set ``reminded_at`` or ``escalated_at`` of one recipient."""
        column = {"reminded_at": NoticeRecipientRow.reminded_at, "escalated_at": NoticeRecipientRow.escalated_at}
        self.session.execute(
            update(NoticeRecipientRow).where(NoticeRecipientRow.id == recipient_id).values({column[field]: now})
        )
        kind = "notice.reminded" if field == "reminded_at" else "notice.escalated"
        self.record(kind, audit_rows.subject("recipient", recipient_id), audience)

    def ack_history(self: Recording, since: datetime | None, until: datetime | None) -> list[dict[str, Any]]:
        """Every recipient of notices sent in ``[since, until)``, with the notice's time, for statistics."""
        query = (
            select(*_RECIPIENT_COLUMNS, NoticeRow.created_at.label("sent_at"), NoticeRow.action)
            .join(NotificationRow, NotificationRow.id == NoticeRecipientRow.notification_id)
            .join(NoticeRow, NoticeRow.id == NoticeRecipientRow.notice_id)
        )
        if since is not None:
            query = query.where(NoticeRow.created_at >= since)
        if until is not None:
            query = query.where(NoticeRow.created_at < until)
        out = []
        for r in self.session.execute(query).mappings():
            item = _recipient(r)
            item.update(sent_at=r["sent_at"], action=r["action"])
            out.append(item)
        return out

    # -- dissemination ----------------------------------------------------------

    def add_dissemination(
        self: Recording,
        *,
        notice_id: int,
        party: str,
        owner: str,
        unit: str,
        method: str,
        reference: str | None,
        member: str,
        told_at: datetime,
        now: datetime,
    ) -> int:
        values = {
            "notice_id": notice_id,
            "party": party,
            "unit": unit,
            "method": method,
            "reference": reference,
            "member_id": member,
            "told_at": told_at,
            "recorded_at": now,
        }
        did = int(self.session.execute(insert(DisseminationRow).returning(DisseminationRow.id), [values]).scalar_one())
        self.record("notice.disseminated", audit_rows.subject("dissemination", did), [party, owner])
        return did

    def disseminations(self: Recording, notice_ids: Sequence[int]) -> list[dict[str, Any]]:
        if not notice_ids:
            return []
        rows = self.session.scalars(
            select(DisseminationRow)
            .where(DisseminationRow.notice_id.in_(list(notice_ids)))
            .order_by(DisseminationRow.notice_id, DisseminationRow.id)
        )
        return [
            {
                "id": r.id,
                "notice": r.notice_id,
                "party": r.party,
                "unit": r.unit,
                "method": r.method,
                "reference": r.reference,
                "member": r.member_id,
                "told_at": r.told_at,
                "recorded_at": r.recorded_at,
            }
            for r in rows
        ]

    # -- movement outcomes -------------------------------------------------------

    def add_outcome(
        self: Recording,
        *,
        movement_id: str,
        party: str,
        outcome: str,
        reason: str,
        attributed_to: str | None,
        member: str,
        now: datetime,
    ) -> int:
        values = {
            "movement_id": movement_id,
            "party": party,
            "outcome": outcome,
            "reason": reason,
            "attributed_to": attributed_to,
            "member_id": member,
            "recorded_at": now,
        }
        oid = int(self.session.execute(insert(OutcomeRow).returning(OutcomeRow.id), [values]).scalar_one())
        audience = [party] if attributed_to is None else [party, attributed_to]
        self.record("movement.outcome", audit_rows.subject("outcome", oid), audience)
        return oid

    def outcomes(self: Recording, *, movement_id: str | None = None) -> list[dict[str, Any]]:
        """Recorded outcomes by id (a later record of the same movement supersedes an earlier one)."""
        query = select(OutcomeRow)
        if movement_id is not None:
            query = query.where(OutcomeRow.movement_id == movement_id)
        return [
            {
                "id": r.id,
                "movement": r.movement_id,
                "party": r.party,
                "outcome": r.outcome,
                "reason": r.reason,
                "attributed_to": r.attributed_to,
                "member": r.member_id,
                "recorded_at": r.recorded_at,
            }
            for r in self.session.scalars(query.order_by(OutcomeRow.id))
        ]


def _notice(row: NoticeRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "object_id": row.object_id,
        "party": row.party,
        "member": row.member_id,
        "action": row.action,
        "urgent": row.urgent,
        "created_at": row.created_at,
        "deadline": row.deadline,
        "remind_at": row.remind_at,
        "features": row.features,
        "conflicts": row.conflicts,
    }


def _recipient(r: RowMapping) -> dict[str, Any]:
    return {
        "id": r["id"],
        "notice": r["notice_id"],
        "party": r["party"],
        "notification": r["notification_id"],
        "deadline": r["deadline"],
        "remind_at": r["remind_at"],
        "reminded_at": r["reminded_at"],
        "escalated_at": r["escalated_at"],
        "acked_at": r["acked_at"],
        "acked_by": r["acked_by"],
        "signed": r["ack_signature"] is not None,
    }
