"""Feeds recorded to files: ADS-B snapshots (one aircraft.json, JSON Lines of them, a directory), CoT event files,
the format detection and the mapping file, as ``detente monitor`` reads them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from detente.adapters.interop import adsb
from detente.adapters.interop.adsb import read_snapshots
from detente.adapters.interop.feedmap import Assignment, FeedMapping
from detente.adapters.interop.tracks import detect_format, read_adsb_files, read_cot_file, read_mapping
from detente.domain.errors import InvalidInput

NOW = 1499407200.0  # 2017-07-07T06:00:00Z
MAPPING = FeedMapping("rx", by_icao={"738A51": Assignment("coalition")}, by_callsign_prefix={"RFF": Assignment("ru")})


def plane(hex_: str = "738a51", **fields: Any) -> dict[str, Any]:
    return {"hex": hex_, "lat": 35.1, "lon": 38.1, "alt_baro": 30000, "seen_pos": 0.0, **fields}


def snap(now: float, *planes: dict[str, Any]) -> dict[str, Any]:
    return {"now": now, "aircraft": list(planes)}


def problems(exc: pytest.ExceptionInfo[InvalidInput]) -> list[tuple[str, int | None, str]]:
    return [(p.rule, p.index, p.message) for p in exc.value.problems]


# -- ADS-B ---------------------------------------------------------------------------------------


def test_one_pretty_printed_aircraft_json_and_concatenated_snapshots(tmp_path: Path) -> None:
    one = tmp_path / "aircraft.json"
    one.write_text(json.dumps(snap(NOW, plane(), plane("155f21", flight="RFF12")), indent=2), encoding="utf-8")
    found = read_snapshots(one, MAPPING)
    assert (found.files, found.snapshots, found.aircraft) == (1, 1, 2)
    assert [r.track for r in found.reports] == ["ICAO-738A51", "ICAO-155F21"]
    assert found.where == [(1, "aircraft.json, snapshot 1"), (1, "aircraft.json, snapshot 1")]
    # snapshots one after another with no newline between them, or pretty-printed one after another
    two = tmp_path / "two.json"
    two.write_text(json.dumps(snap(NOW, plane())) + json.dumps(snap(NOW + 1, plane(lon=38.2))), encoding="utf-8")
    assert len(read_snapshots(two, MAPPING).reports) == 2
    pretty = tmp_path / "pretty.json"
    pretty.write_text(
        json.dumps(snap(NOW, plane()), indent=1) + "\n" + json.dumps(snap(NOW + 1, plane(lon=38.2)), indent=1)
    )
    found = read_snapshots(pretty, MAPPING)
    assert [line for line, _ in found.where] == [1, 13]  # where each snapshot starts


def test_snapshots_are_taken_in_time_order_and_each_position_once(tmp_path: Path) -> None:
    path = tmp_path / "out-of-order.jsonl"
    lines = [
        snap(NOW + 2, plane(lon=38.3, seen_pos=0.0)),
        snap(NOW, plane(lon=38.1, seen_pos=0.0)),
        snap(NOW + 1, plane(lon=38.1, seen_pos=1.0), plane("155f21", flight="RFF1", seen_pos=0.5)),
        snap(NOW + 1.5, plane(lon=38.1, seen_pos=1.6)),  # rounding: 0.1 s off, same position
    ]
    path.write_text("\n".join(json.dumps(s) for s in lines), encoding="utf-8")
    found = read_snapshots(path, MAPPING)
    assert [(r.track, r.t_epoch, r.lon) for r in found.reports] == [
        ("ICAO-738A51", NOW, 38.1),
        ("ICAO-155F21", NOW + 0.5, 38.1),
        ("ICAO-738A51", NOW + 2, 38.3),
    ]
    assert (found.repeated, found.older) == (2, 0)
    assert [w for w in found.where] == [
        (2, "out-of-order.jsonl, snapshot 2"),
        (3, "out-of-order.jsonl, snapshot 3"),
        (1, "out-of-order.jsonl, snapshot 1"),
    ]


def test_what_is_not_used_is_counted_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "rx.jsonl"
    planes = [plane("4ca1fa", flight="RYR12"), plane("738a52", alt_baro="ground"), {"hex": "738a53"}, plane()]
    path.write_text(json.dumps(snap(NOW, *planes)), encoding="utf-8")
    found = read_snapshots(path, MAPPING)
    assert len(found.reports) == 1
    assert found.dropped == {
        ("unmapped", "adsb-unmapped"): 1,
        ("refused", "adsb-ground"): 1,
        ("ignored", "adsb-no-position"): 1,
    }
    assert found.unmapped == ["4CA1FA (RYR12)"]
    read = read_adsb_files(path, MAPPING)
    notes = "\n".join(read.notes)
    assert "1 snapshot(s), 4 aircraft entries: 1 position report(s), 0 repeated" in notes
    assert "1 unmapped (adsb-unmapped)" in notes and "4CA1FA (RYR12)" in notes and "alt_baro" in notes


def test_broken_snapshots_are_refused_naming_file_snapshot_line_and_aircraft(tmp_path: Path) -> None:
    path = tmp_path / "rx.jsonl"
    path.write_text(
        "\n".join(
            [
                json.dumps(snap(NOW, plane())),
                json.dumps(snap(NOW + 1, plane(lat=91.0), "x")),
                "[1, 2]",
                '{"now": -1, "aircraft": []}',
                '{"now": 5, "aircraft": [',
                json.dumps(snap(NOW + 2, plane())),  # never read: what follows broken JSON cannot be trusted
            ]
        ),
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as refused:
        read_snapshots(path, MAPPING)
    assert problems(refused) == [
        ("adsb-position", 2, "rx.jsonl, snapshot 2, aircraft 1: (38.1, 91.0) is out of range"),
        ("adsb-aircraft", 2, "rx.jsonl, snapshot 2, aircraft 2: an aircraft entry is not an object"),
        ("adsb-format", 3, "rx.jsonl, snapshot 3: expected an object with an 'aircraft' list (aircraft.json)"),
        ("adsb-format", 4, "rx.jsonl, snapshot 4: 'now' must be the snapshot's time, epoch seconds"),
        ("adsb-json", 5, "rx.jsonl, snapshot 5: not JSON at line 6 column 117: Expecting ',' delimiter"),
    ]  # the unclosed snapshot 5 runs into line 6


def test_a_directory_of_history_files(tmp_path: Path) -> None:
    d = tmp_path / "readsb"
    d.mkdir()
    for k in range(12):  # history_10.json sorts before history_2.json: the times decide the order
        (d / f"history_{k}.json").write_text(json.dumps(snap(NOW + k, plane(lon=38.0 + k / 100))), encoding="utf-8")
    (d / "receiver.json.tmp").write_text("partial", encoding="utf-8")  # not *.json: not read
    (d / "sub.json").mkdir()  # a directory: not read
    found = read_snapshots(d, MAPPING)
    assert found.files == 12 and [r.t_epoch for r in found.reports] == [NOW + k for k in range(12)]
    assert found.where[0] == (1, "readsb/history_0.json, snapshot 1")
    (d / "history_5.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(InvalidInput) as refused:
        read_snapshots(d, MAPPING)
    assert problems(refused) == [
        ("adsb-encoding", 1, "readsb/history_5.json is not UTF-8 (byte 1: invalid start byte)")
    ]


def test_empty_inputs_and_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    blank = tmp_path / "blank.json"
    blank.write_text(" \n", encoding="utf-8")
    for path, rule in ((empty_dir, "adsb-empty"), (blank, "adsb-empty"), (tmp_path / "missing.json", "adsb-file")):
        with pytest.raises(InvalidInput) as refused:
            read_snapshots(path, MAPPING)
        assert [p.rule for p in refused.value.problems] == [rule]
    nothing = tmp_path / "nothing.json"
    nothing.write_text(json.dumps(snap(NOW, plane("4ca1fa"))), encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"no aircraft gave a position report \(1 unmapped"):
        read_adsb_files(nothing, MAPPING)
    monkeypatch.setattr(adsb, "MAX_FILE_BYTES", 100)
    big = tmp_path / "big.json"
    big.write_text(json.dumps(snap(NOW, *[plane() for _ in range(5)])), encoding="utf-8")
    with pytest.raises(InvalidInput, match="may total at most 100 bytes"):
        read_snapshots(big, MAPPING)


# -- CoT files -------------------------------------------------------------------------------------


def event(uid: str = "SYR-22", t: str = "2017-07-07T08:00:00Z", lon: float = 38.0, callsign: str = "SYR22") -> str:
    return (
        f'<event version="2.0" uid="{uid}" type="a-h-A-M-F" how="m-g" time="{t}" start="{t}" '
        f'stale="2017-07-07T09:00:00Z"><point lat="33.5" lon="{lon}" hae="5000"/>'
        f'<detail><contact callsign="{callsign}"/></detail></event>'
    )


COT_MAPPING = FeedMapping("tak", by_callsign_prefix={"SYR": Assignment("sy")})


def test_cot_file_with_declarations_comments_and_drops(tmp_path: Path) -> None:
    path = tmp_path / "tak.xml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n<!-- north server -->\n'
        + event()
        + "\n\n"
        + event(t="2017-07-07T08:00:30Z", lon=38.01)
        + "\n"
        + event(uid="UA-1", callsign="UA-1")
        + event().replace("a-h-A-M-F", "a-h-S")
        + event().replace("a-h-A-M-F", "b-m-p-s-p-i"),
        encoding="utf-8",
    )
    read = read_cot_file(path, COT_MAPPING)
    assert len(read.samples) == 2 and [t.id for t in read.samples.tracks] == ["SYR-22"]
    notes = " | ".join(read.notes)
    assert "5 CoT event(s) gave 2 position report(s)" in notes
    assert "1 unmapped (cot-unmapped)" in notes and "UA-1 (UA-1)" in notes
    assert "1 refused (cot-type)" in notes and "1 ignored (cot-not-a-track)" in notes


def test_cot_file_two_reports_at_one_instant_are_named(tmp_path: Path) -> None:
    path = tmp_path / "tak.xml"
    path.write_text("\n".join([event(), event(t="2017-07-07T08:00:30Z"), event(lon=38.2)]), encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        read_cot_file(path, COT_MAPPING)
    assert problems(refused) == [
        (
            "duplicate-sample",
            3,
            "tak.xml, event 3: track 'SYR-22' already has a report at this instant (tak.xml, event 1, line 1)",
        )
    ]


def test_cot_file_oversized_event_and_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "tak.xml"
    huge = event().replace("<detail>", "<detail>" + "<x/>" * 20_000)
    path.write_text(event() + "\n" + huge + "\n" + event(t="2017-07-07T08:01:00Z"), encoding="utf-8")
    with pytest.raises(InvalidInput) as refused:
        read_cot_file(path, COT_MAPPING)
    assert [(rule, line) for rule, line, _ in problems(refused)] == [("cot-event", 2)]
    empty = tmp_path / "empty.xml"
    empty.write_text('<?xml version="1.0"?>\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="holds no CoT <event>"):
        read_cot_file(empty, COT_MAPPING)


# -- which format, and the mapping file --------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("t.csv", '{"aircraft": []}', "csv"),  # the extension decides
        ("t.xml", "track,party", "cot"),
        ("t.cot", "", "cot"),
        ("t.jsonl", '{"track": "a", "party": "sy"}\n', "jsonl"),
        ("t.jsonl", '{"now": 1, "aircraft": []}\n', "adsb"),
        ("t.json", '{\n  "now": 1499407200.0,\n  "messages": 7,\n  "aircraft": [\n', "adsb"),
        ("t.json", '{"track": "a"}\n{"track": "b"}\n', "jsonl"),
        ("t.txt", '\ufeff  <?xml version="1.0"?><event/>', "cot"),
        ("t.txt", "track,party,category", "csv"),
        ("t.ndjson", "", "jsonl"),
        ("t", "{not json", "jsonl"),  # the reader says what is wrong
    ],
)
def test_detect_format(tmp_path: Path, name: str, content: str, expected: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    assert detect_format(path) == expected


def test_detect_format_of_a_directory_and_a_missing_file(tmp_path: Path) -> None:
    assert detect_format(tmp_path) == "adsb"
    assert detect_format(tmp_path / "missing.csv") == "csv"
    assert detect_format(tmp_path / "missing.jsonl") == "jsonl"


def test_read_mapping_json_and_toml_and_refusals(tmp_path: Path) -> None:
    j = tmp_path / "m.json"
    j.write_text('{"feed": "rx", "icao": {"738a51": {"party": "coalition", "purpose": "unknown"}}}', encoding="utf-8")
    assert read_mapping(j).resolve("ICAO-738A51") == ("coalition", "unknown")
    t = tmp_path / "m.toml"
    t.write_text('feed = "rx"\n[callsign_prefix.RFF]\nparty = "ru"\n', encoding="utf-8")
    assert read_mapping(t).resolve("x", "RFF12") == ("ru", "armed")
    for text, fragment in (
        ("[]", "m.json: a feed mapping must be an object"),
        ("{", "m.json is not JSON"),
        ('{"feed": "", "default": {"party": "ru", "purpose": "peaceful"}}', "m.json: 'feed' must be a non-empty"),
    ):
        j.write_text(text, encoding="utf-8")
        with pytest.raises(InvalidInput) as refused:
            read_mapping(j)
        assert any(fragment in p.message for p in refused.value.problems), problems(refused)
    with pytest.raises(InvalidInput, match=r"nowhere\.json"):
        read_mapping(tmp_path / "nowhere.json")
