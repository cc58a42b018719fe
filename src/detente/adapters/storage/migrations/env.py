"""Alembic environment: runs on the connection ``migrate.upgrade`` hands over.

Configured in code (see ``migrate.py``), so migrations run from an installed
package with no ``alembic.ini``.  Offline mode (``--sql``) renders SQL for the
URL set as ``sqlalchemy.url``.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from detente.adapters.storage.tables import Base


def main() -> None:
    if context.is_offline_mode():
        run_offline()
        return
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run detente migrations through detente.adapters.storage.migrate.upgrade")
    run_online(connection)


def run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


# Alembic runs this file as a script; anything else importing it (a doctest
# collector walking the package) finds no Alembic context and must not fail.
if hasattr(context, "config"):
    main()
