"""ACLED-style export of incidents; ACLED and UCDP GED CSV read as context layers (docs/acled.md)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from detente.adapters.interop import acled
from detente.adapters.interop.acled import (
    ACLED_SUB_EVENTS,
    EXPORT_COLUMNS,
    INCIDENT_SUB_EVENTS,
    MAX_BYTES,
    MAX_PROBLEMS,
    ContextLayer,
    acled_geo_precision,
    acled_time_precision,
    escape_cell,
    export_incidents,
    read_acled,
    read_ucdp_ged,
    unescape_cell,
)
from detente.domain.errors import InvalidInput, Problem

DATA = Path(__file__).resolve().parents[1] / "data"

PARTIES = {"ru": "Russian forces", "coalition": "Coalition (CJTF-OIR)", "sy": "Syrian Arab Army"}
T0 = datetime(2017, 7, 8, 6, 0, tzinfo=UTC)

#: ACLED's export layout (the codebook's 31 columns, in order).
ACLED_LAYOUT = [
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "assoc_actor_1",
    "inter1",
    "actor2",
    "assoc_actor_2",
    "inter2",
    "interaction",
    "civilian_targeting",
    "iso",
    "region",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "source_scale",
    "notes",
    "fatalities",
    "tags",
    "timestamp",
]
#: UCDP GED's release layout (49 columns, in order).
GED_LAYOUT = [
    "id",
    "relid",
    "year",
    "active_year",
    "code_status",
    "type_of_violence",
    "conflict_dset_id",
    "conflict_new_id",
    "conflict_name",
    "dyad_dset_id",
    "dyad_new_id",
    "dyad_name",
    "side_a_dset_id",
    "side_a_new_id",
    "side_a",
    "side_b_dset_id",
    "side_b_new_id",
    "side_b",
    "number_of_sources",
    "source_article",
    "source_office",
    "source_date",
    "source_headline",
    "source_original",
    "where_prec",
    "where_coordinates",
    "where_description",
    "adm_1",
    "adm_2",
    "latitude",
    "longitude",
    "geom_wkt",
    "priogrid_gid",
    "country",
    "country_id",
    "region",
    "event_clarity",
    "date_prec",
    "date_start",
    "date_end",
    "deaths_a",
    "deaths_b",
    "deaths_civilians",
    "deaths_unknown",
    "best",
    "high",
    "low",
    "gwnoa",
    "gwnob",
]


def incident(id: int, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": id,
        "type": "airspace_incursion",
        "status": "open",
        "severity": "high",
        "source": "monitor",
        "title": f"Incident {id}",
        "parties": ["coalition", "ru"],
        "position": {"lon": 40.1408, "lat": 35.336},
        "started_at": T0 + timedelta(days=id),
        "ended_at": T0 + timedelta(days=id, minutes=12),
        "created_at": T0 + timedelta(days=id),
        "updated_at": T0 + timedelta(days=id, hours=1),
    }
    base.update(changes)
    return base


def exported(incidents: list[dict[str, Any]], **kwargs: Any) -> str:
    out = io.StringIO()
    assert export_incidents(incidents, out, parties=PARTIES, **kwargs) == len(incidents)
    return out.getvalue()


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def table(header: list[str], *rows: dict[str, str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([[row.get(c, "") for c in header] for row in rows])
    return out.getvalue()


ACLED_ROW = {
    "event_id_cnty": "SYR1",
    "event_date": "2017-07-04",
    "year": "2017",
    "time_precision": "1",
    "disorder_type": "Political violence",
    "event_type": "Battles",
    "sub_event_type": "Armed clash",
    "actor1": "A",
    "actor2": "B",
    "country": "Syria",
    "latitude": "35.95",
    "longitude": "39.01",
    "geo_precision": "1",
    "notes": "n",
    "fatalities": "0",
}
GED_ROW = {
    "id": "1",
    "type_of_violence": "1",
    "side_a": "Government of Syria",
    "side_b": "IS",
    "where_prec": "1",
    "latitude": "35.336",
    "longitude": "40.1408",
    "date_prec": "1",
    "date_start": "2017-07-10 00:00:00.000",
    "date_end": "2017-07-10 00:00:00.000",
    "best": "3",
    "low": "2",
    "high": "4",
}


def acled_text(*changes: dict[str, str], header: list[str] = ACLED_LAYOUT) -> str:
    rows = [{**ACLED_ROW, "event_id_cnty": f"SYR{k + 1}", **c} for k, c in enumerate(changes)]
    return table(header, *rows)


def ged_text(*changes: dict[str, str], header: list[str] = GED_LAYOUT) -> str:
    rows = [{**GED_ROW, "id": str(k + 1), **c} for k, c in enumerate(changes)]
    return table(header, *rows)


def refused(read: Any, data: bytes | str, name: str = "events.csv") -> list[Problem]:
    with pytest.raises(InvalidInput) as info:
        read(data, name=name)
    return info.value.problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


# -- export ----------------------------------------------------------------------------------------------


def test_export_writes_acled_columns_then_detente_columns() -> None:
    text = exported([incident(1)])
    header = text.splitlines()[0].split(",")
    assert tuple(header) == EXPORT_COLUMNS
    # ACLED's columns come first, in ACLED's order, then detente's
    ours = ["detente_id", "detente_type", "detente_parties", "severity", "status", "started_at", "ended_at"]
    assert header[-len(ours) :] == ours
    assert header[: -len(ours)] == [c for c in ACLED_LAYOUT if c in header]
    (row,) = rows_of(text)
    assert row["event_id_cnty"] == "DTN1"
    assert row["event_date"] == "2017-07-09"
    assert row["year"] == "2017"
    assert row["time_precision"] == "1" and row["geo_precision"] == "1"
    assert (row["latitude"], row["longitude"]) == ("35.336", "40.1408")
    assert (row["actor1"], row["actor2"], row["assoc_actor_2"]) == ("Coalition (CJTF-OIR)", "Russian forces", "")
    assert row["country"] == "Syria"
    assert row["source"] == "detente: monitor"
    assert row["notes"] == "Incident 1"
    assert row["fatalities"] == ""
    assert row["timestamp"] == str(int((T0 + timedelta(days=1, hours=1)).timestamp()))
    assert row["detente_id"] == "1"
    assert row["detente_type"] == "airspace_incursion"
    assert row["detente_parties"] == "coalition;ru"
    assert (row["severity"], row["status"]) == ("high", "open")
    assert row["started_at"] == "2017-07-09T06:00:00Z"
    assert row["ended_at"] == "2017-07-09T06:12:00Z"


@pytest.mark.parametrize(
    ("kind", "disorder", "event_type", "sub_event"),
    [
        ("airspace_incursion", "Strategic developments", "Strategic developments", "Other"),
        ("boundary_crossing", "Strategic developments", "Strategic developments", "Other"),
        ("loss_of_separation", "Strategic developments", "Strategic developments", "Other"),
        ("proximity_to_protected", "Strategic developments", "Strategic developments", "Other"),
        ("strike_near_protected", "Political violence", "Explosions/Remote violence", "Air/drone strike"),
        ("ceasefire_violation", "Political violence", "Battles", "Armed clash"),
        ("other", "Strategic developments", "Strategic developments", "Other"),
        ("something_new", "Strategic developments", "Strategic developments", "Other"),
    ],
)
def test_incident_types_map_to_acled_event_types(kind: str, disorder: str, event_type: str, sub_event: str) -> None:
    (row,) = rows_of(exported([incident(1, type=kind)]))
    assert (row["disorder_type"], row["event_type"], row["sub_event_type"]) == (disorder, event_type, sub_event)
    assert row["detente_type"] == kind


def test_every_incident_type_maps_into_acleds_taxonomy() -> None:
    assert set(INCIDENT_SUB_EVENTS) == {
        "airspace_incursion",
        "boundary_crossing",
        "loss_of_separation",
        "proximity_to_protected",
        "strike_near_protected",
        "ceasefire_violation",
        "other",
    }
    assert set(INCIDENT_SUB_EVENTS.values()) <= set(ACLED_SUB_EVENTS)


def test_a_reviewed_incident_may_carry_its_acled_sub_event_type() -> None:
    (row,) = rows_of(
        exported([incident(1, type="ceasefire_violation", sub_event_type="Shelling/artillery/missile attack")])
    )
    assert (row["event_type"], row["sub_event_type"]) == (
        "Explosions/Remote violence",
        "Shelling/artillery/missile attack",
    )


def test_optional_keys_fill_acled_columns() -> None:
    extra = {"admin1": "Deir-ez-Zor", "location": "Deir ez-Zor", "fatalities": 2, "notes": "Two killed."}
    (row,) = rows_of(exported([incident(1, parties=["sy", "ru", "coalition", "unknown-party"], **extra)]))
    assert (row["admin1"], row["location"], row["fatalities"]) == ("Deir-ez-Zor", "Deir ez-Zor", "2")
    assert row["notes"] == "Incident 1 Two killed."
    assert (row["actor1"], row["actor2"]) == ("Syrian Arab Army", "Russian forces")
    assert row["assoc_actor_2"] == "Coalition (CJTF-OIR); unknown-party"


def test_naive_and_text_times_are_utc_and_offsets_are_converted() -> None:
    local = datetime(2017, 7, 9, 4, 30, tzinfo=timezone(timedelta(hours=3)))
    incidents = [
        incident(1, started_at=datetime(2017, 7, 9, 23, 30), ended_at=None),
        incident(2, started_at="2017-07-09T23:30:00-02:00", ended_at=None),
        incident(3, started_at=local, ended_at=None),
    ]
    rows = rows_of(exported(incidents))
    assert [r["started_at"] for r in rows] == ["2017-07-09T23:30:00Z", "2017-07-10T01:30:00Z", "2017-07-09T01:30:00Z"]
    assert [r["event_date"] for r in rows] == ["2017-07-09", "2017-07-10", "2017-07-09"]
    assert [r["ended_at"] for r in rows] == ["", "", ""]


def test_an_incident_without_position_is_written_without_coordinates() -> None:
    (row,) = rows_of(exported([incident(1, position=None)]))
    assert (row["latitude"], row["longitude"], row["geo_precision"]) == ("", "", "")
    problems = refused(read_acled, exported([incident(1, position=None)]))
    assert sorted(p.rule for p in problems) == ["acled-coordinates", "acled-coordinates", "acled-precision"]
    assert all(p.index == 2 and "line 2" in p.message for p in problems)


def test_bom_for_excel() -> None:
    text = exported([incident(1)], bom=True)
    assert text.startswith("\ufeffevent_id_cnty,")
    assert len(read_acled(text.encode("utf-8"))) == 1


def test_export_refuses_broken_incidents_and_writes_nothing() -> None:
    out = io.StringIO()
    broken = [
        incident(1),
        incident(2, started_at=None),
        incident(3, position={"lon": 200.0, "lat": 35.0}),
        incident(4, position={"x": 1}),
        incident(5, time_precision_s=-1),
        incident(6, position_uncertainty_m="far"),
        incident(7, fatalities=-3),
        incident(8, sub_event_type="Picnic"),
        incident(9, started_at="2017-07-09T06:00:00"),
        {**incident(10), "id": None},
    ]
    with pytest.raises(InvalidInput) as info:
        export_incidents(broken, out, parties=PARTIES)
    assert out.getvalue() == ""
    problems = info.value.problems
    assert {p.rule for p in problems} == {"acled-export"}
    assert [p.index for p in problems] == list(range(1, 10))
    assert [p.id for p in problems[:8]] == [str(i) for i in range(2, 10)]
    assert "started_at None is not a time" in problems[0].message
    assert "out of range" in problems[1].message
    assert "naive" not in problems[7].message and "2017-07-09T06:00:00" in problems[7].message
    assert "no id" in problems[8].message


# -- precision codes -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "code"),
    [(None, 1), (0, 1), (3_600, 1), (86_400, 1), (86_401, 2), (3 * 86_400, 2), (7 * 86_400, 2), (8 * 86_400, 3)],
)
def test_time_precision_from_uncertainty(seconds: float | None, code: int) -> None:
    assert acled_time_precision(seconds) == code
    (row,) = rows_of(exported([incident(1, time_precision_s=seconds)]))
    assert row["time_precision"] == str(code)


@pytest.mark.parametrize(
    ("metres", "code"),
    [(None, 1), (0, 1), (250, 1), (5_000, 1), (5_001, 2), (25_000, 2), (25_001, 3), (400_000, 3)],
)
def test_geo_precision_from_uncertainty(metres: float | None, code: int) -> None:
    assert acled_geo_precision(metres) == code
    (row,) = rows_of(exported([incident(1, position_uncertainty_m=metres)]))
    assert row["geo_precision"] == str(code)


def test_precision_read_back_chooses_the_same_code() -> None:
    """The uncertainty read for a code is within that code's export limit: codes survive a second round."""
    for code, metres in acled.ACLED_GEO_PRECISION_M.items():
        assert acled_geo_precision(metres) == code
    for code, days in acled.ACLED_TIME_PRECISION_DAYS.items():
        assert acled_time_precision(days * 86_400) == code


