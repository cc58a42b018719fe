"""Filing over HTTP under load: ``detente serve`` and a load generator on loopback.

Usage::

    .venv/bin/python bench/serve_load.py --backends sqlite postgis --per-client 150
    .venv/bin/python bench/serve_load.py --quick                    # a smoke run, a few hundred filings
    .venv/bin/python bench/serve_load.py --backends postgis --workers 2
    .venv/bin/python bench/serve_load.py --backends sqlite --profile --quick

For each backend it makes a fresh database (a SQLite file in a temporary
directory; a PostgreSQL database ``detente_bench_<random>`` with PostGIS,
created on the server of ``--pg-url`` / ``DETENTE_PG_URL`` and dropped
afterwards), runs ``detente init`` on it (an empty world: no zones, only the
secretariat), adds ``--parties`` military parties with one member and one
token each through the API, and starts ``detente serve`` as a subprocess on
127.0.0.1 (a free port, ``--workers`` processes).

The load generator is one asyncio process (uvloop when installed) with
``--clients`` concurrent clients per party, each its own
``httpx.AsyncClient`` (HTTP/1.1, one keep-alive connection).  Every client
files ``--warmup`` intents, waits for all the others, then files
``--per-client`` measured intents, one at a time.  Each intent is one
air volume, a small square, so that it is within the separation minima of a
few earlier intents of other parties (``Traffic``); the overlap rate is
measured, not assumed.  A client states the newest world version it has seen
(from a 201, or from a 409 ``stale-world`` body) and, on ``stale-world``,
files the same intent again with the version the problem carries.

Reported per backend: filings/s (accepted measured filings / wall time of
the measured phase), latency of each HTTP request and of each filing end to
end (including its re-filings), p50/p90/p99/max; retries; the overlap rate;
the CPU seconds of the server processes, the PostgreSQL backends, and the
load generator over the measured phase (they share the machine's cores).

After the run the database is read directly: every intent a client saw
accepted must be stored exactly once (its volume rows, one ``filed`` row in
``filings`` with the filing id and world version the 201 carried), nothing
else may be stored, the world version must have moved by exactly the number
of accepted filings, and no two filings may share a world version.  Lost or
duplicated filings are counted and must be 0 (exit code 1 otherwise).

``--profile`` adds one short run per backend with the server under cProfile
(the request threads and the event loop thread profiled separately) and
prints the top entries by cumulative time.  Results go to
``bench/results/serve_load-<time>.json`` (gitignored) or ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine as bench_machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PG_ENV = "DETENTE_PG_URL"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/detente_test"
console = Console(width=None if sys.stdout.isatty() else 160)

# --------------------------------------------------------------------------- traffic


@dataclass(frozen=True)
class Traffic:
    """Where and when the intents are: small squares that overlap a few earlier ones.

    Intent number ``k`` (in the global filing order, interleaved across the
    clients) is a ``size_deg`` square at a uniform place in a
    ``region_deg`` square region, an altitude band ``band_m`` thick
    uniformly within ``[0, ceiling_m]``, and a window ``duration_min`` long
    starting at ``k * spacing_s`` (plus uniform jitter up to
    ``jitter_min``).  The time front moves with the filings, so the density
    of the world around the newest filings (and so the conflicts per
    filing) stays the same however long the run, and the intents a filing
    conflicts with are mostly recent ones, i.e. the ones concurrent clients
    are filing at the same moment: the overlapping traffic of the issue.
    With the defaults and the air minima (9,260 m, 305 m), 4 parties and 16
    clients, 85-90 % of filings conflict with at least one earlier intent of
    another party, 3.1 on average (measured and printed by every run).
    """

    lon0: float = 36.0
    lat0: float = 35.0
    region_deg: float = 1.0
    size_deg: float = 0.05
    ceiling_m: float = 6000.0
    band_m: float = 300.0
    duration_min: float = 60.0
    spacing_s: float = 12.0
    jitter_min: float = 30.0
    start: datetime = datetime(2030, 1, 1, tzinfo=UTC)

    def intent(self, rng: random.Random, k: int, oid: str) -> bytes:
        """The FeatureCollection of intent ``k``, serialised once (the party is the caller's)."""
        lon = self.lon0 + rng.uniform(0.0, self.region_deg - self.size_deg)
        lat = self.lat0 + rng.uniform(0.0, self.region_deg - self.size_deg)
        s = self.size_deg
        ring = [[lon, lat], [lon + s, lat], [lon + s, lat + s], [lon, lat + s], [lon, lat]]
        lower = round(rng.uniform(0.0, self.ceiling_m - self.band_m))
        t0 = self.start + timedelta(seconds=k * self.spacing_s + rng.uniform(0.0, self.jitter_min * 60.0))
        t0 = t0.replace(microsecond=0)
        t1 = t0 + timedelta(minutes=self.duration_min)
        feature = {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                "kind": "intent",
                "id": oid,
                "category": "air",
                "altitude_m": [lower, lower + self.band_m],
                "time": [_iso(t0), _iso(t1)],
            },
        }
        return json.dumps({"type": "FeatureCollection", "features": [feature]}, separators=(",", ":")).encode()


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    import fastapi
    import pydantic
    import sqlalchemy
    import starlette
    import uvicorn

    try:
        import uvloop

        loop = f"uvloop {getattr(uvloop, '__version__', '?')}"
    except ImportError:
        loop = "asyncio"
    return {
        **bench_machine.base(),
        "fastapi": fastapi.__version__,
        "starlette": starlette.__version__,
        "pydantic": pydantic.__version__,
        "uvicorn": uvicorn.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "httpx": httpx.__version__,
        "client_loop": loop,
        "sqlite": __import__("sqlite3").sqlite_version,
    }


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's worker processes)."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    parts = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = parts[3] + parts[4]
    return float(sum(parts) - idle), float(sum(parts))


