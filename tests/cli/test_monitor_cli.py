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


# ---------------------------------------------------------------------------------------------
# Feeds recorded to files: CoT XML and ADS-B aircraft.json, mapped to parties with --mapping

MAPPING = {
    "feed": "amman-receiver",
    "icao": {"738A51": {"party": "sy"}},
    "callsign_prefix": {"RFF": {"party": "ru"}, "RFF7": {"party": "ru", "purpose": "humanitarian"}},
}


def mapping_file(tmp_path: Path, table: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(table or MAPPING), encoding="utf-8")
    return path


def snapshots(n: int = 161, *, hex_: str = "738a51", flight: str = "SYR22") -> list[dict[str, Any]]:
    """What a receiver near Al-Tanf wrote every 15 s: the Syrian jet of ``flight()`` (a new position every 30 s,
    seen 0.5 s before the snapshot, and the same one again, 15.5 s old, in the next), an unmapped airliner and
    one taxiing."""
    out = []
    for k in range(2 * n - 1):
        i, again = divmod(k, 2)
        age = 0.5 + again * STEP_S / 2
        now = (T0 + timedelta(seconds=STEP_S * i)).timestamp() + age
        jet = {"hex": hex_, "flight": f"{flight:<8}", "lat": TANF[1], "lon": round(37.80 + 0.01 * i, 2)}
        jet |= {"alt_baro": 16404, "seen_pos": age}
        aircraft = [jet, {"hex": "4ca1fa", "lat": 33.3, "lon": 36.5, "alt_baro": 30000, "seen_pos": 0.2}]
        aircraft.append({"hex": "155f21", "flight": "RFF1    ", "lat": 33.4, "lon": 36.3, "alt_baro": "ground"})
        out.append({"now": now, "messages": 1000 + k, "aircraft": aircraft})
    return out


def monitor_feed(tracks: Path, *extra: str) -> Any:
    return runner.invoke(app, ["monitor", str(DEMO_SCENARIO), str(tracks), *extra])


def tanf_incursion(result: Any) -> None:
    assert result.exit_code == 1, result.output
    (event,) = as_json(result)
    assert (event["type"], event["track"], event["party"], event["other"]["id"]) == (
        "incursion",
        "ICAO-738A51",
        "sy",
        "tanf-55km",
    )
    assert 38.0 <= lon_at(event["start"]) <= 38.06


def test_adsb_snapshots_as_json_lines_a_directory_and_one_aircraft_json(tmp_path: Path) -> None:
    snaps = snapshots()
    mapping = mapping_file(tmp_path)
    lines = tmp_path / "receiver.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in snaps) + "\n", encoding="utf-8")
    result = monitor_feed(lines, "--mapping", str(mapping), "--format", "json")
    tanf_incursion(result)
    # each position once: 161 from the jet; the repeats, the airliner on the ground and the unmapped one noted
    assert "161 position report(s), 160 repeated" in result.stderr
    assert "321 snapshot(s), 963 aircraft entries" in result.stderr
    assert "321 refused (adsb-ground)" in result.stderr
    assert "321 unmapped (adsb-unmapped)" in result.stderr and "4CA1FA" in result.stderr

    directory = tmp_path / "history"
    directory.mkdir()
    for k, snap in enumerate(reversed(snaps)):  # names out of time order: read in the order of their `now`
        (directory / f"history_{k}.json").write_text(json.dumps(snap, indent=1), encoding="utf-8")
    (directory / "receiver.json.gz").write_bytes(b"\x1f\x8b not read")
    tanf_incursion(monitor_feed(directory, "-m", str(mapping), "--format", "json"))

    one = tmp_path / "aircraft.json"
    one.write_text(json.dumps(snaps[80], indent=2), encoding="utf-8")  # over the zone
    result = monitor_feed(one, "-m", str(mapping), "--format", "json")
    assert result.exit_code == 1 and [e["track"] for e in as_json(result)] == ["ICAO-738A51"]
    table = monitor_feed(one, "-m", str(mapping))
    assert table.exit_code == 1 and "1 position report(s) of 1 track(s)" in table.stdout


