"""Database URLs and engines: one place that knows each backend's quirks.

SQLite: WAL (readers never block the writer), foreign keys on, and
SQLAlchemy emits ``BEGIN`` itself, because Python's ``sqlite3`` driver in
its legacy mode neither begins a transaction before a SELECT (so reads are
not one snapshot) nor before DDL (so a migration is not atomic).  Writers
begin ``IMMEDIATE`` so they take the write lock up front instead of failing
half-way when a second writer upgrades its lock.

PostgreSQL: ``postgresql://`` means the psycopg 3 driver.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url

DEFAULT_URL = "sqlite:///detente.sqlite"

#: Execution option naming how a SQLite transaction begins (DEFERRED or IMMEDIATE).
SQLITE_BEGIN = "detente_sqlite_begin"

_PG_ALIASES = {"postgresql", "postgres"}


def normalise_url(url: str | URL | None) -> URL:
    """The URL to connect to: default SQLite file, psycopg 3 for PostgreSQL.

    >>> normalise_url("postgresql://postgres@127.0.0.1:5432/detente_test").drivername
    'postgresql+psycopg'
    >>> normalise_url(None).render_as_string()
    'sqlite:///detente.sqlite'
    """
    parsed = make_url(url if url is not None else DEFAULT_URL)
    if parsed.drivername in _PG_ALIASES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see _on_sqlite_begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=FULL")  # every commit is on disk before it returns (the audit log's promise)
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(SQLITE_BEGIN, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE"):
        raise ValueError(f"unknown SQLite begin mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_store_engine(url: str | URL | None = None) -> Engine:
    """An engine for the URL, with the SQLite transaction and WAL set-up attached."""
    parsed = normalise_url(url)
    engine = create_engine(parsed)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, its transactions taking the write lock from the start on SQLite."""
    return engine.execution_options(**{SQLITE_BEGIN: "IMMEDIATE"})


def reader(engine: Engine) -> Engine:
    """The same engine, each transaction reading one consistent snapshot.

    SQLite gives a snapshot once ``BEGIN`` has run; PostgreSQL needs
    REPEATABLE READ, else each statement of a multi-table read sees the
    latest commit and a world could be read half old, half new.
    """
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="REPEATABLE READ")
    return engine