# -- round trip ------------------------------------------------------------------------------------------


def test_export_then_read_acled_gives_the_same_ids_dates_coordinates_and_precision() -> None:
    incidents = [
        incident(1),
        incident(2, type="strike_near_protected", time_precision_s=2 * 86_400, position_uncertainty_m=12_000),
        incident(3, type="ceasefire_violation", time_precision_s=20 * 86_400, position_uncertainty_m=80_000),
        incident(4, position={"lon": -3.703790, "lat": -40.416775}, fatalities=4),
        incident(5, position={"lon": 36.2765279, "lat": 33.5138073}),
    ]
    layer = read_acled(exported(incidents).encode("utf-8"), name="export.csv")
    assert isinstance(layer, ContextLayer)
    assert layer.dataset == "ACLED" and layer.name == "export.csv"
    props = [f["properties"] for f in layer.features]
    assert [p["source_id"] for p in props] == ["DTN1", "DTN2", "DTN3", "DTN4", "DTN5"]
    assert [f["id"] for f in layer.features] == ["acled:DTN1", "acled:DTN2", "acled:DTN3", "acled:DTN4", "acled:DTN5"]
    assert [p["date"] for p in props] == [(T0 + timedelta(days=i)).date().isoformat() for i in range(1, 6)]
    assert [p["time_precision"] for p in props] == [1, 2, 3, 1, 1]
    assert [p["geo_precision"] for p in props] == [1, 2, 3, 1, 1]
    assert [p["uncertainty_days"] for p in props] == [1, 7, 31, 1, 1]
    assert [p["uncertainty_m"] for p in props] == [5_000, 25_000, 100_000, 5_000, 5_000]
    for feature, inc in zip(layer.features, incidents, strict=True):
        lon, lat = feature["geometry"]["coordinates"]
        assert lon == pytest.approx(inc["position"]["lon"], abs=5e-7)
        assert lat == pytest.approx(inc["position"]["lat"], abs=5e-7)
    assert props[1]["event_type"] == "Explosions/Remote violence"
    assert props[1]["date_start"] == "2017-07-07" and props[1]["date_end"] == "2017-07-13"
    assert props[3]["fatalities"] == 4 and props[0]["fatalities"] is None
    assert props[0]["actor1"] == "Coalition (CJTF-OIR)" and props[0]["notes"] == "Incident 1"


