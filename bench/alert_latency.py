"""End-to-end alert latency: a position received by the server to the event on a party's live stream.

Usage::

    .venv/bin/python bench/alert_latency.py                       # 10,000 positions/s for 30 s
    .venv/bin/python bench/alert_latency.py --rate 2000 --seconds 10 --quick-world

The server is ``detente serve`` as a subprocess (one worker, its monitor on
a thread of its own, the embedded SQLite store by default or ``--db``) on
a world of ``--zones`` no-fly zones of party ``red`` over a 20 x 15 degree
region.  ``--tracks`` aircraft report once a second each, ``--rate``
positions a second in all, sent as the secretariat's feed in ``--batches``
requests a second (``POST /positions``); blue aircraft fly above
7,000 m and red ones below 5,000 m, so the separation check runs over every
track each pass but finds no pair.  Every second ``--incursions`` blue
aircraft are put inside a zone for one report (and out again at the next),
each opening an incursion episode that ``red`` is told of.

A thread holds ``red``'s live stream (``GET /notifications/stream``) and
stamps each ``track.event.opened`` as it arrives; the latency of an
incursion is that stamp minus the moment the request carrying the
aircraft's position inside began to be sent (so it includes the HTTP
request, the queue, the monitor's pass, the transaction with its audit
entries and notifications, and the stream).  The load generator and the
stream reader are one process, the server another; they share the machine.

Results (p50/p90/p99/max, positions accepted per second, the server's CPU
seconds) go to ``bench/results/alert_latency-<time>.json`` and the console.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from scipy.spatial import cKDTree

sys.path.insert(0, str(Path(__file__).resolve().parent))
import machine as bench_machine
from serve_load import ROOT, Server, _cli, _proc_cpu, start_server

REGION = (30.0, 25.0, 50.0, 40.0)
#: Half the side of a zone (about 4.4 km square): 10^4 zones cover about 5 % of the region.
ZONE_HALF_DEG = 0.02


def world(zones: int, seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """The scenario document and the zones' centres."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(REGION[0] + 1, REGION[2] - 1, zones)
    lat = rng.uniform(REGION[1] + 1, REGION[3] - 1, zones)
    features = []
    for i, (x, y) in enumerate(zip(lon, lat, strict=True)):
        ring = [
            [x - ZONE_HALF_DEG, y - ZONE_HALF_DEG],
            [x + ZONE_HALF_DEG, y - ZONE_HALF_DEG],
            [x + ZONE_HALF_DEG, y + ZONE_HALF_DEG],
            [x - ZONE_HALF_DEG, y + ZONE_HALF_DEG],
            [x - ZONE_HALF_DEG, y - ZONE_HALF_DEG],
        ]
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"kind": "nfz", "id": f"z{i}", "party": "red", "time": ["2020-01-01T00:00:00Z", None]},
            }
        )
    doc = {
        "type": "FeatureCollection",
        "detente": {
            "version": 1,
            "name": "alert latency bench",
            "parties": [
                {"id": "blue", "name": "Blue", "role": "military"},
                {"id": "red", "name": "Red", "role": "military"},
            ],
            "separation": {
                "air": {"horizontal_m": 9260, "vertical_m": 305},
                "ground": {"horizontal_m": 1000, "vertical_m": None},
            },
        },
        "features": features,
    }
    return doc, np.column_stack([lon, lat])


def token_for(base: str, admin: str, party: str) -> str:
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=30) as http:
        member = http.post(f"/parties/{party}/members", json={"name": f"{party} watch"})
        member.raise_for_status()
        token = http.post(f"/members/{member.json()['id']}/tokens", json={})
        token.raise_for_status()
        return str(token.json()["token"])


