"""``detente corridor``, ``detente notices ...`` and ``detente hxl ...`` end to end on the demo world."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from detente.adapters.cli.main import DEMO_SCENARIO, app
from detente.adapters.interop.scenario import ScenarioCodec, load_scenario
from detente.adapters.storage import open_store
from detente.domain.accounts import Caller
from detente.domain.model import Role
from detente.services import accounts, checking, notices
from detente.services.context import FixedClock, Mechanism

runner = CliRunner()

MILITARY = ["coalition", "ru", "sdf", "sy", "tr"]
HOMS_HAMA = "36.73,34.72;36.76,35.13"
DAMASCUS_RUKBAN = "36.29,33.51;36.69,33.64;37.67,33.73;38.62,33.50;38.70,33.29"


def day(hhmm: str) -> str:
    return f"2017-07-07T{hhmm}:00Z"


def corridor(route: str, start: str, end: str, *extra: str) -> Any:
    return runner.invoke(app, ["corridor", route, "--from", start, "--to", end, *extra])


def as_json(result: Any) -> Any:
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def intent_hazards(doc: dict[str, Any]) -> list[dict[str, Any]]:
    on_route = [h for s in doc["segments"] for h in s["hazards"]]
    avoided = doc["route"]["avoided"] if doc["route"] else []
    return [h for h in on_route + avoided if h["kind"] == "intent"]


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def demo_db(tmp_path: Path, name: str = "demo.sqlite") -> str:
    url = f"sqlite:///{tmp_path / name}"
    assert runner.invoke(app, ["import", str(DEMO_SCENARIO), "--db", url]).exit_code == 0
    return url


# -- corridor on the demo world -------------------------------------------------------------


def test_homs_hama_training_sortie_on_the_m5_detour_by_salamiyah() -> None:
    result = corridor(HOMS_HAMA, day("05:00"), day("06:30"), "--format", "json")
    assert result.exit_code == 1, result.output
    doc = as_json(result)
    assert doc["clear"] is False
    (segment,) = doc["segments"]
    assert [h["kind"] for h in segment["hazards"]] == ["intent"]
    assert segment["hazards"][0]["distance_m"] == 0.0
    plan = doc["route"]
    assert plan["found"] is True and plan["reason"] is None
    assert any("Salamiyah" in road for road in plan["roads"])
    assert plan["detour_m"] > 0
    # Another party's plan is area and window only: no id, no party, anywhere in the answer.
    hazards = intent_hazards(doc)
    assert hazards and all("id" not in h and "party" not in h for h in hazards)
    assert "sy-training-hama" not in result.stdout and '"sy"' not in result.stdout


def test_homs_hama_as_a_table() -> None:
    result = corridor(HOMS_HAMA, day("05:00"), day("06:30"))
    assert result.exit_code == 1, result.output
    assert "(intent: area and window only)" in result.stdout
    assert "Not clear" in result.stdout and "Salamiyah" in result.stdout
    assert "sy-training-hama" not in result.stdout


def test_damascus_rukban_during_the_tanf_strike_has_no_clear_road() -> None:
    result = corridor(DAMASCUS_RUKBAN, day("09:00"), day("10:30"), "--format", "json")
    assert result.exit_code == 1, result.output
    doc = as_json(result)
    blocked = [s["index"] for s in doc["segments"] if not s["clear"]]
    assert blocked == [2]  # Sabe Biyar - al-Tanf, through the Russian strike box
    plan = doc["route"]
    assert plan["found"] is False and plan["roads"] == [] and plan["length_m"] is None
    assert "no road route" in plan["reason"] and "avoids the hazards" in plan["reason"]
    table = corridor(DAMASCUS_RUKBAN, day("09:00"), day("10:30"))
    assert table.exit_code == 1 and "No clear road route" in table.stdout


def test_damascus_rukban_after_the_strike_is_clear() -> None:
    """12:00-14:00: the strike is over, and the al-Tanf zone exempts humanitarian movements."""
    result = corridor(DAMASCUS_RUKBAN, day("12:00"), day("14:00"), "--format", "json")
    assert result.exit_code == 0, result.output
    doc = as_json(result)
    assert doc["clear"] is True and all(s["hazards"] == [] for s in doc["segments"])
    assert "tanf-55km" not in result.stdout  # not a hazard at all: it exempts humanitarian purposes
    plan = doc["route"]
    assert plan["found"] is True and plan["detour_m"] == 0.0
    assert "M2 Dumayr - al-Tanf" in plan["roads"]
    # Hazards near the network but off the route (the Golan zone, the Daraa strike) are kept out of it.
    assert {h.get("id") for h in plan["avoided"]} == {"undof-golan", None}
    table = corridor(DAMASCUS_RUKBAN, day("12:00"), day("14:00"), "--no-plan")
    assert table.exit_code == 0 and "Clear" in table.stdout and "--no-plan" in table.stdout


def test_against_a_stored_database(tmp_path: Path) -> None:
    url = demo_db(tmp_path)
    result = corridor(HOMS_HAMA, day("05:00"), day("06:30"), "--db", url, "--format", "json")
    assert result.exit_code == 1, result.output
    assert as_json(result)["route"]["found"] is True
    missing = corridor(HOMS_HAMA, day("05:00"), day("06:30"), "--db", f"sqlite:///{tmp_path / 'nope.sqlite'}")
    assert missing.exit_code == 2 and "no database" in missing.stderr
    assert not (tmp_path / "nope.sqlite").exists()


def test_scenario_zone_is_named_and_no_plan(tmp_path: Path) -> None:
    scenario = {
        "type": "FeatureCollection",
        "detente": {"version": 1, "name": "t", "parties": [{"id": "b", "name": "B", "role": "military"}]},
        "features": [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [38.0, 35.0]},
                "properties": {"kind": "nfz", "id": "z", "party": "b", "radius_m": 20000},
            }
        ],
    }
    path = write(tmp_path / "s.geojson", scenario)
    args = ("--scenario", str(path), "--no-plan", "--format", "json")
    doc = as_json(corridor("37.8,35.0;38.2,35.0", day("05:00"), day("06:00"), *args))
    assert doc["route"] is None
    assert [(h["kind"], h["id"]) for h in doc["segments"][0]["hazards"]] == [("nfz", "z")]
    assert corridor("37.8,34.0;38.2,34.0", day("05:00"), day("06:00"), *args).exit_code == 0


def test_route_file_and_own_road_network(tmp_path: Path) -> None:
    route = write(
        tmp_path / "route.geojson",
        {
            "type": "Feature",
            "properties": {"name": "Homs - Hama"},
            "geometry": {"type": "LineString", "coordinates": [[36.73, 34.72], [36.76, 35.13]]},
        },
    )
    network = {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "properties": {"name": "Direct"},
                "geometry": {"type": "LineString", "coordinates": [[36.73, 34.72], [36.76, 35.13]]},
            },
            {
                "type": "Feature",
                "properties": {"name": "East loop", "ref": "E1"},
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[36.73, 34.72], [37.0, 34.9], [37.0, 35.1], [36.76, 35.13]],
                },
            },
        ],
    }
    roads = write(tmp_path / "roads.geojson", network)
    result = corridor(str(route), day("05:00"), day("06:30"), "--roads", str(roads), "--format", "json")
    assert result.exit_code == 1, result.output
    plan = as_json(result)["route"]
    assert plan["found"] is True and plan["roads"] == ["E1 East loop"]
    # After the sortie the direct road is clear and shortest.
    clear = as_json(corridor(str(route), day("07:00"), day("08:00"), "--roads", str(roads), "--format", "json"))
    assert clear["clear"] is True and clear["route"]["roads"] == ["Direct"]
    # A FeatureCollection with one line feature (and a point marker) is a route too.
    marker = {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [36.73, 34.72]}}
    collection = write(
        tmp_path / "fc.geojson", {"type": "FeatureCollection", "features": [json.loads(route.read_text()), marker]}
    )
    assert corridor(str(collection), day("05:00"), day("06:30"), "--roads", str(roads)).exit_code == 1
    bad_roads = write(tmp_path / "bad-roads.geojson", {"type": "FeatureCollection", "features": [marker]})
    refused = corridor(str(route), day("05:00"), day("06:30"), "--roads", str(bad_roads))
    assert refused.exit_code == 2 and "feature 0: [geometry_type]" in refused.stderr


def test_negative_longitudes_after_a_double_dash() -> None:
    result = runner.invoke(
        app, ["corridor", "--from", day("05:00"), "--to", day("06:00"), "--no-plan", "--", "-3.7,40.4;-3.6,40.5"]
    )
    assert result.exit_code == 0, result.output
    assert "Clear" in result.stdout


def test_naive_time_is_exit_2() -> None:
    result = corridor(HOMS_HAMA, "2017-07-07T05:00:00", day("06:30"))
    assert result.exit_code == 2
    assert "needs an explicit UTC offset" in result.stderr and "--from" in result.stderr
    assert result.stdout == ""


def test_every_input_problem_is_named_at_once() -> None:
    result = corridor("36.73,34.72;oops", "soon", day("06:30"), "--corridor-m", "0")
    assert result.exit_code == 2
    assert "[route] point 2 'oops'" in result.stderr
    assert "[time] --from 'soon'" in result.stderr
    assert "[corridor_m]" in result.stderr
    backwards = corridor(HOMS_HAMA, day("06:30"), day("05:00"))
    assert backwards.exit_code == 2 and "[window]" in backwards.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("{not json", "[json]", id="bad-json"),
        pytest.param(json.dumps({"type": "Point", "coordinates": [36.7, 34.7]}), "[geometry_type]", id="point"),
        pytest.param(
            json.dumps({"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": []}}),
            "not a LineString or MultiLineString",
            id="feature-polygon",
        ),
        pytest.param(
            json.dumps({"type": "FeatureCollection", "features": []}), "exactly one", id="collection-without-line"
        ),
        pytest.param(
            json.dumps({"type": "LineString", "coordinates": [[36.7, 34.7], [200.0, 34.9]]}),
            "out of range",
            id="out-of-range",
        ),
        pytest.param(json.dumps({"type": "LineString", "coordinates": [[36.7, 34.7]]}), "[route]", id="one-position"),
        pytest.param(json.dumps([1, 2, 3]), "[route-file]", id="not-an-object"),
        pytest.param("x" * (5 * 1024 * 1024 + 1), "[size]", id="over-5-MB"),
    ],
)
def test_malformed_route_file_is_exit_2_naming_the_problem(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "route.geojson"
    path.write_text(content, encoding="utf-8")
    result = corridor(str(path), day("05:00"), day("06:30"))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr


def test_neither_file_nor_inline_route_is_exit_2(tmp_path: Path) -> None:
    result = corridor(str(tmp_path / "missing.geojson"), day("05:00"), day("06:30"))
    assert result.exit_code == 2
    assert "neither an existing file nor an inline route" in result.stderr


# -- notices ---------------------------------------------------------------------------------


def movement(parties: Any) -> Any:
    feature = {
        "type": "Feature",
        "geometry": {
            "type": "LineString",
            "coordinates": [[36.29, 33.51], [36.69, 33.64], [37.67, 33.73], [38.62, 33.50], [38.70, 33.29]],
        },
        "properties": {
            "kind": "movement",
            "id": "convoy-rukban",
            "party": "ocha",
            "corridor_m": 2000,
            "time": [day("06:00"), day("12:00")],
            "vehicles": 40,
        },
    }
    (obj,) = ScenarioCodec().objects([feature], parties)
    return obj


@pytest.fixture
def overdue_db(tmp_path: Path) -> str:
    """The demo world with one notice sent 4 July 08:00, due 5 July 08:00, acknowledged by nobody."""
    url = f"sqlite:///{tmp_path / 'notices.sqlite'}"
    store = open_store(url)
    try:
        checking.import_world(store, load_scenario(DEMO_SCENARIO))
        m = Mechanism(store=store, clock=FixedClock(datetime(2017, 7, 4, 8, tzinfo=UTC)), codec=ScenarioCodec())
        accounts.bootstrap(m)
        with store.read() as tx:
            parties = tx.parties()
        sent = notices.notify(m, Caller("m", "ocha", Role.HUMANITARIAN), movement(parties))
        assert sorted(sent.recipients) == MILITARY
    finally:
        store.close()
    return url


def test_notices_tick_escalates_once_and_list_shows_overdue(overdue_db: str) -> None:
    early = runner.invoke(app, ["notices", "tick", "--db", overdue_db, "--at", "2017-07-04T09:00:00Z"])
    assert early.exit_code == 0, early.output
    assert early.stdout.strip() == "reminded 0, escalated 0"

    first = runner.invoke(app, ["notices", "tick", "--db", overdue_db, "--at", "2017-07-05T08:00:00Z"])
    assert first.exit_code == 0, first.output
    assert first.stdout.strip() == "reminded 0, escalated 5"
    again = runner.invoke(app, ["notices", "tick", "--db", overdue_db, "--at", "2017-07-05T09:00:00Z"])
    assert again.stdout.strip() == "reminded 0, escalated 0"

    listed = runner.invoke(app, ["notices", "list", "--db", overdue_db, "--format", "json"])
    assert listed.exit_code == 0, listed.output
    (notice,) = json.loads(listed.stdout)
    assert (notice["object_id"], notice["party"], notice["action"]) == ("convoy-rukban", "ocha", "notified")
    assert notice["deadline"] == "2017-07-05T08:00:00Z"
    assert sorted(notice["overdue"]) == MILITARY
    assert {r["party"]: (r["state"], r["escalated_at"]) for r in notice["recipients"]} == {
        p: ("overdue", "2017-07-05T08:00:00Z") for p in MILITARY
    }
    table = runner.invoke(app, ["notices", "list", "--db", overdue_db])
    assert table.exit_code == 0
    assert "convoy-rukban" in table.stdout and "1 notice(s), 1 with overdue parties" in table.stdout
    assert all(p in table.stdout for p in MILITARY)


def test_notices_bad_time_and_missing_database(tmp_path: Path, overdue_db: str) -> None:
    naive = runner.invoke(app, ["notices", "tick", "--db", overdue_db, "--at", "2017-07-05T08:00:00"])
    assert naive.exit_code == 2 and "needs an explicit UTC offset" in naive.stderr
    missing = runner.invoke(app, ["notices", "list", "--db", f"sqlite:///{tmp_path / 'none.sqlite'}"])
    assert missing.exit_code == 2 and "no database" in missing.stderr


# -- HXL ---------------------------------------------------------------------------------------


def notice_count(url: str) -> int:
    result = runner.invoke(app, ["notices", "list", "--db", url, "--format", "json"])
    assert result.exit_code == 0, result.output
    return len(json.loads(result.stdout))


def test_hxl_export_import_round_trip(tmp_path: Path) -> None:
    source = demo_db(tmp_path, "source.sqlite")
    csv_file = tmp_path / "sites.csv"
    exported = runner.invoke(app, ["hxl", "export", "--db", source, "-o", str(csv_file)])
    assert exported.exit_code == 0, exported.output
    text = csv_file.read_text(encoding="utf-8")
    assert "#meta+id" in text and "camp-rukban" in text and "convoy-qamishli-ain-issa" in text
    to_stdout = runner.invoke(app, ["hxl", "export", "--db", source])
    assert to_stdout.exit_code == 0 and "camp-rukban" in to_stdout.stdout

    target = demo_db(tmp_path, "target.sqlite")
    imported = runner.invoke(app, ["hxl", "import", str(csv_file), "--party", "ocha", "--db", target])
    assert imported.exit_code == 0, imported.output
    assert "8 notice(s) sent as ocha." in imported.stdout
    listed = json.loads(runner.invoke(app, ["notices", "list", "--db", target, "--format", "json"]).stdout)
    assert len(listed) == 8 and {n["action"] for n in listed} == {"amended"}
    assert {n["object_id"] for n in listed} >= {"camp-rukban", "convoy-qamishli-ain-issa"}
    assert all(sorted(r["party"] for r in n["recipients"]) == MILITARY for n in listed)


def test_hxl_import_refused_whole_with_line_numbers(tmp_path: Path) -> None:
    url = demo_db(tmp_path)
    csv_file = tmp_path / "sites.csv"
    assert runner.invoke(app, ["hxl", "export", "--db", url, "-o", str(csv_file)]).exit_code == 0
    assert runner.invoke(app, ["hxl", "import", str(csv_file), "--party", "ocha", "--db", url]).exit_code == 0
    before = notice_count(url)
    assert before == 8

    lines = csv_file.read_text(encoding="utf-8").splitlines()
    assert lines[1].startswith("#meta+kind")
    lines[2] = "boat" + lines[2][len("movement") :]  # line 3: not a site or movement
    lines[4] = lines[4].replace(",ocha,", ",nobody,")  # line 5: an unknown organisation
    broken = tmp_path / "broken.csv"
    broken.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["hxl", "import", str(broken), "--party", "ocha", "--db", url])
    assert result.exit_code == 2, result.output
    assert "line 3" in result.stderr and "[hxl-kind]" in result.stderr
    assert "line 5" in result.stderr and "[hxl-unknown-org]" in result.stderr
    assert notice_count(url) == before

    unknown = runner.invoke(app, ["hxl", "import", str(csv_file), "--party", "nobody", "--db", url])
    assert unknown.exit_code == 2 and "no party 'nobody'" in unknown.stderr
    military = runner.invoke(app, ["hxl", "import", str(csv_file), "--party", "ru", "--db", url])
    assert military.exit_code == 2 and "ru may declare objects only for itself" in military.stderr
    not_utf8 = tmp_path / "latin1.csv"
    not_utf8.write_bytes(b"Kind,Name\n#meta+kind,#loc+name\nsite,H\xf4pital\n")
    refused = runner.invoke(app, ["hxl", "import", str(not_utf8), "--party", "ocha", "--db", url])
    assert refused.exit_code == 2 and "[hxl-encoding]" in refused.stderr
    assert notice_count(url) == before
