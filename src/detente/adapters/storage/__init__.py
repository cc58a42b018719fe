"""Storage of the world on SQLite (default, embedded) or PostgreSQL + PostGIS.

>>> from detente.adapters.storage import open_store
>>> # store = open_store("postgresql://postgres@127.0.0.1:5432/detente")

``open_store(url)`` picks the backend from the URL and migrates the schema;
the :class:`Store` it returns reads and writes whole worlds and single
objects and answers 4D box queries through the backend's spatial index.
"""

from detente.adapters.storage.box import Box4D, footprint_box
from detente.adapters.storage.engine import DEFAULT_URL, normalise_url
from detente.adapters.storage.store import Candidate, Store, open_store

__all__ = ["DEFAULT_URL", "Box4D", "Candidate", "Store", "footprint_box", "normalise_url", "open_store"]