class Stream(threading.Thread):
    """Red's live stream: the arrival time of each incursion, by track."""

    def __init__(self, base: str, token: str) -> None:
        super().__init__(daemon=True)
        self.base, self.token = base, token
        self.arrived: list[tuple[str, float]] = []
        self.ready = threading.Event()
        self.stop = False

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with (
            httpx.Client(base_url=self.base, timeout=httpx.Timeout(5.0, read=None)) as http,
            http.stream("GET", "/notifications/stream", headers=headers) as response,
        ):
            self.ready.set()
            kind = None
            for line in response.iter_lines():
                if self.stop:
                    return
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "track.event.opened":
                    body = json.loads(line[6:])
                    self.arrived.append((body["body"]["track"], time.monotonic()))


async def load(
    base: str, token: str, args: argparse.Namespace, centres: np.ndarray
) -> tuple[dict[str, list[float]], dict[str, int], float]:
    """Send the positions; returns the send times of each track's reports inside a zone, totals, and wall time."""
    rng = np.random.default_rng(args.seed + 1)
    n = args.tracks
    lon = rng.uniform(REGION[0], REGION[2], n)
    lat = rng.uniform(REGION[1], REGION[3], n)
    blue = np.arange(n) % 2 == 0
    alt = np.where(blue, rng.uniform(7000, 13000, n), rng.uniform(1000, 5000, n))
    # keep everyone at least 0.1 degree from every zone (so only the planned incursions happen)
    tree = cKDTree(centres)
    for _ in range(50):
        near = tree.query(np.column_stack([lon, lat]), distance_upper_bound=0.1, p=np.inf)[0] < np.inf
        if not near.any():
            break
        lon[near] = rng.uniform(REGION[0], REGION[2], near.sum())
        lat[near] = rng.uniform(REGION[1], REGION[3], near.sum())
    names = [f"{'blue' if b else 'red'}-{i}" for i, b in enumerate(blue)]
    parties = ["blue" if b else "red" for b in blue]
    blue_ids = np.flatnonzero(blue)
    inside_sent: dict[str, list[float]] = {}
    totals = {"sent": 0, "accepted": 0, "stale": 0, "busy": 0, "requests": 0}
    per_batch = math.ceil(n / args.batches)
    headers = {"Authorization": f"Bearer {token}"}
    interval = 1.0 / args.batches
    started = time.monotonic()
    limits = httpx.Limits(max_connections=args.batches * 2, max_keepalive_connections=args.batches * 2)
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30, limits=limits) as http:
        pending: set[asyncio.Task[None]] = set()
        second = 0
        cycle = 0
        while time.monotonic() - started < args.seconds:
            tick = started + second
            entering = (
                set(blue_ids[(cycle + np.arange(args.incursions)) % len(blue_ids)].tolist())
                if second >= args.warmup
                else set()
            )
            cycle += args.incursions
            for b in range(args.batches):
                at = tick + b * interval
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                ids = range(b * per_batch, min(n, (b + 1) * per_batch))
                t = datetime.now(UTC).timestamp()
                rows = []
                inside_now = []
                for i in ids:
                    if i in entering:
                        zx, zy = centres[i % len(centres)]
                        x, y, a = float(zx), float(zy), float(alt[i])
                        inside_now.append(names[i])
                    else:
                        x, y, a = float(lon[i]), float(lat[i]), float(alt[i])
                    rows.append(
                        {
                            "track": names[i],
                            "party": parties[i],
                            "category": "air",
                            "purpose": "armed",
                            "t": datetime.fromtimestamp(t, UTC).isoformat(),
                            "lon": x,
                            "lat": y,
                            "alt_m": a,
                        }
                    )
                body = json.dumps({"positions": rows}).encode()
                sent_at = time.monotonic()
                for name in inside_now:
                    inside_sent.setdefault(name, []).append(sent_at)
                task = asyncio.create_task(_post(http, body, totals, len(rows)))
                pending.add(task)
                task.add_done_callback(pending.discard)
            second += 1
        await asyncio.gather(*pending)
    return inside_sent, totals, time.monotonic() - started


