"""Filing intents over the API: dry runs, the world version, blocking and advisory conflicts, amend and cancel.

Every test here touches storage, so it runs on SQLite and on PostGIS.
"""

from __future__ import annotations

from typing import Any

from shapely.geometry import shape
from tests.api.world import T0, T1, Api, feature, intent, square

JUSTIFICATION = "medevac of a wounded crew; no other route before nightfall"


def file(
    api: Api,
    party: str,
    doc: dict[str, Any],
    version: int | None = None,
    *,
    justification: str | None = None,
    dry_run: bool = False,
) -> Any:
    body: dict[str, Any] = {"intent": doc}
    if version is not None:
        body["world_version"] = version
    if justification is not None:
        body["override"] = {"justification": justification}
    params = {"dry_run": "true"} if dry_run else None
    return api.client.post("/intents", headers=api.headers[party], json=body, params=params)


def amend(api: Api, party: str, oid: str, doc: dict[str, Any], version: int) -> Any:
    return api.client.put(f"/intents/{oid}", headers=api.headers[party], json={"intent": doc, "world_version": version})


def notes(api: Api, party: str, type: str | None = None) -> list[dict[str, Any]]:
    r = api.client.get("/notifications", headers=api.headers[party], params={"limit": 500})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return [n for n in items if type is None or n["type"] == type]


def assert_not_filed(api: Api, party: str, oid: str, version: int) -> None:
    assert api.version() == version
    r = api.client.get(f"/intents/{oid}", headers=api.headers[party])
    assert r.status_code == 404, r.text
    assert api.client.get(f"/intents/{oid}", headers=api.headers["secretariat"]).status_code == 404


def others(body: dict[str, Any], key: str = "conflicts") -> set[tuple[str, str, str]]:
    return {(c["type"], c["other"]["kind"], c["other"]["id"]) for c in body[key]}


# -- dry run and the world version --------------------------------------------


