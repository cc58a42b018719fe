"""Audit log benchmark: appends per second in batches, proofs at 10^6 entries, bytes per entry.

Usage::

    .venv/bin/python bench/audit.py                          # SQLite and PostgreSQL, proofs at 10^6 entries
    .venv/bin/python bench/audit.py --quick                  # smoke run, under a minute
    .venv/bin/python bench/audit.py --skip-pg --entries 200000
    .venv/bin/python bench/audit.py --profile                # + cProfile of one 10,000-entry append per backend

For each backend it opens a fresh store (``open_store``, migrated, throw-away
``EphemeralKeys``): a SQLite file in a temporary directory (WAL,
``synchronous=FULL``: an fsync per commit), or a fresh schema
``bench_audit_<random>`` on the PostgreSQL server of ``--pg-url`` /
``DETENTE_PG_URL`` (connections get ``search_path=<schema>,public``; the
schema is dropped afterwards).  The durability settings in force are read
from the database and printed, so the figures are known to be fsync-safe.

1. **Appends in batches**: ``Store.write()`` transactions of B entries each
   (B = 1, 100, 1000, 10000; B = 1 is the naive commit-per-entry baseline),
   each batch size for ``--seconds`` (and at least 3 commits).  The entries
   are notification-like (``notification.sent`` with the notification row as
   state, ~300 bytes of JSON; an actor; one party as audience) and are built
   before the clock starts.  Reported: entries/s and commits/s over the time
   spent inside the transactions, and per commit the p50/p99 of the whole
   transaction and of its ``COMMIT`` alone (the fsync / WAL flush).
2. **Proofs at ``--entries``** (default 10^6): the log is filled in
   ``--fill-batch`` transactions (at most ``--fill-max-s``; the size reached
   is what the proofs run on), then ``--proofs`` random inclusion proofs at
   the latest signed size, consistency proofs from a random old size to it,
   and receipts (``audit_log.receipt``: entry, head, proof, key) are timed,
   each including its queries, in one read transaction; receipts also each in
   their own read transaction, as an API request would.  A sample of the
   proofs is verified (RFC 9162 verifiers, the head's signature, the
   receipt's own ``check``), and a tampered one must fail, so a fast wrong
   answer cannot pass.  The naive baseline reads all the leaf hashes
   (``audit_nodes`` level 0) and rehashes the tree to get the root and one
   inclusion path; its root and path must equal the head's and the stored
   proof's.
3. **Bytes per entry**: the audit tables with their indexes (SQLite ``dbstat``
   after a WAL checkpoint, and the file; ``pg_total_relation_size``).

Also printed: where an append's CPU goes without a database (canonical JSON,
hashing, one signature per commit).  Results go to
``bench/results/audit-<time>.json`` (gitignored) or ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import sqlalchemy
from rich.console import Console
from rich.table import Table
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from detente.adapters.storage import Store, audit_log, open_store
from detente.adapters.storage.audit_log import Pending, entry_json
from detente.adapters.storage.tables import AuditEntryRow, AuditHeadRow
from detente.audit.canonical import canonical
from detente.audit.heads import sign_head
from detente.audit.keys import EphemeralKeys
from detente.audit.merkle import (
    Appender,
    frontier,
    leaf_hash,
    node_hash,
    root_from,
    verify_consistency,
    verify_inclusion,
)
from detente.domain.accounts import Caller
from detente.domain.model import Role

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine as bench_machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PG_ENV = "DETENTE_PG_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/detente_test"
AUDIT_TABLES = ("audit_entries", "audit_nodes", "audit_heads", "audit_keys", "audit_state")
PARTIES = ("alpha", "bravo", "charlie", "delta")
console = Console(width=None if sys.stdout.isatty() else 160)


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    import cryptography
    import rfc8785

    return {
        **bench_machine.base(),
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
        "sqlite": sqlite3.sqlite_version,
        "cryptography": cryptography.__version__,
        "rfc8785": getattr(rfc8785, "__version__", "?"),
    }


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def busy_since(start: tuple[int, int], own_cpu_s: float, wall_s: float) -> dict[str, float]:
    """How busy the machine was since ``start``, and how much of it was not this process."""
    busy, total = cpu_ticks()
    frac = (busy - start[0]) / max(1, total - start[1])
    cores = os.cpu_count() or 1
    return {"machine_busy": frac, "others_cores": max(0.0, frac * cores - own_cpu_s / max(wall_s, 1e-9))}


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    name: str
    url: str
    path: Path | None = None  # the SQLite file
    schema: str | None = None  # the PostgreSQL schema


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def backend(name: str, tmp: Path, pg_url: str) -> Iterator[Backend]:
    """A fresh, empty database for one run; removed afterwards."""
    if name == "sqlite":
        path = tmp / f"audit-{secrets.token_hex(4)}.sqlite"
        yield Backend(name, f"sqlite:///{path}", path=path)
        return
    schema = f"bench_audit_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq(pg_url), autocommit=True) as admin:
        admin.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        admin.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(pg_url).update_query_dict({"options": f"-c search_path={schema},public"})
    try:
        yield Backend(name, url.render_as_string(hide_password=False), schema=schema)
    finally:
        with psycopg.connect(_libpq(pg_url), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def durability(store: Store) -> dict[str, str]:
    """The settings that decide whether a commit is on disk when it returns."""
    with store.engine.connect() as conn:
        if store.dialect == "sqlite":
            sync = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
            level = int(conn.exec_driver_sql("PRAGMA synchronous").scalar_one())
            return {
                "journal_mode": str(conn.exec_driver_sql("PRAGMA journal_mode").scalar_one()),
                "synchronous": sync.get(level, str(level)),
            }
        names = ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes")
        names += ("shared_buffers", "wal_level")
        return {n: str(conn.exec_driver_sql(f"SHOW {n}").scalar_one()) for n in names}


def fsync_safe(name: str, settings: dict[str, str]) -> bool:
    if name == "sqlite":
        return settings.get("synchronous") in ("FULL", "EXTRA") and settings.get("journal_mode") == "wal"
    return settings.get("fsync") == "on" and settings.get("synchronous_commit") in (
        "on",
        "remote_write",
        "remote_apply",
    )


# --------------------------------------------------------------------------- entries

ACTOR = Caller(member="m-alpha-ops", party="alpha", role=Role.MILITARY)
AT = "2030-01-01T08:00:00.000000Z"


def notification(n: int) -> Pending:
    """Entry ``n``: a notification as ``Tx.notify`` logs it (its row as the state, one party as audience)."""
    party = PARTIES[n % len(PARTIES)]
    other = PARTIES[(n + 1) % len(PARTIES)]
    body = {
        "filing": f"f-{n:08d}",
        "intent": f"intent/{party}-{n}",
        "world_version": 1000 + n,
        "conflicts": [{"type": "separation", "with": f"intent/{other}-{n - 3}", "volume": 0, "other_volume": 1}],
    }
    row = {
        "id": n,
        "party": party,
        "type": "conflict",
        "body": body,
        "created_at": AT,
        "read_at": None,
        "acked_at": None,
        "acked_by": None,
        "ack_signature": None,
    }
    return Pending("notification.sent", f"notification/{n}", [party], row, {})


class Counter:
    """Entry numbers, unique over the run."""

    def __init__(self) -> None:
        self.n = 0

    def take(self, k: int) -> list[Pending]:
        out = [notification(self.n + i) for i in range(k)]
        self.n += k
        return out


# --------------------------------------------------------------------------- timing


class CommitClock:
    """Times each session's COMMIT (before_commit → after_commit): the fsync / WAL flush, mostly."""

    def __init__(self) -> None:
        self.started = 0.0
        self.last = 0.0

    def __enter__(self) -> CommitClock:
        event.listen(Session, "before_commit", self._before)
        event.listen(Session, "after_commit", self._after)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(Session, "before_commit", self._before)
        event.remove(Session, "after_commit", self._after)

    def _before(self, _session: Session) -> None:
        self.started = time.perf_counter()

    def _after(self, _session: Session) -> None:
        self.last = time.perf_counter() - self.started


