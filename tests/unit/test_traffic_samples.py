"""The feed readers on real recorded flights: OpenSky Network trajectories and a readsb trace shipped with the
PyPI package ``traffic`` (fetched by scripts/fetch-traffic-samples.sh into .cache/traffic; never installed).

Each recording is written in the format a source would send (track rows, CoT events, aircraft.json
snapshots) and read back; what comes out must be the recorded positions.  The conversions live in
bench/readers.py, which measures the same readers' throughput on the same data.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from detente.adapters.cli.main import DEMO_SCENARIO, app
from detente.adapters.interop.adsb import FEET, RepeatFilter, parse_snapshot, read_snapshots
from detente.adapters.interop.feedmap import FeedMapping, Report
from detente.adapters.interop.tracks import detect_format, read_adsb_files, read_cot_file, read_tracks
from detente.domain.tracks import Samples

ROOT = Path(__file__).resolve().parents[2]


def _load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_readers", ROOT / "bench" / "readers.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and NamedTuples look their module up
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture(scope="module")
def samples() -> Path:
    """traffic's samples, fetched (pinned wheel, checked hash) if they are not in .cache/traffic yet."""
    found = bench.samples_dir()
    assert (found / "collections" / "quickstart.json.gz").is_file()
    return Path(found)


@pytest.fixture(scope="module")
def quickstart(samples: Path) -> list[Any]:
    """40 aircraft of the quickstart recording (around Paris, 7 October 2021): airliners climbing, descending,
    taxiing; positions once a second."""
    positions = bench.load_positions(samples / "collections" / "quickstart.json.gz")
    keep = sorted({p.icao for p in positions})[:40]
    return [p for p in positions if p.icao in set(keep)]


@pytest.fixture(scope="module")
def tanker(samples: Path) -> list[Any]:
    """A French Air Force tanker (FAF4011) refuelling over the south of France, 30 June 2020."""
    return list(bench.load_positions(samples / "military" / "inflight_refuelling.json.gz"))


MAPPING = FeedMapping.from_dict(bench.MAPPING_TABLE)


def expected_columns(positions: list[Any]) -> tuple[list[str], np.ndarray]:
    """Track ids and the (t, lon, lat, alt_m) columns the readers must give, in Samples order (track, time)."""
    air = sorted(bench.airborne(positions), key=lambda p: (p.icao.upper(), p.t))
    ids = sorted({f"ICAO-{p.icao.upper()}" for p in air})
    cols = np.array([(p.t, p.lon, p.lat, p.alt_ft * FEET) for p in air], dtype=np.float64)
    return ids, cols


def columns(s: Samples) -> np.ndarray:
    return np.column_stack([s.t, s.lon, s.lat, s.alt])


def test_the_recordings_are_real_and_varied(quickstart: list[Any], tanker: list[Any]) -> None:
    assert len({p.icao for p in quickstart}) == 40 and len(quickstart) > 40_000
    assert sum(p.onground for p in quickstart) > 1_000  # taxiing: what the ADS-B reader refuses
    assert sum(p.alt_ft is None and not p.onground for p in quickstart) > 0  # no altitude decoded yet
    assert {p.callsign for p in tanker} == {"FAF4011"} and len(tanker) > 10_000


def test_csv_and_json_lines_readers_give_the_recorded_positions(tmp_path: Path, quickstart: list[Any]) -> None:
    rows = bench.track_rows(quickstart)
    ids, expected = expected_columns(quickstart)
    for name, text in (("flights.csv", bench.to_csv(rows)), ("flights.jsonl", bench.to_jsonl(rows))):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        got = read_tracks(path)
        assert [t.id for t in got.tracks] == ids
        assert np.array_equal(columns(got), expected), name  # floats written with repr: exact
        parties = Counter(t.party for t in got.tracks)
        assert parties["fr"] > 0 and parties["civil"] > 0 and set(parties) <= {"fr", "civil"}


def test_a_real_flight_as_aircraft_json_snapshots_round_trips(tanker: list[Any]) -> None:
    """The tanker, as the snapshots a receiver writes twice a second, through parse_snapshot with the mapping:
    each position is in two snapshots and reported once."""
    snaps = bench.to_snapshots(tanker, step_s=0.5)
    repeats = RepeatFilter()
    reports: list[Report] = []
    entries = 0
    for snap in snaps:
        found = parse_snapshot(json.dumps(snap).encode(), MAPPING)
        entries += found.aircraft
        assert found.dropped == []
        reports += [r for r in found.reports if repeats.check(r) == "new"]
    air = bench.airborne(tanker)
    assert entries == 2 * len(air) - 1  # a position sits in every snapshot until the next one
    assert len(reports) == len(air)
    for r, p in zip(reports, air, strict=True):
        assert (r.track, r.party, r.purpose, r.category, r.callsign) == ("ICAO-3B7777", "fr", "armed", "air", "FAF4011")
        assert (r.t_epoch, r.lon, r.lat) == (p.t, p.lon, p.lat)
        assert r.alt_m == pytest.approx(round(p.alt_ft) * FEET) and r.alt_ref == "baro"  # readsb writes whole feet


