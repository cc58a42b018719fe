"""Agreements over HTTP, on SQLite and on PostGIS: consent, force, amendment, withdrawal.

An agreement binds the engine only once every named party has signed its
current version; what it puts in force enters the world at a new world
version (so filings checked before it see it as new), and leaves it again
when a party withdraws.  Every step is told to the parties concerned.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.api.world import Api, feature, intent, square

LINE_LON = 38.0
AMENDED_LON = 39.0
#: A red intent over [37.95, 38.05] x [34.95, 35.05]: it crosses the line at lon 38, clear of everything else.
CROSSING_V1 = (37.95, 34.95)
#: One over [38.95, 39.05] x [34.95, 35.05]: it crosses the amended line at lon 39.
CROSSING_V2 = (38.95, 34.95)
JOINT_NFZ = square(42.0, 33.0, 0.2)


def line_body(lon: float = LINE_LON, oid: str = "euphrates", buffer_m: float = 500) -> dict[str, Any]:
    geometry = {"type": "LineString", "coordinates": [[lon, 34.0], [lon, 36.0]]}
    return {
        "type": "FeatureCollection",
        "features": [feature("line", oid, geometry, buffer_m=buffer_m, altitude_m=None, time=None)],
    }


def nfz_body(oid: str = "joint-nfz") -> dict[str, Any]:
    geometry = {"type": "Polygon", "coordinates": JOINT_NFZ}
    return {"type": "FeatureCollection", "features": [feature("nfz", oid, geometry, altitude_m=None, time=None)]}


def propose(api: Api, party: str, kind: str, parties: list[str], body: dict[str, Any], title: str = "t") -> Any:
    return api.client.post(
        "/agreements",
        headers=api.headers[party],
        json={"kind": kind, "title": title, "parties": parties, "body": body},
    )


def decide(api: Api, party: str, agreement_id: str, what: str, version: int = 1, **extra: Any) -> Any:
    return api.client.post(
        f"/agreements/{agreement_id}/{what}", headers=api.headers[party], json={"version": version, **extra}
    )


def withdraw(api: Api, party: str, agreement_id: str) -> Any:
    return api.client.post(f"/agreements/{agreement_id}/withdraw", headers=api.headers[party], json={})


def proposed_line(api: Api, **kw: Any) -> dict[str, Any]:
    r = propose(api, "blue", "line", ["blue", "red"], line_body(**kw), title="Euphrates line")
    assert r.status_code == 201, r.text
    return dict(r.json())


def in_force_line(api: Api) -> dict[str, Any]:
    a = proposed_line(api)
    r = decide(api, "red", a["id"], "sign")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_force"
    return dict(r.json())


def inbox(api: Api, party: str) -> list[dict[str, Any]]:
    r = api.client.get("/notifications", headers=api.headers[party], params={"limit": 500})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def events(api: Api, party: str, type_: str, agreement_id: str | None = None) -> list[dict[str, Any]]:
    return [
        n
        for n in inbox(api, party)
        if n["type"] == type_ and (agreement_id is None or n["body"].get("agreement") == agreement_id)
    ]


def check(api: Api, party: str, oid: str, lon: float, lat: float) -> list[dict[str, Any]]:
    """The conflicts of a dry run (nothing filed, nobody told)."""
    r = api.client.post(
        "/intents", headers=api.headers[party], params={"dry_run": "true"}, json={"intent": intent(oid, lon, lat)}
    )
    assert r.status_code == 200, r.text
    return list(r.json()["conflicts"])


def line_conflicts(api: Api, party: str, lon: float, lat: float, oid: str = "probe") -> list[dict[str, Any]]:
    return [c for c in check(api, party, oid, lon, lat) if c["type"] == "line"]


def file(api: Api, party: str, oid: str, lon: float, lat: float, version: int | None = None) -> Any:
    return api.client.post(
        "/intents",
        headers=api.headers[party],
        json={"intent": intent(oid, lon, lat), "world_version": api.version() if version is None else version},
    )


def separation(api: Api) -> dict[str, Any]:
    r = api.client.get("/world", headers=api.headers["blue"])
    assert r.status_code == 200, r.text
    return dict(r.json()["separation"])


def count_agreements(api: Api) -> int:
    r = api.client.get("/agreements", headers=api.headers["secretariat"], params={"limit": 500})
    assert r.status_code == 200, r.text
    return len(r.json())


# -- proposing and signing ------------------------------------------------------


def test_proposal_is_signed_by_the_proposer_and_told_to_the_other_party(api: Api) -> None:
    version = api.version()
    a = proposed_line(api)
    assert a["status"] == "proposed"
    assert a["version"] == 1
    assert a["proposer"] == "blue"
    assert a["signed"] == ["blue"]
    assert a["unsigned"] == ["red"]
    assert api.version() == version  # a proposal changes nothing in the world
    told = events(api, "red", "agreement.proposed", a["id"])
    assert len(told) == 1
    assert told[0]["body"]["version"] == 1
    assert told[0]["body"]["status"] == "proposed"
    assert events(api, "blue", "agreement.proposed") == []  # the proposer is not told of its own proposal
    shown = api.client.get(f"/agreements/{a['id']}", headers=api.headers["red"])
    assert shown.status_code == 200
    assert [d["party"] for d in shown.json()["decisions"]] == ["blue"]


def test_a_proposed_line_does_not_bind_until_every_party_signs(api: Api) -> None:
    a = proposed_line(api)
    assert line_conflicts(api, "red", *CROSSING_V1) == []
    version = api.version()

    signed = decide(api, "red", a["id"], "sign")
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "in_force"
    assert signed.json()["signed"] == ["blue", "red"]
    assert signed.json()["unsigned"] == []
    assert api.version() == version + 1
    for party in ("blue", "red"):
        assert len(events(api, party, "agreement.in_force", a["id"])) == 1

    found = line_conflicts(api, "red", *CROSSING_V1)
    assert len(found) == 1
    assert found[0]["severity"] == "advisory"
    assert found[0]["other"]["id"] == "euphrates"
    assert found[0]["other"]["kind"] == "line"

    filed = file(api, "red", "r-cross", *CROSSING_V1)
    assert filed.status_code == 201, filed.text
    assert filed.json()["filed"] is True
    assert [c["type"] for c in filed.json()["conflicts"]] == ["line"]
    assert filed.json()["notified"] == ["blue"]  # the other signatory is told; the filer is not
    told = events(api, "blue", "conflict.disclosed")
    assert len(told) == 1
    assert told[0]["body"]["intent"] == "r-cross"
    assert told[0]["body"]["severity"] == "advisory"
    assert events(api, "red", "conflict.disclosed") == []


def test_a_filing_checked_before_the_line_came_into_force_is_stale(api: Api) -> None:
    a = proposed_line(api)
    checked = api.version()
    assert line_conflicts(api, "red", *CROSSING_V1) == []
    assert decide(api, "red", a["id"], "sign").json()["status"] == "in_force"

    stale = file(api, "red", "r-cross", *CROSSING_V1, version=checked)
    assert stale.status_code == 409, stale.text
    problem = stale.json()
    assert problem["type"] == "/problems/stale-world"
    assert [c["type"] for c in problem["new_conflicts"]] == ["line"]
    assert problem["world_version"] == checked + 1
    # Nothing was filed and nobody was told.
    assert api.client.get("/intents/r-cross", headers=api.headers["red"]).status_code == 404
    assert events(api, "blue", "conflict.disclosed") == []

    again = file(api, "red", "r-cross", *CROSSING_V1, version=problem["world_version"])
    assert again.status_code == 201, again.text


def test_a_rejected_agreement_cannot_be_signed(api: Api) -> None:
    a = proposed_line(api)
    version = api.version()
    r = decide(api, "red", a["id"], "reject", reason="the line runs through our positions")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected"
    told = events(api, "blue", "agreement.rejected", a["id"])
    assert len(told) == 1
    assert told[0]["body"]["by"] == "red"
    assert told[0]["body"]["reason"] == "the line runs through our positions"

    late = decide(api, "red", a["id"], "sign")
    assert late.status_code == 409
    assert late.headers["content-type"].startswith("application/problem+json")
    assert late.json()["type"] == "/problems/agreement-not-proposed"
    assert decide(api, "blue", a["id"], "reject").status_code == 409
    assert api.version() == version
    assert line_conflicts(api, "red", *CROSSING_V1) == []


def test_signing_twice_or_a_version_that_does_not_exist(api: Api) -> None:
    a = proposed_line(api)
    twice = decide(api, "blue", a["id"], "sign")
    assert twice.status_code == 409
    assert twice.json()["type"] == "/problems/agreement-already-signed"
    assert decide(api, "red", a["id"], "sign", version=2).status_code == 404
    assert api.client.get("/agreements/agr-nope", headers=api.headers["blue"]).status_code == 404


def test_a_third_party_can_neither_sign_nor_see_an_agreement(api: Api) -> None:
    a = proposed_line(api)
    for what in ("sign", "reject"):
        r = decide(api, "aid", a["id"], what)
        assert r.status_code == 404, r.text  # not named: it does not even learn that the agreement exists
        assert r.json()["type"] == "/problems/not-found"
    assert api.client.get(f"/agreements/{a['id']}", headers=api.headers["aid"]).status_code == 404
    assert api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["aid"], json={}).status_code == 404
    assert api.client.put(
        f"/agreements/{a['id']}", headers=api.headers["aid"], json={"body": line_body()}
    ).status_code in (403, 404)
    # The observer sees it, but is no party to it: it may not sign.
    assert api.client.get(f"/agreements/{a['id']}", headers=api.headers["watch"]).status_code == 200
    watched = decide(api, "watch", a["id"], "sign")
    assert watched.status_code == 409
    assert watched.json()["type"] == "/problems/agreement-not-a-party"
    latest = api.client.get(f"/agreements/{a['id']}", headers=api.headers["blue"]).json()
    assert latest["status"] == "proposed"
    assert latest["signed"] == ["blue"]


def test_only_named_parties_or_the_secretariat_propose(api: Api) -> None:
    assert propose(api, "aid", "line", ["blue", "red"], line_body()).status_code == 403
    assert propose(api, "watch", "line", ["blue", "red"], line_body()).status_code == 403
    assert count_agreements(api) == 0


# -- amendment -------------------------------------------------------------------


def test_an_amendment_needs_the_same_consent_and_the_old_version_binds_meanwhile(api: Api) -> None:
    a = in_force_line(api)
    version = api.version()
    amended = api.client.put(
        f"/agreements/{a['id']}",
        headers=api.headers["blue"],
        json={"title": "Euphrates line, moved", "body": line_body(AMENDED_LON)},
    )
    assert amended.status_code == 200, amended.text
    v2 = amended.json()
    assert v2["version"] == 2
    assert v2["status"] == "proposed"
    assert v2["signed"] == ["blue"]
    assert v2["title"] == "Euphrates line, moved"
    assert len(events(api, "red", "agreement.amended", a["id"])) == 1
    assert api.version() == version

    v1 = api.client.get(f"/agreements/{a['id']}", headers=api.headers["red"], params={"version": 1}).json()
    assert v1["status"] == "in_force"
    assert len(line_conflicts(api, "red", *CROSSING_V1)) == 1  # version 1 still binds
    assert line_conflicts(api, "red", *CROSSING_V2) == []

    # Signing version 1 again is not possible; version 2 is what is on the table.
    assert decide(api, "red", a["id"], "sign", version=1).status_code == 409
    signed = decide(api, "red", a["id"], "sign", version=2)
    assert signed.status_code == 200, signed.text
    assert signed.json()["status"] == "in_force"
    assert signed.json()["version"] == 2
    assert api.version() == version + 1

    v1 = api.client.get(f"/agreements/{a['id']}", headers=api.headers["red"], params={"version": 1}).json()
    assert v1["status"] == "superseded"
    assert line_conflicts(api, "red", *CROSSING_V1) == []
    moved = line_conflicts(api, "red", *CROSSING_V2)
    assert len(moved) == 1
    assert moved[0]["other"]["id"] == "euphrates"
    lines = api.client.get("/objects", headers=api.headers["aid"], params={"kind": "line"}).json()["features"]
    assert [f["geometry"]["coordinates"] for f in lines] == [[[AMENDED_LON, 34.0], [AMENDED_LON, 36.0]]]


def test_amending_a_proposal_supersedes_it(api: Api) -> None:
    a = proposed_line(api)
    amended = api.client.put(f"/agreements/{a['id']}", headers=api.headers["red"], json={"body": line_body(39.0)})
    assert amended.status_code == 200, amended.text
    assert amended.json()["version"] == 2
    assert amended.json()["signed"] == ["red"]
    assert amended.json()["proposer"] == "blue"
    assert len(events(api, "blue", "agreement.amended", a["id"])) == 1
    v1 = api.client.get(f"/agreements/{a['id']}", headers=api.headers["blue"], params={"version": 1}).json()
    assert v1["status"] == "superseded"
    assert decide(api, "red", a["id"], "sign", version=1).status_code == 409
    assert decide(api, "blue", a["id"], "sign", version=2).json()["status"] == "in_force"
    assert len(line_conflicts(api, "red", *CROSSING_V2)) == 1


# -- withdrawal ------------------------------------------------------------------


def test_withdrawal_suspends_the_line_and_tells_every_party(api: Api) -> None:
    a = in_force_line(api)
    assert len(line_conflicts(api, "red", *CROSSING_V1)) == 1
    version = api.version()
    r = api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["red"], json={"reason": "no longer"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "suspended"
    assert api.version() == version + 1
    assert line_conflicts(api, "red", *CROSSING_V1) == []
    lines = api.client.get("/objects", headers=api.headers["blue"], params={"kind": "line"}).json()["features"]
    assert lines == []
    for party in ("blue", "red"):
        told = events(api, party, "agreement.withdrawn", a["id"])
        assert len(told) == 1, party
        assert told[0]["body"]["by"] == "red"
        assert told[0]["body"]["status"] == "suspended"
    # Once suspended, it cannot be withdrawn again or signed.
    assert api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["blue"], json={}).status_code == 409
    assert decide(api, "blue", a["id"], "sign").status_code == 409


def test_withdrawing_a_proposal(api: Api) -> None:
    a = proposed_line(api)
    version = api.version()
    r = api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["blue"], json={})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "withdrawn"
    assert api.version() == version  # nothing was in force: the world did not change
    assert len(events(api, "red", "agreement.withdrawn", a["id"])) == 1
    assert decide(api, "red", a["id"], "sign").status_code == 409


# -- separation ------------------------------------------------------------------


def test_separation_minima_change_only_with_every_signature_and_come_back_on_withdrawal(api: Api) -> None:
    before = separation(api)
    assert before["air"]["horizontal_m"] == pytest.approx(9260)
    body = {"air": {"horizontal_m": 20000, "vertical_m": 305}}
    r = propose(api, "red", "separation", ["blue", "red"], body, title="Wider air separation")
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["body"]["air"] == {"horizontal_m": 20000.0, "vertical_m": 305.0}
    assert separation(api) == before
    version = api.version()

    signed = decide(api, "blue", a["id"], "sign")
    assert signed.json()["status"] == "in_force"
    assert api.version() == version + 1
    now = separation(api)
    assert now["air"] == {"horizontal_m": 20000.0, "vertical_m": 305.0}
    assert now["ground"] == before["ground"]

    # Two air intents 15 km apart: clear under 5 NM, in conflict under 20 km.
    assert file(api, "blue", "b-air", 45.0, 30.0).status_code == 201
    close = [c for c in check(api, "red", "r-air", 45.1 + 0.155, 30.0) if c["type"] == "separation"]
    assert len(close) == 1

    withdrawn = api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["blue"], json={})
    assert withdrawn.status_code == 200, withdrawn.text
    assert withdrawn.json()["status"] == "suspended"
    assert separation(api) == before
    assert [c for c in check(api, "red", "r-air", 45.1 + 0.155, 30.0) if c["type"] == "separation"] == []
    for party in ("blue", "red"):
        assert len(events(api, party, "agreement.withdrawn", a["id"])) == 1


def test_amended_separation_restores_the_original_minima_on_withdrawal(api: Api) -> None:
    before = separation(api)
    r = propose(api, "red", "separation", ["blue", "red"], {"air": {"horizontal_m": 20000, "vertical_m": 305}})
    a = r.json()
    assert decide(api, "blue", a["id"], "sign").json()["status"] == "in_force"
    amended = api.client.put(
        f"/agreements/{a['id']}",
        headers=api.headers["blue"],
        json={"body": {"air": {"horizontal_m": 30000, "vertical_m": 600}}},
    )
    assert amended.status_code == 200, amended.text
    assert separation(api)["air"]["horizontal_m"] == 20000.0
    assert decide(api, "red", a["id"], "sign", version=2).json()["status"] == "in_force"
    assert separation(api)["air"] == {"horizontal_m": 30000.0, "vertical_m": 600.0}
    assert api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["red"], json={}).status_code == 200
    assert separation(api) == before


def test_separation_agreements_on_different_categories_do_not_undo_each_other(api: Api) -> None:
    before = separation(api)
    air = propose(api, "red", "separation", ["blue", "red"], {"air": {"horizontal_m": 20000, "vertical_m": 305}})
    ground = propose(api, "blue", "separation", ["blue", "red"], {"ground": {"horizontal_m": 2000}})
    assert decide(api, "blue", air.json()["id"], "sign").json()["status"] == "in_force"
    assert decide(api, "red", ground.json()["id"], "sign").json()["status"] == "in_force"
    both = separation(api)
    assert both["air"]["horizontal_m"] == 20000.0
    assert both["ground"] == {"horizontal_m": 2000.0, "vertical_m": None}

    assert withdraw(api, "red", air.json()["id"]).is_success
    assert separation(api) == {"air": before["air"], "ground": both["ground"]}
    assert withdraw(api, "red", ground.json()["id"]).is_success
    assert separation(api) == before


def test_a_later_separation_agreement_on_the_same_category_prevails_until_withdrawn(api: Api) -> None:
    before = separation(api)
    first = propose(api, "red", "separation", ["blue", "red"], {"air": {"horizontal_m": 20000, "vertical_m": 305}})
    assert decide(api, "blue", first.json()["id"], "sign").json()["status"] == "in_force"
    api.clock.at += timedelta(minutes=1)
    second = propose(api, "blue", "separation", ["blue", "red"], {"air": {"horizontal_m": 15000, "vertical_m": 400}})
    assert decide(api, "red", second.json()["id"], "sign").json()["status"] == "in_force"
    assert separation(api)["air"] == {"horizontal_m": 15000.0, "vertical_m": 400.0}
    # Withdrawing the earlier one leaves the later in force; withdrawing that one restores the first.
    assert withdraw(api, "red", first.json()["id"]).is_success
    assert separation(api)["air"] == {"horizontal_m": 15000.0, "vertical_m": 400.0}
    assert withdraw(api, "red", second.json()["id"]).is_success
    assert separation(api) == before


# -- a joint zone by the secretariat ------------------------------------------------


def test_a_joint_nfz_proposed_by_the_secretariat_binds_both_military_parties(api: Api) -> None:
    r = propose(api, "secretariat", "nfz", ["blue", "red"], nfz_body(), title="Joint zone")
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["proposer"] == "secretariat"
    assert a["signed"] == []  # the secretariat is not a party: both must sign
    for party in ("blue", "red"):
        assert len(events(api, party, "agreement.proposed", a["id"])) == 1
        assert [c for c in check(api, party, f"{party}-in", 42.05, 33.05) if c["type"] == "nfz"] == []

    assert decide(api, "blue", a["id"], "sign").json()["status"] == "proposed"
    assert [c for c in check(api, "red", "red-in", 42.05, 33.05) if c["type"] == "nfz"] == []
    assert decide(api, "red", a["id"], "sign").json()["status"] == "in_force"

    for party in ("blue", "red"):
        found = [c for c in check(api, party, f"{party}-in", 42.05, 33.05) if c["type"] == "nfz"]
        assert len(found) == 1, party
        assert found[0]["severity"] == "blocking"
        assert found[0]["other"]["id"] == "joint-nfz"
        refused = file(api, party, f"{party}-in", 42.05, 33.05)
        assert refused.status_code == 409
        assert refused.json()["type"] == "/problems/blocking-conflicts"

    # Withdrawal frees the zone and tells every military party.
    assert api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["red"], json={}).status_code == 200
    assert [c for c in check(api, "blue", "blue-in", 42.05, 33.05) if c["type"] == "nfz"] == []
    for party in ("blue", "red"):
        assert len(events(api, party, "agreement.withdrawn", a["id"])) == 1


def test_an_agreed_zone_leaves_the_world_only_with_its_agreement(api: Api) -> None:
    a = propose(api, "blue", "nfz", ["blue", "red"], nfz_body()).json()
    assert decide(api, "red", a["id"], "sign").json()["status"] == "in_force"
    replaced = api.client.put("/objects/nfz/joint-nfz", headers=api.headers["blue"], json=nfz_body())
    deleted = api.client.delete("/objects/nfz/joint-nfz", headers=api.headers["blue"])
    assert (replaced.status_code, deleted.status_code) == (403, 403)
    assert [c for c in check(api, "red", "red-in", 42.05, 33.05) if c["type"] == "nfz"]


# -- hostile bodies ----------------------------------------------------------------


def _hostile() -> dict[str, dict[str, Any]]:
    wrong_kind = {
        "type": "FeatureCollection",
        "features": [
            feature(
                "nfz", "sneaky", {"type": "Polygon", "coordinates": square(38.0, 34.0, 0.1)}, altitude_m=None, time=None
            )
        ],
    }
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[40.0, 30.0], [41.0, 31.0], [41.0, 30.0], [40.0, 31.0], [40.0, 30.0]]],
    }
    return {
        "unknown party": {"kind": "line", "parties": ["blue", "ghost"], "body": line_body()},
        "one party": {"kind": "line", "parties": ["blue"], "body": line_body()},
        "one party twice": {"kind": "line", "parties": ["blue", "blue"], "body": line_body()},
        "wrong object kind": {"kind": "line", "parties": ["blue", "red"], "body": wrong_kind},
        "negative minima": {
            "kind": "separation",
            "parties": ["blue", "red"],
            "body": {"air": {"horizontal_m": -5, "vertical_m": 305}},
        },
        "unknown category": {"kind": "separation", "parties": ["blue", "red"], "body": {"sea": {"horizontal_m": 5}}},
        "invalid geometry": {
            "kind": "line",
            "parties": ["blue", "red"],
            "body": {"type": "FeatureCollection", "features": [feature("line", "l", {"type": "LineString"})]},
        },
        "self-intersecting zone": {
            "kind": "nfz",
            "parties": ["blue", "red"],
            "body": {
                "type": "FeatureCollection",
                "features": [feature("nfz", "bowtie", bowtie, altitude_m=None, time=None)],
            },
        },
        "line on the wrong geometry": {
            "kind": "line",
            "parties": ["blue", "red"],
            "body": {
                "type": "FeatureCollection",
                "features": [feature("line", "l", {"type": "Point", "coordinates": [38.0, 35.0]})],
            },
        },
        "no features": {"kind": "line", "parties": ["blue", "red"], "body": {"type": "FeatureCollection"}},
        "negative buffer": {"kind": "line", "parties": ["blue", "red"], "body": line_body(buffer_m=-1)},
    }


@pytest.mark.parametrize("case", sorted(_hostile()))
def test_hostile_bodies_are_refused_with_every_problem_and_store_nothing(api: Api, case: str) -> None:
    version = api.version()
    notes = len(inbox(api, "red"))
    request = {"title": "hostile", **_hostile()[case]}
    r = api.client.post("/agreements", headers=api.headers["blue"], json=request)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"], r.json()
    assert count_agreements(api) == 0
    assert api.version() == version
    assert len(inbox(api, "red")) == notes


def test_an_amendment_with_a_hostile_body_leaves_the_agreement_as_it_was(api: Api) -> None:
    a = in_force_line(api)
    r = api.client.put(
        f"/agreements/{a['id']}",
        headers=api.headers["blue"],
        json={"body": {"type": "FeatureCollection", "features": [feature("line", "l", {"type": "LineString"})]}},
    )
    assert r.status_code == 422, r.text
    latest = api.client.get(f"/agreements/{a['id']}", headers=api.headers["blue"]).json()
    assert latest["version"] == 1
    assert latest["status"] == "in_force"
    assert events(api, "red", "agreement.amended") == []


def test_a_line_may_not_take_an_id_already_in_the_world(api: Api) -> None:
    r = propose(api, "blue", "nfz", ["blue", "red"], nfz_body("blue-nfz"))
    assert r.status_code == 422, r.text
    assert [e["rule"] for e in r.json()["errors"]] == ["id-taken"]


def test_an_agreement_never_takes_over_an_object_of_another_agreement(api: Api) -> None:
    """Two proposals may name the same id; the second to come into force is refused, not silently merged."""
    a = proposed_line(api)
    b = propose(api, "red", "line", ["blue", "red"], line_body(AMENDED_LON)).json()
    assert decide(api, "red", a["id"], "sign").json()["status"] == "in_force"
    version = api.version()
    refused = decide(api, "blue", b["id"], "sign")
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "/problems/agreement-id-taken"
    assert api.version() == version
    assert api.client.get(f"/agreements/{b['id']}", headers=api.headers["blue"]).json()["signed"] == ["red"]
    assert len(line_conflicts(api, "red", *CROSSING_V1)) == 1  # a's line is untouched
    assert line_conflicts(api, "red", *CROSSING_V2) == []

    # b, amended to an id of its own, comes into force beside a; a's withdrawal leaves b's line alone.
    amended = api.client.put(
        f"/agreements/{b['id']}", headers=api.headers["red"], json={"body": line_body(AMENDED_LON, oid="tigris")}
    )
    assert amended.status_code == 200, amended.text
    assert decide(api, "blue", b["id"], "sign", version=2).json()["status"] == "in_force"
    assert api.client.post(f"/agreements/{a['id']}/withdraw", headers=api.headers["blue"], json={}).status_code == 200
    assert line_conflicts(api, "red", *CROSSING_V1) == []
    assert [c["other"]["id"] for c in line_conflicts(api, "red", *CROSSING_V2)] == ["tigris"]


# -- who sees what -------------------------------------------------------------------


def test_the_observer_sees_every_agreement_and_an_unnamed_party_none(api: Api) -> None:
    line = proposed_line(api)
    nfz = propose(api, "secretariat", "nfz", ["blue", "red"], nfz_body(), title="Joint zone").json()
    sep = propose(api, "red", "separation", ["red", "blue"], {"ground": {"horizontal_m": 2000}}).json()
    everything = sorted([line["id"], nfz["id"], sep["id"]])

    for party in ("watch", "secretariat", "blue", "red"):
        r = api.client.get("/agreements", headers=api.headers[party])
        assert r.status_code == 200, r.text
        assert sorted(x["id"] for x in r.json()) == everything, party
    seen = api.client.get("/agreements", headers=api.headers["aid"])
    assert seen.status_code == 200
    assert seen.json() == []
    for agreement_id in everything:
        assert api.client.get(f"/agreements/{agreement_id}", headers=api.headers["aid"]).status_code == 404
        assert api.client.get(f"/agreements/{agreement_id}", headers=api.headers["watch"]).status_code == 200


def test_listing_pages_by_id(api: Api) -> None:
    ids = sorted(proposed_line(api, oid=f"l{i}")["id"] for i in range(3))
    first = api.client.get("/agreements", headers=api.headers["blue"], params={"limit": 2}).json()
    assert [a["id"] for a in first] == ids[:2]
    rest = api.client.get("/agreements", headers=api.headers["blue"], params={"after": ids[1]}).json()
    assert [a["id"] for a in rest] == ids[2:]
