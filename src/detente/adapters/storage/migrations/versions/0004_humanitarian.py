"""Humanitarian notification: notices, their recipients, disseminations, movement outcomes, rules.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

A notice is sent to every military party; each recipient row carries its
own deadline and the times it was reminded and escalated, so the timer
sweep finds what is due with one indexed query.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("action", sa.String(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("deadline", _WHEN, nullable=True),
        sa.Column("remind_at", _WHEN, nullable=True),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("conflicts", sa.JSON(), nullable=False),
    )
    op.create_index("ix_notices_object", "notices", ["kind", "object_id", "id"])
    op.create_index("ix_notices_party", "notices", ["party", "id"])
    op.create_table(
        "notice_recipients",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("notice_id", sa.BigInteger(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("notification_id", sa.BigInteger(), nullable=False),
        sa.Column("deadline", _WHEN, nullable=True),
        sa.Column("remind_at", _WHEN, nullable=True),
        sa.Column("reminded_at", _WHEN, nullable=True),
        sa.Column("escalated_at", _WHEN, nullable=True),
        sa.UniqueConstraint("notice_id", "party"),
    )
    op.create_index("ix_notice_recipients_party", "notice_recipients", ["party", "notice_id"])
    op.create_index("ix_notice_recipients_due", "notice_recipients", ["escalated_at", "remind_at"])
    op.create_table(
        "disseminations",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("notice_id", sa.BigInteger(), nullable=False, index=True),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("reference", sa.String(), nullable=True),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("told_at", _WHEN, nullable=False),
        sa.Column("recorded_at", _WHEN, nullable=False),
    )
    op.create_table(
        "movement_outcomes",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("movement_id", sa.String(), nullable=False, index=True),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("attributed_to", sa.String(), nullable=True),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("recorded_at", _WHEN, nullable=False),
    )
    op.create_table(
        "mechanism_rules",
        sa.Column("name", sa.String(), primary_key=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.Column("updated_by", sa.String(), nullable=False),
    )


def downgrade() -> None:
    for table in ("mechanism_rules", "movement_outcomes", "disseminations", "notice_recipients", "notices"):
        op.drop_table(table)