# --------------------------------------------------------------------------- backends


@dataclass
class Backend:
    name: str
    url: str
    cleanup: Any = None
    pg_admin: str | None = None
    pg_db: str | None = None


def _libpq(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def backend(name: str, tmp: Path, pg_url: str) -> Iterator[Backend]:
    """A fresh, empty database for one run; removed afterwards."""
    if name == "sqlite":
        path = tmp / f"bench-{secrets.token_hex(4)}.sqlite"
        yield Backend(name, f"sqlite:///{path}")
        return
    import psycopg
    from sqlalchemy.engine import make_url

    db = f"detente_bench_{secrets.token_hex(6)}"
    admin = _libpq(pg_url)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    url = make_url(pg_url).set(database=db).render_as_string(hide_password=False)
    try:
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        yield Backend(name, url, pg_admin=admin, pg_db=db)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def _pg_backend_pids(b: Backend) -> list[int]:
    if b.pg_admin is None:
        return []
    import psycopg

    with psycopg.connect(b.pg_admin, autocommit=True) as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (b.pg_db,)).fetchall()
    return [int(r[0]) for r in rows]


# --------------------------------------------------------------------------- server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "detente.adapters.cli.main", *args]


def init_db(url: str) -> str:
    """``detente init --db URL``: the secretariat's token."""
    done = subprocess.run(_cli("init", "--db", url), capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"detente init failed: {done.stderr}")
    return done.stdout.strip().splitlines()[-1]


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu(self) -> float:
        return sum(_proc_cpu(p) for p in _descendants(self.proc.pid))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def start_server(url: str, workers: int, log: Path, profile_out: Path | None = None, clock: str = "wall") -> Server:
    port = _free_port()
    if profile_out is None:
        cmd = _cli("serve", "--db", url, "--port", str(port), "--workers", str(workers))
    else:
        cmd = [sys.executable, __file__, "_profiled-server", url, str(port), str(profile_out), clock]
    fh = log.open("wb")
    proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)
    server = Server(proc, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited ({proc.returncode}): {log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base}/health", timeout=1).status_code == 200:
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"server did not answer /health in 60 s: {log.read_text()[-2000:]}")


