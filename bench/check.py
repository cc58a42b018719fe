"""Strategic-check benchmark: detente beside PostGIS and a naive loop, same run, same data.

Usage::

    .venv/bin/python bench/check.py --sizes 10000 100000 1000000 --queries 200 --seed 1

For each world size it builds the world once (``workload.py``), loads it into
every engine (build/load times reported), runs warm-up intents, then the same
``--queries`` 5-volume intents through each engine, one at a time, and
reports p50/p99/mean latency per 5-volume check and checks/s (one client
stream).  It verifies that detente and PostGIS find the same conflicts and
classifies every disagreement with the naive peer's reference measure
(``tolerance``: a distance test decided within 10 m of its threshold).
Results go to ``bench/results/check-<time>.json`` (gitignored).

detente runs on one core: the BLAS/OpenMP thread pools are set to 1 before
numpy is imported, and ``--pin CPU`` pins this process to one CPU.  After each
world is built the harness runs ``gc.collect(); gc.freeze()`` so the
collector does not walk the million-object world during measurements (a
long-running service would do the same after loading).
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import cProfile  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import pstats  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import psycopg  # noqa: E402
import pyproj  # noqa: E402
import shapely  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))

import machine as bench_machine  # noqa: E402
import peers_naive  # noqa: E402
import peers_postgis  # noqa: E402
import workload  # noqa: E402
from detente.domain.model import WorldObject  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TOLERANCE_M = 10.0
console = Console(width=None if sys.stdout.isatty() else 160)

Key = tuple[int, str, str, str, int]


# --------------------------------------------------------------------------- machine


def machine() -> dict[str, Any]:
    mem_gb = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gb = round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "affinity": sorted(os.sched_getaffinity(0)),
        "cpu_model": bench_machine.cpu_model(),
        "mem_gb": mem_gb,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "shapely": shapely.__version__,
        "geos": ".".join(map(str, shapely.geos_version)),
        "pyproj": pyproj.__version__,
        "proj": pyproj.proj_version_str,
        "psycopg": psycopg.__version__,
    }


def engine_fingerprint() -> dict[str, Any]:
    """The commit and a hash of the engine's sources (they may be uncommitted)."""
    import hashlib
    import subprocess

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for f in sorted((root / "src" / "detente" / "engine").glob("*.py")):
        h.update(f.name.encode() + f.read_bytes())
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        head = ""
    return {"git_head": head, "engine_sha256": h.hexdigest()[:16]}


def server_versions(dsn: str) -> dict[str, Any]:
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            pg = conn.execute("SHOW server_version").fetchone()
            gis = conn.execute("SELECT postgis_full_version()").fetchone()
            settings = {
                name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
                for name in ("shared_buffers", "fsync", "synchronous_commit")
            }
        return {"postgresql": pg[0] if pg else None, "postgis": gis[0] if gis else None, "settings": settings}
    except psycopg.Error as exc:
        return {"error": str(exc)}


# --------------------------------------------------------------------------- timing


def stats(lat_s: list[float], conflicts: list[int]) -> dict[str, float]:
    ms = np.array(lat_s) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "max_ms": float(ms.max()),
        "mean_ms": float(ms.mean()),
        "checks_per_s": float(len(ms) / ms.sum() * 1000.0),
        "conflicts_per_check": float(np.mean(conflicts)) if conflicts else 0.0,
        "latencies_ms": [round(float(v), 4) for v in ms],
        "conflicts": list(conflicts),
    }


def run_queries(
    check: Callable[[WorldObject], list[Key]], warm: list[WorldObject], queries: list[WorldObject]
) -> tuple[list[float], list[list[Key]]]:
    for q in warm:
        check(q)
    lat: list[float] = []
    found: list[list[Key]] = []
    clock = time.perf_counter
    for q in queries:
        t = clock()
        keys = check(q)
        lat.append(clock() - t)
        found.append(keys)
    return lat, found


def detente_keys(world: Any) -> Callable[[WorldObject], list[Key]]:
    def check(intent: WorldObject) -> list[Key]:
        return [(c.volume, c.type.value, c.other_kind.value, c.other_id, c.other_volume) for c in world.check(intent)]

    return check


