"""The service: members and API tokens, filings, disclosures, notifications
with their webhook outbox, agreements and the log of protected reads.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

``volumes.changed_version`` is the world version at which an object was last
written; a filing checked against version ``v`` is refused when a conflict
comes from an object changed after ``v`` (the stale-world rule, like the
OVN of ASTM F3548).  ``world_version.separation_version`` is the same for
the separation minima.  Deliveries are the outbox: written in the same
transaction as the notification they carry, so a crash after the commit
never loses one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("volumes") as batch:
        batch.add_column(sa.Column("changed_version", sa.BigInteger(), nullable=False, server_default="0"))
    op.create_index("ix_volumes_party_kind", "volumes", ["party", "kind"])
    with op.batch_alter_table("world_version") as batch:
        batch.add_column(sa.Column("separation_version", sa.BigInteger(), nullable=False, server_default="0"))

    op.create_table(
        "members",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("party", sa.String(), nullable=False, index=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("member_id", sa.String(), nullable=False, index=True),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("secret_hash", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("expires_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
    )
    op.create_table(
        "filings",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("intent_id", sa.String(), nullable=False, index=True),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("checked_version", sa.BigInteger(), nullable=True),
        sa.Column("world_version", sa.BigInteger(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
        sa.Column("justification", sa.String(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_table(
        "disclosures",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("filing_id", sa.BigInteger(), nullable=False),
        sa.Column("intent_id", sa.String(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_disclosures_recipient_id", "disclosures", ["recipient", "id"])
    op.create_table(
        "notifications",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("read_at", _WHEN, nullable=True),
    )
    op.create_index("ix_notifications_party_id", "notifications", ["party", "id"])
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("party", sa.String(), nullable=False, index=True),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("secret", sa.String(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("webhook_id", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _WHEN, nullable=True),
        sa.Column("delivered_at", _WHEN, nullable=True),
        sa.Column("failed_at", _WHEN, nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
    )
    op.create_index("ix_deliveries_due", "deliveries", ["next_attempt_at"])
    op.create_table(
        "agreements",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("proposer", sa.String(), nullable=False),
        sa.Column("parties", sa.JSON(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("previous", sa.JSON(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_table(
        "agreement_decisions",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("agreement_id", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("decision", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=True),
        sa.Column("at", _WHEN, nullable=False),
    )
    op.create_index("ix_agreement_decisions_agreement", "agreement_decisions", ["agreement_id", "version"])
    op.create_table(
        "access_log",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("via", sa.String(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "access_log",
        "agreement_decisions",
        "agreements",
        "deliveries",
        "webhooks",
        "notifications",
        "disclosures",
        "filings",
        "tokens",
        "members",
    ):
        op.drop_table(table)
    op.drop_index("ix_volumes_party_kind", table_name="volumes")
    with op.batch_alter_table("world_version") as batch:
        batch.drop_column("separation_version")
    with op.batch_alter_table("volumes") as batch:
        batch.drop_column("changed_version")