def setup_parties(base: str, admin_token: str, n: int) -> dict[str, str]:
    """``n`` military parties, each with a member and a token: {party: token}."""
    tokens = {}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin_token}"}, timeout=30) as http:
        for i in range(n):
            party = f"mil{i + 1}"
            r = http.post("/parties", json={"id": party, "name": f"Military {i + 1}", "role": "military"})
            r.raise_for_status()
            r = http.post(f"/parties/{party}/members", json={"name": f"{party} planner"})
            r.raise_for_status()
            r = http.post(f"/members/{r.json()['id']}/tokens", json={})
            r.raise_for_status()
            tokens[party] = r.json()["token"]
    return tokens


# --------------------------------------------------------------------------- load


@dataclass
class Accepted:
    filing: int
    world_version: int
    conflicts: int
    measured: bool


@dataclass
class ClientLog:
    request_s: list[float] = field(default_factory=list)
    filing_s: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: dict[str, Accepted] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    filings_retried: int = 0
    measured_accepted: int = 0
    measured_conflicted: int = 0
    measured_conflicts: int = 0


def _problem_type(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("type", "")).rsplit("/", 1)[-1]
    except (ValueError, AttributeError):
        return ""


class Gate:
    """Every client finishes its warm-up, then the measured phase starts for all at once."""

    def __init__(self, n: int) -> None:
        self.waiting = n
        self.warmed = asyncio.Event()
        self.go = asyncio.Event()

    async def arrive(self) -> None:
        self.waiting -= 1
        if self.waiting == 0:
            self.warmed.set()
        await self.go.wait()


async def client(
    base: str,
    token: str,
    intents: list[tuple[str, bytes]],
    warmup: int,
    gate: Gate,
    max_retries: int,
    timeout_s: float,
) -> ClientLog:
    log = ClientLog()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=timeout_s, limits=limits) as http:
        version = int((await http.get("/world")).json()["world_version"])
        for i, (oid, feature_collection) in enumerate(intents):
            measured = i >= warmup
            if i == warmup:
                await gate.arrive()
            started = time.perf_counter()
            attempts = 0
            while True:
                attempts += 1
                body = b'{"world_version":%d,"intent":%s}' % (version, feature_collection)
                sent = time.perf_counter()
                try:
                    resp = await http.post("/intents", content=body)
                except httpx.HTTPError as exc:
                    log.statuses[f"transport error ({type(exc).__name__})"] += measured
                    log.unknown.append(oid)
                    break
                now = time.perf_counter()
                if measured:
                    log.request_s.append(now - sent)
                if resp.status_code == 201:
                    out = resp.json()
                    version = max(version, int(out["world_version"]))
                    n = len(out["conflicts"])
                    log.accepted[oid] = Accepted(int(out["filing"]), int(out["world_version"]), n, measured)
                    if measured:
                        log.statuses["201 filed"] += 1
                        log.filing_s.append(now - started)
                        log.measured_accepted += 1
                        log.measured_conflicted += n > 0
                        log.measured_conflicts += n
                        if attempts > 1:
                            log.filings_retried += 1
                    break
                kind = _problem_type(resp)
                if measured:
                    log.statuses[f"{resp.status_code} {kind}"] += 1
                if resp.status_code == 409 and kind == "stale-world" and attempts <= max_retries:
                    version = max(version, int(resp.json()["world_version"]))
                    if measured:
                        log.retries += 1
                    continue
                log.refused[oid] = f"{resp.status_code} {kind}"
                break
        if len(intents) <= warmup:
            await gate.arrive()
    return log


def plan(
    tokens: dict[str, str], args: argparse.Namespace, traffic: Traffic
) -> list[tuple[str, list[tuple[str, bytes]]]]:
    """Each client's party token and intents, built (and serialised) before the clock starts.

    Intent ``k`` of the traffic is filing ``i`` of client ``c`` with
    ``k = i * clients + c``: clients advance at about the same pace, so
    this is about the order the server sees them in.
    """
    parties = list(tokens)
    n_clients = len(parties) * args.clients
    rng = random.Random(args.seed)
    run_tag = secrets.token_hex(3)
    plans: list[tuple[str, list[tuple[str, bytes]]]] = [
        (tokens[parties[c % len(parties)]], []) for c in range(n_clients)
    ]
    for i in range(args.warmup + args.per_client):
        for c in range(n_clients):
            oid = f"{parties[c % len(parties)]}-{run_tag}-c{c}-{i}"
            plans[c][1].append((oid, traffic.intent(rng, i * n_clients + c, oid)))
    return plans