def test_formula_injection_is_neutralised_in_every_text_cell() -> None:
    hostile = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR", "'=already"]
    parties = {f"p{i}": text for i, text in enumerate(hostile)}
    incidents = [
        incident(
            i,
            title=text,
            parties=[f"p{i}", "p0"],
            location=text,
            admin1=text,
            source=text,
            status=text,
            severity=text,
            position={"lon": -0.5, "lat": -1.25},
        )
        for i, text in enumerate(hostile)
    ]
    out = io.StringIO()
    export_incidents(incidents, out, parties=parties)
    rows = list(csv.reader(io.StringIO(out.getvalue(), newline="")))
    header = rows[0]
    for text, row in zip(hostile, rows[1:], strict=True):
        cells = dict(zip(header, row, strict=True))
        for column in ("notes", "actor1", "location", "admin1", "severity", "status"):
            assert cells[column] == "'" + text, column
        assert cells["source"] == f"detente: {text}"  # does not start with a formula character
        assert (cells["latitude"], cells["longitude"]) == ("-1.25", "-0.5")  # numbers stay numbers
    assert all(not row[header.index("actor2")].startswith("=") for row in rows[1:])
    # a cell a spreadsheet would run is never left as is
    for row in rows[1:]:
        for column, cell in zip(header, row, strict=True):
            if column not in ("latitude", "longitude"):
                assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), (column, cell)
    # and read back, the texts are the ones exported
    layer = read_acled(out.getvalue())
    assert [f["properties"]["notes"] for f in layer.features] == hostile
    assert [f["properties"]["actor1"] for f in layer.features] == hostile


