"""HXL CSV import and export of sites and movements (docs/hxl.md)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest
from shapely.geometry import LineString, Point, Polygon

from detente.adapters.interop.hxl import MAX_BYTES, MAX_ROWS, HxlImport, read_hxl, write_hxl
from detente.adapters.interop.scenario import load_scenario, objects_from_features
from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Party, Role, WorldObject

SHIPPED = Path(str(resources.files("detente.demo").joinpath("syria-2017.geojson")))

PARTIES = {
    "ocha": Party("ocha", "UN humanitarian coordination", Role.HUMANITARIAN),
    "sec": Party("sec", "Mechanism secretariat", Role.SECRETARIAT),
    "ru": Party("ru", "Russian forces", Role.MILITARY),
    "twin-a": Party("twin-a", "Twin", Role.HUMANITARIAN),
    "twin-b": Party("twin-b", "Twin", Role.HUMANITARIAN),
}

HEADER = "Kind,ID,Name,Org,Lat,Lon,Radius,Route,Corridor,Start,End,Vehicles,Urgent"
TAGS = (
    "#meta+kind,#meta+id,#loc+name,#org,#geo+lat,#geo+lon,#geo+radius,#geo+route,#geo+corridor,"
    "#date+start,#date+end,#indicator+vehicles+num,#status+urgent"
)
SITE = "site,hosp-1,Hospital One,ocha,35.5,39.25,1000,,,,,,"
CONVOY = (
    'movement,convoy-1,Convoy,ocha,,,,"LINESTRING (39 35, 39.5 35.5)",500,2017-07-07T04:00:00Z,2017-07-07T12:00Z,12,yes'
)


def hxl_text(*rows: str, header: str = HEADER, tags: str = TAGS) -> str:
    return "\n".join([header, tags, *rows]) + "\n"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(InvalidInput) as caught:
        read_hxl(text, PARTIES)
    return caught.value.problems


def rules_by_line(problems: list[Problem]) -> set[tuple[int | None, str]]:
    return {(p.index, p.rule) for p in problems}


def site(oid: str = "s", name: str | None = "Site", **extra: object) -> WorldObject:
    props = {"name": name, **extra} if name is not None else dict(extra)
    return WorldObject(Kind.SITE, oid, "ocha", (Volume4D(Footprint(Point(39.1, 35.2), 800.0)),), extra=(props,))


def cells(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


# ------------------------------------------------------------- round trip


def demo_objects() -> tuple[list[WorldObject], dict[str, Party]]:
    scenario = load_scenario(SHIPPED)
    objects = [o for o in scenario.objects.values() if o.kind in (Kind.SITE, Kind.MOVEMENT)]
    assert {o.kind for o in objects} == {Kind.SITE, Kind.MOVEMENT}
    return objects, scenario.parties


def test_demo_sites_and_movements_round_trip() -> None:
    objects, parties = demo_objects()
    result = read_hxl(write_hxl(objects, parties), parties)
    assert [o.id for o in result.objects] == [o.id for o in objects]
    for got, want in zip(result.objects, objects, strict=True):
        assert (got.kind, got.party, len(got.volumes)) == (want.kind, want.party, 1)
        g, w = got.volumes[0], want.volumes[0]
        assert g.footprint.geometry.equals_exact(w.footprint.geometry, 1e-9)
        assert g.footprint.radius_m == w.footprint.radius_m
        assert g.time == w.time and g.altitude == w.altitude
        for key in ("name", "site_type", "vehicles", "source"):
            assert got.extra[0].get(key) == want.extra[0].get(key)
    # and in fact exactly equal, extras included
    assert result.objects == objects
    assert result.urgent == {o.id: False for o in objects}


def test_export_layout_header_hashtags_then_one_row_per_object() -> None:
    objects, parties = demo_objects()
    rows = cells(write_hxl(objects, parties, urgent={"camp-rukban": True, "hospital-idlib": False}))
    assert rows[0][:3] == ["Kind", "ID", "Name"]
    assert rows[1][:5] == ["#meta+kind", "#meta+id", "#loc+name", "#loc+type", "#org+code"]
    assert len(rows) == 2 + len(objects)
    by_id = {r[1]: dict(zip(rows[1], r, strict=True)) for r in rows[2:]}
    assert by_id["camp-rukban"]["#status+urgent"] == "yes"
    assert by_id["hospital-idlib"]["#status+urgent"] == "no"
    assert by_id["hospital-raqqa"]["#status+urgent"] == ""
    assert by_id["camp-rukban"]["#geo+lat"] == "33.29" and by_id["camp-rukban"]["#geo+radius"] == "3000"
    convoy = by_id["convoy-qamishli-ain-issa"]
    assert convoy["#geo+route"].startswith("LINESTRING (41.23142 37.05215, ")
    assert (convoy["#date+start"], convoy["#date+end"]) == ("2017-07-07T04:00:00Z", "2017-07-07T12:00:00Z")
    assert read_hxl(write_hxl(objects, parties, urgent={"camp-rukban": True}), parties).urgent["camp-rukban"]


def test_hxl_import_is_what_a_geojson_import_of_the_same_data_gives() -> None:
    result = read_hxl(hxl_text(SITE, CONVOY), PARTIES)
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [39.25, 35.5]},
            "properties": {"kind": "site", "id": "hosp-1", "party": "ocha", "radius_m": 1000, "name": "Hospital One"},
        },
        {
            "type": "Feature",
            "geometry": {"type": "LineString", "coordinates": [[39, 35], [39.5, 35.5]]},
            "properties": {
                "kind": "movement",
                "id": "convoy-1",
                "party": "ocha",
                "corridor_m": 500,
                "time": ["2017-07-07T04:00:00Z", "2017-07-07T12:00:00Z"],
                "name": "Convoy",
                "vehicles": 12,
            },
        },
    ]
    assert result.objects == objects_from_features(features, PARTIES)
    assert result.urgent == {"hosp-1": False, "convoy-1": True}


def test_round_trip_of_multilinestring_3d_route_contact_cargo_and_offsets() -> None:
    route = {
        "type": "MultiLineString",
        "coordinates": [[[39, 35, 10], [39.5, 35.5, 20]], [[40, 36, 0], [40.1, 36.2, 5]]],
    }
    feature = {
        "type": "Feature",
        "geometry": route,
        "properties": {
            "kind": "movement",
            "id": "evac-7",
            "party": "sec",
            "corridor_m": 250.5,
            "time": ["2017-07-07T06:30:00+03:00", None],
            "name": "=cmd|' /C calc'!A0",
            "cargo": "@SUM(1+1)",
            "vehicles": 0,
            "contact": {"name": "-Ali", "phone": "+963 11 000 0000", "email": "ops@example.org"},
        },
    }
    [obj] = objects_from_features([feature], PARTIES)
    text = write_hxl([obj], PARTIES)
    assert read_hxl(text, PARTIES).objects == [obj]
    row = dict(zip(cells(text)[1], cells(text)[2], strict=True))
    assert row["#geo+route"] == "MULTILINESTRING Z ((39 35 10, 39.5 35.5 20), (40 36 0, 40.1 36.2 5))"
    assert row["#date+start"] == "2017-07-07T03:30:00Z" and row["#date+end"] == ""
    assert row["#org+code"] == "sec"


# ------------------------------------------------------------ bad files


def test_malformed_rows_are_each_reported_with_their_line_and_nothing_is_returned() -> None:
    text = hxl_text(
        "site,no-lat,Missing lat,ocha,,39,1000,,,,,,",  # line 3
        "site,lat-95,Too far north,ocha,95,39,1000,,,,,,",  # line 4
        "site,who,Unknown org,unicef,35,39,1000,,,,,,",  # line 5
        SITE,  # line 6: fine
        "site,bad-date,Bad date,ocha,35,39,1000,,,2017-13-45,,,",  # line 7
        "site,naive,Naive time,ocha,35,39,1000,,,2017-07-07T06:00:00,,,",  # line 8
        "movement,bad-wkt,Bad route,ocha,,,,LINESTRING (39 35,500,,,,",  # line 9
        "site,neg-radius,Negative radius,ocha,35,39,-5,,,,,,",  # line 10
    )
    problems = problems_of(text)
    assert rules_by_line(problems) == {
        (3, "hxl-coordinates"),
        (4, "hxl-coordinates"),
        (5, "hxl-unknown-org"),
        (7, "hxl-time"),
        (8, "hxl-time"),
        (9, "hxl-route"),
        (10, "hxl-radius"),
    }
    assert {p.index: p.id for p in problems} == {
        3: "no-lat",
        4: "lat-95",
        5: "who",
        7: "bad-date",
        8: "naive",
        9: "bad-wkt",
        10: "neg-radius",
    }
    naive = next(p for p in problems if p.index == 8)
    assert "offset" in naive.message


def test_missing_required_column_is_a_file_level_problem() -> None:
    tags = TAGS.replace("#org,", "#meta+note,")
    problems = problems_of(hxl_text(SITE, header=HEADER, tags=tags))
    assert rules_by_line(problems) == {(2, "hxl-missing-column")}
    assert "#org" in problems[0].message


def test_missing_column_for_a_kind_present_is_reported_once() -> None:
    header = "Kind,ID,Org,Lat,Lon,Radius"
    tags = "#meta+kind,#meta+id,#org,#geo+lat,#geo+lon,#geo+radius"
    # sites alone need no route column ...
    assert len(read_hxl(hxl_text("site,a,ocha,35,39,10", header=header, tags=tags), PARTIES).objects) == 1
    # ... movements do, and its absence is said once for the file, not per row
    problems = problems_of(hxl_text("movement,m1,ocha,,,", "movement,m2,ocha,,,", header=header, tags=tags))
    assert [(p.index, p.rule) for p in problems] == [(2, "hxl-missing-column"), (2, "hxl-missing-column")]
    assert ["#geo+route" in problems[0].message, "#geo+corridor" in problems[1].message] == [True, True]


@pytest.mark.parametrize(
    ("row", "rule"),
    [
        ("site,x,X,ocha,nan,39,1000,,,,,,", "hxl-coordinates"),
        ("site,x,X,ocha,35,inf,1000,,,,,,", "hxl-coordinates"),
        ("site,x,X,ocha,35,1e999,1000,,,,,,", "hxl-coordinates"),
        ("site,x,X,ocha,35,200,1000,,,,,,", "hxl-coordinates"),
        ('site,x,X,ocha,"35,5",39,1000,,,,,,', "hxl-coordinates"),
        ("site,x,X,ocha,35,39,,,,,,,", "hxl-radius"),
        ("site,x,X,ocha,35,39,0,,,,,,", "hxl-radius"),
        ("site,x,X,ocha,35,39,NaN,,,,,,", "hxl-radius"),
        ("site,x,X,ru,35,39,100,,,,,,", "hxl-unknown-org"),
        ("site,x,X,Twin,35,39,100,,,,,,", "hxl-unknown-org"),
        ("site,x,X,,35,39,100,,,,,,", "hxl-unknown-org"),
        ("zone,x,X,ocha,35,39,100,,,,,,", "hxl-kind"),
        (",x,X,ocha,35,39,100,,,,,,", "hxl-kind"),
        ("site,,X,ocha,35,39,100,,,,,,", "hxl-id"),
        ("site,x,X,ocha,35,39,100,,,2017-07-08,2017-07-07,,", "hxl-time"),
        ("site,x,X,ocha,35,39,100,,,20170707,,,", "hxl-time"),
        ("site,x,X,ocha,35,39,100,,,,,,maybe", "hxl-urgent"),
        ("site,x,X,ocha,35,39,100,,,,,3,", "hxl-not-applicable"),
        ('movement,x,X,ocha,35,,,"LINESTRING (39 35; 40 36)",500,,,,', "hxl-not-applicable"),
        ('movement,x,X,ocha,,,,"POINT (39 35)",500,,,,', "hxl-route"),
        ('movement,x,X,ocha,,,,"POLYGON ((0 0, 1 0, 1 1, 0 0))",500,,,,', "hxl-route"),
        ("movement,x,X,ocha,,,,LINESTRING EMPTY,500,,,,", "hxl-route"),
        ('movement,x,X,ocha,,,,"LINESTRING (nan 35, 40 36)",500,,,,', "hxl-route"),
        ('movement,x,X,ocha,,,,"LINESTRING (179.5 35, -179.5 36)",500,,,,', "hxl-route"),
        ('movement,x,X,ocha,,,,"LINESTRING (39 35, 40 96)",500,,,,', "hxl-route"),
        ("movement,x,X,ocha,,,,,500,,,,", "hxl-route"),
        ('movement,x,X,ocha,,,,"LINESTRING (1e400 35, 40 36)",500,,,,', "hxl-route"),
        ('movement,x,X,ocha,,,,"LINESTRING (39 35, 40 36)",-1,,,,', "hxl-corridor"),
        ('movement,x,X,ocha,,,,"LINESTRING (39 35, 40 36)",500,,,2.5,', "hxl-vehicles"),
        ('movement,x,X,ocha,,,,"LINESTRING (39 35, 40 36)",500,,,-1,', "hxl-vehicles"),
    ],
)
def test_each_rule_names_its_row(row: str, rule: str) -> None:
    problems = problems_of(hxl_text(SITE, row))
    assert rule in {p.rule for p in problems}
    assert {p.index for p in problems} == {4}


def test_codec_rules_come_back_under_hxl_names_with_the_line() -> None:
    # the antimeridian rule lives in the scenario codec, behind the HXL checks
    problems = problems_of(hxl_text(SITE, SITE.replace("hosp-1", "hosp-2"), CONVOY.replace("39 35", "-179.5 35")))
    assert rules_by_line(problems) == {(5, "hxl-route")}
    assert "antimeridian" in problems[0].message and problems[0].id == "convoy-1"


def test_duplicate_ids_are_refused_even_across_kinds() -> None:
    problems = problems_of(hxl_text(SITE, SITE, CONVOY.replace("convoy-1", "hosp-1")))
    assert rules_by_line(problems) == {(4, "hxl-duplicate-id"), (5, "hxl-duplicate-id")}
    assert "line 3" in problems[0].message


def test_matching_columns_must_agree_on_interpreted_fields() -> None:
    header = "Kind,ID,Org,Lat,Lat (checked),Lon,Radius"
    tags = "#meta+kind,#meta+id,#org,#geo+lat,#geo+lat+x_checked,#geo+lon,#geo+radius"
    assert read_hxl(hxl_text("site,a,ocha,35,35,39,10", "site,b,ocha,,35,39,10", header=header, tags=tags), PARTIES)
    problems = problems_of(hxl_text("site,a,ocha,35,36,39,10", header=header, tags=tags))
    assert rules_by_line(problems) == {(3, "hxl-conflicting-columns")}


def test_organisation_by_id_or_exact_name_and_several_org_columns() -> None:
    header = "Kind,ID,Org code,Org name,Org type,Lat,Lon,Radius"
    tags = "#meta+kind,#meta+id,#org+code,#org+name,#org+type,#geo+lat,#geo+lon,#geo+radius"
    text = hxl_text(
        "site,a,ocha,UN humanitarian coordination,UN agency,35,39,10",
        "site,b,,Mechanism secretariat,,35,39,10",
        header=header,
        tags=tags,
    )
    assert [o.party for o in read_hxl(text, PARTIES).objects] == ["ocha", "sec"]
    problems = problems_of(hxl_text("site,a,ocha,Mechanism secretariat,,35,39,10", header=header, tags=tags))
    assert rules_by_line(problems) == {(3, "hxl-unknown-org")}


def test_nul_size_rows_csv_and_missing_hashtag_row_are_file_level() -> None:
    assert rules_by_line(problems_of(hxl_text(SITE, "site,n\x00,X,ocha,35,39,10,,,,,,"))) == {(4, "hxl-nul")}
    assert rules_by_line(problems_of("a" * (MAX_BYTES + 1))) == {(None, "hxl-size")}
    assert rules_by_line(problems_of(hxl_text(SITE, 'site,"unterminated,X'))) == {(4, "hxl-csv")}
    assert rules_by_line(problems_of("Kind,ID\nsite,a\n")) == {(None, "hxl-no-hashtags")}
    many = hxl_text(*(f"site,s{i},X,ocha,35,39,10,,,,,," for i in range(MAX_ROWS + 1)))
    assert rules_by_line(problems_of(many)) == {(None, "hxl-rows")}
    assert rules_by_line(problems_of(hxl_text(SITE, "," * 600))) == {(4, "hxl-csv")}
    long_route = "LINESTRING (" + ", ".join(["39 35"] * 30_000) + ")"
    assert rules_by_line(problems_of(hxl_text(f'movement,m,X,ocha,,,,"{long_route}",5,,,,'))) == {(3, "hxl-csv")}


def test_line_numbers_count_the_lines_of_multiline_cells() -> None:
    text = hxl_text('site,a,"Two\nlines",ocha,35,39,10,,,,,,', "site,b,X,ocha,95,39,10,,,,,,")
    assert rules_by_line(problems_of(text)) == {(5, "hxl-coordinates")}


# ------------------------------------------------------- tolerant reading


def test_column_order_does_not_matter_and_unknown_columns_are_ignored() -> None:
    rows = [HEADER.split(","), TAGS.split(","), *(next(csv.reader([r])) for r in (SITE, CONVOY))]
    order = [12, 7, 3, 0, 10, 5, 1, 8, 11, 2, 4, 9, 6]
    shuffled = [[row[i] for i in order] + ["whatever"] for row in rows]
    shuffled[1][-1] = "#x_notes"
    out = io.StringIO()
    csv.writer(out).writerows(shuffled)
    assert read_hxl(out.getvalue(), PARTIES) == read_hxl(hxl_text(SITE, CONVOY), PARTIES)


def test_extra_attributes_bom_no_header_row_and_blank_rows() -> None:
    tags = (
        "#meta+kind,#meta+id+x_ref,#loc+name+i_en,#org+name,#geo+lat+x_source,#geo+lon+x_source,"
        "#geo+radius+x_m,#geo+route,#geo+corridor,#date+start+x_planned,#date+end,#indicator+vehicles+num,"
        "#status+urgent"
    )
    text = "\ufeff" + tags + "\n\n" + SITE + "\n,,,,,,,,,,,,\n" + CONVOY + "\n"
    result = read_hxl(text, PARTIES)
    assert result == read_hxl(hxl_text(SITE, CONVOY), PARTIES)
    assert result.objects[0].volumes[0].footprint.geometry.equals(Point(39.25, 35.5))


def test_hashtag_row_found_below_several_header_rows() -> None:
    text = "Sites notified,,\nas of 7 July,,\n" + hxl_text(SITE)
    assert [o.id for o in read_hxl(text, PARTIES).objects] == ["hosp-1"]


@pytest.mark.parametrize(
    ("cell", "urgent"), [("yes", True), ("YES", True), ("true", True), ("no", False), ("False", False), ("", False)]
)
def test_urgent_flag(cell: str, urgent: bool) -> None:
    assert read_hxl(hxl_text(SITE + cell), PARTIES).urgent == {"hosp-1": urgent}


def test_times_bare_dates_offsets_and_open_ends() -> None:
    rows = [
        "site,a,X,ocha,35,39,10,,,2017-07-07,,,",
        "site,b,X,ocha,35,39,10,,,,2017-07-08T02:00:00+02:00,,",
        "site,c,X,ocha,35,39,10,,,,,,",
    ]
    a, b, c = (o.volumes[0].time for o in read_hxl(hxl_text(*rows), PARTIES).objects)
    assert a == TimeWindow(datetime(2017, 7, 7, tzinfo=UTC), None)
    assert b == TimeWindow(None, datetime(2017, 7, 8, tzinfo=UTC))
    assert c == TimeWindow()


def test_site_type_is_checked_and_case_folded_and_extras_are_kept() -> None:
    header = "Kind,ID,Type,Org,Lat,Lon,Radius,Contact,Phone,Source"
    tags = "#meta+kind,#meta+id,#loc+type,#org,#geo+lat,#geo+lon,#geo+radius,#contact+name,#contact+phone,#meta+source"
    [obj] = read_hxl(
        hxl_text("site,a,Hospital,ocha,35,39,10,Dr A,'+963 1,survey", header=header, tags=tags), PARTIES
    ).objects
    assert obj.extra[0] == {"site_type": "hospital", "contact": {"name": "Dr A", "phone": "+963 1"}, "source": "survey"}
    problems = problems_of(hxl_text("site,a,clinic,ocha,35,39,10,,,", header=header, tags=tags))
    assert rules_by_line(problems) == {(3, "hxl-site-type")}


# ------------------------------------------------------ formula injection


def test_formula_like_text_is_escaped_on_export_and_restored_on_import() -> None:
    names = ['=HYPERLINK("http://x")', "+1", "-2", "@A1", "\tx", "'=already quoted", "''+twice", "'plain", "O'Brien"]
    objects = [site(f"s{i}", name) for i, name in enumerate(names)]
    objects.append(site("=id", "fine"))
    text = write_hxl(objects, PARTIES)
    written = {row[1]: row[2] for row in cells(text)[2:]}
    assert written["s0"] == '\'=HYPERLINK("http://x")'
    assert written["s5"] == "''=already quoted" and written["s6"] == "'''+twice"
    assert written["s7"] == "'plain" and written["s8"] == "O'Brien"
    assert "'=id" in written
    assert all(not cell.startswith(("=", "+", "-", "@", "\t")) for row in cells(text) for cell in row if cell)
    assert read_hxl(text, PARTIES).objects == objects


def test_negative_coordinates_stay_numbers_on_export() -> None:
    obj = WorldObject(Kind.SITE, "south", "ocha", (Volume4D(Footprint(Point(-70.5, -12.5), 50.0)),))
    row = dict(zip(*cells(write_hxl([obj], PARTIES))[1:3], strict=True))
    assert (row["#geo+lat"], row["#geo+lon"]) == ("-12.5", "-70.5")
    assert read_hxl(write_hxl([obj], PARTIES), PARTIES).objects == [obj]


# ----------------------------------------------------------------- export


def test_export_refuses_what_a_row_cannot_hold() -> None:
    fp = Footprint(Point(39, 35), 100.0)
    nfz = WorldObject(Kind.NFZ, "zone", "ocha", (Volume4D(fp),))
    twice = WorldObject(Kind.SITE, "twice", "ocha", (Volume4D(fp), Volume4D(fp)))
    high = WorldObject(
        Kind.MOVEMENT,
        "flight",
        "ocha",
        (Volume4D(Footprint(LineString([(39, 35), (40, 36)]), 1.0), AltitudeBand(0, 3000)),),
    )
    orphan = WorldObject(Kind.SITE, "orphan", "nobody", (Volume4D(fp),))
    point_z = WorldObject(Kind.SITE, "z", "ocha", (Volume4D(Footprint(Point(39, 35, 100), 100.0)),))
    with pytest.raises(InvalidInput) as caught:
        write_hxl([site("ok"), nfz, twice, high, orphan, point_z], PARTIES)
    assert rules_by_line(caught.value.problems) == {
        (1, "hxl-export-kind"),
        (2, "hxl-export-volumes"),
        (3, "hxl-export-altitude"),
        (4, "hxl-unknown-org"),
        (5, "hxl-export-geometry"),
    }


def test_export_refuses_what_would_not_read_back() -> None:
    army = WorldObject(Kind.SITE, "army", "ru", (Volume4D(Footprint(Point(39, 35), 100.0)),))
    zero = WorldObject(Kind.SITE, "zero", "ocha", (Volume4D(Footprint(Point(39, 35), 0.0)),))
    with pytest.raises(InvalidInput) as caught:
        write_hxl([site("ok"), site("clinic", site_type="clinic"), army, zero], PARTIES)
    assert rules_by_line(caught.value.problems) == {(1, "hxl-site-type"), (2, "hxl-unknown-org"), (3, "hxl-radius")}


def test_empty_export_reads_back_empty() -> None:
    assert read_hxl(write_hxl([], PARTIES), PARTIES) == HxlImport(objects=[], urgent={})


def test_polygon_shapes_are_not_sites() -> None:
    zone = WorldObject(Kind.SITE, "poly", "ocha", (Volume4D(Footprint(Polygon([(39, 35), (40, 35), (40, 36)]), 5.0)),))
    with pytest.raises(InvalidInput):
        write_hxl([zone], PARTIES)


def test_text_that_looks_like_a_url_or_path_is_never_opened() -> None:
    for text in ("https://example.invalid/sites.csv", "/etc/passwd", "sites.xlsx"):
        assert rules_by_line(problems_of(text)) == {(None, "hxl-no-hashtags")}


def test_the_example_in_the_docs_reads() -> None:
    doc = Path(__file__).parents[2] / "docs" / "hxl.md"
    example = doc.read_text(encoding="utf-8").split("```csv\n", 1)[1].split("```", 1)[0]
    result = read_hxl(example, PARTIES)
    assert [o.id for o in result.objects] == ["camp-rukban", "hospital-daraa", "convoy-qamishli-ain-issa"]
    assert result.urgent == {"camp-rukban": True, "hospital-daraa": False, "convoy-qamishli-ain-issa": False}
    assert result.objects[1].volumes[0].time.start == datetime(2017, 7, 1, tzinfo=UTC)