def run_load(
    base: str, plans: list[tuple[str, list[tuple[str, bytes]]]], args: argparse.Namespace, meters: Any
) -> dict[str, Any]:
    """Warm-up, then the measured phase; the client logs, the phase's wall time, meters before and after."""

    async def main() -> dict[str, Any]:
        gate = Gate(len(plans))
        tasks = [
            asyncio.create_task(client(base, token, intents, args.warmup, gate, args.max_retries, args.timeout))
            for token, intents in plans
        ]
        warmed = asyncio.create_task(gate.warmed.wait())
        await asyncio.wait([warmed, *tasks], return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            if t.done() and t.exception() is not None:
                raise t.exception()  # type: ignore[misc]
        before = meters()
        t0 = time.perf_counter()
        gate.go.set()
        logs = await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
        after = meters()
        return {"logs": logs, "wall_s": wall, "meters": (before, after), "n_clients": len(plans)}

    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())


# --------------------------------------------------------------------------- verification


def verify(url: str, logs: list[ClientLog], version_before: int) -> dict[str, Any]:
    """Read the database: every accepted filing stored exactly once, nothing else."""
    from sqlalchemy import create_engine, text

    from detente.adapters.storage import normalise_url

    accepted: dict[str, Accepted] = {}
    unknown: set[str] = set()
    for log in logs:
        accepted.update(log.accepted)
        unknown.update(log.unknown)
    engine = create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            volumes = {
                oid: (int(n), int(d))
                for oid, n, d in conn.execute(
                    text(
                        "SELECT object_id, count(*), count(DISTINCT volume) FROM volumes "
                        "WHERE kind = 'intent' GROUP BY object_id"
                    )
                )
            }
            filed: dict[str, list[tuple[int, int]]] = {}
            for oid, fid, wv in conn.execute(
                text("SELECT intent_id, id, world_version FROM filings WHERE action = 'filed'")
            ):
                filed.setdefault(oid, []).append((int(fid), int(wv)))
            n_filings, n_versions = conn.execute(
                text("SELECT count(*), count(DISTINCT world_version) FROM filings")
            ).one()
            version_after = int(conn.execute(text("SELECT version FROM world_version WHERE id = 1")).scalar_one())
    finally:
        engine.dispose()
    lost = [oid for oid in accepted if oid not in volumes or oid not in filed]
    duplicated = [oid for oid in accepted if volumes.get(oid, (1, 1))[0] != 1 or len(filed.get(oid, [])) > 1]
    mismatched = [
        oid
        for oid, a in accepted.items()
        if len(filed.get(oid, [])) == 1 and filed[oid][0] != (a.filing, a.world_version)
    ]
    stored = set(volumes) | set(filed)
    unexpected = sorted(stored - set(accepted) - unknown)
    unknown_stored = sorted(stored & unknown)
    return {
        "accepted_total": len(accepted),
        "stored_intents": len(volumes),
        "filed_rows": sum(len(v) for v in filed.values()),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "mismatched": len(mismatched),
        "unexpected": len(unexpected),
        "unknown_outcome": len(unknown),
        "unknown_outcome_stored": len(unknown_stored),
        "version_moved": version_after - version_before,
        "versions_match": version_after - version_before == len(accepted) and n_filings == n_versions,
        "examples": {
            "lost": lost[:5],
            "duplicated": duplicated[:5],
            "mismatched": mismatched[:5],
            "unexpected": unexpected[:5],
        },
    }


# --------------------------------------------------------------------------- one run


def _pct(xs: list[float]) -> dict[str, float]:
    if not xs:
        return {"n": 0}
    a = np.asarray(xs) * 1000.0
    return {
        "n": len(xs),
        "p50": float(np.percentile(a, 50)),
        "p90": float(np.percentile(a, 90)),
        "p99": float(np.percentile(a, 99)),
        "max": float(a.max()),
        "mean": float(a.mean()),
    }


