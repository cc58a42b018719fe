"""Errors over the API: RFC 9457 problems, invalid input, hostile bodies, expired and revoked tokens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.api.world import T0, T1, Api, feature, intent, square

from detente.adapters.api.app import create_app

PROBLEM_MEMBERS = {"type", "title", "status", "detail", "instance"}


def assert_problem(r: Any, status: int, type_: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers
    body: dict[str, Any] = r.json()
    assert set(body) >= PROBLEM_MEMBERS, body
    assert body["status"] == status
    assert body["type"].startswith("/problems/")
    assert isinstance(body["title"], str) and body["title"]
    if type_ is not None:
        assert body["type"] == f"/problems/{type_}", body
    return body


def file(api: Api, party: str, doc: Any, version: int | None = None, **kw: Any) -> Any:
    body = {"intent": doc, "world_version": api.version() if version is None else version}
    return api.client.post("/intents", headers=api.headers[party], json=body, **kw)


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def volume(oid: str, index: int, coordinates: Any, time: list[Any] | None = None) -> dict[str, Any]:
    return feature(
        "intent",
        oid,
        {"type": "Polygon", "coordinates": coordinates},
        volume=index,
        category="air",
        altitude_m=[3000, 6000],
        time=[T0, T1] if time is None else time,
    )


BOWTIE = [[[40.0, 35.0], [40.1, 35.1], [40.1, 35.0], [40.0, 35.1], [40.0, 35.0]]]
UNSPLIT = [[[179.5, 10.0], [-179.5, 10.0], [-179.5, 10.5], [179.5, 10.5], [179.5, 10.0]]]


def nothing_stored(api: Api, version: int, *ids: str) -> None:
    assert api.version() == version
    for oid in ids:
        assert api.client.get(f"/intents/{oid}", headers=api.headers["secretariat"]).status_code == 404


# -- the problem shape on every status ---------------------------------------------


def test_every_error_status_is_a_problem(sqlite_api: Api) -> None:
    api = sqlite_api
    unauthenticated = assert_problem(api.client.get("/me"), 401, "unauthenticated")
    assert unauthenticated["instance"] == "/me"
    assert api.client.get("/me").headers["www-authenticate"] == "Bearer"
    assert_problem(api.client.get("/me", headers={"Authorization": "Bearer nonsense"}), 401, "unauthenticated")
    assert_problem(api.client.get("/me", headers={"Authorization": "Bearer dtk_00.xx"}), 401, "unauthenticated")

    forbidden = assert_problem(file(api, "watch", intent("w1", 41.0, 35.0)), 403, "forbidden")
    assert forbidden["instance"] == "/intents"
    assert "observer" in forbidden["detail"]

    missing = assert_problem(api.client.get("/intents/nope", headers=api.headers["red"]), 404, "not-found")
    assert missing["instance"] == "/intents/nope"
    assert_problem(api.client.get("/no/such/route", headers=api.headers["red"]), 404, "not-found")
    assert_problem(api.client.patch("/intents/x", headers=api.headers["red"]), 405, "method-not-allowed")

    assert file(api, "red", intent("r1", 41.0, 35.0)).status_code == 201
    exists = assert_problem(file(api, "red", intent("r1", 41.0, 35.0)), 409, "already-exists")
    assert "r1" in exists["detail"]

    invalid = api.client.post("/intents", headers=api.headers["red"], json={"intent": intent("r2", 41.0, 35.0)})
    body = assert_problem(invalid, 422, "invalid-input")
    assert body["errors"] and all({"rule", "message"} <= set(e) for e in body["errors"])
    shape = api.client.post("/intents", headers=api.headers["red"], json={"intent": {"type": "Point"}})
    assert assert_problem(shape, 422, "invalid-request")["errors"]


def test_a_problem_names_nothing_internal(sqlite_api: Api) -> None:
    api = sqlite_api
    r = api.client.post("/intents", headers=api.headers["red"], content=b'{"intent": ', params={"dry_run": "true"})
    text = r.text.lower()
    assert "traceback" not in text and "sqlalchemy" not in text and ".py" not in text


# -- invalid input: every problem listed, nothing stored ----------------------------


def test_every_geometry_and_time_problem_is_listed_and_nothing_is_stored(api: Api) -> None:
    version = api.version()
    doc = collection(
        volume("r-bad", 0, BOWTIE),
        volume("r-bad", 1, UNSPLIT),
        volume("r-bad", 2, square(41.0, 35.0, 0.1), time=["2017-07-07T06:00:00", T1]),
    )
    r = file(api, "red", doc, version)
    body = assert_problem(r, 422, "invalid-input")
    by_index = {e["index"]: e for e in body["errors"]}
    assert set(by_index) == {0, 1, 2}, body["errors"]
    assert "self-intersection" in by_index[0]["message"].lower()
    assert "antimeridian" in by_index[1]["message"]
    assert by_index[2]["rule"] == "time" and "offset" in by_index[2]["message"]
    assert all(e["id"] == "r-bad" for e in body["errors"])
    assert "3 problem(s)" in body["detail"]
    nothing_stored(api, version, "r-bad")
    # a dry run is checked the same way
    assert_problem(api.client.post("/intents?dry_run=true", headers=api.headers["red"], json={"intent": doc}), 422)


@pytest.mark.parametrize(
    ("coordinates", "time", "words"),
    [
        (BOWTIE, None, "self-intersection"),
        (UNSPLIT, None, "antimeridian"),
        (square(41.0, 35.0, 0.1), ["2017-07-07T06:00:00", "2017-07-07T12:00:00"], "offset"),
        ([[[41.0, 35.0], [41.1, 35.0], [41.1, 35.1], [41.0, 35.0]][:3]], None, "ring"),
        ([[[41.0, 95.0], [41.1, 95.0], [41.1, 95.1], [41.0, 95.0]]], None, "out of range"),
    ],
)
def test_one_bad_intent_is_refused(api: Api, coordinates: Any, time: list[Any] | None, words: str) -> None:
    version = api.version()
    body = assert_problem(file(api, "red", collection(volume("r-bad", 0, coordinates, time))), 422, "invalid-input")
    assert any(words in e["message"].lower() for e in body["errors"]), body["errors"]
    nothing_stored(api, version, "r-bad")


def test_an_unsplit_zone_is_refused_and_a_split_one_accepted(api: Api) -> None:
    version = api.version()
    unsplit = feature("nfz", "red-dateline", {"type": "Polygon", "coordinates": UNSPLIT})
    r = api.client.post("/objects", headers=api.headers["red"], json=collection(unsplit))
    assert_problem(r, 422, "invalid-input")
    assert api.version() == version
    split = feature(
        "nfz",
        "red-dateline",
        {
            "type": "MultiPolygon",
            "coordinates": [
                [[[179.5, 10.0], [180.0, 10.0], [180.0, 10.5], [179.5, 10.5], [179.5, 10.0]]],
                [[[-180.0, 10.0], [-179.5, 10.0], [-179.5, 10.5], [-180.0, 10.5], [-180.0, 10.0]]],
            ],
        },
    )
    r = api.client.post("/objects", headers=api.headers["red"], json=collection(split))
    assert r.status_code == 201, r.text


def test_an_unknown_party_is_invalid(api: Api) -> None:
    version = api.version()
    r = file(api, "red", intent("r1", 41.0, 35.0, party="nobody"), version)
    body = assert_problem(r, 422, "invalid-input")
    assert any(e["rule"] == "unknown_party" and "nobody" in e["message"] for e in body["errors"])
    zone = feature("nfz", "blue-z", {"type": "Polygon", "coordinates": square(30.0, 30.0, 0.1)}, applies_to=["ghost"])
    r = api.client.post("/objects", headers=api.headers["blue"], json=collection(zone))
    body = assert_problem(r, 422, "invalid-input")
    assert any(e["rule"] == "unknown_party" and "ghost" in e["message"] for e in body["errors"])
    nothing_stored(api, version, "r1")


def test_a_party_field_naming_another_party_is_forbidden(api: Api) -> None:
    version = api.version()
    assert_problem(file(api, "red", intent("r1", 41.0, 35.0, party="blue"), version), 403, "forbidden")
    assert_problem(
        api.client.post(
            "/intents?dry_run=true", headers=api.headers["red"], json={"intent": intent("r1", 41, 35, party="blue")}
        ),
        403,
        "forbidden",
    )
    zone = feature("nfz", "z1", {"type": "Polygon", "coordinates": square(30.0, 30.0, 0.1)}, party="red")
    assert_problem(api.client.post("/objects", headers=api.headers["blue"], json=collection(zone)), 403, "forbidden")
    site = feature("site", "s1", {"type": "Point", "coordinates": [30.0, 30.0]}, party="aid", radius_m=100)
    assert_problem(api.client.post("/objects", headers=api.headers["red"], json=collection(site)), 403, "forbidden")
    assert file(api, "blue", intent("b1", 41.0, 35.0), version).status_code == 201
    stolen = api.client.put(
        "/intents/b1",
        headers=api.headers["red"],
        json={"intent": intent("b1", 42.0, 35.0, party="blue"), "world_version": version + 1},
    )
    assert_problem(stolen, 403, "forbidden")
    assert api.version() == version + 1


def test_malformed_json_is_a_problem(sqlite_api: Api) -> None:
    api = sqlite_api
    version = api.version()
    headers = {**api.headers["red"], "Content-Type": "application/json"}
    for content in (
        b'{"intent": ',
        b"not json",
        b"\xff\xfe",
        b'{"intent": {"type": "FeatureCollection", "features": [}',
    ):
        r = api.client.post("/intents", headers=headers, content=content)
        assert 400 <= r.status_code < 500, r.text
        assert r.status_code == 422, (content, r.text)
        assert_problem(r, 422)
    r = api.client.post("/objects", headers=headers, content=b"[")
    assert_problem(r, 422)
    # unknown members of the request body are refused, not ignored
    extra = {"intent": intent("r1", 41.0, 35.0), "world_version": version, "force": True}
    assert_problem(api.client.post("/intents", headers=api.headers["red"], json=extra), 422, "invalid-request")
    assert api.version() == version


# -- size limits --------------------------------------------------------------------


def small_app(api: Api, limit: int) -> TestClient:
    app = create_app(api.store, clock=api.clock, webhooks=False, max_body_bytes=limit)
    return TestClient(app, raise_server_exceptions=False)


def big_zone(oid: str, vertices: int) -> dict[str, Any]:
    """A zone whose ring has about ``vertices`` positions (a valid polygon)."""
    import math

    ring = [
        [
            round(30.0 + 0.5 * math.cos(2 * math.pi * i / vertices), 6),
            round(30.0 + 0.5 * math.sin(2 * math.pi * i / vertices), 6),
        ]
        for i in range(vertices)
    ]
    ring.append(ring[0])
    return collection(feature("nfz", oid, {"type": "Polygon", "coordinates": [ring]}))


def test_a_body_over_the_limit_is_413_with_a_declared_length(api: Api) -> None:
    version = api.version()
    with small_app(api, 2000) as client:
        doc = big_zone("red-big", 200)
        payload = json.dumps(doc).encode()
        assert len(payload) > 2000
        r = client.post("/objects", headers={**api.headers["red"], "Content-Type": "application/json"}, content=payload)
        body = assert_problem(r, 413, "too-large")
        assert "2000" in body["detail"]
        # under the limit, the same app works
        ok = client.post("/objects", headers=api.headers["red"], json=big_zone("red-small", 8))
        assert ok.status_code == 201, ok.text
    assert api.version() == version + 1
    assert api.client.get("/objects/nfz/red-big", headers=api.headers["red"]).status_code == 404


def test_a_body_over_the_default_limit_is_413(api: Api) -> None:
    version = api.version()
    doc = big_zone("red-huge", 120_000)
    payload = json.dumps(doc).encode()
    assert len(payload) > 2 * 1024 * 1024
    r = api.client.post("/objects", headers={**api.headers["red"], "Content-Type": "application/json"}, content=payload)
    assert_problem(r, 413, "too-large")
    assert api.version() == version


def test_a_chunked_body_over_the_limit_is_413(api: Api) -> None:
    version = api.version()
    payload = json.dumps(big_zone("red-big", 200)).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 100):
            yield payload[i : i + 100]

    with small_app(api, 2000) as client:
        request = client.build_request(
            "POST", "/objects", headers={**api.headers["red"], "Content-Type": "application/json"}, content=chunks()
        )
        assert "content-length" not in request.headers
        assert request.headers["transfer-encoding"] == "chunked"
        assert_problem(client.send(request), 413, "too-large")
    assert api.version() == version
    assert api.client.get("/objects/nfz/red-big", headers=api.headers["red"]).status_code == 404


def test_a_streamed_body_is_cut_off_at_the_limit(sqlite_api: Api) -> None:
    """Straight to the ASGI app: many small body messages, no Content-Length."""
    api = sqlite_api
    version = api.version()
    app = create_app(api.store, clock=api.clock, webhooks=False, max_body_bytes=1000)
    payload = json.dumps(big_zone("red-big", 200)).encode()
    parts = [payload[i : i + 50] for i in range(0, len(payload), 50)]
    pulled = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal pulled
        if pulled >= len(parts):
            return {"type": "http.disconnect"}
        pulled += 1
        return {"type": "http.request", "body": parts[pulled - 1], "more_body": pulled < len(parts)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    token = api.headers["red"]["Authorization"].encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/objects",
        "raw_path": b"/objects",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"authorization", token), (b"content-type", b"application/json"), (b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 413
    body = json.loads(b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body"))
    assert body["type"] == "/problems/too-large"
    # the body was not read past the limit
    assert pulled <= 1000 // 50 + 1 < len(parts)
    assert api.version() == version


def test_huge_inputs_are_4xx_never_5xx(sqlite_api: Api) -> None:
    api = sqlite_api
    version = api.version()
    headers = {**api.headers["red"], "Content-Type": "application/json"}
    # 10,001 features: over the schema's bound
    dot = {"type": "Point", "coordinates": [30.0, 30.0]}
    many = collection(*[feature("nfz", f"z{i}", dot, radius_m=10) for i in range(10_001)])
    r = api.client.post("/objects", headers=api.headers["red"], json=many)
    assert_problem(r, 422)
    r = api.client.post("/intents", headers=api.headers["red"], json={"intent": many, "world_version": version})
    assert_problem(r, 422)
    # 10,000 features: within the bound, but not one object
    r = api.client.post("/objects", headers=api.headers["red"], json=collection(*many["features"][:10_000]))
    assert 400 <= r.status_code < 500, r.text[:500]
    # a long ring under the byte limit (about 60,000 positions): decided, not a crash
    r = api.client.post("/objects", headers=api.headers["red"], json=big_zone("red-long", 60_000))
    assert 200 <= r.status_code < 500 and r.status_code != 413, r.text[:500]
    # coordinates nested far too deep, numbers far too large
    deep = b'{"type": "FeatureCollection", "features": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}"
    r = api.client.post("/objects", headers=headers, content=deep)
    assert 400 <= r.status_code < 500, r.text[:500]
    assert r.headers["content-type"].startswith("application/problem+json")
    huge_number = feature(
        "nfz", "z-big", {"type": "Polygon", "coordinates": [[[1e400, 0], [1, 0], [1, 1], [1e400, 0]]]}
    )
    r = api.client.post(
        "/objects", headers=headers, content=json.dumps(collection(huge_number)).replace("Infinity", "1" + "0" * 400)
    )
    assert 400 <= r.status_code < 500, r.text[:500]
    point = feature("nfz", "zz", {"type": "Point", "coordinates": [12345.0, 1]}, radius_m=10)
    big_int = json.dumps(collection(point)).replace("12345.0", "9" * 4000)
    r = api.client.post("/objects", headers=headers, content=big_int.encode())
    assert 400 <= r.status_code < 500, r.text[:500]
    # a long list of ids to mark read
    r = api.client.post("/notifications/read", headers=api.headers["red"], json={"ids": list(range(501))})
    assert_problem(r, 422)
    assert api.version() in (version, version + 1)


# -- tokens -------------------------------------------------------------------------


def test_an_expired_token_is_401(api: Api) -> None:
    assert api.client.get("/me", headers=api.headers["red"]).status_code == 200
    api.clock.at += timedelta(days=89, hours=23)
    assert api.client.get("/me", headers=api.headers["red"]).status_code == 200
    api.clock.at += timedelta(days=1, hours=2)
    body = assert_problem(api.client.get("/me", headers=api.headers["red"]), 401, "unauthenticated")
    assert "expired" in body["detail"]
    assert_problem(file(api, "red", intent("r1", 41.0, 35.0), 0), 401, "unauthenticated")


def test_a_revoked_token_is_401(api: Api) -> None:
    bearer = api.headers["red"]["Authorization"].removeprefix("Bearer ")
    token_id = bearer.removeprefix("dtk_").split(".")[0]
    # another party cannot revoke red's token
    assert_problem(api.client.delete(f"/tokens/{token_id}", headers=api.headers["blue"]), 404, "not-found")
    assert api.client.get("/me", headers=api.headers["red"]).status_code == 200
    gone = api.client.delete(f"/tokens/{token_id}", headers=api.headers["secretariat"])
    assert gone.status_code == 204, gone.text
    body = assert_problem(api.client.get("/me", headers=api.headers["red"]), 401, "unauthenticated")
    assert "revoked" in body["detail"]
    assert_problem(api.client.get("/objects", headers=api.headers["red"]), 401, "unauthenticated")
    # the right secret is still needed: a token id with a wrong secret is unknown
    forged = {"Authorization": f"Bearer dtk_{token_id}.wrong"}
    assert_problem(api.client.get("/me", headers=forged), 401, "unauthenticated")


def test_a_party_may_revoke_its_own_token(api: Api) -> None:
    bearer = api.headers["blue"]["Authorization"].removeprefix("Bearer ")
    token_id = bearer.removeprefix("dtk_").split(".")[0]
    assert api.client.delete(f"/tokens/{token_id}", headers=api.headers["blue"]).status_code == 204
    assert_problem(api.client.get("/me", headers=api.headers["blue"]), 401, "unauthenticated")


def test_a_database_busy_past_its_timeout_is_a_503_and_nothing_is_stored(sqlite_api: Api) -> None:
    """SQLite gives up waiting for the write lock after busy_timeout (10 s): a 503 says "retry", not a 500."""
    import sqlite3

    database = sqlite_api.store.engine.url.database
    assert database is not None
    version = sqlite_api.version()
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        r = sqlite_api.client.post(
            "/intents",
            headers=sqlite_api.headers["red"],
            json={"intent": intent("busy", 44.0, 30.0), "world_version": version},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.status_code == 503, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"] == "/problems/busy"
    assert sqlite_api.version() == version
    assert sqlite_api.client.get("/intents/busy", headers=sqlite_api.headers["red"]).status_code == 404
