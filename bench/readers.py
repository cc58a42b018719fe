"""Feed readers (issue 6): positions per second read from CSV, JSON Lines, CoT XML and ADS-B ``aircraft.json``,
on real recorded trajectories.

Usage::

    .venv/bin/python bench/readers.py                  # traffic's quickstart sample: 213 aircraft, 3 h
    .venv/bin/python bench/readers.py --repeat 5 --sample collections/quickstart.json.gz

The trajectories are the OpenSky Network recordings shipped with the PyPI package ``traffic``
(``scripts/fetch-traffic-samples.sh`` fetches them into ``.cache/traffic``; run here if missing).  One
recording is turned into each input format, as the sources would write it, then read back:

- **CSV** and **JSON Lines** track rows (``track,party,category,purpose,t,lon,lat,alt_m``), read with
  ``tracks.parse_tracks`` (text in memory to ``Samples``);
- **CoT XML**: one ``<event>`` per position, as a TAK gateway forwards ADS-B (uid ``ICAO-<hex>``,
  ``<contact callsign>``, ``<_aircot_ icao>``), read with ``tracks.read_cot_file`` (file to ``Samples``:
  every event parsed with defusedxml and mapped);
- **aircraft.json**: the snapshots a readsb receiver would have written once a second (every aircraft
  heard in the last 60 s, ``seen_pos`` its position's age, ``alt_baro`` ``"ground"`` on the ground), read
  (a) one snapshot at a time as the poller does, ``adsb.parse_snapshot`` then ``RepeatFilter`` (bytes to
  new reports), and (b) as a JSON Lines file of snapshots with ``tracks.read_adsb_files`` (file to
  ``Samples``).

positions/s counts the position reports that come out (each position once); for aircraft.json the
aircraft entries read per second are given too (each position sits in several snapshots, and ground
positions are read and refused).  Each reader runs ``--repeat`` times; the median and the best run are
reported (the best is the least disturbed by other work on the machine).

The helpers (``load_positions``, ``track_rows``, ``to_csv``, ``to_jsonl``, ``to_cot``, ``to_snapshots``,
``readsb_trace_snapshots``) are used by ``tests/unit/test_traffic_samples.py`` as well.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
FETCH = ROOT / "scripts" / "fetch-traffic-samples.sh"
FEET = 0.3048

#: The mapping a feed of these recordings is given: airlines of one country to one party, the rest civil.
MAPPING_TABLE: dict[str, Any] = {
    "feed": "opensky-samples",
    "callsign_prefix": {
        "AFR": {"party": "fr", "purpose": "unknown"},
        "TVF": {"party": "fr", "purpose": "unknown"},
        "FAF": {"party": "fr", "purpose": "armed"},
        "CTM": {"party": "fr", "purpose": "armed"},
        "REGA": {"party": "ch", "purpose": "medevac"},
    },
    "default": {"party": "civil", "purpose": "unknown"},
}


class Position(NamedTuple):
    """One recorded position of an aircraft."""

    icao: str  # 6 hex digits, lower case
    callsign: str | None
    t: float  # epoch seconds
    lon: float
    lat: float
    alt_ft: float | None  # barometric altitude, feet
    onground: bool


# ---------------------------------------------------------------------------------------------
# The recordings


def samples_dir(*, fetch: bool = True) -> Path:
    """The directory of traffic's samples, fetched with scripts/fetch-traffic-samples.sh if missing."""
    found = subprocess.run(["bash", str(FETCH)], capture_output=True, text=True, check=False) if fetch else None
    if found is not None and found.returncode != 0:
        raise RuntimeError(f"{FETCH} failed ({found.returncode}):\n{found.stderr}")
    return Path(found.stdout.strip().splitlines()[-1]) if found else ROOT / ".cache" / "traffic" / "samples"


def load_positions(path: Path) -> list[Position]:
    """The positions in one of traffic's ``*.json.gz`` recordings (records with a latitude and longitude),
    sorted by aircraft and time."""
    opener: Callable[..., Any] = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        records = json.load(f)
    out = []
    for r in records:
        lat, lon = r.get("latitude"), r.get("longitude")
        if lat is None or lon is None:
            continue
        ts = r["timestamp"]
        t = ts / 1000.0 if isinstance(ts, int | float) and ts > 1e11 else float(ts)
        callsign = (r.get("callsign") or "").strip() or None
        out.append(
            Position(
                str(r["icao24"]).lower(),
                callsign,
                t,
                float(lon),
                float(lat),
                r.get("altitude"),
                bool(r.get("onground")),
            )
        )
    out.sort(key=lambda p: (p.icao, p.t))
    return out


def airborne(positions: Iterable[Position]) -> list[Position]:
    """Positions in the air with an altitude: what every reader should give back."""
    return [p for p in positions if not p.onground and p.alt_ft is not None]


