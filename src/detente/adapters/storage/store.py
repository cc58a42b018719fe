"""The world repository: store, read and query the world on SQLite or PostGIS.

Every write is one transaction that first takes the world's write lock (the
``world_version`` row on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and ends
by bumping the world version, so writers are serialised in the database and
each committed change has its own version number.  Reads run in one
snapshot, so a world is never read half before and half after a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from detente.adapters.storage import convert
from detente.adapters.storage.box import Box4D
from detente.adapters.storage.candidates import candidates_query
from detente.adapters.storage.engine import create_store_engine, reader, writer
from detente.adapters.storage.migrate import upgrade
from detente.adapters.storage.tables import PartyRow, ScenarioMetaRow, VolumeRow, WorldVersionRow
from detente.adapters.storage.transaction import Tx
from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Scenario, WorldObject

#: A candidate: kind, object id and volume index.
Candidate = tuple[Kind, str, int]


class Store:
    """The world in a database; build it with :func:`open_store`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._reading = sessionmaker(reader(engine))
        self._writing = sessionmaker(writer(engine))

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.engine.dialect.name

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def migrate(self) -> None:
        """Bring the schema to the newest migration (safe to call again)."""
        upgrade(self.engine)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- transactions -------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A write transaction holding the world's write lock from its start."""
        with self._writing.begin() as session:
            session.execute(select(WorldVersionRow.version).where(WorldVersionRow.id == 1).with_for_update())
            yield session

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with self._reading.begin() as session:
            yield session

    @contextmanager
    def write(self, *, world: bool = True) -> Iterator[Tx]:
        """One write transaction of a use case; ``world`` takes the world's write lock first.

        Writes that leave the world alone (reading a notification, a webhook
        delivery) pass ``world=False`` so they do not queue behind filings
        on PostgreSQL (SQLite has one writer at a time anyway).
        """
        if world:
            with self._write() as session:
                yield Tx(session, self.dialect)
        else:
            with self._writing.begin() as session:
                yield Tx(session, self.dialect)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """One read-only snapshot."""
        with self._read() as session:
            yield Tx(session, self.dialect)

    # -- the whole world ----------------------------------------------------

    def replace_world(self, scenario: Scenario) -> None:
        """Store ``scenario`` in place of the current world, all or nothing."""
        mismatched = [
            Problem("storable", f"stored under key {key!r} but its key is {obj.key!r}", id=obj.id)
            for key, obj in scenario.objects.items()
            if key != obj.key
        ]
        if mismatched:
            raise InvalidInput(mismatched)
        meta = convert.meta_row(scenario.name, scenario.separation, scenario.extra)
        parties = [convert.party_row(p) for p in scenario.parties.values()]
        volumes = [row for obj in scenario.objects.values() for row in convert.volume_rows(obj)]
        with self.write() as tx:
            session = tx.session
            version = tx.bump()
            for row in volumes:
                row["changed_version"] = version
            for table in (VolumeRow, PartyRow, ScenarioMetaRow):
                session.execute(delete(table))
            session.execute(insert(ScenarioMetaRow), [meta])
            if parties:
                session.execute(insert(PartyRow), parties)
            if volumes:
                session.execute(insert(VolumeRow), volumes)
            tx.separation_changed(version)

    def load_world(self) -> Scenario:
        """The stored world (empty, named ``""``, when none was stored)."""
        return self.load_world_with_version()[0]

    def load_world_with_version(self) -> tuple[Scenario, int]:
        """The stored world and its version, read in one snapshot.

        What an in-memory index is rebuilt from: it then follows the changes
        made after this version.
        """
        with self.read() as tx:
            session = tx.session
            version = tx.version()
            meta = session.get(ScenarioMetaRow, 1)
            parties = [convert.party_from_row(r) for r in session.scalars(select(PartyRow).order_by(PartyRow.id))]
            objects = convert.objects_from_rows(session.scalars(select(VolumeRow).order_by(VolumeRow.id)))
            scenario = Scenario(
                name="" if meta is None else meta.name,
                parties={p.id: p for p in parties},
                objects={o.key: o for o in objects},
            )
            if meta is not None:
                scenario.separation = convert.separation_from_row(meta)
                scenario.extra = dict(meta.extra)
        return scenario, version

    # -- one object ---------------------------------------------------------

    def put_object(self, obj: WorldObject) -> None:
        """Add the object, or replace the stored object of the same kind and id."""
        with self.write() as tx:
            tx.put_object(obj, tx.bump())

    def delete_object(self, kind: Kind | str, id: str) -> bool:
        """Delete the object; False (and no new version) when there was none."""
        with self.write() as tx:
            if not tx.delete_object(Kind(kind), id):
                return False
            tx.bump()
            return True

    def get_object(self, kind: Kind | str, id: str) -> WorldObject | None:
        """The stored object, or None."""
        with self.read() as tx:
            return tx.get_object(Kind(kind), id)

    def world_version(self) -> int:
        """How many changes the world has had: 0 for a new database."""
        with self.read() as tx:
            return tx.version()

    # -- the 4D index -------------------------------------------------------

    def candidates(self, box: Box4D | Volume4D) -> list[Candidate]:
        """Every volume whose 4D box meets ``box``, through the spatial index.

        A superset of the volumes that conflict with it: the engine decides.
        """
        query = candidates_query(_as_box(box), self.dialect)
        with self._read() as session:
            return [(Kind(kind), oid, vol) for kind, oid, vol in session.execute(query)]

    def explain_candidates(self, box: Box4D | Volume4D) -> str:
        """The database's query plan for :meth:`candidates`, to check the index is used."""
        query = candidates_query(_as_box(box), self.dialect)
        sql = str(query.compile(dialect=self.engine.dialect, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if self.dialect == "sqlite" else "EXPLAIN "
        with self._read() as session:
            rows = session.connection().exec_driver_sql(prefix + sql).all()
        return "\n".join(" ".join(str(v) for v in row) for row in rows)


def _as_box(box: Box4D | Volume4D) -> Box4D:
    return box if isinstance(box, Box4D) else Box4D.of_volume(box)


def open_store(url: str | None = None, *, migrate: bool = True) -> Store:
    """A store on ``url`` (default ``sqlite:///detente.sqlite``), migrated to head.

    ``postgresql://`` URLs use the psycopg 3 driver.
    """
    store = Store(create_store_engine(url))
    if migrate:
        store.migrate()
    return store