def test_cot_events_file(tmp_path: Path) -> None:
    events = []
    for i in range(161):
        t = T0 + timedelta(seconds=STEP_S * i)
        time, stale = t.strftime("%Y-%m-%dT%H:%M:%S.000Z"), (t + timedelta(minutes=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
        events.append(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<event version="2.0" uid="SYR-22" type="a-h-A-M-F" how="m-g" '
            f'time="{time}" start="{time}" stale="{stale}">\n  <point lat="{TANF[1]}" lon="{37.80 + 0.01 * i:.2f}" '
            f'hae="5000" ce="10" le="10"/>\n  <detail><contact callsign="SYR22"/></detail>\n</event>'
        )
    events.append(
        '<event version="2.0" uid="ping" type="t-x-c-t" how="h-g-i-g-o" time="2017-07-07T08:00:00Z" '
        'start="2017-07-07T08:00:00Z" stale="2017-07-07T08:01:00Z"><point lat="0" lon="0"/></event>'
    )
    path = tmp_path / "tak-log.cot"
    path.write_text("<!-- recorded from the north TAK server -->\n" + "\n".join(events), encoding="utf-8")
    mapping = mapping_file(tmp_path, {"feed": "north-tak", "callsign_prefix": {"SYR": {"party": "sy"}}})
    result = monitor_feed(path, "--mapping", str(mapping), "--format", "json")
    assert result.exit_code == 1, result.output
    (event,) = as_json(result)
    assert (event["type"], event["track"], event["other"]["id"]) == ("incursion", "SYR-22", "tanf-55km")
    assert 38.0 <= lon_at(event["start"]) <= 38.06
    assert "162 CoT event(s) gave 161 position report(s)" in result.stderr and "cot-ping" in result.stderr
    # any name: the content tells
    other = tmp_path / "feed.log"
    other.write_bytes(path.read_bytes())
    assert monitor_feed(other, "-m", str(mapping), "--format", "json").exit_code == 1


def test_input_format_override(tmp_path: Path) -> None:
    rows = flight("SYR-22", "sy", "armed", TANF[1], 5000)
    names = HEADER.split(",")
    objects = [dict(zip(names, r.split(","), strict=True)) for r in rows]
    path = tmp_path / "tracks.json"  # JSON Lines rows named .json: found by content, or said
    path.write_text("\n".join(json.dumps(o | {k: float(o[k]) for k in ("lon", "lat", "alt_m")}) for o in objects))
    assert monitor(path, "--format", "json").exit_code == 1
    assert monitor(path, "--input-format", "jsonl", "--format", "json").exit_code == 1
    # the same file forced to be read as something it is not: refused, saying why
    as_adsb = monitor(path, "--input-format", "adsb", "--mapping", str(mapping_file(tmp_path)))
    assert as_adsb.exit_code == 2
    assert "tracks.json, snapshot 1" in as_adsb.stderr and "aircraft.json" in as_adsb.stderr
    as_csv = monitor(path, "-i", "csv")
    assert as_csv.exit_code == 2 and "tracks.json is not valid CSV" in as_csv.stderr
    assert monitor(path, "-i", "xml").exit_code == 2  # not a format


def test_feeds_need_a_mapping_and_track_rows_refuse_one(tmp_path: Path) -> None:
    lines = tmp_path / "receiver.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in snapshots(3)), encoding="utf-8")
    result = monitor_feed(lines)
    assert result.exit_code == 2 and "--mapping FILE" in result.stderr and "receiver.jsonl" in result.stderr
    csv_file = write(tmp_path, flight("SYR-22", "sy", "armed", TANF[1], 5000)[:3])
    result = monitor_feed(csv_file, "--mapping", str(mapping_file(tmp_path)))
    assert result.exit_code == 2 and "--mapping applies to CoT and ADS-B" in result.stderr


def test_bad_mapping_file_is_exit_2_naming_it(tmp_path: Path) -> None:
    lines = tmp_path / "receiver.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in snapshots(3)), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text('{"feed": "x", "icao": {"XYZ": {"party": "sy"}}, "colour": 1}', encoding="utf-8")
    result = monitor_feed(lines, "-m", str(broken))
    assert result.exit_code == 2
    assert "broken.json: icao key 'XYZ'" in result.stderr and "broken.json: unknown members ['colour']" in result.stderr
    missing = monitor_feed(lines, "-m", str(tmp_path / "nowhere.json"))
    assert missing.exit_code == 2 and "nowhere.json" in missing.stderr
    toml = tmp_path / "mapping.toml"
    toml.write_text('feed = "amman"\n[icao.738A51]\nparty = "sy"\n', encoding="utf-8")
    assert monitor_feed(lines, "-m", str(toml)).exit_code == 0  # three positions west of the zone


def test_bad_snapshots_are_exit_2_naming_file_line_snapshot_and_aircraft(tmp_path: Path) -> None:
    snaps = [json.dumps(s) for s in snapshots(6)]
    bad_hex = json.loads(snaps[2])
    bad_hex["aircraft"][1]["hex"] = "4ca1f"
    snaps[2] = json.dumps(bad_hex)
    snaps[4] = '{"now": 1499414400, "planes": []}'
    snaps.append('{"now": 1499414500, "aircraft": [')
    path = tmp_path / "receiver.jsonl"
    path.write_text("\n".join(snaps) + "\n", encoding="utf-8")
    result = monitor_feed(path, "-m", str(mapping_file(tmp_path)))
    assert result.exit_code == 2 and result.stdout == ""
    err = result.stderr
    assert "3 problem(s)" in err
    assert "line 3: [adsb-hex] receiver.jsonl, snapshot 3, aircraft 2: 'hex' is not a 24-bit ICAO address" in err
    assert "line 5: [adsb-format] receiver.jsonl, snapshot 5: expected an object with an 'aircraft' list" in err
    assert "line 12: [adsb-json] receiver.jsonl, snapshot 12: not JSON at line 13 column 1" in err
    # a directory: the file is named
    directory = tmp_path / "history"
    directory.mkdir()
    (directory / "history_0.json").write_text(snaps[0], encoding="utf-8")
    (directory / "history_1.json").write_bytes(b'{"now": 1499414401, "aircraft": [\xff]}')
    result = monitor_feed(directory, "-m", str(mapping_file(tmp_path)))
    assert result.exit_code == 2 and "history/history_1.json is not UTF-8" in result.stderr


def test_feed_party_not_in_the_scenario_or_changing_is_exit_2(tmp_path: Path) -> None:
    lines = tmp_path / "receiver.jsonl"
    lines.write_text("\n".join(json.dumps(s) for s in snapshots(3)), encoding="utf-8")
    table = {"feed": "amman", "icao": {"738A51": {"party": "xx"}}}
    result = monitor_feed(lines, "-m", str(mapping_file(tmp_path, table)))
    assert result.exit_code == 2 and "ICAO-738A51" in result.stderr and "'xx'" in result.stderr
    # by callsign: RFF1 is Russian, RFF7 humanitarian; the aircraft changes its callsign in flight
    snaps = snapshots(4, hex_="155f22", flight="RFF123")
    snaps[2]["aircraft"][0]["flight"] = "RFF7072 "
    lines.write_text("\n".join(json.dumps(s) for s in snaps), encoding="utf-8")
    result = monitor_feed(lines, "-m", str(mapping_file(tmp_path)))
    assert result.exit_code == 2 and "track-identity" in result.stderr
    assert "line 3" in result.stderr and "receiver.jsonl, snapshot 3" in result.stderr


def test_bad_cot_events_are_exit_2_naming_line_and_event(tmp_path: Path) -> None:
    good = (
        '<event version="2.0" uid="SYR-22" type="a-h-A-M-F" time="2017-07-07T08:00:00Z" start="2017-07-07T08:00:00Z" '
        'stale="2017-07-07T08:05:00Z"><point lat="33.5" lon="38.0" hae="5000"/><detail><contact callsign="SYR22"/>'
        "</detail></event>"
    )
    xxe = (
        '<?xml version="1.0"?><!DOCTYPE event [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        '<event uid="&x;" type="a-h-A-M-F"/>'
    )
    text = "\n".join([good, good.replace('08:00:00Z" start', '08:00:00" start'), "stray text", good[:80], xxe])
    path = tmp_path / "tracks.xml"
    path.write_text(text, encoding="utf-8")
    mapping = mapping_file(tmp_path, {"feed": "tak", "callsign_prefix": {"SYR": {"party": "sy"}}})
    result = monitor_feed(path, "-m", str(mapping))
    assert result.exit_code == 2 and result.stdout == ""
    err = result.stderr
    assert "line 2, track 'SYR-22': [cot-time] tracks.xml, event 2: time" in err and "no UTC offset" in err
    assert "line 3: [cot-garbage] tracks.xml: not CoT between events: b'stray text'" in err
    assert "line 4: [cot-event] tracks.xml: an <event> that does not end" in err
    assert "/etc/passwd" not in err.replace("file:///etc/passwd", "")  # never expanded
