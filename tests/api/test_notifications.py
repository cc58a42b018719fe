"""Notifications: the inbox, the live stream (SSE) and webhooks, end to end.

The inbox tests run on both backends through the TestClient.  The stream
and webhook tests run the real app under a real uvicorn server in a
background thread (a SQLite file, the system clock), talk to it with
httpx over a socket, and receive webhooks with a real HTTP server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from tests.api.world import PARTIES, Api, intent, world_document
from tests.http_receiver import Receiver

from detente.adapters.api import routes_notifications
from detente.adapters.api.app import create_app
from detente.adapters.interop.scenario import ScenarioCodec, parse_scenario
from detente.adapters.storage import Store, open_store
from detente.services import accounts
from detente.services.context import Mechanism, SystemClock

#: Red's intent over [44.0, 44.1] x [30.0, 30.1], clear of the fixture world.
RED_AT = (44.0, 30.0)
#: Blue intents 4 to 6 km from it (under 5 NM, the same altitude band): each an advisory separation conflict.
BLUE_NEAR = [(44.0, 30.15), (44.15, 30.0), (43.85, 30.0), (44.0, 29.85)]
#: Blue intent over the aid hospital (blocking) and 5.5 km from red's: refused, so nobody may be told.
BLUE_BLOCKED = (36.45, 35.45)
RED_NEAR_HOSPITAL = (36.45, 35.6)


def file(
    client: httpx.Client | Any, headers: dict[str, str], oid: str, at: tuple[float, float], version: int
) -> httpx.Response:
    r: httpx.Response = client.post(
        "/intents", headers=headers, json={"intent": intent(oid, *at), "world_version": version}
    )
    return r


def world_version(client: httpx.Client | Any, headers: dict[str, str]) -> int:
    return int(client.get("/world", headers=headers).json()["world_version"])


def notify_red(api: Api, n: int) -> list[int]:
    """``n`` notifications in red's inbox (blue proposes agreements to red); their ids."""
    ids = []
    for i in range(n):
        body = {
            "type": "FeatureCollection",
            "features": [
                {
                    "type": "Feature",
                    "geometry": {"type": "LineString", "coordinates": [[40.0 + i, 30.0], [40.0 + i, 31.0]]},
                    "properties": {"kind": "line", "id": f"line-{i}"},
                }
            ],
        }
        r = api.client.post(
            "/agreements",
            headers=api.headers["blue"],
            json={"kind": "line", "title": f"line {i}", "parties": ["blue", "red"], "body": body},
        )
        assert r.status_code == 201, r.text
    items = api.client.get("/notifications", headers=api.headers["red"]).json()["items"]
    ids = [n["id"] for n in items if n["type"] == "agreement.proposed"]
    assert len(ids) == n
    return ids


# -- the inbox -------------------------------------------------------------------


def test_inbox_unread_and_read(api: Api) -> None:
    ids = notify_red(api, 3)
    box = api.client.get("/notifications", headers=api.headers["red"], params={"unread": "true"}).json()
    assert [n["id"] for n in box["items"]] == ids
    assert box["unread"] == 3
    assert all(n["party"] == "red" and n["read_at"] is None for n in box["items"])

    marked = api.client.post("/notifications/read", headers=api.headers["red"], json={"ids": ids[:2]})
    assert marked.status_code == 200, marked.text
    assert marked.json() == {"marked": 2}
    box = api.client.get("/notifications", headers=api.headers["red"], params={"unread": "true"}).json()
    assert [n["id"] for n in box["items"]] == ids[2:]
    assert box["unread"] == 1
    everything = api.client.get("/notifications", headers=api.headers["red"]).json()["items"]
    assert [n["read_at"] is not None for n in everything] == [True, True, False]
    # Marking again marks nothing more; unknown ids are simply not marked.
    again = api.client.post("/notifications/read", headers=api.headers["red"], json={"ids": [*ids[:2], 999_999]})
    assert again.json() == {"marked": 0}


def test_a_party_marks_only_its_own_notifications(api: Api) -> None:
    ids = notify_red(api, 2)
    for party in ("blue", "aid", "watch", "secretariat"):
        r = api.client.post("/notifications/read", headers=api.headers[party], json={"ids": ids})
        assert r.status_code == 200, r.text
        assert r.json() == {"marked": 0}, party
    box = api.client.get("/notifications", headers=api.headers["red"]).json()
    assert box["unread"] == 2
    assert all(n["read_at"] is None for n in box["items"])
    # Nor does any other party see red's notifications.
    for party in ("blue", "aid", "watch", "secretariat"):
        items = api.client.get("/notifications", headers=api.headers[party]).json()["items"]
        assert not {n["id"] for n in items} & set(ids), party


