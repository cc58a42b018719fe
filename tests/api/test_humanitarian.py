"""Humanitarian notification over the API: lead times, amendments, withdrawals, deadlines,
dissemination, rules, outcomes, the corridor check and HXL exchange.

Most tests use the small test world (``tests/api/world.py``: ``aid`` notifies,
``blue`` and ``red`` acknowledge; now is 6 July 2017 12:00 UTC); the corridor
and HXL round trips use the demo scenario (``tests/api/demo_world.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.api.demo_world import start_demo_api
from tests.api.world import NOW, T0, T1, Api, feature, intent

MOVE = [[36.6, 36.0], [36.9, 36.0]]


@pytest.fixture
def demo(sqlite_url: str) -> Iterator[Api]:
    yield from start_demo_api(sqlite_url)


def movement(oid: str, start: str = T0, end: str | None = T1, coords: list[list[float]] = MOVE, **props: Any) -> Any:
    geometry = {"type": "LineString", "coordinates": coords}
    f = feature("movement", oid, geometry, corridor_m=1000, time=[start, end], **props)
    return {"type": "FeatureCollection", "features": [f]}


def site(oid: str, lon: float = 36.3, lat: float = 36.3, **props: Any) -> Any:
    f = feature("site", oid, {"type": "Point", "coordinates": [lon, lat]}, radius_m=500, **props)
    return {"type": "FeatureCollection", "features": [f]}


def problems(r: Any) -> list[str]:
    return [e["message"] for e in r.json().get("errors", [])]


def notify(api: Api, body: Any, *, urgent: bool = False) -> dict[str, Any]:
    r = api.client.post("/objects", headers=api.headers["aid"], json=body, params={"urgent": urgent})
    assert r.status_code == 201, r.text
    notice: dict[str, Any] = r.json()["notice"]
    return notice


def inbox(api: Api, party: str, type: str) -> list[dict[str, Any]]:
    items = api.client.get("/notifications", headers=api.headers[party], params={"limit": 500}).json()["items"]
    return [n for n in items if n["type"] == type]


def counts(api: Api) -> tuple[int, int, int]:
    """World version, notices the secretariat sees, audit log size: what a refusal must leave alone."""
    h = api.headers["secretariat"]
    return (
        api.version(),
        len(api.client.get("/notices", headers=h).json()),
        api.client.get("/audit/head", headers=h).json()["size"],
    )


# -- lead times --------------------------------------------------------------------------------


def test_lead_time_refusal_names_the_earliest_acceptable_start(sqlite_api: Api) -> None:
    api, h = sqlite_api, sqlite_api.headers
    r = api.client.put("/humanitarian/rules", headers=h["secretariat"], json={"movement_lead_h": 48})
    assert r.status_code == 200 and r.json()["urgent_movement_lead_h"] == 3  # left as it was
    before = counts(api)
    r = api.client.post("/objects", headers=h["aid"], json=movement("late-convoy"))
    assert r.status_code == 422, r.text
    assert problems(r) == [
        "a movement must be notified at least 48 h before it starts: it starts 2017-07-07T06:00:00Z, "
        "the earliest acceptable start now is 2017-07-08T12:00:00Z"
    ]
    assert counts(api) == before
    # Marked urgent, the shorter lead time applies; 24 h is still too long for a start 18 h away.
    api.client.put("/humanitarian/rules", headers=h["secretariat"], json={"urgent_movement_lead_h": 24})
    r = api.client.post("/objects", headers=h["aid"], json=movement("late-convoy"), params={"urgent": True})
    assert "an urgent movement must be notified at least 24 h" in problems(r)[0]
    assert "earliest acceptable start now is 2017-07-07T12:00:00Z" in problems(r)[0]
    api.client.put("/humanitarian/rules", headers=h["secretariat"], json={"urgent_movement_lead_h": 12})
    notice = notify(api, movement("late-convoy"), urgent=True)
    # Urgent: 6 h to acknowledge.
    assert notice["deadline"] == "2017-07-06T18:00:00Z"


def test_rules_are_validated(sqlite_api: Api) -> None:
    h = sqlite_api.headers["secretariat"]
    for bad in ({"movement_lead_h": -1}, {"ack_within_h": 0}, {"lead": 5}, {"movement_lead_h": "soon"}):
        r = sqlite_api.client.put("/humanitarian/rules", headers=h, json=bad)
        assert r.status_code == 422, (bad, r.text)
    assert sqlite_api.client.put("/humanitarian/rules", headers=sqlite_api.headers["blue"], json={}).status_code == 403


def test_bad_notices_are_refused_with_every_problem_and_nothing_stored(sqlite_api: Api) -> None:
    api = sqlite_api
    before = counts(api)
    r = api.client.post("/objects", headers=api.headers["aid"], json=site("odd-site", site_type="bunker"))
    assert r.status_code == 422 and "site_type 'bunker' is not one of" in problems(r)[0]
    r = api.client.post("/objects", headers=api.headers["aid"], json=movement("endless", end=None))
    assert r.status_code == 422 and problems(r) == ["a movement is notified with its start and end"]
    assert counts(api) == before


# -- amendments, withdrawals, deadlines -------------------------------------------------------


def test_amendment_is_a_new_notice_and_a_material_one_meets_the_lead_time(sqlite_api: Api) -> None:
    api, c, h = sqlite_api, sqlite_api.client, sqlite_api.headers
    first = notify(api, movement("convoy-2", start="2017-07-08T06:00:00Z", end="2017-07-08T12:00:00Z"))
    assert first["action"] == "notified" and first["recipients"] == ["blue", "red"]
    # Cargo changes: no lead time applies, but the parties must acknowledge the amendment too.
    r = c.put(
        "/objects/movement/convoy-2",
        headers=h["aid"],
        json=movement("convoy-2", "2017-07-08T06:00:00Z", "2017-07-08T12:00:00Z", cargo="tents"),
    )
    assert r.status_code == 200, r.text
    amended = r.json()["notice"]
    assert amended["action"] == "amended" and amended["id"] != first["id"]
    assert [n["body"]["notice"] for n in inbox(api, "blue", "notice.amended")] == [amended["id"]]
    # Moving it to start 2 h from now is a material change: the lead time (6 h in the test world) refuses it.
    r = c.put(
        "/objects/movement/convoy-2",
        headers=h["aid"],
        json=movement("convoy-2", "2017-07-06T14:00:00Z", "2017-07-06T20:00:00Z"),
    )
    assert r.status_code == 422 and "earliest acceptable start now is 2017-07-06T18:00:00Z" in problems(r)[0]
    # The notices of one movement, in order.
    listed = c.get("/notices", headers=h["aid"], params={"object": "convoy-2"}).json()
    assert [(n["action"], n["id"]) for n in listed] == [("notified", first["id"]), ("amended", amended["id"])]


def test_withdrawal_is_told_and_never_escalated(sqlite_api: Api) -> None:
    api, c, h = sqlite_api, sqlite_api.client, sqlite_api.headers
    notify(api, site("field-clinic"))
    r = c.delete("/objects/site/field-clinic", headers=h["aid"])
    assert r.status_code == 200, r.text
    withdrawn = r.json()["notice"]
    assert withdrawn["action"] == "withdrawn" and withdrawn["deadline"] is None
    assert [n["body"]["id"] for n in inbox(api, "red", "notice.withdrawn")] == ["field-clinic"]
    api.clock.at = NOW + timedelta(days=3)
    swept = c.post("/humanitarian/timers", headers=h["secretariat"]).json()
    assert swept == {"reminded": 0, "escalated": 2}  # the first notice's two parties; the withdrawal none
    api.clock.at = NOW


def test_late_acknowledgement_is_shown_as_late(sqlite_api: Api) -> None:
    api, c, h = sqlite_api, sqlite_api.client, sqlite_api.headers
    notice = notify(api, site("school-1", site_type="school"))
    assert notice["deadline"] == "2017-07-07T12:00:00Z"
    api.clock.at = NOW + timedelta(hours=30)
    r = c.post(f"/notices/{notice['id']}/ack", headers=h["blue"], json={})
    assert r.status_code == 200, r.text
    rows = {r["party"]: r for r in c.get(f"/notices/{notice['id']}", headers=h["aid"]).json()["recipients"]}
    assert rows["blue"]["state"] == "acknowledged-late" and rows["red"]["state"] == "overdue"
    stats = c.get("/humanitarian/stats", headers=h["red"]).json()["acknowledgements"]
    assert (stats["blue"]["late"], stats["blue"]["median_ack_s"], stats["red"]["overdue"]) == (1, 30 * 3600, 1)
    api.clock.at = NOW


def test_a_notice_that_crosses_a_filed_intent_tells_its_party_at_once(sqlite_api: Api) -> None:
    api, c, h = sqlite_api, sqlite_api.client, sqlite_api.headers
    r = c.post(
        "/intents", headers=h["blue"], json={"intent": intent("blue-op", 37.0, 36.0), "world_version": api.version()}
    )
    assert r.status_code == 201, r.text
    # A site far away: nothing.  The convoy amended to pass through the intent: blue is told, red is not.
    notify(api, site("far-site", 30.0, 30.0))
    notice = notify(api, movement("convoy-3", coords=[[36.8, 36.05], [37.2, 36.05]]))
    told = inbox(api, "blue", "notice.conflict")
    assert [(n["body"]["notice"], n["body"]["intent"]) for n in told] == [(notice["id"], "blue-op")]
    assert told[0]["body"]["conflicts"][0]["type"] == "humanitarian_movement"
    assert not inbox(api, "red", "notice.conflict")
    assert notice["filed_intents_in_conflict"] == 1
    seen = c.get(f"/notices/{notice['id']}", headers=h["blue"]).json()
    assert [x["intent"] for x in seen["conflicts"]] == ["blue-op"]
    assert c.get(f"/notices/{notice['id']}", headers=h["red"]).json()["conflicts"] == []


# -- dissemination ------------------------------------------------------------------------------


def test_dissemination_is_checked_and_shown(sqlite_api: Api) -> None:
    api, c, h = sqlite_api, sqlite_api.client, sqlite_api.headers
    notice = notify(api, site("warehouse-1", site_type="warehouse"))
    url = f"/notices/{notice['id']}/disseminations"
    future = {"units": [{"unit": "1st brigade", "told_at": "2017-07-06T13:00:00Z"}]}
    before_sent = {"units": [{"unit": "1st brigade", "told_at": "2017-07-06T11:00:00Z"}]}
    for bad in (future, before_sent):
        r = c.post(url, headers=h["blue"], json=bad)
        assert r.status_code == 422 and "told_at lies between" in problems(r)[0]
    naive = {"units": [{"unit": "1st brigade", "told_at": "2017-07-06T12:00:00"}]}
    assert c.post(url, headers=h["blue"], json=naive).status_code == 422
    assert c.post(url, headers=h["aid"], json={"units": [{"unit": "x"}]}).status_code == 404
    r = c.post(
        url, headers=h["blue"], json={"units": [{"unit": "1st brigade", "method": "feed", "reference": "C2 #9"}]}
    )
    assert r.status_code == 201, r.text
    rows = {r["party"]: r for r in c.get(f"/notices/{notice['id']}", headers=h["aid"]).json()["recipients"]}
    assert [(u["unit"], u["method"], u["reference"]) for u in rows["blue"]["units"]] == [
        ("1st brigade", "feed", "C2 #9")
    ]
    assert rows["red"]["units"] == []


# -- outcomes -------------------------------------------------------------------------------------


def test_outcomes_are_validated_and_a_cancelled_movement_is_withdrawn(sqlite_api: Api) -> None:
    api, c, h = sqlite_api, sqlite_api.client, sqlite_api.headers
    url = "/movements/aid-convoy/outcome"
    r = c.post(url, headers=h["aid"], json={"outcome": "facilitated", "reason": "ok", "attributed_to": "red"})
    assert r.status_code == 422 and "only an impeded or denied movement" in problems(r)[0]
    r = c.post(url, headers=h["aid"], json={"outcome": "denied", "reason": "refused", "attributed_to": "watch"})
    assert r.status_code == 422 and "'watch' is not a military party" in problems(r)[0]
    assert c.post(url, headers=h["blue"], json={"outcome": "denied", "reason": "x"}).status_code == 404
    r = c.post(url, headers=h["aid"], json={"outcome": "cancelled", "reason": "the road was cut"})
    assert r.status_code == 201, r.text
    assert r.json()["withdrawn"]["action"] == "withdrawn"
    assert c.get("/objects/movement/aid-convoy", headers=h["aid"]).status_code == 404
    assert [n["body"]["id"] for n in inbox(api, "blue", "notice.withdrawn")] == ["aid-convoy"]
    stats = c.get("/humanitarian/stats", headers=h["aid"]).json()
    assert stats["outcomes"]["aid"]["cancelled"] == 1
    assert c.get("/humanitarian/stats", headers=h["watch"]).status_code == 403


# -- the corridor check, on the demo -----------------------------------------------------------------


def corridor(api: Api, coords: list[list[float]], start: str, end: str, party: str = "ocha", **extra: Any) -> Any:
    body = {"route": {"type": "LineString", "coordinates": coords}, "start": start, "end": end, **extra}
    r = api.client.post("/corridor", headers=api.headers[party], json=body)
    assert r.status_code == 200, r.text
    return r.json()


HOMS, HAMA = [36.73, 34.72], [36.76, 35.13]
DAMASCUS, RUKBAN = [36.29, 33.51], [38.70, 33.29]


def test_corridor_avoids_a_filed_intent(demo: Api) -> None:
    found = corridor(demo, [HOMS, HAMA], "2017-07-07T05:00:00Z", "2017-07-07T06:30:00Z")
    assert not found["clear"]
    hazards = [x for s in found["segments"] for x in s["hazards"]]
    # The Syrian training sortie, shown as hazard area and window only: no id, no party.
    assert hazards and all(x["kind"] == "intent" and "id" not in x and "party" not in x for x in hazards)
    assert hazards[0]["window"] == ["2017-07-07T05:00:00Z", "2017-07-07T06:30:00Z"]
    route = found["route"]
    assert route["found"] and any("Salamiyah" in name for name in route["roads"])
    assert route["detour_m"] > 20_000 and route["avoided"] == [{"kind": "intent", "window": hazards[0]["window"]}]
    # The read is in the intent owner's access log.
    log = demo.client.get("/access-log", headers=demo.headers["sy"]).json()
    assert [(e["party"], e["id"], e["via"]) for e in log] == [("ocha", "sy-training-hama", "corridor")]
    # Outside the sortie's window the M5 is clear.
    clear = corridor(demo, [HOMS, HAMA], "2017-07-07T07:00:00Z", "2017-07-07T08:00:00Z")
    assert clear["clear"] and clear["route"]["detour_m"] == 0


def test_corridor_avoids_an_active_no_fly_zone(demo: Api) -> None:
    c, h = demo.client, demo.headers
    zone = feature(
        "nfz",
        "nabk-closure",
        {
            "type": "Polygon",
            "coordinates": [[[36.55, 33.95], [36.8, 33.95], [36.8, 34.1], [36.55, 34.1], [36.55, 33.95]]],
        },
        altitude_m=[None, None],
        time=["2017-07-07T00:00:00Z", "2017-07-08T00:00:00Z"],
    )
    r = c.post("/objects", headers=h["coalition"], json={"type": "FeatureCollection", "features": [zone]})
    assert r.status_code == 201, r.text
    m5 = [DAMASCUS, [36.37, 33.56], [36.73, 34.02], [36.74, 34.16], HOMS]
    found = corridor(demo, m5, "2017-07-07T08:00:00Z", "2017-07-07T14:00:00Z", plan=True)
    assert not found["clear"]
    assert {x["id"] for s in found["segments"] for x in s["hazards"]} == {"nabk-closure"}
    route = found["route"]
    assert route["found"] and "Dumayr - Qaryatayn - Homs" in route["roads"]
    assert "nabk-closure" in {x.get("id") for x in route["avoided"]}
    # The humanitarian-exempt Al-Tanf zone is no hazard to a convoy.
    tanf = corridor(demo, [DAMASCUS, RUKBAN], "2017-07-07T12:00:00Z", "2017-07-07T14:00:00Z", plan=False)
    assert tanf["clear"] and tanf["route"] is None


def test_corridor_says_when_no_clear_route_exists(demo: Api) -> None:
    found = corridor(demo, [DAMASCUS, RUKBAN], "2017-07-07T09:00:00Z", "2017-07-07T10:30:00Z")
    route = found["route"]
    assert not route["found"] and route["path"] is None
    assert "no road route" in route["reason"] and "avoids the hazards" in route["reason"]


def test_corridor_input_is_checked(demo: Api) -> None:
    c, h = demo.client, demo.headers
    body = {
        "route": {"type": "Point", "coordinates": [36.0, 33.0]},
        "start": "2017-07-07T09:00:00Z",
        "end": "2017-07-07T10:00:00Z",
    }
    assert c.post("/corridor", headers=h["ocha"], json=body).status_code == 422
    naive = {**body, "route": {"type": "LineString", "coordinates": [HOMS, HAMA]}, "start": "2017-07-07T09:00:00"}
    r = c.post("/corridor", headers=h["ocha"], json=naive)
    assert r.status_code == 422 and "explicit UTC offset" in r.text
    backwards = {**naive, "start": "2017-07-07T11:00:00Z"}
    assert c.post("/corridor", headers=h["ocha"], json=backwards).status_code == 422
    roads = {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[0, 0]]}, "properties": {}}
        ],
    }
    r = c.post("/corridor", headers=h["ocha"], json={**backwards, "start": "2017-07-07T09:00:00Z", "roads": roads})
    assert r.status_code == 422 and r.json()["errors"][0]["index"] == 0


# -- HXL exchange on the demo ---------------------------------------------------------------------------


def test_hxl_round_trip_of_the_demo_sites(demo: Api) -> None:
    c, h = demo.client, demo.headers
    exported = c.get("/humanitarian/hxl", headers=h["ocha"])
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    text = exported.text
    assert "#meta+kind" in text.splitlines()[1] and "camp-rukban" in text
    before = c.get("/objects", headers=h["ocha"], params={"kind": ["site", "movement"], "limit": 500}).json()
    r = c.post("/humanitarian/hxl", headers={**h["ocha"], "Content-Type": "text/csv"}, content=text.encode())
    assert r.status_code == 201, r.text
    sent = r.json()["notices"]
    # Every site and movement comes back as an amendment that changes nothing in the world.
    assert sorted(n["object"] for n in sent) == sorted(f["properties"]["id"] for f in before["features"])
    assert {n["action"] for n in sent} == {"amended"}
    after = c.get("/objects", headers=h["ocha"], params={"kind": ["site", "movement"], "limit": 500}).json()
    assert json.dumps(after["features"], sort_keys=True) == json.dumps(before["features"], sort_keys=True)
    assert c.get("/humanitarian/hxl", headers=h["ocha"]).text == text


def test_malformed_hxl_is_refused_row_by_row(demo: Api) -> None:
    c, h = demo.client, demo.headers
    before = (c.get("/notices", headers=h["secretariat"]).json(), c.get("/world", headers=h["ocha"]).json())
    csv = (
        "Kind,Id,Org,Type,Lat,Lon,Radius\n"
        "#meta+kind,#meta+id,#org,#loc+type,#geo+lat,#geo+lon,#geo+radius\n"
        "site,ok-clinic,ocha,hospital,33.5,36.3,500\n"
        "site,bad-lat,ocha,hospital,95,36.3,500\n"
        "site,who,unknown-agency,hospital,33.5,36.3,500\n"
        "site,no-lon,ocha,hospital,33.5,,500\n"
    )
    r = c.post("/humanitarian/hxl", headers={**h["ocha"], "Content-Type": "text/csv"}, content=csv.encode())
    assert r.status_code == 422, r.text
    errors = {(e["index"], e["rule"]) for e in r.json()["errors"]}
    assert {line for line, _ in errors} == {4, 5, 6}
    assert (5, "hxl-unknown-org") in errors
    missing = "Kind,Id\n#meta+kind,#meta+id\nsite,x\n"
    r = c.post("/humanitarian/hxl", headers={**h["ocha"], "Content-Type": "text/csv"}, content=missing.encode())
    assert r.status_code == 422 and "hxl-missing-column" in {e["rule"] for e in r.json()["errors"]}
    # A row that reads well but breaks a rule of the mechanism (the lead time) is named by its line too.
    late = (
        "Kind,Id,Org,Route,Corridor,Start,End\n"
        "#meta+kind,#meta+id,#org,#geo+route,#geo+corridor,#date+start,#date+end\n"
        'movement,early-convoy,ocha,"LINESTRING (36.3 33.5, 36.7 33.6)",1000,'
        "2017-07-04T12:00:00Z,2017-07-04T18:00:00Z\n"
    )
    r = c.post("/humanitarian/hxl", headers={**h["ocha"], "Content-Type": "text/csv"}, content=late.encode())
    assert r.status_code == 422, r.text
    assert [(e["index"], e["rule"], e["id"]) for e in r.json()["errors"]] == [(3, "lead-time", "early-convoy")]
    after = (c.get("/notices", headers=h["secretariat"]).json(), c.get("/world", headers=h["ocha"]).json())
    assert after == before
