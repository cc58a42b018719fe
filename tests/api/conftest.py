"""Fixtures: the API on each backend (see ``tests/api/world.py`` for the world in it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.api.world import Api, start_api


@pytest.fixture
def api(url: str) -> Iterator[Api]:
    """The API on each backend in turn (SQLite file, PostGIS schema)."""
    yield from start_api(url)


@pytest.fixture
def sqlite_api(sqlite_url: str) -> Iterator[Api]:
    """The API on SQLite only (for tests that are about the API, not the backend)."""
    yield from start_api(sqlite_url)