def test_inbox_pages_with_after(api: Api) -> None:
    ids = notify_red(api, 5)
    first = api.client.get("/notifications", headers=api.headers["red"], params={"limit": 2}).json()["items"]
    assert [n["id"] for n in first] == ids[:2]
    second = api.client.get(
        "/notifications", headers=api.headers["red"], params={"limit": 2, "after": first[-1]["id"]}
    ).json()["items"]
    assert [n["id"] for n in second] == ids[2:4]
    last = api.client.get("/notifications", headers=api.headers["red"], params={"after": ids[-1]}).json()
    assert last["items"] == []
    assert last["unread"] == 5  # the count is of the whole inbox, not of the page
    assert api.client.get("/notifications", headers=api.headers["red"], params={"after": -1}).status_code == 422
    assert api.client.get("/notifications", headers=api.headers["red"], params={"limit": 501}).status_code == 422


def test_marking_too_many_at_once_is_refused(api: Api) -> None:
    r = api.client.post("/notifications/read", headers=api.headers["red"], json={"ids": list(range(501))})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")


def test_the_inbox_needs_a_token(api: Api) -> None:
    assert api.client.get("/notifications").status_code == 401
    assert api.client.get("/notifications/stream").status_code == 401
    assert api.client.post("/notifications/read", json={"ids": [1]}).status_code == 401


# -- webhooks: registration and the outbox -----------------------------------------


def test_webhook_registration(api: Api) -> None:
    r = api.client.post("/webhooks", headers=api.headers["red"], json={"url": "https://example.org/hook"})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"]
    listed = api.client.get("/webhooks", headers=api.headers["red"]).json()
    assert [w["id"] for w in listed] == [created["id"]]
    assert "secret" not in listed[0]
    assert api.client.get("/webhooks", headers=api.headers["blue"]).json() == []
    assert api.client.get(f"/webhooks/{created['id']}/deliveries", headers=api.headers["blue"]).status_code == 404
    assert api.client.delete(f"/webhooks/{created['id']}", headers=api.headers["blue"]).status_code == 404
    for bad in ("ftp://example.org/hook", "not a url at all", "http:///nohost"):
        refused = api.client.post("/webhooks", headers=api.headers["red"], json={"url": bad})
        assert refused.status_code == 422, bad
    assert api.client.delete(f"/webhooks/{created['id']}", headers=api.headers["red"]).status_code == 204
    assert api.client.get("/webhooks", headers=api.headers["red"]).json() == []


def test_a_refused_filing_queues_no_delivery(api: Api) -> None:
    """The outbox is written in the filing's transaction: a refused filing leaves nothing to send."""
    hook = api.client.post("/webhooks", headers=api.headers["red"], json={"url": "http://127.0.0.1:9/hook"}).json()
    version = api.version()
    assert file(api.client, api.headers["red"], "r1", RED_NEAR_HOSPITAL, version).status_code == 201
    version = api.version()
    refused = file(api.client, api.headers["blue"], "b-bad", BLUE_BLOCKED, version)
    assert refused.status_code == 409, refused.text
    assert refused.json()["type"] == "/problems/blocking-conflicts"
    # Red would have been told of the separation conflict had the filing gone through.
    assert "separation" in {c["type"] for c in refused.json()["conflicts"]}
    assert api.client.get("/notifications", headers=api.headers["red"]).json()["items"] == []
    assert api.client.get(f"/webhooks/{hook['id']}/deliveries", headers=api.headers["red"]).json() == []

    # A stale refusal likewise.
    stale = file(api.client, api.headers["blue"], "b-near", (36.45, 35.75), version - 1)
    assert stale.status_code == 409, stale.text
    assert stale.json()["type"] == "/problems/stale-world"
    assert api.client.get(f"/webhooks/{hook['id']}/deliveries", headers=api.headers["red"]).json() == []

    filed = file(api.client, api.headers["blue"], "b-near", (36.45, 35.75), version)
    assert filed.status_code == 201, filed.text
    assert filed.json()["notified"] == ["red"]
    notes = api.client.get("/notifications", headers=api.headers["red"]).json()["items"]
    deliveries = api.client.get(f"/webhooks/{hook['id']}/deliveries", headers=api.headers["red"]).json()
    assert [d["notification"] for d in deliveries] == [n["id"] for n in notes]
    assert len(deliveries) == 1
    assert deliveries[0]["delivered_at"] is None  # nothing runs the dispatcher here