def _mapping() -> Any:
    from detente.adapters.interop.feedmap import FeedMapping

    return FeedMapping.from_dict(MAPPING_TABLE)


def track_rows(positions: Iterable[Position]) -> list[dict[str, Any]]:
    """Track rows (SCENARIO.md) of the airborne positions; party and purpose from :data:`MAPPING_TABLE`."""
    mapping = _mapping()
    rows = []
    for p in airborne(positions):
        uid = f"ICAO-{p.icao.upper()}"
        party, purpose = mapping.resolve(uid, p.callsign, p.icao)
        t = datetime.fromtimestamp(p.t, UTC).isoformat().replace("+00:00", "Z")
        assert p.alt_ft is not None
        rows.append(
            {
                "track": uid,
                "party": party,
                "category": "air",
                "purpose": purpose,
                "t": t,
                "lon": p.lon,
                "lat": p.lat,
                "alt_m": p.alt_ft * FEET,
            }
        )
    return rows


def to_csv(rows: list[dict[str, Any]]) -> str:
    names = ("track", "party", "category", "purpose", "t", "lon", "lat", "alt_m")
    lines = [",".join(names)]
    lines += [",".join(repr(r[n]) if isinstance(r[n], float) else str(r[n]) for n in names) for r in rows]
    return "\n".join(lines) + "\n"