def test_many_aircraft_as_a_directory_of_snapshots(tmp_path: Path, quickstart: list[Any]) -> None:
    """40 airliners over two minutes of snapshots, one file each, as readsb's history files: each position once,
    taxiing aircraft refused, aircraft with no altitude yet refused."""
    start = min(p.t for p in quickstart) + 3600
    window = [p for p in quickstart if start <= p.t < start + 120]
    directory = tmp_path / "history"
    directory.mkdir()
    snaps = bench.to_snapshots(window)
    for k, snap in enumerate(snaps):
        (directory / f"history_{k}.json").write_text(json.dumps(snap), encoding="utf-8")
    assert detect_format(directory) == "adsb"
    found = read_snapshots(directory, MAPPING)
    ids, expected = expected_columns(window)
    samples = read_adsb_files(directory, MAPPING).samples
    assert [t.id for t in samples.tracks] == ids
    assert np.allclose(columns(samples), expected, rtol=0, atol=1e-9)
    assert found.files == found.snapshots == len(snaps) == 120
    ground = sum(1 for s in snaps for a in s["aircraft"] if a.get("alt_baro") == "ground")
    assert ground > 0 and found.dropped[("refused", "adsb-ground")] == ground
    assert found.repeated == 0  # a position a second, a snapshot a second: nothing to repeat in this recording


def test_readsb_trace_snapshots_read_as_json_lines(tmp_path: Path, samples: Path) -> None:
    """A Delta 737 over a day (readsb's own trace file): its points as aircraft.json snapshots, mapped by
    ICAO address; geometric altitude preferred, ground points refused."""
    icao, snaps = bench.readsb_trace_snapshots(samples / "readsb" / "trace_full_ac671b.json")
    path = tmp_path / "ac671b.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in snaps) + "\n", encoding="utf-8")
    mapping = FeedMapping.from_dict({"feed": "readsb", "icao": {icao.upper(): {"party": "us"}}})
    assert detect_format(path) == "adsb"
    read = read_adsb_files(path, mapping)
    points = [s["aircraft"][0] for s in snaps]
    airborne = [(s["now"], a) for s, a in zip(snaps, points, strict=True) if a["alt_baro"] != "ground"]
    assert len(read.samples) == len({t for t, _ in airborne}) > 1_000
    assert [(t.id, t.party, t.purpose) for t in read.samples.tracks] == [("ICAO-AC671B", "us", "armed")]
    by_time = {t: a for t, a in airborne}
    for t, alt in zip(read.samples.t.tolist(), read.samples.alt.tolist(), strict=True):
        a = by_time[t]
        assert math.isclose(alt, a.get("alt_geom", a["alt_baro"]) * FEET)
    grounded = sum(a["alt_baro"] == "ground" for a in points)
    assert grounded > 100 and f"{grounded:,} refused (adsb-ground)" in " ".join(read.notes)


def test_a_real_flight_as_cot_events(tmp_path: Path, tanker: list[Any]) -> None:
    path = tmp_path / "tanker.xml"
    path.write_bytes(bench.to_cot(tanker[:3000]))
    read = read_cot_file(path, MAPPING)
    ids, expected = expected_columns(tanker[:3000])
    assert [(t.id, t.party, t.purpose) for t in read.samples.tracks] == [(ids[0], "fr", "armed")]
    assert np.allclose(columns(read.samples), expected, rtol=0, atol=1e-6)  # CoT times to the millisecond


def test_the_monitor_on_a_real_flight_moved_over_al_tanf(tmp_path: Path, tanker: list[Any]) -> None:
    """The tanker's racetrack, moved so that it starts over Al-Tanf, as aircraft.json snapshots of a Russian
    aircraft: `detente monitor` finds the incursion into the coalition's 55 km zone."""
    first = tanker[0]
    dlon, dlat = 38.618 - first.lon, 33.505 - first.lat
    moved = [p._replace(lon=p.lon + dlon, lat=p.lat + dlat) for p in tanker[:1800]]
    path = tmp_path / "moved.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in bench.to_snapshots(moved)), encoding="utf-8")
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"feed": "moved", "callsign_prefix": {"FAF": {"party": "ru"}}}), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["monitor", str(DEMO_SCENARIO), str(path), "--mapping", str(mapping), "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    events = json.loads(result.stdout)
    assert ("incursion", "ICAO-3B7777", "tanf-55km") in {(e["type"], e["track"], e["other"]["id"]) for e in events}
    assert "position report(s)" in result.stderr