# -- a real server -------------------------------------------------------------------


@dataclass
class Live:
    """The app served by uvicorn on 127.0.0.1, with a bearer token per party."""

    url: str
    store: Store
    headers: dict[str, dict[str, str]] = field(default_factory=dict)

    def client(self, **kw: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=kw.pop("timeout", 10), **kw)


@contextmanager
def serve(tmp_path: Path, *, webhooks: bool) -> Iterator[Live]:
    store = open_store(f"sqlite:///{tmp_path / 'live.sqlite'}")
    store.replace_world(parse_scenario(json.dumps(world_document())))
    _, admin_token = accounts.bootstrap(Mechanism(store=store, clock=SystemClock(), codec=ScenarioCodec()))
    app = create_app(store, webhooks=webhooks)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline, "the server did not start within 10 s"
            time.sleep(0.02)
        live = Live(f"http://127.0.0.1:{port}", store, {"secretariat": {"Authorization": f"Bearer {admin_token}"}})
        with live.client() as c:
            for party in PARTIES:
                member = c.post(f"/parties/{party}/members", headers=live.headers["secretariat"], json={"name": party})
                assert member.status_code == 201, member.text
                token = c.post(f"/members/{member.json()['id']}/tokens", headers=live.headers["secretariat"], json={})
                assert token.status_code == 201, token.text
                live.headers[party] = {"Authorization": f"Bearer {token.json()['token']}"}
        yield live
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        store.close()
        assert not thread.is_alive(), "the server did not stop"


@dataclass
class Event:
    id: str | None
    event: str | None
    data: str


def sse_events(response: httpx.Response) -> Iterator[Event]:
    """Parse a text/event-stream into events (comments are skipped; an event ends at a blank line)."""
    fields: dict[str, list[str]] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in fields:
                yield Event(
                    fields.get("id", [None])[-1],  # type: ignore[list-item]
                    fields.get("event", [None])[-1],  # type: ignore[list-item]
                    "\n".join(fields["data"]),
                )
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value[1:] if value.startswith(" ") else value)


def take(events: Iterator[Event], n: int) -> list[Event]:
    return [next(events) for _ in range(n)]


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with serve(tmp_path, webhooks=False) as server:
        yield server


def test_the_live_stream_sends_each_notification_once_and_resumes_after_last_event_id(live: Live) -> None:
    timeout = httpx.Timeout(10.0, read=10.0)
    with live.client() as c:
        assert file(c, live.headers["red"], "r1", RED_AT, world_version(c, live.headers["red"])).status_code == 201
        with c.stream("GET", "/notifications/stream", headers=live.headers["red"], timeout=timeout) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["cache-control"] == "no-store"
            events = sse_events(stream)
            filed = file(c, live.headers["blue"], "b0", BLUE_NEAR[0], world_version(c, live.headers["blue"]))
            assert filed.status_code == 201, filed.text
            assert filed.json()["notified"] == ["red"]
            (first,) = take(events, 1)
        assert first.id is not None and first.id.isdigit()
        assert first.event == "conflict.disclosed"
        data = json.loads(first.data)
        assert data["id"] == int(first.id)
        assert data["type"] == "conflict.disclosed"
        assert data["party"] == "red"
        assert data["body"]["intent"] == "b0"
        assert data["body"]["filing_party"] == "blue"

        # While red is away, two more filings tell it of two more conflicts.
        for oid, at in (("b1", BLUE_NEAR[1]), ("b2", BLUE_NEAR[2])):
            assert file(c, live.headers["blue"], oid, at, world_version(c, live.headers["blue"])).status_code == 201
        resume = {**live.headers["red"], "Last-Event-ID": first.id}
        with c.stream("GET", "/notifications/stream", headers=resume, timeout=timeout) as stream:
            events = sse_events(stream)
            missed = take(events, 2)
            assert [json.loads(e.data)["body"]["intent"] for e in missed] == ["b1", "b2"]
            assert all(int(e.id or 0) > int(first.id) for e in missed)
            # And what comes while connected arrives too, exactly once.
            filed = file(c, live.headers["blue"], "b3", BLUE_NEAR[3], world_version(c, live.headers["blue"]))
            assert filed.status_code == 201, filed.text
            (new,) = take(events, 1)
        assert json.loads(new.data)["body"]["intent"] == "b3"
        ids = [int(first.id), *(int(e.id or 0) for e in missed), int(new.id or 0)]
        assert ids == sorted(set(ids))

        # `after` works like Last-Event-ID; the larger of the two wins.
        with c.stream(
            "GET",
            "/notifications/stream",
            headers={**live.headers["red"], "Last-Event-ID": str(ids[2])},
            params={"after": ids[0]},
            timeout=timeout,
        ) as stream:
            (only,) = take(sse_events(stream), 1)
        assert int(only.id or 0) == ids[3]


