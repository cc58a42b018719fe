"""Need-to-know over the API: who reads which objects, the access log, disclosures and list filters.

Every test here touches storage, so it runs on SQLite and on PostGIS.
"""

from __future__ import annotations

from typing import Any

from tests.api.world import NOW, T0, T1, Api, feature, intent, square

WORLD = {("nfz", "blue-nfz"), ("site", "aid-hospital"), ("movement", "aid-convoy")}


def file(api: Api, party: str, doc: dict[str, Any]) -> dict[str, Any]:
    r = api.client.post("/intents", headers=api.headers[party], json={"intent": doc, "world_version": api.version()})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def page(api: Api, party: str, **params: Any) -> dict[str, Any]:
    r = api.client.get("/objects", headers=api.headers[party], params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def keys(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(f["properties"]["kind"], f["properties"]["id"]) for f in body["features"]}


def listed(api: Api, party: str, **params: Any) -> set[tuple[str, str]]:
    """Every object the party may list, through all pages."""
    seen: set[tuple[str, str]] = set()
    after = None
    for _ in range(1000):
        body = page(api, party, **params, **({} if after is None else {"after": after}))
        seen |= keys(body)
        after = body["next"]
        if after is None:
            return seen
    raise AssertionError("paging never ended")


def read(api: Api, party: str, kind: str, oid: str) -> Any:
    return api.client.get(f"/objects/{kind}/{oid}", headers=api.headers[party])


def blue_and_red_intents(api: Api) -> None:
    file(api, "blue", intent("b1", 38.0, 35.0, size=0.05))
    file(api, "red", intent("r1", 38.02, 35.02, size=0.05))


# -- intents ----------------------------------------------------------------------


def test_red_never_sees_blues_intent(api: Api) -> None:
    blue_and_red_intents(api)
    for path in ("/intents/b1", "/objects/intent/b1"):
        r = api.client.get(path, headers=api.headers["red"])
        assert r.status_code == 404, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "38.0" not in r.text
    # an intent that does not exist answers the same as one red may not see
    missing = api.client.get("/intents/nope", headers=api.headers["red"])
    hidden = api.client.get("/intents/b1", headers=api.headers["red"])
    assert missing.status_code == hidden.status_code == 404
    assert missing.json()["detail"].replace("nope", "X") == hidden.json()["detail"].replace("b1", "X")

    assert ("intent", "b1") not in listed(api, "red")
    assert ("intent", "r1") in listed(api, "red")
    assert listed(api, "red", kind="intent") == {("intent", "r1")}
    assert listed(api, "blue", kind="intent") == {("intent", "b1")}
    assert page(api, "red", kind="intent", bbox="37.9,34.9,38.1,35.1")["features"][0]["properties"]["id"] == "r1"


def test_no_other_party_reads_an_intent_but_the_secretariat(api: Api) -> None:
    blue_and_red_intents(api)
    for party in ("red", "aid", "watch"):
        assert read(api, party, "intent", "b1").status_code == 404
        assert api.client.get("/intents/b1", headers=api.headers[party]).status_code == 404
        assert ("intent", "b1") not in listed(api, party)
    assert read(api, "secretariat", "intent", "b1").status_code == 200
    record = api.client.get("/intents/b1", headers=api.headers["secretariat"])
    assert record.status_code == 200, record.text
    assert [f["party"] for f in record.json()["filings"]] == ["blue"]
    assert read(api, "blue", "intent", "b1").status_code == 200


# -- zones, sites and movements ---------------------------------------------------


def test_red_sees_the_zone_and_the_humanitarian_data_and_each_read_is_logged(api: Api) -> None:
    assert listed(api, "red") == WORLD
    for kind, oid in sorted(WORLD):
        r = read(api, "red", kind, oid)
        assert r.status_code == 200, r.text
        assert r.json()["features"][0]["properties"]["id"] == oid

    log = api.client.get("/access-log", headers=api.headers["aid"])
    assert log.status_code == 200, log.text
    entries = log.json()
    red = [e for e in entries if e["party"] == "red"]
    assert {(e["kind"], e["id"], e["via"]) for e in red} == {
        ("site", "aid-hospital", "list"),
        ("movement", "aid-convoy", "list"),
        ("site", "aid-hospital", "read"),
        ("movement", "aid-convoy", "read"),
    }
    assert all(e["member"] == api.members["red"] for e in red)
    assert all(e["owner"] == "aid" for e in red)
    assert {e["at"].replace("+00:00", "Z") for e in red} == {NOW.isoformat().replace("+00:00", "Z")}
    # the zone is shared geography: reading it is not logged
    assert not any(e["kind"] == "nfz" for e in entries)


def test_the_access_log_is_the_owners(api: Api) -> None:
    read(api, "red", "site", "aid-hospital")
    assert api.client.get("/access-log", headers=api.headers["red"]).json() == []
    assert api.client.get("/access-log", headers=api.headers["blue"]).json() == []
    everything = api.client.get("/access-log", headers=api.headers["secretariat"]).json()
    assert [(e["party"], e["id"]) for e in everything] == [("red", "aid-hospital")]


def test_aid_sees_its_own_and_the_zone_watch_only_the_zone(api: Api) -> None:
    blue_and_red_intents(api)
    assert listed(api, "aid") == WORLD
    assert read(api, "aid", "site", "aid-hospital").status_code == 200
    # a party reading its own data is not logged
    assert api.client.get("/access-log", headers=api.headers["aid"]).json() == []

    assert listed(api, "watch") == {("nfz", "blue-nfz")}
    assert read(api, "watch", "nfz", "blue-nfz").status_code == 200
    for kind, oid in (("site", "aid-hospital"), ("movement", "aid-convoy"), ("intent", "b1"), ("intent", "r1")):
        assert read(api, "watch", kind, oid).status_code == 404
    assert listed(api, "watch", kind="site") == set()


def test_a_second_humanitarian_party_does_not_see_aids_data(api: Api) -> None:
    made = api.client.post(
        "/parties", headers=api.headers["secretariat"], json={"id": "relief", "name": "Relief", "role": "humanitarian"}
    )
    assert made.status_code == 201, made.text
    member = api.client.post("/parties/relief/members", headers=api.headers["secretariat"], json={"name": "r"})
    token = api.client.post(f"/members/{member.json()['id']}/tokens", headers=api.headers["secretariat"], json={})
    api.headers["relief"] = {"Authorization": f"Bearer {token.json()['token']}"}
    assert listed(api, "relief") == {("nfz", "blue-nfz")}
    assert read(api, "relief", "site", "aid-hospital").status_code == 404
    # writing to it answers as reading does: it is not there for relief
    version = api.version()
    site = feature("site", "aid-hospital", {"type": "Point", "coordinates": [36.5, 35.5]}, radius_m=5000)
    body = {"type": "FeatureCollection", "features": [site]}
    replaced = api.client.put("/objects/site/aid-hospital", headers=api.headers["relief"], json=body)
    assert replaced.status_code == 404, replaced.text
    assert replaced.json()["detail"] == "no site 'aid-hospital' of relief"
    assert api.client.delete("/objects/site/aid-hospital", headers=api.headers["relief"]).status_code == 404
    assert api.version() == version
    assert (
        api.client.get("/objects/site/aid-hospital", headers=api.headers["aid"]).json()["features"][0]["properties"][
            "radius_m"
        ]
        == 2000
    )


def test_the_secretariat_sees_everything(api: Api) -> None:
    blue_and_red_intents(api)
    assert listed(api, "secretariat") == WORLD | {("intent", "b1"), ("intent", "r1")}
    for kind, oid in sorted(WORLD | {("intent", "b1"), ("intent", "r1")}):
        assert read(api, "secretariat", kind, oid).status_code == 200


# -- disclosures ------------------------------------------------------------------


def test_disclosures_show_only_the_callers(api: Api) -> None:
    blue_and_red_intents(api)
    blue = api.client.get("/disclosures", headers=api.headers["blue"]).json()
    red = api.client.get("/disclosures", headers=api.headers["red"]).json()
    assert [d["recipient"] for d in blue] == ["blue"]
    assert blue[0]["filing_party"] == "red" and blue[0]["intent"] == "r1"
    assert red == []
    for party in ("aid", "watch"):
        assert api.client.get("/disclosures", headers=api.headers[party]).json() == []
    everything = api.client.get("/disclosures", headers=api.headers["secretariat"]).json()
    assert [d["recipient"] for d in everything] == ["blue"]

    # blue files near red: now red is told, and blue still sees only its own
    file(api, "red", intent("r2", 45.0, 30.0))
    file(api, "blue", intent("b2", 45.02, 30.02, size=0.05))
    red = api.client.get("/disclosures", headers=api.headers["red"]).json()
    assert [(d["recipient"], d["intent"]) for d in red] == [("red", "b2")]
    blue = api.client.get("/disclosures", headers=api.headers["blue"]).json()
    assert {d["recipient"] for d in blue} == {"blue"}
    # pages by id
    first = api.client.get("/disclosures", headers=api.headers["secretariat"], params={"limit": 1}).json()
    rest = api.client.get("/disclosures", headers=api.headers["secretariat"], params={"after": first[0]["id"]}).json()
    assert len(first) == 1 and len(rest) == 1 and rest[0]["id"] > first[0]["id"]


# -- list filters and paging ------------------------------------------------------


def test_list_filters_by_kind_bbox_and_time(api: Api) -> None:
    assert listed(api, "red", kind="nfz") == {("nfz", "blue-nfz")}
    assert listed(api, "red", kind=["site", "movement"]) == {("site", "aid-hospital"), ("movement", "aid-convoy")}
    # a box around the hospital only
    assert listed(api, "red", bbox="36.45,35.45,36.55,35.55") == {("site", "aid-hospital")}
    # a box just outside the hospital's circle (2 km is about 0.022 degrees of longitude there)
    assert listed(api, "red", bbox="36.53,35.45,36.6,35.55") == set()
    # a box over the zone and the convoy's route
    assert listed(api, "red", bbox="36.1,34.9,36.7,35.1") == {("nfz", "blue-nfz"), ("movement", "aid-convoy")}
    # time: the convoy is there 06:00-12:00 only (half-open)
    after = {"start": T1, "end": "2017-07-07T18:00:00Z"}
    assert listed(api, "red", **after) == {("nfz", "blue-nfz"), ("site", "aid-hospital")}
    during = {"start": "2017-07-07T11:59:00Z", "end": T1}
    assert listed(api, "red", **during) == WORLD
    before = {"end": T0}
    assert listed(api, "red", **before) == {("nfz", "blue-nfz"), ("site", "aid-hospital")}
    # all together
    assert listed(api, "red", kind="movement", bbox="36.1,34.9,36.7,35.1", start=T0, end=T1) == {
        ("movement", "aid-convoy")
    }


def test_bad_filters_are_problems(api: Api) -> None:
    for params in (
        {"bbox": "1,2,3"},
        {"bbox": "a,b,c,d"},
        {"start": "2017-07-07T06:00:00"},
        {"start": T1, "end": T0},
        {"after": "nonsense"},
        {"kind": "tank"},
        {"limit": 0},
    ):
        r = api.client.get("/objects", headers=api.headers["red"], params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


def test_paging_yields_every_visible_object_exactly_once(api: Api) -> None:
    for i in range(7):
        zone = feature(
            "nfz",
            f"red-zone-{i}",
            {"type": "Polygon", "coordinates": square(30.0 + i, 30.0, 0.1)},
            altitude_m=[None, None],
            time=[None, None],
        )
        r = api.client.post(
            "/objects", headers=api.headers["red"], json={"type": "FeatureCollection", "features": [zone]}
        )
        assert r.status_code == 201, r.text
    for i in range(4):
        file(api, "blue", intent(f"b-{i}", 50.0 + i, 30.0))
    file(api, "red", intent("r-0", 60.0, 30.0))

    for party, limit in (("red", 1), ("red", 2), ("red", 3), ("watch", 2), ("secretariat", 4), ("aid", 10)):
        every = keys(page(api, party, limit=500))
        assert every
        seen: list[tuple[str, str]] = []
        after = None
        while True:
            params: dict[str, Any] = {"limit": limit} | ({} if after is None else {"after": after})
            body = page(api, party, **params)
            assert len(body["features"]) <= limit
            seen.extend(sorted(keys(body)))
            after = body["next"]
            if after is None:
                break
        assert len(seen) == len(set(seen)), (party, limit, seen)
        assert set(seen) == every
    red = keys(page(api, "red", limit=500))
    assert {k for k in red if k[0] == "intent"} == {("intent", "r-0")}
    assert len(red) == 3 + 7 + 1
    assert len(keys(page(api, "secretariat", limit=500))) == 3 + 7 + 5


def test_a_dry_run_that_names_another_partys_intent_is_in_its_access_log(api: Api) -> None:
    file(api, "blue", intent("b1", 38.0, 35.0, size=0.05))
    probe = api.client.post(
        "/intents", params={"dry_run": "true"}, headers=api.headers["red"], json={"intent": intent("probe", 38.0, 35.0)}
    )
    assert probe.status_code == 200, probe.text
    assert [c["other"]["id"] for c in probe.json()["conflicts"]] == ["b1"]
    log = api.client.get("/access-log", headers=api.headers["blue"]).json()
    assert [(e["party"], e["kind"], e["id"], e["via"]) for e in log] == [("red", "intent", "b1", "dry-run")]
    assert log[0]["member"] == api.members["red"]