ROUND_TRIPS: list[float] = []


async def _post(http: httpx.AsyncClient, body: bytes, totals: dict[str, int], n: int) -> None:
    began = time.monotonic()
    r = await http.post("/positions", content=body, headers={"Content-Type": "application/json"})
    ROUND_TRIPS.append(time.monotonic() - began)
    totals["requests"] += 1
    totals["sent"] += n
    if r.status_code == 202:
        got = r.json()
        totals["accepted"] += got["accepted"] + got["queued"]
        totals["stale"] += got["stale"]
    elif r.status_code == 503:
        totals["busy"] += n
    else:
        raise RuntimeError(f"POST /positions answered {r.status_code}: {r.text[:500]}")


def _pct(xs: list[float]) -> dict[str, float]:
    a = np.array(xs) * 1000
    return {
        "n": len(xs),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p90_ms": round(float(np.percentile(a, 90)), 1),
        "p99_ms": round(float(np.percentile(a, 99)), 1),
        "max_ms": round(float(a.max()), 1),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tracks", type=int, default=10_000, help="aircraft, each reporting once a second")
    p.add_argument("--batches", type=int, default=20, help="requests a second (the feed's batching)")
    p.add_argument("--zones", type=int, default=10_000)
    p.add_argument("--incursions", type=int, default=20, help="aircraft put inside a zone each second")
    p.add_argument("--seconds", type=float, default=35.0)
    p.add_argument("--warmup", type=int, default=5, help="seconds before the first incursion")
    p.add_argument("--db", default=None, help="database URL (default: a SQLite file in a temporary directory)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    meta = bench_machine.base()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/latency.sqlite"
        doc, centres = world(args.zones, args.seed)
        scenario = Path(tmp) / "world.geojson"
        scenario.write_text(json.dumps(doc))
        done = subprocess.run(
            _cli("init", "--db", url, "--scenario", str(scenario)), capture_output=True, text=True, cwd=ROOT
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        admin = done.stdout.strip().splitlines()[-1]
        server: Server = start_server(url, 1, Path(tmp) / "server.log")
        try:
            red = token_for(server.base, admin, "red")
            stream = Stream(server.base, red)
            stream.start()
            stream.ready.wait(10)
            cpu_before = sum(_proc_cpu(pid) for pid in [server.proc.pid])
            inside_sent, totals, wall = asyncio.run(load(server.base, admin, args, centres))
            time.sleep(2.0)  # the last alerts
            status = httpx.get(f"{server.base}/monitor", headers={"Authorization": f"Bearer {admin}"}).json()
            cpu = sum(_proc_cpu(pid) for pid in [server.proc.pid]) - cpu_before
            stream.stop = True
        finally:
            server.stop()
        log_tail = (Path(tmp) / "server.log").read_text()[-3000:]
    latencies = []
    missed = 0
    arrivals: dict[str, list[float]] = {}
    for track, at in stream.arrived:
        arrivals.setdefault(track, []).append(at)
    for track, sends in inside_sent.items():
        got = sorted(arrivals.get(track, []))
        for s in sends:
            after = [a for a in got if a >= s]
            if after:
                latencies.append(after[0] - s)
                got.remove(after[0])
            else:
                missed += 1
    results = {
        "positions_per_s": round(totals["accepted"] / wall),
        "totals": totals,
        "wall_s": round(wall, 1),
        "server_cpu_s": round(cpu, 1),
        "incursions": sum(len(v) for v in inside_sent.values()),
        "alerts_missed": missed,
        "latency": _pct(latencies) if latencies else None,
        "post_round_trip": _pct(ROUND_TRIPS),
        "monitor": status,
    }
    print(json.dumps(results, indent=1))
    print(log_tail)
    path = bench_machine.save_results("alert_latency", meta, args, results, args.out)
    print(f"results: {path}")
    return 0 if latencies and not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