@pytest.mark.parametrize("text", ["=1", "+", "-", "@", "\t", "\r", "'=x", "''+y", "plain", "", "'quoted"])
def test_escape_and_unescape(text: str) -> None:
    escaped = escape_cell(text)
    assert unescape_cell(escaped) == text
    assert escaped[:1] not in ("=", "+", "-", "@", "\t", "\r")


# -- the real layouts --------------------------------------------------------------------------------------


def test_acled_sample_reads_with_the_published_layout() -> None:
    data = (DATA / "acled_sample.csv").read_bytes()
    assert next(csv.reader(io.StringIO(data.decode()))) == ACLED_LAYOUT
    layer = read_acled(data, name="acled_sample.csv")
    assert len(layer) == 6
    by_id = {f["properties"]["source_id"]: f for f in layer.features}
    raqqa = by_id["SYR900001"]
    assert raqqa["geometry"] == {"type": "Point", "coordinates": [39.01, 35.95]}
    assert raqqa["properties"]["date"] == "2017-07-04"
    assert raqqa["properties"]["event_type"] == "Battles"
    assert raqqa["properties"]["actor2"] == "IS: Islamic State"
    ceasefire = by_id["SYR900002"]["properties"]
    assert (ceasefire["sub_event_type"], ceasefire["geo_precision"], ceasefire["uncertainty_m"]) == (
        "Agreement",
        3,
        100_000,
    )
    idleb = by_id["SYR900003"]["properties"]
    assert (idleb["time_precision"], idleb["uncertainty_days"], idleb["date_start"], idleb["date_end"]) == (
        2,
        7,
        "2017-07-18",
        "2017-07-24",
    )
    assert all(f["properties"]["date"].startswith("2017-07-") for f in layer.features)
    assert all("Illustrative" in f["properties"]["source"] for f in layer.features)
    collection = layer.to_geojson()
    assert collection["type"] == "FeatureCollection" and collection["dataset"] == "ACLED"
    assert json.loads(json.dumps(collection)) == collection


