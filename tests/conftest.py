"""Backends for the storage and service tests: SQLite always, PostGIS when DETENTE_PG_URL is set.

Each PostGIS test gets a schema of its own (created, then dropped with
everything in it), reached through ``search_path``, so tests are
independent and fast (no database or extension created per test).

A PostGIS suite that did not run must not pass unnoticed: without
DETENTE_PG_URL its tests are skipped with a reason, the terminal summary
ends with a warning, and in CI (env ``CI`` set) they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from detente.adapters.storage import Store, open_store

PG_ENV = "DETENTE_PG_URL"
PG_EXAMPLE = "postgresql://postgres@127.0.0.1:5432/detente_test"
_PG_NOT_RUN = pytest.StashKey[list[str]]()


def pg_url_with_options(url: str, *options: str) -> str:
    """``url`` with libpq ``-c`` settings (search_path, enable_seqscan, ...) for every connection."""
    parsed = make_url(url)
    joined = " ".join(f"-c {o}" for o in options)
    return parsed.update_query_dict({"options": joined}).render_as_string(hide_password=False)


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(autouse=True, scope="session")
def _audit_keys(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Log-signing keys of the PostgreSQL stores in a temporary directory, not the working directory."""
    previous = os.environ.get("DETENTE_AUDIT_KEYS")
    os.environ["DETENTE_AUDIT_KEYS"] = str(tmp_path_factory.mktemp("audit-keys"))
    yield
    if previous is None:
        del os.environ["DETENTE_AUDIT_KEYS"]
    else:
        os.environ["DETENTE_AUDIT_KEYS"] = previous


@pytest.fixture
def sqlite_url(tmp_path: os.PathLike[str]) -> str:
    return f"sqlite:///{os.path.join(tmp_path, 'detente.sqlite')}"


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A PostGIS URL whose connections work in a fresh schema, dropped afterwards."""
    base = os.environ.get(PG_ENV)
    if not base:
        request.config.stash.setdefault(_PG_NOT_RUN, []).append(request.node.nodeid)
        reason = f"PostGIS suite NOT RUN: {PG_ENV} is not set (run scripts/postgis.sh, export {PG_ENV})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure", pytrace=False)
        pytest.skip(reason)
    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq(base), autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        admin.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield pg_url_with_options(base, f"search_path={schema},public")
    finally:
        with psycopg.connect(_libpq(base), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgis", marks=pytest.mark.postgis)])
def url(request: pytest.FixtureRequest) -> str:
    """Each backend in turn: a fresh SQLite file, then a fresh PostGIS schema."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    s = open_store(url)
    try:
        yield s
    finally:
        s.close()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    not_run = config.stash.get(_PG_NOT_RUN, [])
    if not not_run:
        return
    terminalreporter.write_sep("!", "PostGIS suite DID NOT RUN", red=True, bold=True)
    terminalreporter.write_line(
        f"{len(not_run)} PostGIS storage test(s) were skipped because {PG_ENV} is not set; only SQLite was tested.",
        red=True,
        bold=True,
    )
    terminalreporter.write_line(f"Run scripts/postgis.sh, then: export {PG_ENV}={PG_EXAMPLE}", red=True)