def run_backend(
    name: str, workers: int, args: argparse.Namespace, tmp: Path, profile: str | None = None
) -> dict[str, Any]:
    """One run: fresh database, server, parties, warm-up, measured phase, verification.

    ``profile`` (``wall`` or ``cpu``): the server runs in-process under
    cProfile with that clock, its profiles kept in ``bench/results``.
    """
    traffic = Traffic(spacing_s=args.spacing_s)
    if args.no_overlap:  # windows one after another: no two intents meet in time
        traffic = Traffic(spacing_s=(Traffic.duration_min + Traffic.jitter_min) * 60.0 + 1.0)
    label = f"{name}, {workers} worker{'s' if workers > 1 else ''}" + (f" (cProfile, {profile})" if profile else "")
    console.print(f"[bold]{label}[/]: preparing…")
    with backend(name, tmp, args.pg_url) as b:
        admin = init_db(b.url)
        prof_out = None
        if profile:
            RESULTS.mkdir(parents=True, exist_ok=True)
            prof_out = RESULTS / f"serve_load-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{name}-{profile}"
        server = start_server(b.url, workers, tmp / f"server-{name}-{workers}.log", prof_out, profile or "wall")
        try:
            tokens = setup_parties(server.base, admin, args.parties)
            with httpx.Client(base_url=server.base, timeout=30) as http:
                version_before = int(http.get("/health").json()["world_version"])

            def meters() -> dict[str, Any]:
                return {
                    "server_cpu": server.cpu(),
                    "pg_cpu": sum(_proc_cpu(p) for p in _pg_backend_pids(b)),
                    "client_cpu": sum(os.times()[:2]),
                    "machine": _machine_busy(),
                    "time": time.monotonic(),
                }

            console.print(
                f"[bold]{label}[/]: {args.parties} parties × {args.clients} clients, "
                f"{args.warmup} warm-up + {args.per_client} measured filings each…"
            )
            done = run_load(server.base, plan(tokens, args, traffic), args, meters)
        finally:
            server.stop()
            server_log = server.log.read_text(errors="replace")
        logs: list[ClientLog] = done["logs"]
        check = verify(b.url, logs, version_before)
    before, after = done["meters"]
    wall = done["wall_s"]
    busy = (after["machine"][0] - before["machine"][0]) / max(1.0, after["machine"][1] - before["machine"][1])
    statuses: Counter[str] = Counter()
    for log in logs:
        statuses.update(log.statuses)
    accepted = sum(log.measured_accepted for log in logs)
    result = {
        "backend": name,
        "workers": workers,
        "profiled": profile,
        "overlapping": not args.no_overlap,
        "clients": done["n_clients"],
        "parties": args.parties,
        "per_client": args.per_client,
        "warmup": args.warmup,
        "wall_s": wall,
        "accepted": accepted,
        "filings_per_s": accepted / wall,
        "requests_per_s": sum(len(log.request_s) for log in logs) / wall,
        "request_ms": _pct([x for log in logs for x in log.request_s]),
        "filing_ms": _pct([x for log in logs for x in log.filing_s]),
        "retries": sum(log.retries for log in logs),
        "filings_retried": sum(log.filings_retried for log in logs),
        "statuses": dict(statuses),
        "overlap_rate": sum(log.measured_conflicted for log in logs) / max(1, accepted),
        "conflicts_per_filing": sum(log.measured_conflicts for log in logs) / max(1, accepted),
        "cpu": {
            "server_s": after["server_cpu"] - before["server_cpu"],
            "postgres_s": after["pg_cpu"] - before["pg_cpu"],
            "client_s": after["client_cpu"] - before["client_cpu"],
            "machine_busy": busy,
            "cores": os.cpu_count(),
            "others_s": busy * (os.cpu_count() or 1) * (after["time"] - before["time"])
            - (after["server_cpu"] - before["server_cpu"])
            - (after["pg_cpu"] - before["pg_cpu"])
            - (after["client_cpu"] - before["client_cpu"]),
        },
        "verify": check,
        "server_log_tail": server_log[-4000:],
        "traffic": {k: str(v) for k, v in vars(traffic).items()},
    }
    if prof_out is not None:
        result["profile"] = profile_report(prof_out, args.profile_top)
    return result