def test_ucdp_sample_reads_with_the_published_layout() -> None:
    data = (DATA / "ucdp_ged_sample.csv").read_bytes()
    assert next(csv.reader(io.StringIO(data.decode()))) == GED_LAYOUT
    layer = read_ucdp_ged(data, name="ucdp_ged_sample.csv")
    assert layer.dataset == "UCDP GED"
    props = {f["properties"]["source_id"]: f["properties"] for f in layer.features}
    assert list(props) == ["900101", "900102", "900103", "900104"]
    idlib = props["900102"]
    assert (idlib["date_start"], idlib["date_end"], idlib["uncertainty_days"]) == ("2017-07-19", "2017-07-23", 5)
    assert (idlib["where_prec"], idlib["uncertainty_m"], idlib["violence"]) == (2, 25_000, "non-state")
    assert (idlib["fatalities"], idlib["low"], idlib["high"]) == (12, 10, 15)
    deir = props["900103"]
    assert (deir["date_prec"], deir["where_prec"], deir["uncertainty_m"]) == (3, 4, 100_000)
    assert deir["summary"] == "state-based violence: Government of Syria – IS"
    assert props["900104"]["type_of_violence"] == 3 and props["900104"]["deaths_civilians"] == 2
    assert layer.features[0]["geometry"]["coordinates"] == [39.01, 35.95]
    assert layer.to_geojson()["features"] == layer.features