def pct(xs: list[float], scale: float = 1000.0) -> dict[str, float]:
    a = np.array(xs) * scale
    return {
        "n": len(xs),
        "p50": float(np.percentile(a, 50)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def append_batches(store: Store, counter: Counter, batch: int, seconds: float, min_commits: int) -> dict[str, Any]:
    """``Store.write()`` transactions of ``batch`` entries each, for ``seconds`` (and ``min_commits``)."""
    with store.read() as tx:
        at_size = tx.audit_size()
    tx_s: list[float] = []
    commit_s: list[float] = []
    clock = time.perf_counter
    with CommitClock() as cc:
        while sum(tx_s) < seconds or len(tx_s) < min_commits:
            pending = counter.take(batch)
            t = clock()
            with store.write(by=ACTOR) as tx:
                tx.pending.extend(pending)
            tx_s.append(clock() - t)
            commit_s.append(cc.last)
    total = sum(tx_s)
    return {
        "batch": batch,
        "log_size": at_size,
        "entries": batch * len(tx_s),
        "commits": len(tx_s),
        "seconds": total,
        "entries_per_s": batch * len(tx_s) / total,
        "commits_per_s": len(tx_s) / total,
        "tx_ms": pct(tx_s),
        "commit_ms": pct(commit_s),
    }


def fill(store: Store, counter: Counter, target: int, batch: int, max_s: float) -> dict[str, Any]:
    """Append until the log holds ``target`` entries (or ``max_s`` has passed)."""
    with store.read() as tx:
        start = tx.audit_size()
    size = start
    t0 = time.perf_counter()
    last_report = t0
    while size < target:
        k = min(batch, target - size)
        pending = counter.take(k)
        with store.write(by=ACTOR) as tx:
            tx.pending.extend(pending)
        size += k
        now = time.perf_counter()
        if now - last_report > 30:
            rate = (size - start) / (now - t0)
            console.print(f"  {store.dialect}: {size:,} entries, {rate:,.0f}/s")
            last_report = now
        if now - t0 > max_s:
            console.print(f"[yellow]  {store.dialect}: fill stopped at {size:,} entries after {max_s:.0f} s[/]")
            break
    wall = time.perf_counter() - t0
    return {
        "from": start,
        "to": size,
        "batch": batch,
        "seconds": wall,
        "entries_per_s": (size - start) / wall if wall else 0.0,
        "complete": size >= target,
    }


# --------------------------------------------------------------------------- proofs


def naive(session: Session, index: int) -> dict[str, Any]:
    """The root and the inclusion path of ``index`` from every leaf hash, as if nothing else were stored."""
    t0 = time.perf_counter()
    rows = session.connection().exec_driver_sql("SELECT hash FROM audit_nodes WHERE level = 0 ORDER BY idx").all()
    level = [bytes(h) for (h,) in rows]
    t1 = time.perf_counter()
    size = len(level)
    path: list[bytes] = []
    m = index
    sha = hashlib.sha256
    while len(level) > 1:
        if (m ^ 1) < len(level):
            path.append(level[m ^ 1])
        nxt = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])  # RFC 9162: the odd node at the right edge moves up unchanged
        level = nxt
        m >>= 1
    t2 = time.perf_counter()
    return {"size": size, "root": level[0], "path": path, "read_s": t1 - t0, "hash_s": t2 - t1, "total_s": t2 - t0}