# --------------------------------------------------------------------------- profiling


def _profiled_server(url: str, port: int, out: str, clock: str) -> None:
    """``detente serve`` in this process, under cProfile: request threads and the event loop apart.

    cProfile profiles one thread, so sync endpoints and dependencies (which
    FastAPI runs in its thread pool) are wrapped: each pool thread enables
    its own profiler around each call; the event-loop thread has another.
    ``clock``: ``wall`` (time.perf_counter: waits for locks and the database
    count) or ``cpu`` (time.thread_time: only this thread's CPU).
    """
    import cProfile
    import threading

    timer = time.thread_time if clock == "cpu" else time.perf_counter

    import fastapi.dependencies.utils
    import fastapi.routing
    import starlette.concurrency
    import uvicorn

    os.environ["DETENTE_DB"] = url
    local = threading.local()
    pool_profiles: list[cProfile.Profile] = []
    lock = threading.Lock()
    original = starlette.concurrency.run_in_threadpool

    def profiled(func: Any) -> Any:
        def call(*a: Any, **k: Any) -> Any:
            p = getattr(local, "profile", None)
            if p is None:
                p = local.profile = cProfile.Profile(timer)
                with lock:
                    pool_profiles.append(p)
            p.enable()
            try:
                return func(*a, **k)
            finally:
                p.disable()

        return call

    async def run_in_threadpool(func: Any, *args: Any, **kwargs: Any) -> Any:
        return await original(profiled(func), *args, **kwargs)

    for module in (fastapi.routing, fastapi.dependencies.utils):  # the name is looked up at call time
        setattr(module, "run_in_threadpool", run_in_threadpool)  # noqa: B010
    from detente.adapters.api.app import app_from_env

    config = uvicorn.Config(app_from_env, factory=True, host="127.0.0.1", port=port, log_level="warning")
    loop_profile = cProfile.Profile(timer)
    loop_profile.enable()
    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it shut down on
        uvicorn.Server(config).run()
    loop_profile.disable()
    loop_profile.dump_stats(f"{out}.loop")
    import pstats

    with lock:
        if pool_profiles:
            stats = pstats.Stats(pool_profiles[0])
            for p in pool_profiles[1:]:
                stats.add(p)
            stats.dump_stats(f"{out}.pool")


#: Steps of one filing, as (file suffix, function) in the request threads' profile.
PHASES = [
    ("  authenticate (token read)", "services/accounts.py", "authenticate"),
    ("  file_intent", "api/routes_intents.py", "file_intent"),
    ("    parse_one (parties read, codec)", "api/routes_objects.py", "parse_one"),
    ("    filing.file", "services/filing.py", "file"),
    ("      Store._write: begin + world lock, commit", "storage/store.py", "_write"),
    ("      _check", "services/filing.py", "_check"),
    ("        Tx.candidates (spatial index)", "storage/transaction.py", "candidates"),
    ("        Tx.objects (rows → objects)", "storage/transaction.py", "objects"),
    ("        World.check (engine)", "engine/world.py", "check"),
    ("      Tx.put_object", "storage/transaction.py", "put_object"),
    ("      Tx.add_filing", "storage/transaction.py", "add_filing"),
    ("      _world_of", "services/filing.py", "_world_of"),
    ("      _disclose", "services/filing.py", "_disclose"),
    ("    _out (response model)", "api/routes_intents.py", "_out"),
    ("DB driver: cursor.execute (all)", "~", "<method 'execute' of 'sqlite3.Cursor' objects>"),
    ("DB driver: psycopg execute (all)", "psycopg/cursor.py", "execute"),
]


def phases(path: Path) -> list[tuple[str, int, float]]:
    """(step, calls, cumulative s) of the PHASES found in a profile."""
    import pstats

    raw = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    out = []
    for label, suffix, func in PHASES:
        calls, cum = 0, 0.0
        for (filename, _line, name), (_cc, nc, _tt, ct, _callers) in raw.items():
            if name == func and (filename == suffix or filename.replace("\\", "/").endswith(suffix)):
                calls += nc
                cum += ct
        if calls:
            out.append((label, calls, cum))
    return out


