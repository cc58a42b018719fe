"""The ``detente`` command end to end: exit codes, formats, storage round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from detente.adapters.cli.main import DEMO_SCENARIO, app

runner = CliRunner()


def _scenario(features: list[dict], *, extra_parties: list[dict] | None = None) -> dict:
    parties = [
        {"id": "a", "name": "A", "role": "military"},
        {"id": "b", "name": "B", "role": "military"},
        {"id": "h", "name": "H", "role": "humanitarian"},
    ] + (extra_parties or [])
    return {
        "type": "FeatureCollection",
        "detente": {"version": 1, "name": "t", "parties": parties},
        "features": features,
    }


def _box(x: float, y: float, d: float = 0.1) -> dict:
    return {"type": "Polygon", "coordinates": [[[x, y], [x + d, y], [x + d, y + d], [x, y + d], [x, y]]]}


NFZ = {
    "type": "Feature",
    "geometry": {"type": "Point", "coordinates": [38.0, 35.0]},
    "properties": {"kind": "nfz", "id": "z", "party": "b", "radius_m": 20000},
}
INTENT_IN = {
    "type": "Feature",
    "geometry": _box(38.0, 35.0),
    "properties": {
        "kind": "intent",
        "id": "in",
        "party": "a",
        "category": "air",
        "altitude_m": [1000, 2000],
        "time": ["2017-07-07T06:00:00Z", "2017-07-07T07:00:00Z"],
    },
}
INTENT_OUT = {
    "type": "Feature",
    "geometry": _box(40.0, 36.0),
    "properties": {
        "kind": "intent",
        "id": "out",
        "party": "a",
        "category": "air",
        "altitude_m": [1000, 2000],
        "time": ["2017-07-07T06:00:00Z", "2017-07-07T07:00:00Z"],
    },
}


def _write(tmp_path: Path, doc: dict, name: str = "s.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def test_check_exit_1_with_conflicts_and_json_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, _scenario([NFZ, INTENT_IN, INTENT_OUT]))
    result = runner.invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == 1, result.output
    conflicts = json.loads(result.stdout)
    assert [(c["intent"], c["type"], c["other"]["id"]) for c in conflicts] == [("in", "nfz", "z")]
    c = conflicts[0]
    assert c["severity"] == "blocking"
    assert c["other"] == {"kind": "nfz", "id": "z", "party": "b", "volume": 0}
    assert c["time"] == ["2017-07-07T06:00:00Z", "2017-07-07T07:00:00Z"]
    assert c["altitude_m"] == [1000.0, 2000.0]
    assert c["distance_m"] == 0.0


def test_check_one_intent_exit_0_when_clear(tmp_path: Path) -> None:
    path = _write(tmp_path, _scenario([NFZ, INTENT_IN, INTENT_OUT]))
    result = runner.invoke(app, ["check", str(path), "--intent", "out", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_check_unknown_intent_is_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, _scenario([NFZ, INTENT_IN]))
    result = runner.invoke(app, ["check", str(path), "--intent", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.stderr


def test_geojson_output_discloses_clipped_area(tmp_path: Path) -> None:
    path = _write(tmp_path, _scenario([NFZ, INTENT_IN]))
    result = runner.invoke(app, ["check", str(path), "--format", "geojson"])
    assert result.exit_code == 1
    fc = json.loads(result.stdout)
    assert fc["type"] == "FeatureCollection"
    (feature,) = fc["features"]
    assert feature["properties"]["other"]["id"] == "z"
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")


def test_table_output_names_conflicts(tmp_path: Path) -> None:
    path = _write(tmp_path, _scenario([NFZ, INTENT_IN, INTENT_OUT]))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1
    assert "blocking" in result.stdout and "tanf" not in result.stdout
    assert "No conflict: out" in result.stdout


def test_invalid_scenario_exit_2_names_feature_and_rule(tmp_path: Path) -> None:
    bad = dict(INTENT_IN, properties=dict(INTENT_IN["properties"], time=["2017-07-07T06:00:00", None]))
    path = _write(tmp_path, _scenario([NFZ, bad]))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2
    assert "feature 1" in result.stderr and "'in'" in result.stderr


def test_import_export_and_check_against_database(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.sqlite'}"
    path = _write(tmp_path, _scenario([NFZ, INTENT_OUT]))
    assert runner.invoke(app, ["import", str(path), "--db", db]).exit_code == 0
    exported = runner.invoke(app, ["export", "--db", db])
    assert exported.exit_code == 0
    doc = json.loads(exported.stdout)
    assert {f["properties"]["id"] for f in doc["features"]} == {"z", "out"}
    intent_file = _write(tmp_path, {"type": "FeatureCollection", "features": [INTENT_IN]}, "intent.geojson")
    result = runner.invoke(app, ["check", "--db", db, "--intent", str(intent_file), "--format", "json"])
    assert result.exit_code == 1, result.output
    assert [c["other"]["id"] for c in json.loads(result.stdout)] == ["z"]


def test_failed_import_stores_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.sqlite'}"
    good = _write(tmp_path, _scenario([NFZ]), "good.geojson")
    assert runner.invoke(app, ["import", str(good), "--db", db]).exit_code == 0
    bad_nfz = dict(NFZ, properties=dict(NFZ["properties"], id="y", party="nobody"))
    bad = _write(tmp_path, _scenario([INTENT_OUT, bad_nfz]), "bad.geojson")
    result = runner.invoke(app, ["import", str(bad), "--db", db])
    assert result.exit_code == 2
    assert "nobody" in result.stderr
    doc = json.loads(runner.invoke(app, ["export", "--db", db]).stdout)
    assert [f["properties"]["id"] for f in doc["features"]] == ["z"]


def test_check_db_intent_of_unknown_party_is_exit_2(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'w.sqlite'}"
    assert runner.invoke(app, ["import", str(_write(tmp_path, _scenario([NFZ]))), "--db", db]).exit_code == 0
    stranger = dict(INTENT_IN, properties=dict(INTENT_IN["properties"], party="zz"))
    intent_file = _write(tmp_path, stranger, "intent.geojson")
    result = runner.invoke(app, ["check", "--db", db, "--intent", str(intent_file)])
    assert result.exit_code == 2
    assert "zz" in result.stderr


def test_not_json_is_exit_2(tmp_path: Path) -> None:
    path = tmp_path / "x.geojson"
    path.write_text("{not json")
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 2


@pytest.mark.parametrize("fmt", ["json"])
def test_demo_scenario_through_the_installed_command(fmt: str) -> None:
    """The real entry point, in a subprocess, on the shipped demo file."""
    proc = subprocess.run(
        [sys.executable, "-m", "detente.adapters.cli.main", "check", str(DEMO_SCENARIO), "--format", fmt],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    found = {(c["intent"], c["type"], c["other"]["id"]) for c in json.loads(proc.stdout)}
    assert ("sy-su22-tabqa", "line", "euphrates-line") in found
    assert ("ru-strike-tanf", "nfz", "tanf-55km") in found
    assert ("sy-strike-daraa", "protected_site", "hospital-daraa") in found


def test_demo_command_runs_on_sqlite(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    for _ in range(2):  # a second run on the same file starts the story again
        result = runner.invoke(app, ["demo", "--db", db])
        assert result.exit_code == 0, result.output
        assert "sy-su22-tabqa" in result.stdout and "euphrates-line" in result.stdout
        assert "blocking" in result.stdout
        # the second act: the convoy to Rukban camp
        said = " ".join(result.stdout.split())
        assert "filed intent ru-strike-tanf crosses its corridor: ru told at once" in said
        assert "escalated at the deadline: 1" in said and "│ sy │ overdue" in said
        assert "4 of 4 acknowledgement receipts verify offline" in said
        assert "is refused: blocking humanitarian_movement" in said
        assert "via Homs - Salamiyah - Hama" in said and "no clear route" in said
        # the third act: a simulated day of tracks through the live monitor, into incidents and inboxes
        assert "A day of tracks" in said and "incursion" in said and "ru-su24-tanf (ru)" in said
        assert "sy-su22-jadin (sy)" in said and "aor-sdf (sdf)" in said
        # the day's five designed episodes, and the Su-24 weaving over the convoy notified in act two
        assert "49 episodes: 1 incursion, 2 boundary crossings, 1 loss of separation, 45 proximity." in said
        assert "│ proximity │ ru-su24-tanf (ru) │ convoy-rukban (ocha) │ 44 │" in said
        assert "6 incidents opened" in said and "ocha 46, ru 45, sdf 3, secretariat 49, sy 2." in said
        assert "intact" in said
