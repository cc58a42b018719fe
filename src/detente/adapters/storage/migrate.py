"""Bring a database to the newest schema with Alembic, configured in code.

The migration scripts ship inside the package (``migrations/``), so this
works from an installed wheel with no ``alembic.ini`` at hand.  The whole
upgrade is one transaction holding a lock (an advisory lock on PostgreSQL,
the write lock on SQLite), so several workers starting at once against one
database migrate it once and the others wait, then find it at head.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text

from detente.adapters.storage.engine import writer

MIGRATIONS = Path(__file__).with_name("migrations")

#: Key of the PostgreSQL advisory lock held while migrating ("detente" in ASCII).
MIGRATION_LOCK_KEY = 0x646574656E7465


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database behind ``engine`` up to ``revision``, in one locked transaction."""
    _run(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the database behind ``engine`` down to ``revision`` (``base``: empty)."""
    _run(engine, lambda config: command.downgrade(config, revision))


def _run(engine: Engine, step: Callable[[Config], None]) -> None:
    config = alembic_config()
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        config.attributes["connection"] = conn
        step(config)