def test_another_partys_stream_stays_quiet(live: Live) -> None:
    with live.client() as c:
        assert file(c, live.headers["red"], "r1", RED_AT, world_version(c, live.headers["red"])).status_code == 201
        filed = file(c, live.headers["blue"], "b0", BLUE_NEAR[0], world_version(c, live.headers["blue"]))
        assert filed.status_code == 201, filed.text
        assert filed.json()["notified"] == ["red"]
        with (
            c.stream(
                "GET", "/notifications/stream", headers=live.headers["aid"], timeout=httpx.Timeout(10.0, read=1.0)
            ) as stream,
            pytest.raises(httpx.ReadTimeout),
        ):
            take(sse_events(stream), 1)


# -- webhooks, end to end ---------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


def verify_signature(secret: str, header: str, body: bytes) -> int:
    """The signature's timestamp, after checking HMAC-SHA256(secret, f"{t}." + body) against v1."""
    parts = dict(p.split("=", 1) for p in header.split(","))
    assert set(parts) == {"t", "v1"}, header
    expected = hmac.new(secret.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(expected, parts["v1"]), "the signature does not verify"
    wrong = hmac.new(b"not-the-secret", f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
    assert wrong != parts["v1"]
    return int(parts["t"])


def test_a_notification_reaches_the_partys_webhook_signed(tmp_path: Path, receiver: Receiver) -> None:
    with serve(tmp_path, webhooks=True) as live, live.client() as c:
        red = live.headers["red"]
        hook = c.post("/webhooks", headers=red, json={"url": receiver.url})
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        assert file(c, red, "r1", RED_NEAR_HOSPITAL, world_version(c, red)).status_code == 201

        # A refused filing (blocking, and it would have told red) sends nothing ...
        blocked = file(c, live.headers["blue"], "b-bad", BLUE_BLOCKED, world_version(c, red))
        assert blocked.status_code == 409, blocked.text
        # ... a filed one sends exactly one signed POST.
        filed = file(c, live.headers["blue"], "b-near", (36.45, 35.75), world_version(c, red))
        assert filed.status_code == 201, filed.text
        assert filed.json()["notified"] == ["red"]
        started = time.time()
        (got,) = receiver.wait_for(1)

        (note,) = c.get("/notifications", headers=red).json()["items"]
        assert got.headers["idempotency-key"] == f"ntf-{note['id']}"
        assert got.headers["content-type"] == "application/json"
        assert got.headers["detente-event"] == "conflict.disclosed"
        t = verify_signature(secret, got.headers["detente-signature"], got.body)
        assert abs(t - started) < 60
        document = json.loads(got.body)
        assert document["id"] == f"ntf-{note['id']}"
        assert document["type"] == "conflict.disclosed"
        assert document["party"] == "red"
        assert document["body"]["intent"] == "b-near"
        assert document["body"]["filing_party"] == "blue"

        deadline = time.monotonic() + 5
        while True:
            (delivery,) = c.get(f"/webhooks/{hook.json()['id']}/deliveries", headers=red).json()
            if delivery["delivered_at"] is not None or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert delivery["delivered_at"] is not None
        assert delivery["attempts"] == 1
        assert delivery["notification"] == note["id"]

        # Nothing else arrives (the refused filing left nothing in the outbox).
        time.sleep(1.0)
        assert len(receiver.requests) == 1


def test_a_revoked_token_ends_an_open_stream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_notifications, "KEEPALIVE_S", 0.5)
    with serve(tmp_path, webhooks=False) as live, live.client() as c:
        me = c.get("/me", headers=live.headers["red"]).json()
        tokens = c.get(f"/members/{me['member']}/tokens", headers=live.headers["red"]).json()
        timeout = httpx.Timeout(10.0, read=10.0)
        with c.stream("GET", "/notifications/stream", headers=live.headers["red"], timeout=timeout) as stream:
            events = sse_events(stream)
            revoked = c.delete(f"/tokens/{tokens[0]['id']}", headers=live.headers["secretariat"])
            assert revoked.status_code == 204
            started = time.monotonic()
            (last,) = take(events, 1)
            assert last.event == "token.invalid"
            assert list(events) == []  # the server closed the stream
            assert time.monotonic() - started < 5
