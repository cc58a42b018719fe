"""Incidents: who reported them, their frozen protocol, involved parties, protocol steps, transitions, hotline.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25

The timer sweep finds due steps with one indexed query (``done_at`` null,
``due_at`` passed); a step is marked done in the transaction that fires
it, so a restart neither loses nor repeats one.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("reported_by", sa.String(), nullable=True))
        batch.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("protocol", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("resolved_at", _WHEN, nullable=True))
    op.create_table(
        "incident_parties",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("acked_at", _WHEN, nullable=True),
        sa.Column("acked_by", sa.String(), nullable=True),
        sa.UniqueConstraint("incident_id", "party"),
    )
    op.create_index("ix_incident_parties_party", "incident_parties", ["party", "incident_id"])
    op.create_table(
        "incident_steps",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("due_at", _WHEN, nullable=False),
        sa.Column("done_at", _WHEN, nullable=True),
        sa.Column("fired", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("incident_id", "idx"),
    )
    op.create_index("ix_incident_steps_due", "incident_steps", ["done_at", "due_at"])
    op.create_table(
        "incident_transitions",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_incident_transitions_incident", "incident_transitions", ["incident_id", "id"])
    op.create_table(
        "incident_messages",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("incident_id", sa.BigInteger(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("proposal_id", sa.BigInteger(), nullable=True),
        sa.Column("at", _WHEN, nullable=False),
    )
    op.create_index("ix_incident_messages_incident", "incident_messages", ["incident_id", "id"])


def downgrade() -> None:
    for table, index in (
        ("incident_messages", "ix_incident_messages_incident"),
        ("incident_transitions", "ix_incident_transitions_incident"),
        ("incident_steps", "ix_incident_steps_due"),
        ("incident_parties", "ix_incident_parties_party"),
    ):
        op.drop_index(index, table_name=table)
        op.drop_table(table)
    with op.batch_alter_table("incidents") as batch:
        for column in ("resolved_at", "protocol", "description", "reported_by"):
            batch.drop_column(column)