# --------------------------------------------------------------------------- agreement


def agreement(
    name: str,
    ref: list[list[Key]],
    other: list[list[Key]],
    queries: list[WorldObject],
    wl: workload.Workload,
    judge: peers_naive.NaivePeer,
    by_key: dict[tuple[str, str], int],
) -> dict[str, Any]:
    """detente (``ref``) against a peer: identical queries, pair counts, disagreements classified."""
    same = 0
    both = only_ref = only_other = 0
    cases: list[dict[str, Any]] = []
    for qi, (a, b) in enumerate(zip(ref, other, strict=True)):
        sa, sb = set(a), set(b)
        same += sa == sb
        both += len(sa & sb)
        for side, keys in (("detente_only", sa - sb), ("peer_only", sb - sa)):
            if side == "detente_only":
                only_ref += len(keys)
            else:
                only_other += len(keys)
            for key in sorted(keys):
                vi, _ctype, kind, oid, ovi = key
                obj = wl.world_object(by_key[(kind, oid)])
                j = judge.judge(queries[qi], vi, obj, ovi)
                margin = j["margin_m"]
                tol = margin is not None and margin <= TOLERANCE_M  # type: ignore[operator]
                cases.append(
                    {
                        "query": qi,
                        "side": side,
                        "key": list(key),
                        "reference_hit": j["hit"],
                        "reference_agrees_with": "detente" if j["hit"] == (side == "detente_only") else "peer",
                        "test": j["test"],
                        "stage": j["stage"],
                        "distance_m": j["distance_m"],
                        "threshold_m": j["threshold_m"],
                        "margin_m": margin,
                        "tolerance_case": tol,
                    }
                )
    n_tol = sum(c["tolerance_case"] for c in cases)
    union = both + only_ref + only_other
    return {
        "peer": name,
        "queries": len(ref),
        "queries_identical": same,
        "query_agreement": same / len(ref) if ref else 1.0,
        "pairs_both": both,
        "pairs_detente_only": only_ref,
        "pairs_peer_only": only_other,
        "pair_agreement": both / union if union else 1.0,
        "disagreements": len(cases),
        "tolerance_cases": n_tol,
        "beyond_tolerance": len(cases) - n_tol,
        "reference_sides_with_detente": sum(c["reference_agrees_with"] == "detente" for c in cases),
        "pair_agreement_within_tolerance": (both + n_tol) / union if union else 1.0,
        "cases": cases[:200],
    }


# --------------------------------------------------------------------------- one size


def profile_detente(world: Any, queries: list[WorldObject], top: int) -> dict[str, str]:
    prof = cProfile.Profile()
    check = world.check
    prof.enable()
    for q in queries:
        check(q)
    prof.disable()
    out = {}
    for key in ("tottime", "cumulative"):
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(top)
        out[key] = buf.getvalue()
    return out


