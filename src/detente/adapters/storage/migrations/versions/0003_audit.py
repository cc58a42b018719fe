"""The audit log: entries, the Merkle tree's perfect subtrees, signed tree
heads, the log's signing keys; parties' own keys; acknowledgements.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24

The log gets a random id when it is created, so a head or a receipt of one
deployment can never be passed off as one of another.  Every write appends
to the log in its own transaction, taking the ``audit_state`` row's lock
only at its end (see ``AuditLog.append``).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("acked_at", _WHEN, nullable=True))
        batch.add_column(sa.Column("acked_by", sa.String(), nullable=True))
        batch.add_column(sa.Column("ack_signature", sa.JSON(), nullable=True))
    with op.batch_alter_table("agreement_decisions") as batch:
        batch.add_column(sa.Column("signature", sa.JSON(), nullable=True))
    op.create_table(
        "party_keys",
        sa.Column("key_id", sa.String(), primary_key=True),
        sa.Column("party", sa.String(), nullable=False, index=True),
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("registered_at", _WHEN, nullable=False),
        sa.Column("revoked_at", _WHEN, nullable=True),
    )
    op.create_table(
        "audit_entries",
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("audience", sa.JSON(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
    )
    op.create_index("ix_audit_entries_subject", "audit_entries", ["subject", "idx"])
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "audit_heads",
        sa.Column("size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("key_id", sa.String(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "audit_keys",
        sa.Column("key_id", sa.String(), primary_key=True),
        sa.Column("public_key", sa.String(), nullable=False),
        sa.Column("introduced_at", sa.BigInteger(), nullable=False),
        sa.Column("retired_at", sa.BigInteger(), nullable=True),
    )
    state = op.create_table(
        "audit_state",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("log", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.String(), nullable=True),
        sa.CheckConstraint("id = 1", name="ck_audit_state_single_row"),
    )
    op.bulk_insert(state, [{"id": 1, "log": f"dtl-{secrets.token_hex(8)}", "size": 0, "key_id": None}])


def downgrade() -> None:
    for table in ("audit_state", "audit_keys", "audit_heads", "audit_nodes", "audit_entries", "party_keys"):
        op.drop_table(table)
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("ack_signature")
        batch.drop_column("acked_by")
        batch.drop_column("acked_at")
    with op.batch_alter_table("agreement_decisions") as batch:
        batch.drop_column("signature")
