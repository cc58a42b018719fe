"""``detente monitor SCENARIO TRACKS`` on the Syria 2017 demo world (7 July 2017)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from detente.adapters.cli.main import DEMO_SCENARIO, app

runner = CliRunner()

HEADER = "track,party,category,purpose,t,lon,lat,alt_m"
TANF = (38.618, 33.505)  # tanf-55km: 55 km around the garrison, from 2017-06-01, every altitude, humanitarian exempt
T0 = datetime(2017, 7, 7, 8, 0, tzinfo=UTC)
STEP_S = 30
EVENT_FIELDS = {"type", "track", "party", "other", "start", "end", "min_distance_m"}


def flight(track: str, party: str, purpose: str, lat: float, alt_m: float) -> list[str]:
    """West to east along ``lat`` from lon 37.80 to 39.40, 0.01 deg (about 930 m) every 30 s from 08:00Z."""
    return [
        f"{track},{party},air,{purpose},{(T0 + timedelta(seconds=STEP_S * i)).isoformat()},{37.80 + 0.01 * i:.2f},"
        f"{lat},{alt_m}"
        for i in range(161)
    ]


def write(tmp_path: Path, rows: list[str], name: str = "tracks.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


def monitor(tracks: Path, *extra: str) -> Any:
    return runner.invoke(app, ["monitor", str(DEMO_SCENARIO), str(tracks), *extra])


def as_json(result: Any) -> Any:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def lon_at(iso: str) -> float:
    i = (datetime.fromisoformat(iso) - T0).total_seconds() / STEP_S
    return 37.80 + 0.01 * i


def test_syrian_armed_flight_through_tanf_is_one_incursion(tmp_path: Path) -> None:
    result = monitor(write(tmp_path, flight("SYR-22", "sy", "armed", TANF[1], 5000)), "--format", "json")
    assert result.exit_code == 1, result.output
    (event,) = as_json(result)
    assert set(event) >= EVENT_FIELDS
    assert event["type"] == "incursion"
    assert (event["track"], event["party"]) == ("SYR-22", "sy")
    assert event["other"] == {"kind": "nfz", "id": "tanf-55km", "party": "coalition"}
    # 55 km is about 0.59 deg of longitude at 33.5 N: in from about 38.03, out after about 39.20.
    start, end = event["start"], event["end"]
    assert start.endswith("Z") and end.endswith("Z")
    assert 38.0 <= lon_at(start) <= 38.06
    assert 39.17 <= lon_at(end) <= 39.22
    assert 0.0 <= event["min_distance_m"] <= 55_000


def test_humanitarian_russian_flight_through_tanf_is_no_incursion(tmp_path: Path) -> None:
    result = monitor(write(tmp_path, flight("RU-AID", "ru", "humanitarian", TANF[1], 3000)), "--format", "json")
    assert result.exit_code == 0, result.output
    assert as_json(result) == []
    table = monitor(write(tmp_path, flight("RU-AID", "ru", "humanitarian", TANF[1], 3000)))
    assert (
        table.exit_code == 0 and "No event" in table.stdout and "161 position report(s) of 1 track(s)" in table.stdout
    )


def test_both_flights_together_as_a_table_and_as_jsonl(tmp_path: Path) -> None:
    rows = flight("SYR-22", "sy", "armed", TANF[1], 5000) + flight("RU-AID", "ru", "humanitarian", 33.60, 3000)
    result = monitor(write(tmp_path, rows))
    assert result.exit_code == 1, result.output
    for text in ("incursion", "SYR-22 (sy)", "nfz tanf-55km (coalition)", "2017-07-07", "of 2 track(s)", "1 event(s)"):
        assert text in result.stdout
    assert "RU-AID" not in result.stdout
    names = HEADER.split(",")
    objects = [dict(zip(names, r.split(","), strict=True)) for r in rows]
    lines = [json.dumps(o | {k: float(o[k]) for k in ("lon", "lat", "alt_m")}) for o in objects]
    path = tmp_path / "tracks.jsonl"
    path.write_text("\n".join(lines), encoding="utf-8")
    events = as_json(monitor(path, "--format", "json"))
    assert [(e["type"], e["track"], e["other"]["id"]) for e in events] == [("incursion", "SYR-22", "tanf-55km")]


def test_type_filter(tmp_path: Path) -> None:
    path = write(tmp_path, flight("SYR-22", "sy", "armed", TANF[1], 5000))
    result = monitor(path, "--format", "json", "--type", "separation", "--type", "proximity")
    assert result.exit_code == 0 and as_json(result) == []
    assert len(as_json(monitor(path, "--format", "json", "--type", "incursion"))) == 1
    assert monitor(path, "--type", "nonsense").exit_code == 2


def test_unknown_party_is_exit_2_naming_track_and_party(tmp_path: Path) -> None:
    rows = flight("X-1", "xx", "armed", TANF[1], 5000)[:3] + flight("SYR-22", "sy", "armed", TANF[1], 5000)[:3]
    result = monitor(write(tmp_path, rows))
    assert result.exit_code == 2
    assert "X-1" in result.stderr and "'xx'" in result.stderr and "unknown-party" in result.stderr
    assert "SYR-22" not in result.stderr
    assert result.stdout == ""


def test_naive_time_is_exit_2_naming_the_line(tmp_path: Path) -> None:
    rows = flight("SYR-22", "sy", "armed", TANF[1], 5000)[:5]
    rows[3] = rows[3].replace("+00:00", "")
    result = monitor(write(tmp_path, rows))
    assert result.exit_code == 2
    assert "line 5" in result.stderr and "naive-time" in result.stderr and "explicit UTC offset" in result.stderr
    assert "SYR-22" in result.stderr


def test_bad_scenario_and_missing_tracks_are_exit_2(tmp_path: Path) -> None:
    tracks = write(tmp_path, flight("SYR-22", "sy", "armed", TANF[1], 5000)[:3])
    bad = tmp_path / "bad.geojson"
    bad.write_text("{", encoding="utf-8")
    assert runner.invoke(app, ["monitor", str(bad), str(tracks)]).exit_code == 2
    result = monitor(tmp_path / "nowhere.csv")
    assert result.exit_code == 2 and "nowhere.csv" in result.stderr