# -- tolerance ---------------------------------------------------------------------------------------------


def test_extra_columns_any_order_and_header_case_are_accepted() -> None:
    header = ["Extra", "LONGITUDE", *reversed([c for c in ACLED_LAYOUT if c != "longitude"]), "detente_note"]
    layer = read_acled(acled_text({"Extra": "x", "LONGITUDE": "39.01"}, header=header))
    (feature,) = layer.features
    assert feature["geometry"]["coordinates"] == [39.01, 35.95]


def test_only_the_required_acled_columns() -> None:
    header = ["event_id_cnty", "event_date", "time_precision", "event_type", "latitude", "longitude", "geo_precision"]
    (feature,) = read_acled(acled_text({}, header=header)).features
    assert feature["properties"]["actor1"] is None and feature["properties"]["fatalities"] is None


@pytest.mark.parametrize("written", ["04 July 2017", "4 July 2017", "04-July-2017", "4-Jul-2017", "2017-07-04"])
def test_acled_date_forms(written: str) -> None:
    (feature,) = read_acled(acled_text({"event_date": written})).features
    assert feature["properties"]["date"] == "2017-07-04"


def test_ged_dates_with_or_without_time_and_pandas_numbers() -> None:
    text = ged_text({"date_start": "2017-07-10", "date_end": "2017-07-12T00:00:00", "best": "3.0", "where_prec": "2.0"})
    (feature,) = read_ucdp_ged(text).features
    p = feature["properties"]
    assert (p["date_start"], p["date_end"], p["uncertainty_days"], p["fatalities"], p["where_prec"]) == (
        "2017-07-10",
        "2017-07-12",
        3,
        3,
        2,
    )


def test_bom_in_bytes_and_in_text() -> None:
    text = acled_text({})
    assert len(read_acled(b"\xef\xbb\xbf" + text.encode())) == 1
    assert len(read_acled("\ufeff" + text)) == 1


def test_a_quoted_multi_line_cell_keeps_later_line_numbers_right() -> None:
    text = acled_text({"notes": "first line\nsecond line"}, {"latitude": "95"})
    problem = only(refused(read_acled, text))
    assert problem.index == 4 and "line 4" in problem.message


def test_header_only_is_an_empty_layer() -> None:
    layer = read_ucdp_ged(table(GED_LAYOUT))
    assert layer.features == [] and layer.to_geojson()["features"] == []


# -- hostile input -----------------------------------------------------------------------------------------


