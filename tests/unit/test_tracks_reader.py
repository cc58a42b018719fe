"""Position report files in: CSV and JSON Lines, the good and the hostile (SCENARIO.md, "Position reports")."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from detente.adapters.interop import tracks as reader
from detente.adapters.interop.tracks import MAX_PROBLEMS, parse_tracks, read_tracks
from detente.domain.errors import InvalidInput, Problem
from detente.domain.tracks import Samples

HEADER = "track,party,category,purpose,t,lon,lat,alt_m"
# (track, party, category, purpose, t, lon, lat, alt_m), deliberately not sorted by track or time.
REPORTS: list[tuple[str, str, str, str, str, float, float, float]] = [
    ("SYR-22", "sy", "air", "armed", "2017-07-07T08:00:10Z", 38.10, 33.50, 5000.0),
    ("CONVOY-1", "ocha", "ground", "humanitarian", "2017-07-07T08:00:00+03:00", 38.70, 33.29, 650.0),
    ("SYR-22", "sy", "air", "armed", "2017-07-07T08:00:00Z", 38.00, 33.50, 4990.5),
    ("CONVOY-1", "ocha", "ground", "humanitarian", "2017-07-07T05:00:30+00:00", 38.71, 33.30, 651.0),
    ("RU-7", "ru", "air", "medevac", "2017-07-07T07:59:59.5Z", -0.5, -12.25, -10.0),
]


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def csv_text(rows: list[tuple[Any, ...]] = REPORTS, header: str = HEADER) -> str:
    return "\n".join([header, *(",".join(str(v) for v in r) for r in rows)]) + "\n"


def jsonl_text(rows: list[tuple[Any, ...]] = REPORTS) -> str:
    names = HEADER.split(",")
    return "".join(json.dumps(dict(zip(names, r, strict=True))) + "\n" for r in rows)


def problems(text: str, name: str = "tracks") -> list[Problem]:
    with pytest.raises(InvalidInput) as caught:
        parse_tracks(text, name=name)
    return caught.value.problems


def one(text: str, name: str = "tracks") -> Problem:
    found = problems(text, name)
    assert len(found) == 1, found
    return found[0]


def check_samples(s: Samples) -> None:
    """``s`` holds REPORTS: tracks by id, samples by (track, time)."""
    assert [(t.id, t.party, t.category.value, t.purpose) for t in s.tracks] == [
        ("CONVOY-1", "ocha", "ground", "humanitarian"),
        ("RU-7", "ru", "air", "medevac"),
        ("SYR-22", "sy", "air", "armed"),
    ]
    assert len(s) == 5
    assert s.track.tolist() == [0, 0, 1, 2, 2]
    # 08:00+03:00 is 05:00Z, before 05:00:30Z.
    assert s.t.tolist() == [
        epoch("2017-07-07T05:00:00+00:00"),
        epoch("2017-07-07T05:00:30+00:00"),
        epoch("2017-07-07T07:59:59.500+00:00"),
        epoch("2017-07-07T08:00:00+00:00"),
        epoch("2017-07-07T08:00:10+00:00"),
    ]
    assert s.t[0] == datetime(2017, 7, 7, 5, tzinfo=UTC).timestamp()
    assert s.lon.tolist() == [38.70, 38.71, -0.5, 38.00, 38.10]
    assert s.lat.tolist() == [33.29, 33.30, -12.25, 33.50, 33.50]
    assert s.alt.tolist() == [650.0, 651.0, -10.0, 4990.5, 5000.0]


# -- good input ----------------------------------------------------------------------------------


def test_csv_round_trip() -> None:
    check_samples(parse_tracks(csv_text()))


def test_jsonl_round_trip() -> None:
    check_samples(parse_tracks(jsonl_text()))


def test_files_by_extension_and_by_sniffing(tmp_path: Path) -> None:
    for name, text in [
        ("a.csv", csv_text()),
        ("a.jsonl", jsonl_text()),
        ("a.ndjson", jsonl_text()),
        ("csv-without-extension", csv_text()),
        ("jsonl-without-extension.txt", "\n\n  " + jsonl_text()),
    ]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        check_samples(read_tracks(path))


def test_csv_columns_in_any_order_and_extra_columns_ignored() -> None:
    names = HEADER.split(",")
    order = [7, 3, 0, 5, 4, 1, 6, 2]
    header = ",".join(["callsign", *(names[i] for i in order), "squawk"])
    rows = [("X", *(r[i] for i in order), "7700") for r in REPORTS]
    check_samples(parse_tracks(csv_text(rows, header)))


def test_jsonl_ignores_extra_members_and_takes_integers() -> None:
    text = jsonl_text().replace('{"track"', '{"icao24": "abc123", "track"', 1)
    text += json.dumps(
        {"track": "RU-7", "party": "ru", "category": "air", "purpose": "medevac", "t": "2017-07-07T09:00:00Z"}
        | {"lon": 36, "lat": 35, "alt_m": 1000}
    )
    s = parse_tracks(text)
    assert len(s) == 6 and s.lon[3] == 36.0 and s.alt[3] == 1000.0


def test_bom_crlf_blank_lines_and_quoted_cells(tmp_path: Path) -> None:
    text = "\ufeff" + csv_text().replace("\n", "\r\n").replace("SYR-22,", '"SYR-22",') + "\r\n\r\n"
    check_samples(parse_tracks(text))
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeff" + csv_text()).encode("utf-8"))
    check_samples(read_tracks(path))
    path = tmp_path / "bom.jsonl"
    path.write_bytes(("\ufeff" + jsonl_text().replace("\n", "\r\n")).encode("utf-8"))
    check_samples(read_tracks(path))


def test_spaces_after_commas_are_tolerated() -> None:
    check_samples(parse_tracks(csv_text().replace(",", ", ")))


def test_a_million_rows(tmp_path: Path) -> None:
    n, per_track = 1_000_000, 1_000
    path = tmp_path / "million.csv"
    with path.open("w", encoding="utf-8") as f:
        f.write("t,track,party,category,purpose,lon,lat,alt_m\n")
        for i in range(n):
            k, j = divmod(i, per_track)  # track k, sample j (one a second from 00:00:00Z)
            f.write(f"2017-07-07T00:{j // 60:02d}:{j % 60:02d}Z,T{k:04d},sy,air,armed,{36 + k / 1000},{j / 1000},{j}\n")
    s = read_tracks(path)
    assert len(s) == n and len(s.tracks) == n // per_track
    assert s.tracks[0].id == "T0000" and s.tracks[-1].id == "T0999"
    base = datetime(2017, 7, 7, tzinfo=UTC).timestamp()
    last = n - 1
    assert (s.track[0], s.t[0], s.lon[0], s.lat[0], s.alt[0]) == (0, base, 36.0, 0.0, 0.0)
    assert (s.track[last], s.t[last] - base, s.lon[last], s.lat[last], s.alt[last]) == (999, 999.0, 36.999, 0.999, 999)
    assert s.track[123_456] == 123 and s.t[123_456] - base == 456.0 and s.alt[123_456] == 456.0
    assert np.all(np.diff(s.t.reshape(-1, per_track), axis=1) == 1.0)


# -- hostile input -------------------------------------------------------------------------------


def test_naive_time_needs_an_offset_with_its_line() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[2] = (*rows[2][:4], "2017-07-07T08:00:00", *rows[2][5:])
    for text in (csv_text(rows), jsonl_text(rows)):
        p = one(text)
        line = 4 if text.startswith(HEADER) else 3
        assert (p.rule, p.index, p.id) == ("naive-time", line, "SYR-22")
        assert "needs an explicit UTC offset" in p.message


def test_not_a_time() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[0] = (*rows[0][:4], "yesterday", *rows[0][5:])
    p = one(csv_text(rows))
    assert (p.rule, p.index) == ("time", 2) and "ISO 8601" in p.message


def test_bad_numbers_each_named_with_their_line() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[1] = (*rows[1][:5], "east", 33.3, "")
    rows[3] = (*rows[3][:6], "1,5", 651.0)  # the comma splits the cell: a row too wide
    found = problems(csv_text(rows))
    assert [(p.rule, p.index) for p in found] == [("tracks-number", 3), ("tracks-number", 3), ("tracks-cells", 5)]
    assert "lon 'east' is not a number" in found[0].message
    assert "alt_m is empty" in found[1].message
    assert found[0].id == "CONVOY-1"


def test_jsonl_null_altitude_and_wrong_types_are_refused() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[0] = (*rows[0][:7], None)
    rows[4] = (*rows[4][:5], "36.0", True, 1.0)
    found = problems(jsonl_text(rows))
    assert [(p.rule, p.index, p.id) for p in found] == [
        ("tracks-number", 1, "SYR-22"),
        ("tracks-number", 5, "RU-7"),
        ("tracks-number", 5, "RU-7"),
    ]
    assert "alt_m is null" in found[0].message
    assert "lon '36.0' is not a number" in found[1].message and "lat True" in found[2].message


def test_non_finite_and_out_of_range_coordinates() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[0] = (*rows[0][:5], 181.0, 33.5, 5000.0)
    rows[2] = (*rows[2][:5], 38.0, 33.5, "nan")
    found = problems(csv_text(rows))
    assert [(p.rule, p.index) for p in found] == [("coordinates", 2), ("sample", 4)]


def test_missing_columns_are_one_file_level_problem() -> None:
    p = one(csv_text([r[:5] + r[6:] for r in REPORTS], "track,party,category,purpose,t,lat,alt_m"))
    assert (p.rule, p.index) == ("tracks-columns", 1)
    assert "missing column(s) lon" in p.message
    p = one(csv_text(header="lon,lat\n" + HEADER))
    assert "track, party, category, purpose, t, alt_m" in p.message


def test_a_column_named_twice() -> None:
    p = one(csv_text([(*r, r[5]) for r in REPORTS], HEADER + ",lon"))
    assert p.rule == "tracks-columns" and "named twice: lon" in p.message


def test_jsonl_missing_members_and_broken_lines() -> None:
    lines = jsonl_text().splitlines()
    lines[1] = json.dumps({"track": "CONVOY-1", "party": "ocha"})
    lines[3] = '{"track": "CONVOY-1",'
    lines.insert(4, "[1, 2]")
    found = problems("\n".join(lines))
    assert [(p.rule, p.index) for p in found] == [("tracks-members", 2), ("tracks-json", 4), ("tracks-json", 5)]
    assert "category, purpose, t, lon, lat, alt_m" in found[0].message and found[0].id == "CONVOY-1"


def test_nul_character() -> None:
    text = csv_text()
    at = text.index("RU-7")
    p = one(text[:at] + "\x00" + text[at:])
    assert (p.rule, p.index) == ("tracks-nul", 6)


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(csv_text().replace("SYR-22", "SYR-\xe9").encode("latin-1"))
    with pytest.raises(InvalidInput) as caught:
        read_tracks(path)
    (p,) = caught.value.problems
    assert (p.rule, p.index) == ("tracks-encoding", 2)


def test_unknown_category_and_purpose() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[0] = ("SYR-22", "sy", "sea", "armed", *rows[0][4:])
    rows[3] = ("CONVOY-1", "ocha", "ground", "tourism", *rows[3][4:])
    found = problems(csv_text(rows))
    assert [(p.rule, p.index, p.id) for p in found] == [("category", 2, "SYR-22"), ("purpose", 5, "CONVOY-1")]
    assert "'sea' is not air or ground" in found[0].message


def test_a_party_change_within_a_track() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[2] = ("SYR-22", "ru", *rows[2][2:])
    p = one(csv_text(rows))
    assert (p.rule, p.index, p.id) == ("track-identity", 4, "SYR-22")
    assert "sy/air/armed to ru/air/armed" in p.message


def test_two_samples_of_a_track_at_one_instant_with_both_lines() -> None:
    rows = [*REPORTS, ("SYR-22", "sy", "air", "armed", "2017-07-07T10:00:10+02:00", 38.2, 33.5, 5000.0)]
    p = one(csv_text(rows))
    assert (p.rule, p.index, p.id) == ("duplicate-sample", 7, "SYR-22")
    assert "line 2" in p.message


def test_empty_input() -> None:
    for text in ("", "\n \n", "\ufeff"):
        assert one(text).rule == "tracks-empty"
    p = one(HEADER + "\n")
    assert p.rule == "tracks-empty" and "no position reports" in p.message


def test_empty_and_overlong_identifiers() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[0] = ("", *rows[0][1:])
    rows[1] = ("CONVOY-1", "o" * 201, *rows[1][2:])
    found = problems(csv_text(rows))
    assert [(p.rule, p.index) for p in found] == [("tracks-value", 2), ("tracks-value", 3)]
    assert "track is empty" in found[0].message and "201 characters" in found[1].message


def test_a_short_row_and_broken_quoting() -> None:
    text = csv_text()
    lines = text.splitlines()
    lines[2] = "CONVOY-1,ocha,ground"
    assert one("\n".join(lines)).rule == "tracks-cells"
    lines[2] = 'CONVOY-1,"ocha"x,ground,humanitarian,2017-07-07T05:00:00Z,1,2,3'
    lines[4] = "RU-7,ru,air,medevac,noon,1,2,3"
    found = problems("\n".join(lines))
    # A quoting error stops the reading: what came before it is reported, nothing after.
    assert [(p.rule, p.index) for p in found] == [("tracks-csv", 3)]


def test_problems_are_capped_with_a_count_of_the_rest() -> None:
    rows = [("A", "sy", "air", "armed", f"2017-07-07T00:00:{i % 60:02d}", 1.0, 2.0, 3.0) for i in range(250)]
    found = problems(csv_text(rows))
    assert len(found) == MAX_PROBLEMS + 1
    assert [p.index for p in found[:3]] == [2, 3, 4]
    assert found[-1].rule == "tracks-more" and "150 more" in found[-1].message


def test_size_and_row_caps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "MAX_TEXT_BYTES", 100)
    assert one(csv_text()).rule == "tracks-size"
    monkeypatch.setattr(reader, "MAX_FILE_BYTES", 100)
    path = tmp_path / "big.csv"
    path.write_text(csv_text(), encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        read_tracks(path)
    assert caught.value.problems[0].rule == "tracks-size"
    monkeypatch.setattr(reader, "MAX_TEXT_BYTES", 10_000)
    monkeypatch.setattr(reader, "MAX_ROWS", 3)
    for text in (csv_text(), jsonl_text()):
        p = one(text)
        assert p.rule == "tracks-rows" and "more than 3" in p.message


def test_long_jsonl_line_and_deep_nesting(monkeypatch: pytest.MonkeyPatch) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    monkeypatch.setattr(reader, "MAX_LINE_CHARS", 10**6)
    assert one(jsonl_text() + deep).rule == "tracks-json"
    monkeypatch.setattr(reader, "MAX_LINE_CHARS", 1000)
    p = one(jsonl_text() + json.dumps({"track": "x" * 2000}))
    assert (p.rule, p.index) == ("tracks-line", 6)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_tracks(tmp_path / "nowhere.csv")
    assert caught.value.problems[0].rule == "tracks-file"


def test_numbers_out_of_range() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[0] = (*rows[0][:5], 10**400, 33.5, 5000.0)
    p = one(jsonl_text(rows))
    assert (p.rule, p.index, p.message) == ("tracks-number", 1, "lon is out of range")
    rows[0] = (*rows[0][:5], "1e400", 33.5, 5000.0)
    assert one(csv_text(rows)).rule == "sample"  # inf: not a finite number


def test_jsonl_values_of_the_wrong_json_type() -> None:
    rows: list[tuple[Any, ...]] = list(REPORTS)
    rows[0] = (["SYR-22"], {"p": 1}, ["air"], {"armed": True}, 20170707, *rows[0][5:])
    found = problems(jsonl_text(rows))
    assert [(p.rule, p.index, p.id) for p in found] == [
        ("tracks-value", 1, None),
        ("tracks-value", 1, None),
        ("category", 1, None),
        ("purpose", 1, None),
        ("time", 1, None),
    ]