def timed(fn: Any, args: list[Any], max_s: float) -> tuple[list[float], list[Any]]:
    """``fn(*a)`` for each ``a`` in ``args``, until ``max_s`` seconds have been spent."""
    lat: list[float] = []
    out: list[Any] = []
    clock = time.perf_counter
    for a in args:
        t = clock()
        out.append(fn(*a))
        lat.append(clock() - t)
        if sum(lat) > max_s:
            break
    return lat, out


def proofs(store: Store, n: int, n_verify: int, naive_runs: int, seed: int, max_s: float) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {}
    with store.read() as tx:
        s = tx.session
        top = audit_log.latest_head(s)
        assert top is not None
        size = top.size
        key = audit_log.signing_key(s, top.key_id)
        out["size"] = size
        incl_idx = [rng.randrange(size) for _ in range(n)]
        cons_old = [rng.randint(1, size) for _ in range(n)]
        rec_idx = [rng.randrange(size) for _ in range(n)]
        for _ in range(10):  # warm-up: statement caches, plans
            audit_log.inclusion(s, rng.randrange(size), size)
            audit_log.consistency(s, rng.randint(1, size), size)
            audit_log.receipt(s, rng.randrange(size))
        lat: dict[str, list[float]] = {}
        lat["inclusion"], incl = timed(lambda i: audit_log.inclusion(s, i, size), [(i,) for i in incl_idx], max_s)
        incl_idx = incl_idx[: len(incl)]
        lat["consistency"], cons = timed(lambda o: audit_log.consistency(s, o, size), [(o,) for o in cons_old], max_s)
        cons_old = cons_old[: len(cons)]
        lat["receipt"], recs = timed(lambda i: audit_log.receipt(s, i), [(i,) for i in rec_idx], max_s)
        out["proof_len"] = {
            "inclusion": float(np.mean([len(p) for p in incl])),
            "consistency": float(np.mean([len(p) for p in cons])),
        }
        out["verified"] = verify_sample(s, top, key, incl_idx, incl, cons_old, cons, recs, n_verify, rng)
        out["naive"] = []
        for _ in range(naive_runs):
            i = rng.randrange(size)
            nv = naive(s, i)
            expected = audit_log.inclusion(s, i, size)
            out["naive"].append(
                {
                    "index": i,
                    "read_s": nv["read_s"],
                    "hash_s": nv["hash_s"],
                    "total_s": nv["total_s"],
                    "root_matches_head": nv["root"] == top.root and nv["size"] == size,
                    "path_matches_stored_proof": nv["path"] == expected,
                }
            )

    def own_tx(i: int) -> None:
        with store.read() as tx:
            audit_log.receipt(tx.session, i)

    own, _ = timed(own_tx, [(i,) for i in rec_idx[: max(1, n // 2)]], max_s / 2)
    lat["receipt, own read tx"] = own
    out["latency_ms"] = {k: pct(v) for k, v in lat.items()}
    return out


def verify_sample(
    s: Session,
    top: Any,
    key: Any,
    incl_idx: list[int],
    incl: list[list[bytes]],
    cons_old: list[int],
    cons: list[list[bytes]],
    recs: list[Any],
    n: int,
    rng: random.Random,
) -> dict[str, Any]:
    """Check a sample of the produced proofs against the latest head; tampered ones must fail."""
    size = top.size
    bad: list[str] = []
    if not top.valid(key):
        bad.append("latest head signature")
    checked = {"inclusion": 0, "consistency": 0, "consistency_signed_heads": 0, "receipt": 0, "tampered_rejected": 0}
    for j in rng.sample(range(len(incl_idx)), min(n, len(incl_idx))):
        i = incl_idx[j]
        row = audit_log.entry(s, i)
        leaf = leaf_hash(row.entry.encode()) if row is not None else b""
        if not verify_inclusion(leaf, i, size, incl[j], top.root):
            bad.append(f"inclusion {i}")
        other = audit_log.entry(s, (i + 1) % size)
        wrong = leaf_hash(other.entry.encode()) if other is not None else b"\0" * 32
        if verify_inclusion(wrong, i, size, incl[j], top.root):
            bad.append(f"inclusion {i} accepted another entry's leaf")
        else:
            checked["tampered_rejected"] += 1
        checked["inclusion"] += 1
    for j in rng.sample(range(len(cons_old)), min(n, len(cons_old))):
        old = cons_old[j]
        # the old root from the stored frontier of ``old`` (other nodes than the proof's)
        nodes = audit_log.fetch_nodes(s, frontier(old))
        old_root = root_from([nodes[x] for x in frontier(old)])
        if not verify_consistency(old, size, old_root, top.root, cons[j]):
            bad.append(f"consistency {old}")
        if old < size and verify_consistency(old, size, node_hash(old_root, old_root), top.root, cons[j]):
            bad.append(f"consistency {old} accepted a wrong old root")
        checked["consistency"] += 1
    # old sizes that have a signed head: the old root is the one the log signed then
    head_sizes = [int(x) for x in s.scalars(select(AuditHeadRow.size).where(AuditHeadRow.size < size))]
    for old in rng.sample(head_sizes, min(n, len(head_sizes))):
        old_head = audit_log.head(s, old)
        assert old_head is not None
        proof = audit_log.consistency(s, old, size)
        if not (old_head.valid(key) and verify_consistency(old, size, old_head.root, top.root, proof)):
            bad.append(f"consistency from signed head {old}")
        checked["consistency_signed_heads"] += 1
    for r in rng.sample(recs, min(n, len(recs))):
        problems = r.check([key])
        if problems or r.head.root != top.root:
            bad.append(f"receipt {r.index}: {problems}")
        checked["receipt"] += 1
    return {"checked": checked, "failures": bad[:20], "ok": not bad}


# --------------------------------------------------------------------------- bytes


def footprint(store: Store, backend: Backend, size: int) -> dict[str, Any]:
    tables: dict[str, int] = {}
    if backend.name == "sqlite":
        assert backend.path is not None
        with contextlib.closing(sqlite3.connect(backend.path)) as raw:
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            owner = dict(raw.execute("SELECT name, tbl_name FROM sqlite_master").fetchall())
            try:
                for name, used in raw.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall():
                    table = owner.get(name, name)
                    if table in AUDIT_TABLES:
                        tables[table] = tables.get(table, 0) + int(used)
            except sqlite3.OperationalError:  # no dbstat in this SQLite build
                pass
        whole = backend.path.stat().st_size
        wal = Path(str(backend.path) + "-wal")
        whole += wal.stat().st_size if wal.exists() else 0
    else:
        with store.engine.connect() as conn:
            for t in AUDIT_TABLES:
                tables[t] = int(
                    conn.exec_driver_sql(
                        f"SELECT pg_total_relation_size('\"{backend.schema}\".{t}'::regclass)"
                    ).scalar_one()
                )
            whole = int(
                conn.exec_driver_sql(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %(s)s AND c.relkind = 'r'",
                    {"s": backend.schema},
                ).scalar_one()
            )
    with store.read() as tx:
        n_heads = int(tx.session.scalar(select(func.count()).select_from(AuditHeadRow)) or 0)
        mean_entry = float(tx.session.scalar(select(func.avg(func.length(AuditEntryRow.entry)))) or 0.0)
    audit_total = sum(tables.values())
    return {
        "size": size,
        "heads": n_heads,
        "mean_entry_chars": mean_entry,
        "tables_bytes": tables,
        "audit_bytes": audit_total,
        "audit_bytes_per_entry": audit_total / size if size else 0.0,
        "database_bytes": whole,
        "database_bytes_per_entry": whole / size if size else 0.0,
    }


# --------------------------------------------------------------------------- CPU without a database


def cpu_breakdown(n: int) -> dict[str, float]:
    """Per entry, in µs: what an append computes before any SQL (and one signature per commit)."""
    pending = [notification(i) for i in range(n)]
    at = datetime(2030, 1, 1, 8, tzinfo=UTC)
    actor = {"party": ACTOR.party, "member": ACTOR.member}
    clock = time.perf_counter
    t = clock()
    texts = [canonical(entry_json(p, actor, at)) for p in pending]
    t_enc = clock() - t
    t = clock()
    tree = Appender()
    nodes = 0
    for x in texts:
        nodes += len(tree.append(leaf_hash(x)))
    t_hash = clock() - t
    t = clock()
    rows = [
        {
            "idx": i,
            "at": at,
            "type": p.type,
            "subject": p.subject,
            "audience": sorted(set(p.audience)),
            "entry": x.decode(),
        }
        for i, (p, x) in enumerate(zip(pending, texts, strict=True))
    ]
    t_rows = clock() - t
    signer = EphemeralKeys().current()
    k = 200
    t = clock()
    for _ in range(k):
        sign_head(signer, "bench", n, tree.root(), at)
    t_sign = (clock() - t) / k
    state = canonical(pending[0].state)
    return {
        "entries": n,
        "entry_bytes": float(np.mean([len(x) for x in texts])),
        "state_bytes": float(len(state)),
        "nodes_per_entry": nodes / n,
        "canonical_us": t_enc / n * 1e6,
        "hash_us": t_hash / n * 1e6,
        "row_dicts_us": t_rows / n * 1e6,
        "sign_head_us": t_sign * 1e6,
        "_rows": len(rows),
    }


def profile_append(store: Store, counter: Counter, batch: int, top: int) -> str:
    pending = counter.take(batch)
    prof = cProfile.Profile()
    prof.enable()
    with store.write(by=ACTOR) as tx:
        tx.pending.extend(pending)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# --------------------------------------------------------------------------- one backend


def run_backend(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    console.print(f"[bold]{name}[/]: fresh store…")
    ticks, cpu0, t0 = cpu_ticks(), sum(os.times()[:2]), time.monotonic()
    with backend(name, tmp, args.pg_url) as b:
        store = open_store(b.url, keys=EphemeralKeys())
        try:
            settings = durability(store)
            safe = fsync_safe(name, settings)
            console.print(f"  durability: {settings} → {'fsync-safe' if safe else '[red]NOT fsync-safe[/]'}")
            counter = Counter()
            appends = []
            for batch in args.batches:
                r = append_batches(store, counter, batch, args.seconds, 3)
                console.print(
                    f"  B={batch:>6,}: {r['entries']:>8,} entries in {r['commits']:>5,} commits, "
                    f"{r['entries_per_s']:>9,.0f} entries/s, {r['commits_per_s']:>8,.1f} commits/s"
                )
                appends.append(r)
            profile = profile_append(store, counter, args.profile_batch, args.profile_top) if args.profile else None
            console.print(f"  filling to {args.entries:,} entries in batches of {args.fill_batch:,}…")
            filled = fill(store, counter, args.entries, args.fill_batch, args.fill_max_s)
            console.print(
                f"  filled {filled['from']:,} → {filled['to']:,} in {filled['seconds']:.1f} s "
                f"({filled['entries_per_s']:,.0f} entries/s)"
            )
            console.print(f"  {args.proofs:,} proofs of each kind…")
            pr = proofs(store, args.proofs, args.verify, args.naive_runs, args.seed, args.proof_max_s)
            for batch in args.after_batches:
                r = append_batches(store, counter, batch, args.seconds / 3, 3)
                console.print(
                    f"  B={batch:>6,} at {r['log_size']:,}: {r['entries_per_s']:>9,.0f} entries/s, "
                    f"{r['commits_per_s']:>8,.1f} commits/s"
                )
                appends.append(r)
            with store.read() as tx:
                fp = footprint(store, b, tx.audit_size())
        finally:
            store.close()
    wall = time.monotonic() - t0
    load = busy_since(ticks, sum(os.times()[:2]) - cpu0, wall)
    console.print(
        f"  {wall:.0f} s; machine {load['machine_busy']:.0%} busy, "
        f"of which other processes than this one ~{load['others_cores']:.2f} cores (PostgreSQL's backend included)"
    )
    return {
        "backend": name,
        "wall_s": wall,
        "load": load,
        "durability": settings,
        "fsync_safe": safe,
        "appends": appends,
        "fill": filled,
        "proofs": pr,
        "footprint": fp,
        "profile": profile,
    }


# --------------------------------------------------------------------------- output


def print_tables(results: list[dict[str, Any]], cpu: dict[str, float]) -> None:
    t = Table(title="Appends through Store.write(), B entries per transaction (fsync per commit)")
    cols = (
        "backend",
        "B",
        "log size",
        "entries",
        "commits",
        "entries/s",
        "commits/s",
        "ms/tx p50",
        "p99",
        "COMMIT p50",
    )
    for col in cols:
        t.add_column(col, justify="left" if col == "backend" else "right")
    for r in results:
        for a in r["appends"]:
            t.add_row(
                r["backend"],
                f"{a['batch']:,}",
                f"{a['log_size']:,}",
                f"{a['entries']:,}",
                f"{a['commits']:,}",
                f"{a['entries_per_s']:,.0f}",
                f"{a['commits_per_s']:,.1f}",
                f"{a['tx_ms']['p50']:.2f}",
                f"{a['tx_ms']['p99']:.2f}",
                f"{a['commit_ms']['p50']:.2f}",
            )
        f = r["fill"]
        if f["to"] > f["from"]:
            done = "" if f["complete"] else " [yellow](stopped)[/]"
            row = [f"{f['batch']:,} (fill)", f"{f['from']:,}", f"{f['to'] - f['from']:,}" + done, ""]
            t.add_row(r["backend"], *row, f"{f['entries_per_s']:,.0f}", "", "", "", "")
    console.print(t)

    t = Table(title="Proofs at the latest signed size, each including its queries (ms)")
    for col in ("backend", "size", "what", "n", "p50", "p99", "max", "mean", "hashes"):
        t.add_column(col, justify="left" if col in ("backend", "what") else "right")
    for r in results:
        p = r["proofs"]
        for what, s in p["latency_ms"].items():
            plen = p["proof_len"].get(what)
            t.add_row(
                r["backend"],
                f"{p['size']:,}",
                what,
                f"{s['n']:,}",
                f"{s['p50']:.3f}",
                f"{s['p99']:.3f}",
                f"{s['max']:.3f}",
                f"{s['mean']:.3f}",
                "" if plen is None else f"{plen:.1f}",
            )
        for nv in p["naive"]:
            ok = nv["root_matches_head"] and nv["path_matches_stored_proof"]
            t.add_row(
                r["backend"],
                f"{p['size']:,}",
                f"naive: read leaves {nv['read_s'] * 1000:,.0f} + rehash {nv['hash_s'] * 1000:,.0f}"
                + ("" if ok else " [red]MISMATCH[/]"),
                "1",
                f"{nv['total_s'] * 1000:,.0f}",
                "",
                "",
                "",
                "",
            )
    console.print(t)
    for r in results:
        v = r["proofs"]["verified"]
        colour = "green" if v["ok"] else "red"
        console.print(f"[{colour}]{r['backend']}: verified {v['checked']}; failures: {v['failures'] or 'none'}[/]")

    t = Table(title="Bytes on disk (audit tables with their indexes)")
    for col in ("backend", "entries", "heads", "entry chars", "audit bytes/entry", "by table", "database bytes/entry"):
        t.add_column(col, justify="left" if col in ("backend", "by table") else "right")
    for r in results:
        fp = r["footprint"]
        by = ", ".join(f"{k.removeprefix('audit_')} {v / fp['size']:.0f}" for k, v in fp["tables_bytes"].items() if v)
        t.add_row(
            r["backend"],
            f"{fp['size']:,}",
            f"{fp['heads']:,}",
            f"{fp['mean_entry_chars']:.0f}",
            f"{fp['audit_bytes_per_entry']:.0f}",
            by,
            f"{fp['database_bytes_per_entry']:.0f}",
        )
    console.print(t)
    console.print(
        f"CPU of an append without a database, per entry ({cpu['entries']:,} entries of {cpu['entry_bytes']:.0f} "
        f"bytes, state {cpu['state_bytes']:.0f} bytes): canonical JSON {cpu['canonical_us']:.1f} µs, "
        f"leaf + node hashes {cpu['hash_us']:.1f} µs ({cpu['nodes_per_entry']:.2f} nodes), "
        f"row dicts {cpu['row_dicts_us']:.1f} µs; one head signature {cpu['sign_head_us']:.0f} µs per commit"
    )
    for r in results:
        if r["profile"]:
            console.rule(f"cProfile of one append, {r['backend']}")
            console.print(r["profile"], markup=False, highlight=False)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--pg-url",
        default=os.environ.get(PG_ENV, PG_DEFAULT),
        help=f"PostgreSQL server to create the bench schema on (default ${PG_ENV} or {PG_DEFAULT})",
    )
    ap.add_argument("--skip-pg", action="store_true", help="SQLite only")
    ap.add_argument("--skip-sqlite", action="store_true", help="PostgreSQL only")
    ap.add_argument("--entries", type=int, default=10**6, help="log size the proofs run at")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 100, 1000, 10000], help="entries per transaction")
    ap.add_argument("--seconds", type=float, default=15.0, help="time spent appending per batch size")
    ap.add_argument("--fill-batch", type=int, default=50_000, help="entries per transaction while filling")
    ap.add_argument("--fill-max-s", type=float, default=900.0, help="stop filling after this long")
    ap.add_argument("--proofs", type=int, default=2000, help="timed proofs of each kind")
    ap.add_argument("--verify", type=int, default=200, help="proofs of each kind verified")
    ap.add_argument("--proof-max-s", type=float, default=60.0, help="time budget per kind of proof")
    ap.add_argument(
        "--after-batches",
        type=int,
        nargs="*",
        default=[1, 1000],
        help="batch sizes measured again on the filled log (for --seconds / 3)",
    )
    ap.add_argument("--naive-runs", type=int, default=2, help="naive rehash-everything baselines")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="smoke run: 20,000 entries, 2 s per batch size")
    ap.add_argument("--profile", action="store_true", help="cProfile one append of --profile-batch entries")
    ap.add_argument("--profile-batch", type=int, default=10_000)
    ap.add_argument("--profile-top", type=int, default=25)
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default bench/results/audit-*.json)")
    args = ap.parse_args(argv)
    if args.quick:
        args.entries = min(args.entries, 20_000)
        args.seconds = min(args.seconds, 1.5)
        args.fill_batch = min(args.fill_batch, 5_000)
        args.proofs = min(args.proofs, 200)
        args.verify = min(args.verify, 50)
        args.naive_runs = min(args.naive_runs, 1)
        args.profile_batch = min(args.profile_batch, 1_000)
    names = [n for n, skip in (("sqlite", args.skip_sqlite), ("postgresql", args.skip_pg)) if not skip]
    meta = machine()
    console.print(
        f"{meta['nproc']} cores ({meta['cpu_model']}), load average before {meta['loadavg_before']}, "
        f"detente {meta['git_head']}"
    )
    cpu = cpu_breakdown(2_000 if args.quick else 20_000)
    results = []
    with tempfile.TemporaryDirectory(prefix="detente-audit-") as tmp:
        for name in names:
            results.append(run_backend(name, args, Path(tmp)))
    print_tables(results, cpu)
    meta["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    out = args.out or RESULTS / f"audit-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": meta, "args": {k: str(v) for k, v in vars(args).items()}, "cpu": cpu, "results": results},
            indent=1,
        )
    )
    console.print(f"results: {out}")
    bad = [r["backend"] for r in results if not r["proofs"]["verified"]["ok"]]
    bad += [
        r["backend"]
        for r in results
        if not all(nv["root_matches_head"] and nv["path_matches_stored_proof"] for nv in r["proofs"]["naive"])
    ]
    if bad:
        console.print(f"[red]wrong proofs on {sorted(set(bad))}[/]")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
