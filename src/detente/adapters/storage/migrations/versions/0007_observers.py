"""Observer reports and their evidence files.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25

Evidence is stored as bytes beside its SHA-256 (the audit log carries the
digest, not the content), so a receipt proves which file was filed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "observer_reports",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("ref", sa.String(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("start", _WHEN, nullable=False),
        sa.Column("end", _WHEN, nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("uncertainty_m", sa.Float(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.UniqueConstraint("party", "ref"),
    )
    op.create_index("ix_observer_reports_time", "observer_reports", ["start", "end"])
    op.create_table(
        "evidence",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("report_id", sa.BigInteger(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("member_id", sa.String(), nullable=False),
        sa.Column("filename", sa.String(), nullable=False),
        sa.Column("media_type", sa.String(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
    )
    op.create_index("ix_evidence_report", "evidence", ["report_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_evidence_report", table_name="evidence")
    op.drop_table("evidence")
    op.drop_index("ix_observer_reports_time", table_name="observer_reports")
    op.drop_table("observer_reports")
