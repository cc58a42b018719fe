"""The world: parties, scenario meta, volumes with a 4D index, world version.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Both backends get the same tables.  Then each gets its own 4D index:

SQLite: an R*Tree virtual table ``volume_rtree`` holding each volume's box
(lon, lat, altitude, time as epoch seconds), kept in step with ``volumes``
by triggers, so every writer (the repository, a bulk delete, a hand-typed
fix in the sqlite3 shell) keeps it right.  Open ends are stored as
+/-``SENTINEL``; times are widened by one second to absorb ``julianday``
rounding (the R*Tree rounds its 32-bit floats outward by itself).

PostgreSQL: PostGIS, and generated columns derived from the shared ones:
``geom`` (the base geometry, 2D, SRID 4326), ``reach`` (the footprint box,
radius included), ``alt`` (altitude band widened to whole metres, closed)
and ``during`` (time window, ``[)``).  A GiST index on ``geom``, and a
multi-column GiST on ``(reach, alt, during)`` for the 4D box query; range
types have GiST support built in, so no ``btree_gist`` is needed.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Stands for an infinite end in the R*Tree (which stores 32-bit floats).
SENTINEL = 1e38

_ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _rtree_values(row: str) -> str:
    epoch = "(julianday({row}.{col}) - 2440587.5) * 86400.0"
    t_start = epoch.format(row=row, col="time_start")
    t_end = epoch.format(row=row, col="time_end")
    return (
        f"{row}.id, {row}.min_lon, {row}.max_lon, {row}.min_lat, {row}.max_lat, "
        f"COALESCE({row}.altitude_lower_m, -{SENTINEL}), COALESCE({row}.altitude_upper_m, {SENTINEL}), "
        f"COALESCE({t_start} - 1.0, -{SENTINEL}), COALESCE({t_end} + 1.0, {SENTINEL})"
    )


_SQLITE_RTREE = [
    "CREATE VIRTUAL TABLE volume_rtree USING rtree("
    "id, min_lon, max_lon, min_lat, max_lat, min_alt, max_alt, min_t, max_t)",
    f"""CREATE TRIGGER volumes_rtree_insert AFTER INSERT ON volumes BEGIN
        INSERT INTO volume_rtree VALUES ({_rtree_values("new")});
    END""",
    f"""CREATE TRIGGER volumes_rtree_update AFTER UPDATE ON volumes BEGIN
        DELETE FROM volume_rtree WHERE id = old.id;
        INSERT INTO volume_rtree VALUES ({_rtree_values("new")});
    END""",
    """CREATE TRIGGER volumes_rtree_delete AFTER DELETE ON volumes BEGIN
        DELETE FROM volume_rtree WHERE id = old.id;
    END""",
]

_POSTGIS_COLUMNS = [
    "ALTER TABLE volumes ADD COLUMN geom geometry(Geometry, 4326) GENERATED ALWAYS AS "
    "(ST_SetSRID(ST_Force2D(ST_GeomFromGeoJSON(geojson)), 4326)) STORED",
    "ALTER TABLE volumes ADD COLUMN reach geometry(Geometry, 4326) GENERATED ALWAYS AS "
    "(ST_MakeEnvelope(min_lon, min_lat, max_lon, max_lat, 4326)) STORED",
    "ALTER TABLE volumes ADD COLUMN alt numrange GENERATED ALWAYS AS "
    "(numrange(floor(altitude_lower_m)::numeric, ceil(altitude_upper_m)::numeric, '[]')) STORED",
    "ALTER TABLE volumes ADD COLUMN during tstzrange GENERATED ALWAYS AS "
    "(tstzrange(time_start, time_end, '[)')) STORED",
    "CREATE INDEX ix_volumes_geom ON volumes USING gist (geom)",
    "CREATE INDEX ix_volumes_reach_alt_during ON volumes USING gist (reach, alt, during)",
]


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect not in ("sqlite", "postgresql"):
        raise NotImplementedError(f"detente stores on SQLite or PostgreSQL, not {dialect}")
    if dialect == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")

    op.create_table(
        "parties",
        sa.Column("id", sa.String(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
    )
    op.create_table(
        "scenario_meta",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("separation", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_scenario_meta_single_row"),
    )
    op.create_table(
        "volumes",
        sa.Column("id", _ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(), nullable=False),
        sa.Column("geojson", sa.String(), nullable=False),
        sa.Column("radius_m", sa.Float(), nullable=False),
        sa.Column("min_lon", sa.Float(), nullable=False),
        sa.Column("min_lat", sa.Float(), nullable=False),
        sa.Column("max_lon", sa.Float(), nullable=False),
        sa.Column("max_lat", sa.Float(), nullable=False),
        sa.Column("altitude_lower_m", sa.Float(), nullable=True),
        sa.Column("altitude_upper_m", sa.Float(), nullable=True),
        sa.Column("time_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("time_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.UniqueConstraint("kind", "object_id", "volume", name="uq_volumes_kind_object_volume"),
    )
    world_version = op.create_table(
        "world_version",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_world_version_single_row"),
    )
    op.bulk_insert(world_version, [{"id": 1, "version": 0}])

    for statement in _SQLITE_RTREE if dialect == "sqlite" else _POSTGIS_COLUMNS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("volumes_rtree_insert", "volumes_rtree_update", "volumes_rtree_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS volume_rtree")
    for table in ("world_version", "volumes", "scenario_meta", "parties"):
        op.drop_table(table)
    # The postgis extension stays: other schemas of the database may use it.