def profile_report(out: Path, top: int) -> dict[str, Any]:
    import io
    import pstats

    report: dict[str, Any] = {"files": [f"{out}.pool", f"{out}.loop"]}
    if Path(f"{out}.pool").exists():
        report["phases"] = phases(Path(f"{out}.pool"))
    for part in ("pool", "loop"):
        path = Path(f"{out}.{part}")
        if not path.exists():
            continue
        buf = io.StringIO()
        stats = pstats.Stats(str(path), stream=buf)
        stats.strip_dirs().sort_stats("cumulative").print_stats(top)
        buf.write("\n--- by own time ---\n")
        stats.sort_stats("tottime").print_stats(top)
        report[part] = buf.getvalue()
    return report


# --------------------------------------------------------------------------- output


def _name(r: dict[str, Any]) -> str:
    name = f"{r['backend']} ×{r['workers']}"
    if not r["overlapping"]:
        name += " no overlap"
    if r["profiled"]:
        name += f" (cProfile {r['profiled']})"
    return name


def print_tables(results: list[dict[str, Any]]) -> None:
    t = Table(title="Filing over HTTP: POST /intents, overlapping traffic, server and load generator on one machine")
    for col in (
        "backend",
        "clients",
        "filings",
        "wall s",
        "filings/s",
        "filing p50",
        "p90",
        "p99",
        "max",
        "request p50",
        "p99",
        "retries",
        "overlap",
        "conf/filing",
    ):
        t.add_column(col, justify="left" if col == "backend" else "right")
    for r in results:
        f, q = r["filing_ms"], r["request_ms"]
        name = _name(r)
        t.add_row(
            name,
            str(r["clients"]),
            f"{r['accepted']:,}",
            f"{r['wall_s']:.1f}",
            f"{r['filings_per_s']:.0f}",
            f"{f.get('p50', 0):.1f}",
            f"{f.get('p90', 0):.1f}",
            f"{f.get('p99', 0):.1f}",
            f"{f.get('max', 0):.0f}",
            f"{q.get('p50', 0):.1f}",
            f"{q.get('p99', 0):.1f}",
            f"{r['retries']} ({r['filings_retried'] / max(1, r['accepted']):.1%})",
            f"{r['overlap_rate']:.0%}",
            f"{r['conflicts_per_filing']:.2f}",
        )
    console.print(t)
    console.print(
        "Latencies in ms: 'filing' is end to end including re-filings after stale-world; "
        "'request' is each POST /intents."
    )
    c = Table(title="Where the cores went during the measured phase, and the check of the database afterwards")
    for col in (
        "backend",
        "server CPU s",
        "PostgreSQL CPU s",
        "load generator CPU s",
        "other processes CPU s",
        "machine busy",
        "accepted",
        "lost",
        "duplicated",
        "mismatched",
        "unexpected",
        "unknown",
        "version moved",
    ):
        c.add_column(col, justify="left" if col == "backend" else "right")
    for r in results:
        u, v = r["cpu"], r["verify"]
        name = _name(r)
        ok = "[green]" if v["lost"] == 0 and v["duplicated"] == 0 else "[red]"
        c.add_row(
            name,
            f"{u['server_s']:.1f}",
            f"{u['postgres_s']:.1f}" if r["backend"] != "sqlite" else "—",
            f"{u['client_s']:.1f}",
            f"{u['others_s']:.1f}",
            f"{u['machine_busy']:.0%} of {u['cores']}",
            f"{v['accepted_total']:,}",
            f"{ok}{v['lost']}",
            f"{ok}{v['duplicated']}",
            str(v["mismatched"]),
            str(v["unexpected"]),
            str(v["unknown_outcome"]),
            f"{v['version_moved']:,}" + ("" if v["versions_match"] else " [red]≠"),
        )
    console.print(c)
    for r in results:
        other = {k: n for k, n in r["statuses"].items() if not k.startswith(("201", "409 stale-world"))}
        if other:
            console.print(f"[yellow]{_name(r)}: other outcomes {other}[/]")
        if r["server_log_tail"].strip():
            console.print(f"[yellow]{_name(r)}: the server logged (last lines):[/]")
            console.print(r["server_log_tail"][-1500:], markup=False, highlight=False)
        prof = r.get("profile") or {}
        if prof.get("phases"):
            t = Table(
                title=f"{r['backend']}: steps of a filing in the request threads, cProfile clock {r['profiled']} "
                f"(summed over threads; per accepted filing: ÷ {r['verify']['accepted_total']:,})"
            )
            for col in ("step", "calls", "cumulative s", "ms per filing"):
                t.add_column(col, justify="left" if col == "step" else "right")
            for label, calls, cum in prof["phases"]:
                t.add_row(
                    label, f"{calls:,}", f"{cum:.2f}", f"{1000 * cum / max(1, r['verify']['accepted_total']):.2f}"
                )
            console.print(t)
        for part in ("pool", "loop"):
            if part in prof:
                what = "request threads (sync endpoints and dependencies)" if part == "pool" else "event-loop thread"
                console.rule(f"cProfile ({r['profiled']} clock), {r['backend']}: {what}")
                console.print(prof[part], markup=False, highlight=False)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_profiled-server"]:
        _profiled_server(argv[1], int(argv[2]), argv[3], argv[4])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backends", nargs="+", default=["sqlite", "postgis"], choices=["sqlite", "postgis"])
    ap.add_argument(
        "--pg-url",
        default=os.environ.get(PG_ENV, PG_DEFAULT),
        help=f"PostgreSQL server to create the bench database on (default ${PG_ENV} or {PG_DEFAULT})",
    )
    ap.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="server worker processes; each count is one run (on SQLite the workers share one writer)",
    )
    ap.add_argument("--parties", type=int, default=4)
    ap.add_argument("--clients", type=int, default=4, help="concurrent clients per party")
    ap.add_argument("--per-client", type=int, default=150, help="measured filings per client")
    ap.add_argument("--warmup", type=int, default=10, help="warm-up filings per client (not measured)")
    ap.add_argument(
        "--spacing-s",
        type=float,
        default=Traffic.spacing_s,
        help="seconds of plan time between consecutive intents (lower: more overlap)",
    )
    ap.add_argument(
        "--no-overlap", action="store_true", help="traffic without conflicts (disjoint time windows), for comparison"
    )
    ap.add_argument("--max-retries", type=int, default=50, help="re-filings after stale-world before giving up")
    ap.add_argument("--timeout", type=float, default=60.0, help="client timeout per request, s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="smoke run: 4 × 4 clients, 3 warm-up + 20 filings each")
    ap.add_argument(
        "--profile",
        nargs="*",
        choices=["wall", "cpu"],
        default=None,
        help="also runs with the server under cProfile, one per clock: wall (waits count) and/or cpu "
        "(thread CPU time); no value: both",
    )
    ap.add_argument("--profile-top", type=int, default=15)
    ap.add_argument("--out", type=Path, default=None, help="JSON results (default bench/results/serve_load-*.json)")
    args = ap.parse_args(argv)
    if args.profile is not None and not args.profile:
        args.profile = ["wall", "cpu"]
    args.profile = args.profile or []
    if args.quick:
        args.per_client, args.warmup = 20, 3
    results = []
    meta = machine()
    console.print(
        f"{meta['nproc']} cores ({meta['cpu_model']}), load average before {meta['loadavg_before']}; "
        "the server, PostgreSQL and the load generator share them."
    )
    with tempfile.TemporaryDirectory(prefix="detente-serve-load-") as tmp:
        for name in args.backends:
            for workers in args.workers:
                results.append(run_backend(name, workers, args, Path(tmp)))
            for clock in args.profile:
                results.append(run_backend(name, 1, args, Path(tmp), profile=clock))
    print_tables(results)
    out = args.out or RESULTS / f"serve_load-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"machine": meta, "args": {k: str(v) for k, v in vars(args).items()}, "results": results}, indent=1)
    )
    console.print(f"results: {out}")
    bad = [r for r in results if r["verify"]["lost"] or r["verify"]["duplicated"] or r["verify"]["mismatched"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
