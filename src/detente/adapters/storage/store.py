"""The world repository: store, read and query the world on SQLite or PostGIS.

Every write is one transaction that first takes the world's write lock (the
``world_version`` row on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) and ends
by bumping the world version, so writers are serialised in the database and
each committed change has its own version number.  Reads run in one
snapshot, so a world is never read half before and half after a change.

Every write transaction ends by appending its audit entries to the Merkle
log and signing the new tree head (``audit_log.append``), with the keys the
store was opened with: a directory on disk, never the database.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.orm import Session, sessionmaker

from detente.adapters.storage import audit_log, audit_rows, convert
from detente.adapters.storage.box import Box4D
from detente.adapters.storage.candidates import candidates_query
from detente.adapters.storage.engine import create_store_engine, normalise_url, reader, writer
from detente.adapters.storage.migrate import upgrade
from detente.adapters.storage.tables import PartyRow, ScenarioMetaRow, VolumeRow, WorldVersionRow
from detente.adapters.storage.transaction import Tx, object_audience
from detente.audit import EVERYONE
from detente.audit.keys import EphemeralKeys, KeyDir
from detente.domain.accounts import Caller
from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Scenario, WorldObject

#: A candidate: kind, object id and volume index.
Candidate = tuple[Kind, str, int]


class Store:
    """The world in a database; build it with :func:`open_store`."""

    def __init__(
        self,
        engine: Engine,
        keys: audit_log.Keys | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.keys: audit_log.Keys = keys if keys is not None else default_keys(engine.url.render_as_string(False))
        #: The time written into audit entries and tree heads: the real time unless a test fixes it.
        self.clock = clock or (lambda: datetime.now(UTC))
        self._reading = sessionmaker(reader(engine))
        self._writing = sessionmaker(writer(engine))
        self._on_notify: list[Callable[[], None]] = []

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
    def write(self, *, world: bool = True, by: Caller | None = None) -> Iterator[Tx]:
        """One write transaction of a use case; ``world`` takes the world's write lock first.

        Writes that leave the world alone (reading a notification, a webhook
        delivery) pass ``world=False`` so they do not queue behind filings
        on PostgreSQL (SQLite has one writer at a time anyway).  ``by`` is
        the member acting, named in the audit entries; the entries are
        appended after the use case's last change, before the commit.
        """
        with self._write() if world else self._writing.begin() as session:
            tx = Tx(session, self.dialect)
            yield tx
            self._append_audit(tx, by)
        if tx.notified:
            for listener in list(self._on_notify):
                listener()

    def on_notify(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after each commit that wrote a notification; returns the function that stops it.

        The live streams wait on this instead of polling, so a notification
        reaches an open stream in milliseconds.  It is called on the
        committing thread, so it must be quick and must not raise.
        """
        self._on_notify.append(listener)
        return lambda: self._on_notify.remove(listener)

    def _append_audit(self, tx: Tx, by: Caller | None) -> None:
        if not tx.pending:
            return
        actor = None if by is None else {"party": by.party, "member": by.member}
        indexes = audit_log.append(tx.session, self.dialect, tx.pending, actor=actor, at=self.clock(), keys=self.keys)
        tx.logged = [(p.subject, p.type, i) for p, i in zip(tx.pending, indexes, strict=True)]
        tx.pending = []

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
            before = {
                prefix: {name for name, _ in audit_rows.all_states(session, audit_rows.RECORDS[prefix])}
                for prefix in ("object", "party")
            }
            for table in (VolumeRow, PartyRow, ScenarioMetaRow):
                session.execute(delete(table))
            session.execute(insert(ScenarioMetaRow), [meta])
            if parties:
                session.execute(insert(PartyRow), parties)
            if volumes:
                session.execute(insert(VolumeRow), volumes)
            tx.separation_changed(version)
            _record_replaced(tx, scenario, before)

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


def _record_replaced(tx: Tx, scenario: Scenario, before: dict[str, set[str]]) -> None:
    """Log a whole new world: the scenario, every party and object written, every one removed."""
    everyone = [EVERYONE]
    tx.record("scenario.replaced", "scenario", everyone, data={"name": scenario.name})
    session = tx.session
    now = {prefix: dict(audit_rows.all_states(session, audit_rows.RECORDS[prefix])) for prefix in ("object", "party")}
    for name, rows in now["party"].items():
        tx.pending.append(audit_log.Pending("party.added", name, everyone, rows))
    owners = {o.kind.value + "/" + o.id: o for o in scenario.objects.values()}
    for name, rows in now["object"].items():
        obj = owners[name.split("/", 1)[1]]
        tx.pending.append(audit_log.Pending("object.put", name, object_audience(obj), rows))
    for prefix, gone_type in (("party", "party.removed"), ("object", "object.deleted")):
        for name in sorted(before[prefix] - set(now[prefix])):
            tx.pending.append(audit_log.Pending(gone_type, name, everyone, None))


def default_keys(url: str) -> audit_log.Keys:
    """Where a store keeps its log-signing keys when not told.

    ``DETENTE_AUDIT_KEYS`` (a directory) wins; a SQLite file keeps them in
    ``<file>.keys/`` beside it; an in-memory database gets throw-away keys;
    any other database uses ``./detente-audit-keys``.
    """
    configured = os.environ.get("DETENTE_AUDIT_KEYS")
    if configured:
        return KeyDir(Path(configured))
    parsed = normalise_url(url)
    if parsed.drivername.startswith("sqlite"):
        if not parsed.database or parsed.database == ":memory:":
            return EphemeralKeys()
        return KeyDir(Path(parsed.database + ".keys"))
    return KeyDir(Path("detente-audit-keys"))


def _as_box(box: Box4D | Volume4D) -> Box4D:
    return box if isinstance(box, Box4D) else Box4D.of_volume(box)


def open_store(url: str | None = None, *, migrate: bool = True, keys: audit_log.Keys | None = None) -> Store:
    """A store on ``url`` (default ``sqlite:///detente.sqlite``), migrated to head.

    ``postgresql://`` URLs use the psycopg 3 driver.  ``keys`` sign the
    audit log (default: see :func:`default_keys`).
    """
    store = Store(create_store_engine(url), keys)
    if migrate:
        store.migrate()
    return store