def to_jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def _cot_time(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def to_cot(positions: Iterable[Position], *, military: frozenset[str] = frozenset({"FAF", "CTM"})) -> bytes:
    """One CoT event per airborne position, as a TAK ADS-B gateway writes them, back to back."""
    out = []
    for p in airborne(positions):
        assert p.alt_ft is not None
        mil = p.callsign is not None and p.callsign[:3] in military
        cot_type = "a-f-A-M-F" if mil else "a-n-A-C-F"
        t, stale = _cot_time(p.t), _cot_time(p.t + 60)
        contact = f'<contact callsign="{p.callsign}"/>' if p.callsign else ""
        out.append(
            f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            f'<event version="2.0" uid="ICAO-{p.icao.upper()}" type="{cot_type}" how="m-g" time="{t}" '
            f'start="{t}" stale="{stale}"><point lat="{p.lat!r}" lon="{p.lon!r}" hae="{p.alt_ft * FEET!r}" '
            f'ce="50.0" le="50.0"/><detail>{contact}<_aircot_ icao="{p.icao.upper()}"/></detail></event>\n'
        )
    return "".join(out).encode()


def to_snapshots(positions: list[Position], *, step_s: float = 1.0, max_age_s: float = 60.0) -> list[dict[str, Any]]:
    """The ``aircraft.json`` snapshots a readsb receiver would have written every ``step_s`` seconds.

    Each snapshot lists every aircraft whose last position is at most ``max_age_s`` old, with its
    ``seen_pos``; an aircraft on the ground has ``alt_baro`` ``"ground"``, one with no altitude none.
    """
    ordered = sorted(positions, key=lambda p: p.t)
    if not ordered:
        return []
    latest: dict[str, Position] = {}
    messages: dict[str, int] = {}
    snaps = []
    i, n = 0, len(ordered)
    now = float(int(ordered[0].t))
    end = ordered[-1].t
    while now <= end:
        while i < n and ordered[i].t <= now:
            p = ordered[i]
            latest[p.icao] = p
            messages[p.icao] = messages.get(p.icao, 0) + 1
            i += 1
        aircraft = []
        for icao, p in list(latest.items()):
            age = now - p.t
            if age > max_age_s:
                del latest[icao]
                continue
            entry: dict[str, Any] = {"hex": icao}
            if p.callsign:
                entry["flight"] = f"{p.callsign:<8}"
            if p.onground:
                entry["alt_baro"] = "ground"
            elif p.alt_ft is not None:
                entry["alt_baro"] = round(p.alt_ft)
            entry.update(
                {
                    "lat": p.lat,
                    "lon": p.lon,
                    "seen_pos": round(age, 1),
                    "messages": messages[icao],
                    "seen": round(age, 1),
                    "rssi": -21.4,
                }
            )
            aircraft.append(entry)
        snaps.append({"now": now, "messages": i, "aircraft": aircraft})
        now += step_s
    return snaps


def readsb_trace_snapshots(trace_file: Path) -> tuple[str, list[dict[str, Any]]]:
    """One ``aircraft.json`` snapshot per point of a readsb ``trace_full_<hex>.json`` (readsb's own recording).

    A trace point is ``[dt, lat, lon, alt_baro | "ground", gs, track, flags, rate, details | null, type,
    alt_geom | null, ...]``; ``details`` carries the callsign (``flight``) when it is sent.
    """
    doc = json.loads(trace_file.read_text(encoding="utf-8"))
    icao, t0 = str(doc["icao"]).lower(), float(doc["timestamp"])
    flight: str | None = None
    snaps = []
    for point in doc["trace"]:
        details = point[8] if len(point) > 8 and isinstance(point[8], dict) else {}
        flight = details.get("flight", flight)
        entry: dict[str, Any] = {"hex": icao, "lat": point[1], "lon": point[2], "alt_baro": point[3], "seen_pos": 0.0}
        if flight:
            entry["flight"] = flight
        if len(point) > 10 and point[10] is not None and point[3] != "ground":
            entry["alt_geom"] = point[10]
        snaps.append({"now": round(t0 + float(point[0]), 2), "aircraft": [entry]})
    return icao, snaps


# ---------------------------------------------------------------------------------------------
# The bench


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[list[float], Any]:
    times, result = [], None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default="collections/quickstart.json.gz", help="a file under traffic's samples")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import machine as bench_machine
    from detente.adapters.interop.adsb import RepeatFilter, parse_snapshot
    from detente.adapters.interop.tracks import parse_tracks, read_adsb_files, read_cot_file

    before = bench_machine.base()  # the load before the run
    mapping = _mapping()
    source = samples_dir() / args.sample
    positions = load_positions(source)
    expected = len(airborne(positions))
    rows = track_rows(positions)
    csv_text, jsonl_text = to_csv(rows), to_jsonl(rows)
    cot = to_cot(positions)
    snaps = to_snapshots(positions)
    snap_bytes = [json.dumps(s, separators=(",", ":")).encode() for s in snaps]
    entries = sum(len(s["aircraft"]) for s in snaps)
    n_positions, n_aircraft, n_snaps = len(positions), len({p.icao for p in positions}), len(snaps)
    print(
        f"{source.name}: {n_positions:,} positions of {n_aircraft} aircraft, {expected:,} airborne with an "
        f"altitude; {n_snaps:,} snapshots holding {entries:,} aircraft entries"
    )
    del positions, rows, snaps  # only the inputs stay: the collector does not walk the recording in every run
    gc.collect()

    def poller_path() -> int:
        repeats, n = RepeatFilter(), 0
        for body in snap_bytes:
            for r in parse_snapshot(body, mapping).reports:
                n += repeats.check(r) == "new"
        return n

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cot_file, snap_file = Path(tmp) / "tracks.xml", Path(tmp) / "snapshots.jsonl"
        cot_file.write_bytes(cot)
        snap_file.write_bytes(b"\n".join(snap_bytes) + b"\n")
        cases: list[tuple[str, str, int, Callable[[], int]]] = [
            (
                "csv",
                "CSV text to Samples (parse_tracks)",
                len(csv_text.encode()),
                lambda: len(parse_tracks(csv_text, name="t.csv")),
            ),
            (
                "jsonl",
                "JSON Lines text to Samples (parse_tracks)",
                len(jsonl_text.encode()),
                lambda: len(parse_tracks(jsonl_text, name="t.jsonl")),
            ),
            (
                "cot",
                "CoT XML file to Samples (read_cot_file)",
                len(cot),
                lambda: len(read_cot_file(cot_file, mapping).samples),
            ),
            (
                "adsb-poller",
                "aircraft.json bytes to new reports (parse_snapshot + RepeatFilter)",
                sum(map(len, snap_bytes)),
                poller_path,
            ),
            (
                "adsb-file",
                "aircraft.json JSON Lines file to Samples (read_adsb_files)",
                snap_file.stat().st_size,
                lambda: len(read_adsb_files(snap_file, mapping).samples),
            ),
        ]
        for key, what, size, fn in cases:
            times, n = _timed(fn, args.repeat)
            assert n == expected, f"{key}: {n} positions read, {expected} expected"
            median = statistics.median(times)
            results[key] = {
                "what": what,
                "positions": n,
                "bytes": size,
                "times_s": [round(t, 4) for t in times],
                "median_s": round(median, 4),
                "positions_per_s": round(n / median),
                "best_positions_per_s": round(n / min(times)),
                "mb_per_s": round(size / median / 1e6, 1),
            }
            if key.startswith("adsb"):
                results[key]["aircraft_entries"] = entries
                results[key]["entries_per_s"] = round(entries / median)
            extra = f", {entries / median:,.0f} aircraft entries/s" if key.startswith("adsb") else ""
            print(
                f"{key:12} {n:,} positions, {size / 1e6:.1f} MB: median {median:.3f} s "
                f"-> {n / median:,.0f} positions/s (best {n / min(times):,.0f}), {size / median / 1e6:.1f} MB/s{extra}"
            )
    meta = {
        **before,
        "sample": args.sample,
        "traffic_positions": n_positions,
        "aircraft": n_aircraft,
        "snapshots": n_snaps,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }
    path = bench_machine.save_results("readers", meta, args, {"results": results}, args.out)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