def test_too_large_bytes_and_text() -> None:
    problem = only(refused(read_acled, b"x" * (MAX_BYTES + 1), "huge.csv"))
    assert problem.rule == "acled-size" and "huge.csv" in problem.message
    problem = only(refused(read_ucdp_ged, "é" * (MAX_BYTES // 2 + 1), "huge.csv"))
    assert problem.rule == "ucdp-size"


def test_too_many_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acled, "MAX_ROWS", 3)
    assert len(read_acled(acled_text({}, {}, {}))) == 3
    problem = only(refused(read_acled, acled_text({}, {}, {}, {})))
    assert problem.rule == "acled-rows" and problem.index == 5 and "line 5" in problem.message


def test_not_utf8_names_the_line() -> None:
    data = acled_text({}, {"notes": "Alep"}).encode("utf-8").replace(b"Alep", b"Alep\xe9")
    problem = only(refused(read_acled, data))
    assert problem.rule == "acled-encoding" and problem.index == 3 and "line 3" in problem.message
    assert "UTF-8" in problem.message
    with_bom = only(refused(read_acled, b"\xef\xbb\xbf" + data))
    assert with_bom.index == 3


def test_utf16_is_named() -> None:
    problem = only(refused(read_ucdp_ged, ged_text({}).encode("utf-16")))
    assert problem.rule == "ucdp-encoding" and "UTF-16" in problem.message


def test_nul_names_the_line() -> None:
    problem = only(refused(read_acled, acled_text({}, {"notes": "a\x00b"})))
    assert problem.rule == "acled-nul" and problem.index == 3


def test_empty_input() -> None:
    problem = only(refused(read_acled, b""))
    assert problem.rule == "acled-empty"
    assert only(refused(read_ucdp_ged, "\n\n  \n")).rule == "ucdp-empty"


def test_broken_quoting() -> None:
    problem = only(refused(read_acled, acled_text({}) + 'SYR9,"2017-07-04\n'))
    assert problem.rule == "acled-csv" and "not well-formed CSV" in problem.message
    assert problem.index is not None and f"line {problem.index}" in problem.message


def test_missing_required_columns_are_each_named() -> None:
    header = [c for c in ACLED_LAYOUT if c not in ("latitude", "geo_precision")]
    problems = refused(read_acled, acled_text({}, header=header))
    assert [(p.rule, p.index) for p in problems] == [("acled-missing-column", 1), ("acled-missing-column", 1)]
    assert "'latitude'" in problems[0].message and "'geo_precision'" in problems[1].message
    header = [c for c in GED_LAYOUT if c not in ("where_prec",)]
    assert "'where_prec'" in only(refused(read_ucdp_ged, ged_text({}, header=header))).message


def test_semicolon_separated_file_is_explained() -> None:
    text = acled_text({}).replace(",", ";")
    problems = refused(read_acled, text)
    assert any(p.rule == "acled-csv" and "semicolons" in p.message for p in problems)


def test_a_column_named_twice_or_too_many_columns() -> None:
    problem = only(refused(read_acled, acled_text({}, header=[*ACLED_LAYOUT, "latitude"])))
    assert problem.rule == "acled-header" and "'latitude' 2 times" in problem.message
    wide = [*ACLED_LAYOUT, *(f"x{i}" for i in range(acled.MAX_COLUMNS))]
    assert only(refused(read_acled, acled_text({}, header=wide))).rule == "acled-header"


def test_a_row_with_another_number_of_cells() -> None:
    text = acled_text({}, {}) + "SYR9,2017-07-04\n"
    problem = only(refused(read_acled, text))
    assert (problem.rule, problem.index) == ("acled-cells", 4)
    assert "2 cell(s); the header has 31" in problem.message


@pytest.mark.parametrize(
    ("change", "rule", "words"),
    [
        ({"latitude": ""}, "acled-coordinates", "latitude is empty"),
        ({"latitude": "abc"}, "acled-coordinates", "'abc' is not a decimal number"),
        ({"latitude": "35,95"}, "acled-coordinates", "not a comma"),
        ({"latitude": "nan"}, "acled-coordinates", "'nan' is not a decimal number"),
        ({"longitude": "inf"}, "acled-coordinates", "'inf' is not a decimal number"),
        ({"latitude": "95"}, "acled-coordinates", "out of range [-90, 90]"),
        ({"longitude": "-180.5"}, "acled-coordinates", "out of range [-180, 180]"),
        ({"event_date": ""}, "acled-date", "event_date is empty"),
        ({"event_date": "2017-02-30"}, "acled-date", "not a day of the calendar"),
        ({"event_date": "7/4/2017"}, "acled-date", "a spreadsheet may have rewritten it"),
        ({"event_date": "4 Julember 2017"}, "acled-date", "not a date as ACLED writes it"),
        ({"year": "2016"}, "acled-date", "not the year of event_date"),
        ({"time_precision": "4"}, "acled-precision", "time_precision is '4', not one of 1, 2, 3"),
        ({"geo_precision": ""}, "acled-precision", "geo_precision is empty"),
        ({"geo_precision": "1.5"}, "acled-precision", "not one of 1, 2, 3"),
        ({"fatalities": "-1"}, "acled-count", "fatalities '-1' is not a whole number"),
        ({"fatalities": "many"}, "acled-count", "fatalities 'many'"),
        ({"event_type": " "}, "acled-type", "event_type is empty"),
        ({"event_id_cnty": ""}, "acled-id", "event_id_cnty is empty"),
        ({"event_id_cnty": "S" * 101}, "acled-id", "longer than 100"),
    ],
)
def test_bad_acled_cells_name_line_and_column(change: dict[str, str], rule: str, words: str) -> None:
    problem = only(refused(read_acled, acled_text({}, change), "acled.csv"))
    assert problem.rule == rule
    assert problem.index == 3
    assert problem.message.startswith("acled.csv, line 3: ")
    assert words in problem.message
    if rule != "acled-id":
        assert problem.id == "SYR2"


@pytest.mark.parametrize(
    ("change", "rule", "words"),
    [
        ({"id": "ged-1"}, "ucdp-id", "'ged-1' is not a whole number"),
        ({"date_start": "10/07/2017"}, "ucdp-date", "not a date as UCDP GED writes it"),
        ({"date_start": "10 July 2017"}, "ucdp-date", "not a date as UCDP GED writes it"),
        ({"date_end": "2017-07-09 00:00:00.000"}, "ucdp-date", "date_end 2017-07-09 is before date_start 2017-07-10"),
        ({"where_prec": "8"}, "ucdp-precision", "where_prec is '8', not one of 1, 2, 3, 4, 5, 6, 7"),
        ({"date_prec": "0"}, "ucdp-precision", "date_prec is '0', not one of 1, 2, 3, 4, 5"),
        ({"type_of_violence": "4"}, "ucdp-precision", "type_of_violence is '4', not one of 1, 2, 3"),
        ({"best": "-2"}, "ucdp-count", "best '-2'"),
        ({"longitude": "400"}, "ucdp-coordinates", "out of range"),
    ],
)
def test_bad_ged_cells_name_line_and_column(change: dict[str, str], rule: str, words: str) -> None:
    problem = only(refused(read_ucdp_ged, ged_text({}, change), "GEDEvent_v23_1.csv"))
    assert problem.rule == rule
    assert problem.index == 3 and problem.message.startswith("GEDEvent_v23_1.csv, line 3: ")
    assert words in problem.message


def test_duplicate_ids_name_both_lines() -> None:
    problem = only(refused(read_acled, acled_text({}, {}, {"event_id_cnty": "SYR1"})))
    assert (problem.rule, problem.index, problem.id) == ("acled-duplicate-id", 4, "SYR1")
    assert "already the id of line 2" in problem.message
    problem = only(refused(read_ucdp_ged, ged_text({}, {"id": "1"})))
    assert (problem.rule, problem.index) == ("ucdp-duplicate-id", 3)


def test_every_problem_is_listed_and_nothing_is_returned() -> None:
    text = acled_text({}, {"latitude": "95", "event_date": "soon"}, {}, {"geo_precision": "9"}, {"fatalities": "x"})
    problems = refused(read_acled, text)
    assert [(p.index, p.rule) for p in problems] == [
        (3, "acled-date"),
        (3, "acled-coordinates"),
        (5, "acled-precision"),
        (6, "acled-count"),
    ]
    assert all(f"line {p.index}:" in p.message for p in problems)
    assert "line 3" in str(InvalidInput(problems))


def test_problems_are_capped() -> None:
    text = acled_text(*({"latitude": "x"} for _ in range(MAX_PROBLEMS + 20)))
    problems = refused(read_acled, text)
    assert len(problems) == MAX_PROBLEMS + 1
    assert problems[-1].rule == "acled-more" and "20 more" in problems[-1].message


def test_a_cell_over_the_csv_limit() -> None:
    problem = only(refused(read_acled, acled_text({}, {"notes": "x" * 200_000})))
    assert problem.rule == "acled-csv" and "field larger than field limit" in problem.message
    assert problem.index == 3 and "line 3" in problem.message