def run_size(size: int, args: argparse.Namespace, queries: list[WorldObject], warm: list[WorldObject]) -> dict:
    res: dict[str, Any] = {"size": size, "engines": {}, "agreement": [], "loadavg": {}}
    res["loadavg"]["start"] = os.getloadavg()
    console.rule(f"[bold]world of {size:,} volumes")

    t = time.perf_counter()
    wl = workload.build(size, args.seed)
    res["generate_s"] = time.perf_counter() - t
    res["kinds"] = wl.kind_counts()
    res["objects"] = wl.n_objects
    t = time.perf_counter()
    objects = list(wl.objects())
    res["model_objects_s"] = time.perf_counter() - t
    console.print(
        f"generated in {res['generate_s']:.1f} s, {wl.n_objects:,} WorldObjects in {res['model_objects_s']:.1f} s"
    )
    by_key = {(wl.kinds[i], wl.ids[i]): i for i in range(wl.n_objects)}
    found: dict[str, list[list[Key]]] = {}

    # detente ------------------------------------------------------------------
    if not args.skip_detente:
        from detente.engine.world import World

        t = time.perf_counter()
        world = World(workload.parties(), workload.separation())
        if hasattr(world, "add_many"):
            world.add_many(objects)
        else:
            for o in objects:
                world.add(o)
        build_s = time.perf_counter() - t
        gc.collect()
        gc.freeze()
        console.print(f"detente: world built in {build_s:.1f} s")
        lat, keys = run_queries(detente_keys(world), warm, queries)
        found["detente"] = keys
        res["engines"]["detente"] = {"build_s": build_s, **stats(lat, [len(k) for k in keys])}
        res["engines"]["detente"]["conflict_types"] = dict(Counter(k[1] for ks in keys for k in ks))
        res["loadavg"]["detente"] = os.getloadavg()
        if hasattr(world, "conflicts"):
            # the decision alone (numpy columns, no Conflict objects): what PostGIS returns too
            lat, batches = run_queries(world.conflicts, warm, queries)
            res["engines"]["detente:decide-only"] = {"build_s": build_s, **stats(lat, [len(b) for b in batches])}
            del batches
        if args.profile and size == max(args.sizes):
            console.print("detente: profiling the check (cProfile) ...")
            res["detente_profile"] = profile_detente(world, queries, args.profile_top)
        del world
        gc.unfreeze()

    # PostGIS ------------------------------------------------------------------
    if not args.skip_postgis:
        peer = peers_postgis.PostgisPeer(workload.parties(), workload.separation(), dsn=args.dsn)
        load = peer.load_table(wl)
        console.print(
            f"PostGIS: COPY {load['copy_s']:.1f} s, ANALYZE {load['analyze_s']:.1f} s, "
            f"table {load['table_bytes'] / 2**20:.0f} MiB"
        )
        res["postgis_table"] = load
        for variant in args.pg_variants:
            peer.variant = variant
            idx = peer.build_indexes()
            console.print(f"PostGIS {variant}: indexes built in {idx['index_s']:.1f} s")
            lat, keys = run_queries(peer.check, warm, queries)
            name = f"postgis:{variant}"
            found[name] = keys
            res["engines"][name] = {
                "build_s": load["copy_s"] + load["analyze_s"] + idx["index_s"],
                **idx,
                **stats(lat, [len(k) for k in keys]),
                "plan": peer.explain(queries[0]),
            }
            res["loadavg"][name] = os.getloadavg()
            peer.close()

    # naive --------------------------------------------------------------------
    if size <= args.naive_max_size:
        naive = peers_naive.NaivePeer(workload.parties(), workload.separation())
        t = time.perf_counter()
        naive.load(objects)
        load_s = time.perf_counter() - t
        nq = queries[: args.naive_queries] if args.naive_queries else queries
        console.print(f"naive: {len(nq)} queries over {size:,} volumes ...")
        lat, keys = run_queries(naive.check, warm[:2], nq)
        found["naive"] = keys
        res["engines"]["naive"] = {"build_s": load_s, **stats(lat, [len(k) for k in keys])}
        res["loadavg"]["naive"] = os.getloadavg()

    # agreement ------------------------------------------------------------------
    if "detente" in found:
        judge = peers_naive.NaivePeer(workload.parties(), workload.separation())
        for name, keys in found.items():
            if name == "detente":
                continue
            n = len(keys)
            res["agreement"].append(agreement(name, found["detente"][:n], keys, queries[:n], wl, judge, by_key))
    res["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    pg = [k for k in res["engines"] if k.startswith("postgis:")]
    if pg:
        best = min(pg, key=lambda k: res["engines"][k]["p50_ms"])
        res["postgis_best"] = best
    return res


# --------------------------------------------------------------------------- output


def print_tables(results: list[dict[str, Any]]) -> None:
    table = Table(title="Strategic check, per 5-volume intent (one client stream)")
    for col in ("volumes", "engine", "build/load s", "p50 ms", "p99 ms", "mean ms", "checks/s", "conflicts"):
        table.add_column(col, justify="right" if col not in ("engine",) else "left")
    for r in results:
        for name, e in r["engines"].items():
            label = name + (" (best)" if name == r.get("postgis_best") else "")
            table.add_row(
                f"{r['size']:,}",
                label,
                f"{e['build_s']:.1f}",
                f"{e['p50_ms']:.3f}",
                f"{e['p99_ms']:.3f}",
                f"{e['mean_ms']:.3f}",
                f"{e['checks_per_s']:,.0f}",
                f"{e['conflicts_per_check']:.1f}",
            )
        if "detente" in r["engines"] and r.get("postgis_best"):
            table.add_section()
            d, p = r["engines"]["detente"], r["engines"][r["postgis_best"]]
            table.add_row(
                "",
                "[italic]detente vs PostGIS best",
                "",
                f"{p['p50_ms'] / d['p50_ms']:.1f}x",
                f"{p['p99_ms'] / d['p99_ms']:.1f}x",
                f"{p['mean_ms'] / d['mean_ms']:.1f}x",
                f"{d['checks_per_s'] / p['checks_per_s']:.1f}x",
                "",
            )
        table.add_section()
    console.print(table)
    agree = Table(title=f"Agreement with detente (tolerance: within {TOLERANCE_M:.0f} m of a distance threshold)")
    for col in (
        "volumes",
        "peer",
        "identical queries",
        "pairs both",
        "detente only",
        "peer only",
        "tolerance",
        "beyond",
        "ref. sides w/ detente",
    ):
        agree.add_column(col, justify="left" if col == "peer" else "right")
    for r in results:
        for a in r["agreement"]:
            agree.add_row(
                f"{r['size']:,}",
                a["peer"],
                f"{a['queries_identical']}/{a['queries']} ({100 * a['query_agreement']:.1f} %)",
                str(a["pairs_both"]),
                str(a["pairs_detente_only"]),
                str(a["pairs_peer_only"]),
                str(a["tolerance_cases"]),
                str(a["beyond_tolerance"]),
                f"{a['reference_sides_with_detente']}/{a['disagreements']}",
            )
    console.print(agree)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20, help="warm-up intents (a separate seeded stream)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dsn", default=os.environ.get("DETENTE_BENCH_DSN", peers_postgis.DEFAULT_DSN))
    ap.add_argument("--pg-variants", nargs="+", default=list(peers_postgis.VARIANTS), choices=peers_postgis.VARIANTS)
    ap.add_argument("--skip-postgis", action="store_true")
    ap.add_argument("--skip-detente", action="store_true")
    ap.add_argument("--naive-max-size", type=int, default=10_000, help="run the naive loop up to this size")
    ap.add_argument("--naive-queries", type=int, default=0, help="naive: only the first N queries (0: all)")
    ap.add_argument("--profile", action="store_true", help="cProfile detente's check at the largest size")
    ap.add_argument("--profile-top", type=int, default=25)
    ap.add_argument("--pin", type=int, default=None, metavar="CPU", help="pin this process to one CPU")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    if args.pin is not None:
        os.sched_setaffinity(0, {args.pin})
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    queries = workload.queries(args.queries, args.seed, stream=0)
    warm = workload.queries(args.warmup, args.seed, stream=1)
    info = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": started.isoformat(),
        "machine": machine(),
        "detente": engine_fingerprint(),
        "server": {} if args.skip_postgis else server_versions(args.dsn),
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "results": [],
    }
    console.print(f"[bold]machine[/]: {info['machine']}")
    if info["server"]:
        console.print(f"[bold]server[/]: {info['server']}")
    for size in args.sizes:
        info["results"].append(run_size(size, args, queries, warm))
        gc.collect()
        print_tables(info["results"])
    info["elapsed_s"] = time.perf_counter() - t0
    RESULTS.mkdir(exist_ok=True)
    out = args.out or RESULTS / f"check-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(info, indent=1, default=str))
    for r in info["results"]:
        if "detente_profile" in r:
            console.print(f"[bold]detente profile at {r['size']:,} volumes (tottime)[/]")
            print(r["detente_profile"]["tottime"], flush=True)
    console.print(f"wrote {out} ({info['elapsed_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
