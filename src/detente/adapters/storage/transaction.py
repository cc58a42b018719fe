"""One transaction of a use case: world, accounts, filings, agreements, inbox and outbox.

A service opens one :class:`Tx` (``Store.write()`` or ``Store.read()``) and
does all of its reads and writes through it, so the state change, what the
parties are told (notifications and disclosures) and the webhook outbox
commit together or not at all.  A write transaction that changes the world
holds the world's write lock from its start (see ``Store``).

Every method that changes a row also records an audit entry (``record``)
carrying the row as it now stands; ``Store.write`` appends the entries to
the Merkle log just before the transaction commits.  A new way of changing
state must record its entry here too: ``detente audit verify --db`` reports
any row that differs from what the log last said of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, tuple_, update
from sqlalchemy.orm import Session

from detente.adapters.storage import audit_log, audit_rows, convert
from detente.adapters.storage.audit_log import Pending
from detente.adapters.storage.box import Box4D
from detente.adapters.storage.candidates import candidates_query, exact_conditions
from detente.adapters.storage.incidents import IncidentRows
from detente.adapters.storage.monitoring import MonitoringRows
from detente.adapters.storage.notices import NoticeRows
from detente.adapters.storage.tables import (
    AccessRow,
    AgreementRow,
    DecisionRow,
    DeliveryRow,
    DisclosureRow,
    FilingRow,
    MemberRow,
    NotificationRow,
    PartyKeyRow,
    PartyRow,
    ScenarioMetaRow,
    TokenRow,
    VolumeRow,
    WebhookRow,
    WorldVersionRow,
)
from detente.audit import EVERYONE
from detente.audit.heads import TreeHead
from detente.audit.receipts import Receipt
from detente.domain.access import SHARED_KINDS
from detente.domain.accounts import Member, Token
from detente.domain.agreements import Agreement, AgreementKind, Decision, Status
from detente.domain.model import DEFAULT_SEPARATION, Category, Kind, Minima, Party, WorldObject


class Tx(NoticeRows, MonitoringRows, IncidentRows):
    """The repository of one open transaction (a thin layer over a Session)."""

    def __init__(self, session: Session, dialect: str) -> None:
        self.session = session
        self.dialect = dialect
        #: Audit entries to append when the transaction commits.
        self.pending: list[Pending] = []
        #: ``(subject, type, index)`` of each entry appended, once ``Store.write`` has appended them.
        self.logged: list[tuple[str, str, int]] = []
        #: Whether a notification was written (the store then wakes the live streams once it commits).
        self.notified = False

    # -- the audit trail ----------------------------------------------------

    def record(
        self,
        type: str,
        subject: str,
        audience: Iterable[str],
        *,
        data: dict[str, Any] | None = None,
        deleted: bool = False,
    ) -> None:
        """Log a change of ``subject``: its rows are read back now, as they will be committed."""
        self.session.flush()
        state = None if deleted else audit_rows.state(self.session, subject)
        self.pending.append(Pending(type, subject, list(audience), state, data or {}))

    def logged_index(self, subject: str, type: str) -> int:
        """The log index this transaction gave its entry of ``type`` about ``subject``."""
        for name, kind, index in reversed(self.logged):
            if name == subject and kind == type:
                return index
        raise KeyError(f"no {type} entry about {subject} in this transaction")

    # -- reading the audit log ----------------------------------------------

    def audit_log_id(self) -> str:
        return str(audit_log.log_state(self.session).log)

    def audit_size(self) -> int:
        return int(audit_log.log_state(self.session).size)

    def audit_head(self, size: int | None = None) -> TreeHead | None:
        """The latest signed tree head, or the one signed at exactly ``size`` entries."""
        return audit_log.latest_head(self.session) if size is None else audit_log.head(self.session, size)

    def audit_entry(self, index: int) -> dict[str, Any] | None:
        """The entry's canonical text and where it is filed, or None."""
        row = audit_log.entry(self.session, index)
        if row is None:
            return None
        return {
            "index": row.idx,
            "type": row.type,
            "subject": row.subject,
            "audience": row.audience,
            "entry": row.entry,
        }

    def audit_about(self, subject: str, type: str | None = None) -> list[dict[str, Any]]:
        return [
            {"index": r.idx, "type": r.type, "subject": r.subject, "audience": r.audience, "at": r.at}
            for r in audit_log.find(self.session, subject, type)
        ]

    def audit_receipt(self, index: int) -> Receipt:
        return audit_log.receipt(self.session, index)

    def audit_inclusion(self, index: int, size: int) -> list[bytes]:
        return audit_log.inclusion(self.session, index, size)

    def audit_consistency(self, old: int, new: int) -> list[bytes]:
        return audit_log.consistency(self.session, old, new)

    def audit_keys(self) -> list[dict[str, Any]]:
        return audit_log.public_keys(self.session)

    # -- world version ------------------------------------------------------

    def version(self) -> int:
        return int(self.session.execute(select(WorldVersionRow.version).where(WorldVersionRow.id == 1)).scalar_one())

    def bump(self) -> int:
        """Count one more change to the world; returns the new version."""
        bumped = self.session.execute(
            update(WorldVersionRow)
            .where(WorldVersionRow.id == 1)
            .values(version=WorldVersionRow.version + 1)
            .returning(WorldVersionRow.version)
        )
        return int(bumped.scalar_one())

    # -- parties and minima -------------------------------------------------

    def parties(self) -> dict[str, Party]:
        rows = self.session.scalars(select(PartyRow).order_by(PartyRow.id))
        return {r.id: convert.party_from_row(r) for r in rows}

    def party(self, party_id: str) -> Party | None:
        row = self.session.get(PartyRow, party_id)
        return None if row is None else convert.party_from_row(row)

    def add_party(self, party: Party) -> None:
        self.session.execute(insert(PartyRow), [convert.party_row(party)])
        self.record("party.added", audit_rows.subject("party", party.id), [EVERYONE])

    def separation(self) -> tuple[dict[Category, Minima], int]:
        """The minima in force and the world version at which they last changed."""
        meta = self.session.get(ScenarioMetaRow, 1)
        changed = self.session.execute(
            select(WorldVersionRow.separation_version).where(WorldVersionRow.id == 1)
        ).scalar_one()
        minima = dict(DEFAULT_SEPARATION) if meta is None else convert.separation_from_row(meta)
        return minima, int(changed)

    def set_separation(self, minima: dict[Category, Minima], version: int) -> None:
        meta = self.session.get(ScenarioMetaRow, 1)
        row = convert.meta_row("" if meta is None else meta.name, minima, {} if meta is None else dict(meta.extra))
        if meta is None:
            self.session.execute(insert(ScenarioMetaRow), [row])
        else:
            self.session.execute(update(ScenarioMetaRow).where(ScenarioMetaRow.id == 1).values(**row))
        self.separation_changed(version)
        self.record("scenario.separation", "scenario", [EVERYONE])

    def separation_changed(self, version: int) -> None:
        """Record that the separation minima changed at world ``version``."""
        self.session.execute(update(WorldVersionRow).where(WorldVersionRow.id == 1).values(separation_version=version))

    # -- objects ------------------------------------------------------------

    def candidates(self, box: Box4D) -> list[tuple[Kind, str]]:
        """Keys of the objects with a volume the box admits (through the spatial index)."""
        rows = self.session.execute(candidates_query(box, self.dialect))
        return list(dict.fromkeys((Kind(kind), oid) for kind, oid, _ in rows))

    def objects(self, keys: Sequence[tuple[Kind, str]]) -> list[tuple[WorldObject, int]]:
        """The objects with these keys, each with the world version it last changed at."""
        if not keys:
            return []
        found: list[tuple[WorldObject, int]] = []
        for start in range(0, len(keys), 500):
            chunk = [(k.value, i) for k, i in keys[start : start + 500]]
            # Core rows, not ORM entities: the converter reads attributes only, and this is the filing's hot path.
            rows = self.session.execute(self._volumes_of(chunk)).all()
            groups: dict[tuple[str, str], list[Any]] = {}
            for row in rows:
                groups.setdefault((row.kind, row.object_id), []).append(row)
            found.extend((convert.object_from_rows(g), max(r.changed_version for r in g)) for g in groups.values())
        return found

    def _volumes_of(self, keys: list[tuple[str, str]]) -> Select[Any]:
        """The volume rows of these (kind, id) keys, by the unique index on both backends.

        SQLite plans ``(kind, object_id) IN (VALUES ...)`` as a scan of the
        whole table (SQLite 3.40; 150 ms at 200,000 volumes), so there the
        keys are a JSON array joined through ``json_each``, which drives the
        index lookups; PostgreSQL uses the index for the row-value ``IN``.
        """
        table = VolumeRow.__table__
        if self.dialect != "sqlite":
            return select(table).where(tuple_(table.c.kind, table.c.object_id).in_(keys)).order_by(table.c.id)
        wanted = func.json_each(json.dumps(keys)).table_valued("value").alias("wanted")
        return (
            select(table)
            .select_from(wanted)
            .join(
                table,
                and_(
                    table.c.kind == func.json_extract(wanted.c.value, "$[0]"),
                    table.c.object_id == func.json_extract(wanted.c.value, "$[1]"),
                ),
            )
            .order_by(table.c.id)
        )

    def get_object(self, kind: Kind, object_id: str) -> WorldObject | None:
        rows = self.session.scalars(
            select(VolumeRow).where(VolumeRow.kind == kind.value, VolumeRow.object_id == object_id)
        ).all()
        return convert.object_from_rows(rows) if rows else None

    def put_object(self, obj: WorldObject, version: int) -> None:
        """Add or replace the object, marked as changed at ``version``."""
        rows = convert.volume_rows(obj)
        for row in rows:
            row["changed_version"] = version
        self._delete_rows(obj.kind, obj.id)
        self.session.execute(insert(VolumeRow), rows)
        self.record("object.put", audit_rows.subject("object", obj.kind.value, obj.id), object_audience(obj))

    def delete_object(self, kind: Kind, object_id: str) -> bool:
        owner = self.object_party(kind, object_id)
        if owner is None or not self._delete_rows(kind, object_id):
            return False
        audience = [EVERYONE] if kind in SHARED_KINDS else [owner]
        self.record("object.deleted", audit_rows.subject("object", kind.value, object_id), audience, deleted=True)
        return True

    def _delete_rows(self, kind: Kind, object_id: str) -> bool:
        deleted = self.session.execute(
            delete(VolumeRow).where(VolumeRow.kind == kind.value, VolumeRow.object_id == object_id)
        )
        return bool(deleted.rowcount)  # type: ignore[attr-defined]

    def list_objects(
        self,
        *,
        party: str,
        other_kinds: Iterable[Kind],
        kinds: Iterable[Kind] | None,
        box: Box4D | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[WorldObject]:
        """Objects the party may list (its own, or of ``other_kinds``), in key order.

        Filtered by kind and by a 4D box (any volume admitted), paged after
        the ``(kind, id)`` key ``after``.
        """
        v = VolumeRow
        others = [k.value for k in other_kinds]
        keys = select(v.kind, v.object_id).where(or_(v.party == party, v.kind.in_(others)))
        if kinds is not None:
            keys = keys.where(v.kind.in_([k.value for k in kinds]))
        if box is not None:
            keys = keys.where(*exact_conditions(box))
        if after is not None:
            keys = keys.where(tuple_(v.kind, v.object_id) > after)
        keys = keys.group_by(v.kind, v.object_id).order_by(v.kind, v.object_id).limit(limit)
        found = [(Kind(k), i) for k, i in self.session.execute(keys)]
        by_key = {obj.key: obj for obj, _ in self.objects(found)}
        return [by_key[key] for key in found if key in by_key]

    def object_party(self, kind: Kind, object_id: str) -> str | None:
        return self.session.execute(
            select(VolumeRow.party).where(VolumeRow.kind == kind.value, VolumeRow.object_id == object_id).limit(1)
        ).scalar_one_or_none()

    # -- members and tokens -------------------------------------------------

    def add_member(self, member: Member) -> None:
        self.session.add(MemberRow(id=member.id, party=member.party, name=member.name, created_at=member.created_at))
        self.record("member.added", audit_rows.subject("member", member.id), [member.party])

    def member(self, member_id: str) -> Member | None:
        row = self.session.get(MemberRow, member_id)
        return None if row is None else Member(row.id, row.party, row.name, row.created_at)

    def members(self, party: str) -> list[Member]:
        rows = self.session.scalars(select(MemberRow).where(MemberRow.party == party).order_by(MemberRow.id))
        return [Member(r.id, r.party, r.name, r.created_at) for r in rows]

    def add_token(self, token: Token) -> None:
        self.session.add(
            TokenRow(
                id=token.id,
                member_id=token.member,
                party=token.party,
                secret_hash=token.secret_hash,
                created_at=token.created_at,
                expires_at=token.expires_at,
                revoked_at=token.revoked_at,
            )
        )
        self.record("token.issued", audit_rows.subject("token", token.id), [token.party])

    def token(self, token_id: str) -> Token | None:
        row = self.session.get(TokenRow, token_id)
        return None if row is None else _token(row)

    def tokens(self, member_id: str) -> list[Token]:
        rows = self.session.scalars(select(TokenRow).where(TokenRow.member_id == member_id).order_by(TokenRow.id))
        return [_token(r) for r in rows]

    def revoke_token(self, token_id: str, now: datetime) -> None:
        revoked = self.session.execute(
            update(TokenRow)
            .where(TokenRow.id == token_id, TokenRow.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(TokenRow.party)
        ).scalar_one_or_none()
        if revoked is not None:
            self.record("token.revoked", audit_rows.subject("token", token_id), [revoked])

    # -- filings and disclosures --------------------------------------------

    def add_filing(
        self,
        *,
        intent_id: str,
        party: str,
        member: str,
        action: str,
        checked_version: int | None,
        world_version: int,
        conflicts: list[dict[str, Any]],
        justification: str | None,
        now: datetime,
    ) -> int:
        result = self.session.execute(
            insert(FilingRow).returning(FilingRow.id),
            [
                {
                    "intent_id": intent_id,
                    "party": party,
                    "member_id": member,
                    "action": action,
                    "checked_version": checked_version,
                    "world_version": world_version,
                    "conflicts": conflicts,
                    "justification": justification,
                    "created_at": now,
                }
            ],
        )
        filing_id = int(result.scalar_one())
        self.record("filing.recorded", audit_rows.subject("filing", filing_id), [party])
        return filing_id

    def filings(self, intent_id: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(select(FilingRow).where(FilingRow.intent_id == intent_id).order_by(FilingRow.id))
        return [_filing(r) for r in rows]

    def add_disclosures(self, rows: list[dict[str, Any]]) -> None:
        for row in rows:
            disclosure_id = self.session.execute(insert(DisclosureRow).returning(DisclosureRow.id), [row]).scalar_one()
            self.record("disclosure.made", audit_rows.subject("disclosure", disclosure_id), [row["recipient"]])

    def disclosures(self, recipient: str | None, after: int, limit: int) -> list[dict[str, Any]]:
        query = select(DisclosureRow).where(DisclosureRow.id > after)
        if recipient is not None:
            query = query.where(DisclosureRow.recipient == recipient)
        rows = self.session.scalars(query.order_by(DisclosureRow.id).limit(limit))
        return [
            {"id": r.id, "intent": r.intent_id, "filing": r.filing_id, "created_at": r.created_at, **r.body}
            for r in rows
        ]

    # -- notifications and the webhook outbox -------------------------------

    def notify(self, party: str, type: str, body: dict[str, Any], now: datetime) -> int:
        """Put a notification in the party's inbox and in the outbox of each of its webhooks."""
        result = self.session.execute(
            insert(NotificationRow).returning(NotificationRow.id),
            [{"party": party, "type": type, "body": body, "created_at": now}],
        )
        nid = int(result.scalar_one())
        self.notified = True
        self.record("notification.sent", audit_rows.subject("notification", nid), [party])
        hooks = self.session.scalars(
            select(WebhookRow.id).where(WebhookRow.party == party, WebhookRow.active.is_(True))
        ).all()
        for hook in hooks:
            delivery = self.session.execute(
                insert(DeliveryRow).returning(DeliveryRow.id),
                [{"notification_id": nid, "webhook_id": hook, "attempts": 0, "next_attempt_at": now}],
            ).scalar_one()
            self.record("delivery.queued", audit_rows.subject("delivery", delivery), [party])
        return nid

    def notify_many(self, parties: Sequence[str], type: str, body: dict[str, Any], now: datetime) -> list[int]:
        """The same notification to several parties: one insert, one webhook lookup (an alert to everyone concerned)."""
        if not parties:
            return []
        result = self.session.execute(
            insert(NotificationRow).returning(NotificationRow.id, NotificationRow.party),
            [{"party": party, "type": type, "body": body, "created_at": now} for party in parties],
        )
        ids = {str(party): int(nid) for nid, party in result.all()}
        self.notified = True
        hooks = self.session.execute(
            select(WebhookRow.id, WebhookRow.party).where(WebhookRow.party.in_(list(ids)), WebhookRow.active.is_(True))
        ).all()
        deliveries = []
        if hooks:
            made = self.session.execute(
                insert(DeliveryRow).returning(DeliveryRow.id, DeliveryRow.webhook_id),
                [
                    {"notification_id": ids[party], "webhook_id": hook, "attempts": 0, "next_attempt_at": now}
                    for hook, party in hooks
                ],
            ).all()
            owner = {hook: party for hook, party in hooks}
            deliveries = [(int(d), owner[w]) for d, w in made]
        for party, nid in ids.items():
            self.record("notification.sent", audit_rows.subject("notification", nid), [party])
        for delivery, party in deliveries:
            self.record("delivery.queued", audit_rows.subject("delivery", delivery), [party])
        return [ids[p] for p in parties]

    def notifications(self, party: str, *, after: int, unread: bool, limit: int) -> list[dict[str, Any]]:
        query = select(NotificationRow).where(NotificationRow.party == party, NotificationRow.id > after)
        if unread:
            query = query.where(NotificationRow.read_at.is_(None))
        rows = self.session.scalars(query.order_by(NotificationRow.id).limit(limit))
        return [_notification(r) for r in rows]

    def unread_count(self, party: str) -> int:
        query = select(func.count()).where(NotificationRow.party == party, NotificationRow.read_at.is_(None))
        return int(self.session.execute(query).scalar_one())

    def mark_read(self, party: str, ids: Sequence[int], now: datetime) -> int:
        marked = self.session.scalars(
            update(NotificationRow)
            .where(NotificationRow.party == party, NotificationRow.id.in_(list(ids)), NotificationRow.read_at.is_(None))
            .values(read_at=now)
            .returning(NotificationRow.id)
        ).all()
        for nid in sorted(marked):
            self.record("notification.read", audit_rows.subject("notification", nid), [party])
        return len(marked)

    def notification(self, party: str, notification_id: int) -> dict[str, Any] | None:
        row = self.session.get(NotificationRow, notification_id)
        return None if row is None or row.party != party else _notification(row)

    def ack(
        self, party: str, notification_id: int, member: str, signature: dict[str, Any] | None, now: datetime
    ) -> bool:
        """Acknowledge a notification formally (once); False when it was already acknowledged."""
        acked = self.session.execute(
            update(NotificationRow)
            .where(
                NotificationRow.party == party,
                NotificationRow.id == notification_id,
                NotificationRow.acked_at.is_(None),
            )
            .values(
                acked_at=now,
                acked_by=member,
                ack_signature=signature,
                read_at=func.coalesce(NotificationRow.read_at, now),
            )
            .returning(NotificationRow.id)
        ).scalar_one_or_none()
        if acked is None:
            return False
        data = {} if signature is None else {"signature": signature}
        self.record("notification.acked", audit_rows.subject("notification", notification_id), [party], data=data)
        return True

    def add_webhook(self, *, id: str, party: str, url: str, secret: str, now: datetime) -> None:
        self.session.add(WebhookRow(id=id, party=party, url=url, secret=secret, created_at=now, active=True))
        self.record("webhook.added", audit_rows.subject("webhook", id), [party])

    def webhooks(self, party: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(WebhookRow).where(WebhookRow.party == party, WebhookRow.active.is_(True)).order_by(WebhookRow.id)
        )
        return [{"id": r.id, "url": r.url, "created_at": r.created_at} for r in rows]

    def deactivate_webhook(self, party: str, webhook_id: str) -> bool:
        result = self.session.execute(
            update(WebhookRow)
            .where(WebhookRow.id == webhook_id, WebhookRow.party == party, WebhookRow.active.is_(True))
            .values(active=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return False
        self.record("webhook.deactivated", audit_rows.subject("webhook", webhook_id), [party])
        return True

    def claim_deliveries(self, now: datetime, lease_until: datetime, limit: int) -> list[dict[str, Any]]:
        """Due deliveries, leased until ``lease_until`` so another worker leaves them alone."""
        query = (
            select(DeliveryRow, NotificationRow, WebhookRow)
            .join(NotificationRow, NotificationRow.id == DeliveryRow.notification_id)
            .join(WebhookRow, WebhookRow.id == DeliveryRow.webhook_id)
            .where(
                DeliveryRow.delivered_at.is_(None),
                DeliveryRow.failed_at.is_(None),
                DeliveryRow.next_attempt_at <= now,
                WebhookRow.active.is_(True),
            )
            .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
            .limit(limit)
        )
        if self.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=DeliveryRow)
        claimed = []
        for delivery, note, hook in self.session.execute(query).all():
            delivery.next_attempt_at = lease_until
            claimed.append(
                {
                    "id": delivery.id,
                    "attempts": delivery.attempts,
                    "url": hook.url,
                    "secret": hook.secret,
                    "webhook": hook.id,
                    "notification": _notification(note),
                }
            )
        return claimed

    def delivery_done(self, delivery_id: int, now: datetime) -> None:
        self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id)
            .values(delivered_at=now, attempts=DeliveryRow.attempts + 1, last_error=None)
        )
        self.record(
            "notification.delivered", audit_rows.subject("delivery", delivery_id), self._delivery_party(delivery_id)
        )

    def _delivery_party(self, delivery_id: int) -> list[str]:
        party = self.session.execute(
            select(NotificationRow.party)
            .join(DeliveryRow, DeliveryRow.notification_id == NotificationRow.id)
            .where(DeliveryRow.id == delivery_id)
        ).scalar_one_or_none()
        return [] if party is None else [party]

    def delivery_failed(self, delivery_id: int, error: str, retry_at: datetime | None, now: datetime) -> None:
        """Record a failed attempt: retry at ``retry_at``, or give up (None)."""
        self.session.execute(
            update(DeliveryRow)
            .where(DeliveryRow.id == delivery_id)
            .values(
                attempts=DeliveryRow.attempts + 1,
                last_error=error[:500],
                next_attempt_at=retry_at,
                failed_at=now if retry_at is None else None,
            )
        )
        if retry_at is None:
            self.record(
                "delivery.failed", audit_rows.subject("delivery", delivery_id), self._delivery_party(delivery_id)
            )

    def deliveries(self, webhook_id: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id).order_by(DeliveryRow.id)
        )
        return [
            {
                "id": r.id,
                "notification": r.notification_id,
                "attempts": r.attempts,
                "next_attempt_at": r.next_attempt_at,
                "delivered_at": r.delivered_at,
                "failed_at": r.failed_at,
                "last_error": r.last_error,
            }
            for r in rows
        ]

    # -- agreements ---------------------------------------------------------

    def add_agreement(self, agreement: Agreement) -> None:
        self.session.add(
            AgreementRow(
                id=agreement.id,
                version=agreement.version,
                kind=agreement.kind.value,
                title=agreement.title,
                proposer=agreement.proposer,
                parties=list(agreement.parties),
                body=agreement.body,
                status=agreement.status.value,
                previous=agreement.previous,
                created_at=agreement.created_at,
                updated_at=agreement.updated_at,
            )
        )
        self.record(
            "agreement.proposed",
            audit_rows.subject("agreement", agreement.id, agreement.version),
            [agreement.proposer, *agreement.parties],
        )

    def agreement(self, agreement_id: str, version: int | None = None) -> Agreement | None:
        query = select(AgreementRow).where(AgreementRow.id == agreement_id)
        if version is not None:
            query = query.where(AgreementRow.version == version)
        row = self.session.scalars(query.order_by(AgreementRow.version.desc()).limit(1)).first()
        return None if row is None else self._agreement(row)

    def agreements(self, party: str | None, after: str | None, limit: int) -> list[Agreement]:
        """Latest version of each agreement naming ``party`` (None: all), by id."""
        latest = select(AgreementRow.id, func.max(AgreementRow.version).label("v")).group_by(AgreementRow.id).subquery()
        query = select(AgreementRow).join(
            latest, and_(AgreementRow.id == latest.c.id, AgreementRow.version == latest.c.v)
        )
        if after is not None:
            query = query.where(AgreementRow.id > after)
        rows = [r for r in self.session.scalars(query.order_by(AgreementRow.id)) if party is None or party in r.parties]
        return [self._agreement(r) for r in rows[:limit]]

    def in_force_version(self, agreement_id: str) -> Agreement | None:
        row = self.session.scalars(
            select(AgreementRow).where(AgreementRow.id == agreement_id, AgreementRow.status == Status.IN_FORCE.value)
        ).first()
        return None if row is None else self._agreement(row)

    def set_agreement_status(self, agreement_id: str, version: int, status: Status, now: datetime) -> None:
        self.session.execute(
            update(AgreementRow)
            .where(AgreementRow.id == agreement_id, AgreementRow.version == version)
            .values(status=status.value, updated_at=now)
        )
        self._record_agreement("agreement.status", agreement_id, version)

    def _record_agreement(self, type: str, agreement_id: str, version: int) -> None:
        row = self.session.get(AgreementRow, (agreement_id, version))
        audience = [] if row is None else [row.proposer, *row.parties]
        self.record(type, audit_rows.subject("agreement", agreement_id, version), audience)

    def set_agreement_previous(self, agreement_id: str, version: int, previous: dict[str, Any]) -> None:
        self.session.execute(
            update(AgreementRow)
            .where(AgreementRow.id == agreement_id, AgreementRow.version == version)
            .values(previous=previous)
        )
        self._record_agreement("agreement.updated", agreement_id, version)

    def add_decision(
        self,
        agreement_id: str,
        version: int,
        party: str,
        member: str,
        decision: Decision,
        reason: str | None,
        now: datetime,
        signature: dict[str, Any] | None = None,
    ) -> None:
        row = DecisionRow(
            agreement_id=agreement_id,
            version=version,
            party=party,
            member_id=member,
            decision=decision.value,
            reason=reason,
            at=now,
            signature=signature,
        )
        self.session.add(row)
        self.session.flush()
        agreement = self.session.get(AgreementRow, (agreement_id, version))
        audience = [party] if agreement is None else [party, agreement.proposer, *agreement.parties]
        data = {} if signature is None else {"signature": signature}
        self.record("agreement.decided", audit_rows.subject("decision", row.id), audience, data=data)

    def decisions(self, agreement_id: str, version: int) -> list[dict[str, Any]]:
        rows = self.session.scalars(
            select(DecisionRow)
            .where(DecisionRow.agreement_id == agreement_id, DecisionRow.version == version)
            .order_by(DecisionRow.id)
        )
        return [
            {"party": r.party, "member": r.member_id, "decision": r.decision, "reason": r.reason, "at": r.at}
            for r in rows
        ]

    def _agreement(self, row: AgreementRow) -> Agreement:
        signed = self.session.scalars(
            select(DecisionRow.party).where(
                DecisionRow.agreement_id == row.id,
                DecisionRow.version == row.version,
                DecisionRow.decision == Decision.SIGNED.value,
            )
        ).all()
        return Agreement(
            id=row.id,
            version=row.version,
            kind=AgreementKind(row.kind),
            title=row.title,
            proposer=row.proposer,
            parties=tuple(row.parties),
            body=dict(row.body),
            status=Status(row.status),
            created_at=row.created_at,
            updated_at=row.updated_at,
            signed=frozenset(signed),
            previous=row.previous,
        )

    # -- the log of protected reads -----------------------------------------

    def log_access(self, *, party: str, member: str, objects: Iterable[WorldObject], via: str, now: datetime) -> None:
        rows = [
            {
                "party": party,
                "member_id": member,
                "kind": o.kind.value,
                "object_id": o.id,
                "owner": o.party,
                "via": via,
                "at": now,
            }
            for o in objects
        ]
        for row in rows:
            access_id = self.session.execute(insert(AccessRow).returning(AccessRow.id), [row]).scalar_one()
            self.record("access.logged", audit_rows.subject("access", access_id), [party, str(row["owner"])])

    # -- parties' own signing keys ------------------------------------------

    def add_party_key(self, *, key_id: str, party: str, public_key: str, now: datetime) -> None:
        self.session.add(PartyKeyRow(key_id=key_id, party=party, public_key=public_key, registered_at=now))
        self.record(
            "party.key.registered",
            audit_rows.subject("party-key", key_id),
            [EVERYONE],
            data={"party": party, "key": {"key_id": key_id, "alg": "Ed25519", "public_key": public_key}},
        )

    def party_keys(self, party: str) -> list[dict[str, Any]]:
        rows = self.session.scalars(select(PartyKeyRow).where(PartyKeyRow.party == party).order_by(PartyKeyRow.key_id))
        return [
            {
                "key_id": r.key_id,
                "public_key": r.public_key,
                "registered_at": r.registered_at,
                "revoked_at": r.revoked_at,
            }
            for r in rows
        ]

    def revoke_party_key(self, party: str, key_id: str, now: datetime) -> bool:
        revoked = self.session.execute(
            update(PartyKeyRow)
            .where(PartyKeyRow.key_id == key_id, PartyKeyRow.party == party, PartyKeyRow.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(PartyKeyRow.key_id)
        ).scalar_one_or_none()
        if revoked is None:
            return False
        self.record(
            "party.key.revoked",
            audit_rows.subject("party-key", key_id),
            [EVERYONE],
            data={"party": party, "key_id": key_id},
        )
        return True

    def access_log(self, owner: str | None, limit: int) -> list[dict[str, Any]]:
        query = select(AccessRow)
        if owner is not None:
            query = query.where(AccessRow.owner == owner)
        rows = self.session.scalars(query.order_by(AccessRow.id.desc()).limit(limit))
        return [
            {
                "party": r.party,
                "member": r.member_id,
                "kind": r.kind,
                "id": r.object_id,
                "owner": r.owner,
                "via": r.via,
                "at": r.at,
            }
            for r in rows
        ]


def object_audience(obj: WorldObject) -> list[str]:
    """Who may read an object's entries: everyone for agreed geography, else its owner (and the secretariat)."""
    return [EVERYONE] if obj.kind in SHARED_KINDS else [obj.party]


def _token(row: TokenRow) -> Token:
    return Token(
        id=row.id,
        member=row.member_id,
        party=row.party,
        secret_hash=row.secret_hash,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
    )


def _filing(row: FilingRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "intent": row.intent_id,
        "party": row.party,
        "member": row.member_id,
        "action": row.action,
        "checked_version": row.checked_version,
        "world_version": row.world_version,
        "conflicts": row.conflicts,
        "justification": row.justification,
        "created_at": row.created_at,
    }


def _notification(row: NotificationRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "party": row.party,
        "body": row.body,
        "created_at": row.created_at,
        "read_at": row.read_at,
        "acked_at": row.acked_at,
        "acked_by": row.acked_by,
    }