def test_dry_run_reports_conflicts_and_files_nothing(api: Api) -> None:
    version = api.version()
    blue_before = notes(api, "blue")
    r = file(api, "red", intent("r-dry", 36.05, 35.05, size=0.05), dry_run=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["filed"] is False
    assert body["filing"] is None
    assert body["world_version"] == version
    assert ("nfz", "nfz", "blue-nfz") in others(body)
    assert body["blocking"] >= 1
    assert_not_filed(api, "red", "r-dry", version)
    assert notes(api, "blue") == blue_before


def test_dry_run_needs_no_world_version_but_filing_does(api: Api) -> None:
    version = api.version()
    assert file(api, "red", intent("r1", 40.0, 35.0), dry_run=True).status_code == 200
    r = file(api, "red", intent("r1", 40.0, 35.0))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "/problems/invalid-input"
    assert any(e["rule"] == "world-version" for e in problem["errors"])
    assert "world-version" in r.text
    assert_not_filed(api, "red", "r1", version)


def test_a_world_version_from_the_future_is_refused(api: Api) -> None:
    version = api.version()
    r = file(api, "red", intent("r1", 40.0, 35.0), version + 5)
    assert r.status_code == 422, r.text
    assert any(e["rule"] == "world-version" for e in r.json()["errors"])
    assert_not_filed(api, "red", "r1", version)


# -- stale world and advisory separation ----------------------------------------


def test_stale_world_refuses_new_conflicts_then_refiling_discloses_a_clipped_area(api: Api) -> None:
    v = api.version()
    red = file(api, "red", intent("r1", 38.0, 35.0, size=0.05), v)
    assert red.status_code == 201, red.text
    assert red.json()["world_version"] == v + 1

    # blue checked at v (before red's filing): red's intent is new to blue
    big = intent("b1", 37.5, 34.5, size=1.0)
    stale = file(api, "blue", big, v)
    assert stale.status_code == 409, stale.text
    assert stale.headers["content-type"].startswith("application/problem+json")
    problem = stale.json()
    assert problem["type"] == "/problems/stale-world"
    assert problem["status"] == 409
    assert problem["world_version"] == v + 1
    assert ("separation", "intent", "r1") in others(problem, "new_conflicts")
    assert_not_filed(api, "blue", "b1", v + 1)
    assert notes(api, "red", "conflict.disclosed") == []

    # re-checked at the current version: filed, advisory, red told
    filed = file(api, "blue", big, v + 1)
    assert filed.status_code == 201, filed.text
    body = filed.json()
    assert body["filed"] is True
    assert body["overridden"] is False
    assert body["blocking"] == 0
    assert body["world_version"] == v + 2
    separation = [c for c in body["conflicts"] if c["type"] == "separation"]
    assert separation and all(c["severity"] == "advisory" for c in separation)
    assert {c["other"]["id"] for c in separation} == {"r1"}
    assert body["notified"] == ["red"]

    told = notes(api, "red", "conflict.disclosed")
    assert len(told) == 1
    note = told[0]["body"]
    assert note["filing_party"] == "blue"
    assert note["intent"] == "b1"
    assert note["severity"] == "advisory"
    assert note["filing"] == body["filing"]
    assert "override" not in note
    (disclosure,) = note["disclosures"]
    assert disclosure["filing_party"] == "blue"
    assert disclosure["recipient"] == "red"
    assert disclosure["type"] == "separation"
    assert disclosure["severity"] == "advisory"
    assert disclosure["time"] == [T0, T1]
    assert disclosure["concerns"] == {"kind": "intent", "id": "r1"}
    # only the part of blue's plan near red's, never the whole footprint
    area = shape(disclosure["area"])
    whole = shape({"type": "Polygon", "coordinates": square(37.5, 34.5, 1.0)})
    assert 0 < area.area < whole.area / 10
    assert whole.buffer(1e-9).contains(area)
    min_lon, min_lat, max_lon, max_lat = area.bounds
    assert min_lon > 37.85 and max_lon < 38.2 and min_lat > 34.85 and max_lat < 35.2
    # the disclosure carries no more than the notification
    assert "features" not in str(note)
    # and blue, the filer, is not told of its own filing
    assert notes(api, "blue", "conflict.disclosed") == []


def test_stale_but_not_conflicting_is_accepted(api: Api) -> None:
    red_near = file(api, "red", intent("r-near", 38.0, 35.0, size=0.05), api.version())
    assert red_near.status_code == 201, red_near.text
    v = api.version()
    # the world changes elsewhere after blue's check
    elsewhere = file(api, "red", intent("r-far", 45.0, 30.0), v)
    assert elsewhere.status_code == 201, elsewhere.text
    assert api.version() == v + 1
    # blue conflicts only with what it saw at v: accepted
    r = file(api, "blue", intent("b1", 38.02, 35.02, size=0.05), v)
    assert r.status_code == 201, r.text
    assert others(r.json()) == {("separation", "intent", "r-near")}
    assert r.json()["world_version"] == v + 2


def test_separation_needs_the_same_category(api: Api) -> None:
    v = api.version()
    assert file(api, "red", intent("r1", 38.0, 35.0, size=0.05), v).status_code == 201
    ground = intent("b-ground", 38.0, 35.0, size=0.05)
    ground["features"][0]["properties"]["category"] = "ground"
    r = file(api, "blue", ground, v + 1)
    assert r.status_code == 201, r.text
    assert r.json()["conflicts"] == []


# -- blocking conflicts and overrides -------------------------------------------


def test_an_nfz_blocks_and_nothing_is_stored(api: Api) -> None:
    v = api.version()
    r = file(api, "red", intent("r-nfz", 36.05, 35.05, size=0.05), v)
    assert r.status_code == 409, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["type"] == "/problems/blocking-conflicts"
    assert problem["world_version"] == v
    assert ("nfz", "nfz", "blue-nfz") in others(problem)
    assert all(c["severity"] == "blocking" for c in problem["conflicts"] if c["type"] == "nfz")
    assert_not_filed(api, "red", "r-nfz", v)
    assert notes(api, "blue", "conflict.disclosed") == []


def test_an_override_files_keeps_the_justification_and_tells_the_zone_owner(api: Api) -> None:
    v = api.version()
    r = file(api, "red", intent("r-nfz", 36.05, 35.05, size=0.05), v, justification=JUSTIFICATION)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["filed"] is True
    assert body["overridden"] is True
    assert body["blocking"] >= 1
    assert "blue" in body["notified"]

    record = api.client.get("/intents/r-nfz", headers=api.headers["red"])
    assert record.status_code == 200, record.text
    (filing,) = record.json()["filings"]
    assert filing["justification"] == JUSTIFICATION
    assert filing["action"] == "filed"
    assert filing["party"] == "red"
    assert filing["member"] == api.members["red"]
    assert filing["checked_version"] == v
    assert filing["world_version"] == v + 1
    assert any(c["other"]["id"] == "blue-nfz" for c in filing["conflicts"])
    assert record.json()["intent"]["features"][0]["properties"]["id"] == "r-nfz"

    (note,) = notes(api, "blue", "conflict.disclosed")
    assert note["body"]["severity"] == "blocking"
    assert note["body"]["filing_party"] == "red"
    assert note["body"]["override"] == {"justification": JUSTIFICATION}
    assert {d["type"] for d in note["body"]["disclosures"]} == {"nfz"}


def test_a_justification_too_short_is_refused(api: Api) -> None:
    v = api.version()
    r = file(api, "red", intent("r-nfz", 36.05, 35.05, size=0.05), v, justification="because")
    assert r.status_code == 422, r.text
    assert_not_filed(api, "red", "r-nfz", v)
    blank = file(api, "red", intent("r-nfz", 36.05, 35.05, size=0.05), v, justification=" " * 20)
    assert blank.status_code == 422, blank.text
    assert_not_filed(api, "red", "r-nfz", v)


def test_an_advisory_filing_records_no_justification(api: Api) -> None:
    v = api.version()
    r = file(api, "red", intent("r1", 40.0, 35.0), v, justification=JUSTIFICATION)
    assert r.status_code == 201, r.text
    assert r.json()["overridden"] is False
    (filing,) = api.client.get("/intents/r1", headers=api.headers["red"]).json()["filings"]
    assert filing["justification"] is None


def test_the_zone_owner_is_not_bound_by_its_own_zone(api: Api) -> None:
    r = file(api, "blue", intent("b-own", 36.05, 35.05, size=0.05), api.version())
    assert r.status_code == 201, r.text
    assert r.json()["conflicts"] == []


def test_a_protected_site_blocks_and_aid_is_told_of_an_override(api: Api) -> None:
    v = api.version()
    near_hospital = intent("r-site", 36.45, 35.45, size=0.1)
    r = file(api, "red", near_hospital, v)
    assert r.status_code == 409, r.text
    assert r.json()["type"] == "/problems/blocking-conflicts"
    assert ("protected_site", "site", "aid-hospital") in others(r.json())
    assert_not_filed(api, "red", "r-site", v)
    assert notes(api, "aid", "conflict.disclosed") == []

    r = file(api, "red", near_hospital, v, justification=JUSTIFICATION)
    assert r.status_code == 201, r.text
    assert r.json()["notified"] == ["aid"]
    (note,) = notes(api, "aid", "conflict.disclosed")
    assert note["body"]["filing_party"] == "red"
    assert note["body"]["severity"] == "blocking"
    assert note["body"]["override"] == {"justification": JUSTIFICATION}
    (disclosure,) = note["body"]["disclosures"]
    assert disclosure["type"] == "protected_site"
    assert disclosure["concerns"] == {"kind": "site", "id": "aid-hospital"}
    # clipped to the hospital's 2 km: a small part of red's 0.1 degree square (about 9 x 11 km)
    area = shape(disclosure["area"])
    assert 0 < area.area < shape({"type": "Polygon", "coordinates": square(36.45, 35.45, 0.1)}).area / 4
    min_lon, min_lat, max_lon, max_lat = area.bounds
    assert min_lon > 36.47 and max_lon < 36.53 and min_lat > 35.47 and max_lat < 35.53


def test_a_convoy_blocks_in_its_window_only(api: Api) -> None:
    v = api.version()
    on_route = intent("r-convoy", 36.7, 34.995, size=0.01)
    r = file(api, "red", on_route, v)
    assert r.status_code == 409, r.text
    assert ("humanitarian_movement", "movement", "aid-convoy") in others(r.json())
    assert_not_filed(api, "red", "r-convoy", v)

    after_the_convoy = intent("r-late", 36.7, 34.995, size=0.01, time=(T1, "2017-07-07T14:00:00Z"))
    late = file(api, "red", after_the_convoy, v)
    assert late.status_code == 201, late.text
    assert late.json()["conflicts"] == []
    assert notes(api, "aid", "conflict.disclosed") == []

    r = file(api, "red", on_route, v + 1, justification=JUSTIFICATION)
    assert r.status_code == 201, r.text
    (note,) = notes(api, "aid", "conflict.disclosed")
    assert note["body"]["override"] == {"justification": JUSTIFICATION}
    (disclosure,) = note["body"]["disclosures"]
    assert disclosure["type"] == "humanitarian_movement"
    assert disclosure["time"] == [T0, T1]


def test_a_purpose_exemption_lets_a_humanitarian_flight_through(api: Api) -> None:
    zone = feature(
        "nfz",
        "blue-hum",
        {"type": "Polygon", "coordinates": square(39.0, 35.0, 0.2)},
        exempt=["humanitarian", "medevac"],
        altitude_m=[None, None],
        time=[None, None],
    )
    declared = api.client.post(
        "/objects", headers=api.headers["blue"], json={"type": "FeatureCollection", "features": [zone]}
    )
    assert declared.status_code == 201, declared.text
    v = declared.json()["world_version"]
    assert [n["body"]["id"] for n in notes(api, "red", "object.declared")] == ["blue-hum"]

    relief = file(api, "red", intent("r-relief", 39.05, 35.05, size=0.05, purpose="humanitarian"), v)
    assert relief.status_code == 201, relief.text
    assert relief.json()["conflicts"] == []

    strike = file(api, "red", intent("r-strike", 39.05, 35.05, size=0.05), v + 1)
    assert strike.status_code == 409, strike.text
    assert ("nfz", "nfz", "blue-hum") in others(strike.json())

    # blue-nfz exempts nothing: a humanitarian flight is still bound by it
    bound = file(api, "red", intent("r-relief2", 36.05, 35.05, size=0.05, purpose="humanitarian"), v + 1)
    assert bound.status_code == 409, bound.text


# -- amend and cancel ------------------------------------------------------------


def test_amending_away_from_a_conflict_tells_the_party_told_before(api: Api) -> None:
    assert file(api, "blue", intent("b1", 38.0, 35.0, size=0.05), api.version()).status_code == 201
    r = file(api, "red", intent("r1", 38.02, 35.02, size=0.05), api.version())
    assert r.status_code == 201, r.text
    assert r.json()["notified"] == ["blue"]
    assert len(notes(api, "blue", "conflict.disclosed")) == 1

    moved = amend(api, "red", "r1", intent("r1", 41.0, 35.0, size=0.05), api.version())
    assert moved.status_code == 200, moved.text
    assert moved.json()["conflicts"] == []
    assert moved.json()["notified"] == []
    (told,) = notes(api, "blue", "intent.amended")
    assert told["body"]["intent"] == "r1"
    assert told["body"]["filing_party"] == "red"
    assert told["body"]["filing"] == moved.json()["filing"]
    assert len(notes(api, "blue", "conflict.disclosed")) == 1

    record = api.client.get("/intents/r1", headers=api.headers["red"]).json()
    assert [f["action"] for f in record["filings"]] == ["filed", "amended"]
    coords = record["intent"]["features"][0]["geometry"]["coordinates"][0]
    assert min(x for x, _ in coords) == 41.0

    # a further amendment far from blue tells blue nothing more
    again = amend(api, "red", "r1", intent("r1", 42.0, 35.0, size=0.05), api.version())
    assert again.status_code == 200, again.text
    assert len(notes(api, "blue", "intent.amended")) == 1


def test_an_amendment_is_rechecked(api: Api) -> None:
    v = api.version()
    assert file(api, "red", intent("r1", 41.0, 35.0), v).status_code == 201
    into_zone = amend(api, "red", "r1", intent("r1", 36.05, 35.05, size=0.05), v + 1)
    assert into_zone.status_code == 409, into_zone.text
    assert into_zone.json()["type"] == "/problems/blocking-conflicts"
    assert api.version() == v + 1
    kept = api.client.get("/intents/r1", headers=api.headers["red"]).json()
    assert [f["action"] for f in kept["filings"]] == ["filed"]
    assert kept["intent"]["features"][0]["geometry"]["coordinates"][0][0] == [41.0, 35.0]
    # the URL and the features must name the same intent
    other_id = amend(api, "red", "r1", intent("r2", 41.0, 35.0), v + 1)
    assert other_id.status_code == 422, other_id.text
    # amending needs the world version too
    no_version = api.client.put("/intents/r1", headers=api.headers["red"], json={"intent": intent("r1", 41.0, 35.0)})
    assert no_version.status_code == 422, no_version.text


def test_cancelling_tells_every_party_told_of_the_intent(api: Api) -> None:
    assert file(api, "blue", intent("b1", 38.0, 35.0, size=0.05), api.version()).status_code == 201
    assert file(api, "red", intent("r1", 38.02, 35.02, size=0.05), api.version()).status_code == 201
    v = api.version()
    gone = api.client.delete("/intents/r1", headers=api.headers["red"])
    assert gone.status_code == 200, gone.text
    assert gone.json()["world_version"] == v + 1
    (told,) = notes(api, "blue", "intent.cancelled")
    assert told["body"]["intent"] == "r1"
    assert told["body"]["filing_party"] == "red"
    record = api.client.get("/intents/r1", headers=api.headers["red"])
    assert record.status_code == 200, record.text
    assert record.json()["intent"] is None
    assert [f["action"] for f in record.json()["filings"]] == ["filed", "cancelled"]
    # cancelled means gone from the world: blue's next filing there is clear
    again = file(api, "blue", intent("b2", 38.02, 35.02, size=0.05), api.version())
    assert again.status_code == 201, again.text
    assert others(again.json()) == set()
    # and cancelling twice finds nothing
    assert api.client.delete("/intents/r1", headers=api.headers["red"]).status_code == 404


def test_the_same_id_twice_is_already_filed(api: Api) -> None:
    v = api.version()
    assert file(api, "red", intent("r1", 41.0, 35.0), v).status_code == 201
    twice = file(api, "red", intent("r1", 42.0, 35.0), v + 1)
    assert twice.status_code == 409, twice.text
    assert twice.json()["type"] == "/problems/already-exists"
    assert api.version() == v + 1


def test_another_party_cannot_amend_or_cancel(api: Api) -> None:
    v = api.version()
    assert file(api, "red", intent("r1", 41.0, 35.0), v).status_code == 201
    blue_amend = amend(api, "blue", "r1", intent("r1", 42.0, 35.0), v + 1)
    assert blue_amend.status_code == 404, blue_amend.text
    blue_cancel = api.client.delete("/intents/r1", headers=api.headers["blue"])
    assert blue_cancel.status_code == 404, blue_cancel.text
    assert api.client.get("/intents/r1", headers=api.headers["blue"]).status_code == 404
    assert api.version() == v + 1
    record = api.client.get("/intents/r1", headers=api.headers["red"]).json()
    assert [f["action"] for f in record["filings"]] == ["filed"]
    assert record["intent"]["features"][0]["geometry"]["coordinates"][0][0] == [41.0, 35.0]


def test_only_military_parties_file(api: Api) -> None:
    v = api.version()
    for party in ("aid", "watch", "secretariat"):
        r = file(api, party, intent(f"{party}-1", 41.0, 35.0), v)
        assert r.status_code == 403, r.text
        assert r.json()["type"] == "/problems/forbidden"
    assert api.version() == v


def test_an_id_reused_after_a_cancel_shows_each_party_only_its_own_filings(api: Api) -> None:
    """Red files and cancels ``op-1``; blue later files its own ``op-1``: neither sees the other's."""
    near_hospital = intent("op-1", 36.49, 35.49, size=0.02)
    assert file(api, "red", near_hospital, api.version(), justification=JUSTIFICATION).status_code == 201
    assert api.client.delete("/intents/op-1", headers=api.headers["red"]).status_code == 200
    assert len(notes(api, "aid", "intent.cancelled")) == 1

    reused = file(api, "blue", intent("op-1", 44.0, 30.0), api.version())
    assert reused.status_code == 201, reused.text

    mine = api.client.get("/intents/op-1", headers=api.headers["blue"])
    assert mine.status_code == 200, mine.text
    assert {f["party"] for f in mine.json()["filings"]} == {"blue"}
    assert mine.json()["intent"]["features"][0]["properties"]["party"] == "blue"

    theirs = api.client.get("/intents/op-1", headers=api.headers["red"])
    assert theirs.status_code in (200, 404), theirs.text
    if theirs.status_code == 200:
        assert theirs.json()["intent"] is None
        assert {f["party"] for f in theirs.json()["filings"]} == {"red"}

    # blue amends and cancels its own op-1: aid, told only of red's old op-1, hears nothing of it
    aid_before = notes(api, "aid")
    moved = amend(api, "blue", "op-1", intent("op-1", 44.5, 30.0), api.version())
    assert moved.status_code == 200, moved.text
    assert api.client.delete("/intents/op-1", headers=api.headers["blue"]).status_code == 200
    assert notes(api, "aid") == aid_before
