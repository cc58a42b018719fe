"""Live monitoring: the episodes found in position feeds, and the incidents they open.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25

An episode's row is written when it opens and updated while it lasts; each
incident is looked up by its key (type, track, other) when an episode of
the same pair starts again shortly after the last one ended.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "track_events",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("track", sa.String(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("other_kind", sa.String(), nullable=False),
        sa.Column("other_id", sa.String(), nullable=False),
        sa.Column("other_party", sa.String(), nullable=False),
        sa.Column("start", _WHEN, nullable=False),
        sa.Column("end", _WHEN, nullable=False),
        sa.Column("min_distance_m", sa.Float(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("alt_m", sa.Float(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("incident_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_track_events_party", "track_events", ["party", "id"])
    op.create_index("ix_track_events_other_party", "track_events", ["other_party", "id"])
    op.create_index("ix_track_events_open", "track_events", ["open", "id"])
    op.create_table(
        "incidents",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("type", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("severity", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("parties", sa.JSON(), nullable=False),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
    )
    op.create_index("ix_incidents_key", "incidents", ["key", "id"])


def downgrade() -> None:
    op.drop_index("ix_incidents_key", table_name="incidents")
    op.drop_table("incidents")
    op.drop_index("ix_track_events_open", table_name="track_events")
    op.drop_index("ix_track_events_other_party", table_name="track_events")
    op.drop_index("ix_track_events_party", table_name="track_events")
    op.drop_table("track_events")
