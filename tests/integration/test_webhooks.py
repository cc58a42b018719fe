"""The webhook dispatcher against a real HTTP receiver, on SQLite and on PostGIS (see conftest.py).

The receiver is a real ``ThreadingHTTPServer`` on 127.0.0.1 that records
every request and answers a programmed sequence of statuses; the clock is
a :class:`FixedClock` moved by hand, so backoff and leases are tested
without sleeping.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from tests.http_receiver import Receiver, Seen

from detente.adapters.notify.webhooks import (
    MAX_ATTEMPTS,
    Dispatcher,
    backoff,
    payload,
    sign,
    signature_header,
    verify,
)
from detente.adapters.storage import Store, open_store
from detente.audit.receipts import Receipt
from detente.services.context import FixedClock

T0 = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
SECRET = "whsec-blue-1"
BODY = {"intent": "op-1", "conflicts": 2, "note": "überflug"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    try:
        yield r
    finally:
        r.close()


@pytest.fixture
def dead_url() -> str:
    """A URL on a port nothing listens on (bound, then closed): connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


# -- helpers ------------------------------------------------------------------


def add_hook(store: Store, url: str, *, id: str = "wh-1", party: str = "blue", secret: str = SECRET) -> None:
    with store.write(world=False) as tx:
        tx.add_webhook(id=id, party=party, url=url, secret=secret, now=T0)


def notify(store: Store, *, party: str = "blue", type: str = "intent.filed", now: datetime = T0) -> int:
    with store.write(world=False) as tx:
        return tx.notify(party, type, BODY, now)


def deliveries(store: Store, webhook: str = "wh-1") -> list[dict[str, Any]]:
    with store.read() as tx:
        return tx.deliveries(webhook)


def dispatch(store: Store, clock: FixedClock, **options: Any) -> int:
    """One ``run_once`` with a fresh client, from synchronous test code."""

    async def go() -> int:
        async with httpx.AsyncClient() as client:
            return await Dispatcher(store, clock, client, **options).run_once()

    return asyncio.run(go())


def signed_at(seen: Seen) -> int:
    return int(seen.headers["detente-signature"].split(",")[0].removeprefix("t="))


# -- delivery -----------------------------------------------------------------


def test_delivers_a_signed_notification(store: Store, receiver: Receiver, clock: FixedClock) -> None:
    add_hook(store, receiver.url)
    nid = notify(store)
    [pending] = deliveries(store)

    assert dispatch(store, clock) == 1

    [seen] = receiver.requests
    assert (seen.method, seen.path) == ("POST", "/hook")
    expected = (
        '{"body":{"conflicts":2,"intent":"op-1","note":"überflug"},"created_at":"2030-01-02T03:04:05Z",'
        f'"id":"ntf-{nid}","party":"blue","receipt":'
    ).encode()
    assert seen.body.startswith(expected)
    document = json.loads(seen.body)
    with store.read() as tx:
        [note] = tx.notifications("blue", after=0, unread=False, limit=10)
    assert seen.body == payload(note, document["receipt"])
    # The receipt proves, offline, that this notification was logged as sent to blue.
    receipt = Receipt.from_json(document["receipt"])
    assert receipt.check() == []
    logged = json.loads(receipt.entry)
    assert (logged["type"], logged["subject"], logged["audience"]) == (
        "notification.sent",
        f"notification/{nid}",
        ["blue"],
    )
    assert logged["state"]["body"] == BODY
    assert json.loads(seen.body)["body"] == BODY
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["idempotency-key"] == f"ntf-{nid}"
    assert seen.headers["detente-event"] == "intent.filed"
    assert seen.headers["detente-delivery"] == str(pending["id"])

    header = seen.headers["detente-signature"]
    now_s = T0.timestamp()
    assert header == f"t={int(now_s)},v1={sign(SECRET, int(now_s), seen.body)}"
    assert verify(SECRET, header, seen.body, now_s)
    assert not verify("whsec-wrong", header, seen.body, now_s)
    assert not verify(SECRET, header, seen.body.replace(b"op-1", b"op-2"), now_s)
    assert not verify(SECRET, header, seen.body + b" ", now_s)
    assert not verify(SECRET, header, seen.body, now_s + 301)  # replayed too late
    assert verify(SECRET, header, seen.body, now_s + 300)

    [done] = deliveries(store)
    assert done["delivered_at"] == T0
    assert (done["attempts"], done["failed_at"], done["last_error"]) == (1, None, None)

    assert dispatch(store, clock) == 0  # delivered once, not again
    assert len(receiver.requests) == 1


def test_retries_after_backoff_with_the_same_idempotency_key(
    store: Store, receiver: Receiver, clock: FixedClock
) -> None:
    add_hook(store, receiver.url)
    nid = notify(store)
    receiver.statuses = [500, 200]

    assert dispatch(store, clock) == 1
    [failed] = deliveries(store)
    retry_at = T0 + backoff(1)
    assert (failed["attempts"], failed["last_error"], failed["next_attempt_at"]) == (1, "HTTP 500", retry_at)
    assert failed["delivered_at"] is None
    assert failed["failed_at"] is None

    assert dispatch(store, clock) == 0  # not due yet
    clock.at = retry_at - timedelta(seconds=1)
    assert dispatch(store, clock) == 0
    assert len(receiver.requests) == 1

    clock.at = retry_at
    assert dispatch(store, clock) == 1
    first, second = receiver.requests
    assert first.headers["idempotency-key"] == second.headers["idempotency-key"] == f"ntf-{nid}"
    assert first.headers["detente-delivery"] == second.headers["detente-delivery"]
    assert first.body == second.body
    assert (signed_at(first), signed_at(second)) == (int(T0.timestamp()), int(retry_at.timestamp()))
    assert verify(SECRET, second.headers["detente-signature"], second.body, retry_at.timestamp())

    [done] = deliveries(store)
    assert (done["attempts"], done["delivered_at"], done["last_error"]) == (2, retry_at, None)
    clock.at += timedelta(days=1)
    assert dispatch(store, clock) == 0


def test_dead_url_is_given_up_after_max_attempts(store: Store, dead_url: str, clock: FixedClock) -> None:
    add_hook(store, dead_url)
    notify(store)

    for attempt in range(1, MAX_ATTEMPTS + 1):
        assert dispatch(store, clock) == 1
        [d] = deliveries(store)
        assert d["attempts"] == attempt
        assert d["last_error"].startswith("ConnectError")
        if attempt < MAX_ATTEMPTS:
            assert d["failed_at"] is None
            assert d["next_attempt_at"] == clock.at + backoff(attempt)
            assert dispatch(store, clock) == 0  # waits for its backoff
            clock.at = d["next_attempt_at"]

    [given_up] = deliveries(store)
    assert given_up["failed_at"] == clock.at
    assert given_up["next_attempt_at"] is None
    assert given_up["delivered_at"] is None
    clock.at += timedelta(days=30)
    assert dispatch(store, clock) == 0


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() for n in range(1, 6)] == [2, 4, 8, 16, 32]
    assert backoff(11) == timedelta(seconds=2048)
    assert backoff(12) == backoff(13) == backoff(10_000) == timedelta(hours=1)


def test_a_redirect_is_a_failure_and_is_not_followed(store: Store, receiver: Receiver, clock: FixedClock) -> None:
    add_hook(store, receiver.url)
    notify(store)
    receiver.statuses = [302]

    assert dispatch(store, clock) == 1
    [seen] = receiver.requests  # /hook/elsewhere was never asked for
    assert seen.path == "/hook"
    [d] = deliveries(store)
    assert (d["last_error"], d["delivered_at"], d["next_attempt_at"]) == ("HTTP 302", None, T0 + backoff(1))


def test_a_slow_receiver_times_out(store: Store, receiver: Receiver, clock: FixedClock) -> None:
    add_hook(store, receiver.url)
    notify(store)
    receiver.delay_s = 1.0

    started = time.monotonic()
    assert dispatch(store, clock, timeout_s=0.2) == 1
    assert time.monotonic() - started < 0.9
    [d] = deliveries(store)
    assert "Timeout" in d["last_error"]
    assert d["delivered_at"] is None
    assert d["next_attempt_at"] == T0 + backoff(1)


def test_one_bad_webhook_does_not_stop_the_others(
    store: Store, receiver: Receiver, dead_url: str, clock: FixedClock
) -> None:
    add_hook(store, "not a url", id="wh-a")
    add_hook(store, dead_url, id="wh-b")
    add_hook(store, receiver.url, id="wh-c")
    add_hook(store, receiver.url, id="wh-other", party="red")
    notify(store)

    assert dispatch(store, clock) == 3  # the red webhook has nothing to send
    assert len(receiver.requests) == 1
    [good] = deliveries(store, "wh-c")
    assert good["delivered_at"] == T0
    for hook in ("wh-a", "wh-b"):
        [bad] = deliveries(store, hook)
        assert bad["delivered_at"] is None
        assert bad["last_error"]
        assert bad["next_attempt_at"] == T0 + backoff(1)
    assert deliveries(store, "wh-other") == []


def test_a_batch_is_sent_concurrently(store: Store, receiver: Receiver, clock: FixedClock) -> None:
    add_hook(store, receiver.url)
    for _ in range(5):
        notify(store)
    receiver.delay_s = 0.3

    started = time.monotonic()
    assert dispatch(store, clock, batch=3) == 3
    assert time.monotonic() - started < 0.8  # three at 0.3 s each, one after the other, would be 0.9 s
    assert dispatch(store, clock, batch=3) == 2
    assert len({s.headers["idempotency-key"] for s in receiver.requests}) == 5
    assert all(d["delivered_at"] == T0 for d in deliveries(store))


# -- the outbox: leases and transactions --------------------------------------


def test_a_leased_delivery_is_not_claimed_again_before_the_lease_ends(
    store: Store, receiver: Receiver, clock: FixedClock
) -> None:
    add_hook(store, receiver.url)
    notify(store)
    lease = timedelta(seconds=60)

    with store.write(world=False) as tx:  # another worker claims it, then dies before sending
        [claimed] = tx.claim_deliveries(T0, T0 + lease, 10)
    with store.write(world=False) as tx:
        assert tx.claim_deliveries(T0, T0 + lease, 10) == []
    assert dispatch(store, clock, lease=lease) == 0
    clock.at = T0 + lease - timedelta(seconds=1)
    assert dispatch(store, clock, lease=lease) == 0
    assert receiver.requests == []

    clock.at = T0 + lease  # the lease ran out: this worker takes the delivery over
    assert dispatch(store, clock, lease=lease) == 1
    [seen] = receiver.requests
    assert seen.headers["detente-delivery"] == str(claimed["id"])
    [d] = deliveries(store)
    assert (d["attempts"], d["delivered_at"]) == (1, T0 + lease)


@pytest.mark.postgis
def test_concurrent_claims_skip_each_others_rows_on_postgis(pg_url: str, receiver: Receiver) -> None:
    with open_store(pg_url) as store:
        add_hook(store, receiver.url)
        notify(store)
        notify(store)
        with store.write(world=False) as first:
            mine = first.claim_deliveries(T0, T0 + timedelta(seconds=60), 1)
            assert len(mine) == 1
            with store.write(world=False) as second:  # another worker, while the first has not committed
                second.session.execute(text("SET LOCAL lock_timeout = '2s'"))  # fail, do not hang, if it blocks
                theirs = second.claim_deliveries(T0, T0 + timedelta(seconds=60), 10)
        assert [d["id"] for d in theirs] != [d["id"] for d in mine]
        assert len(theirs) == 1


def test_a_rolled_back_notification_leaves_no_delivery(store: Store, receiver: Receiver, clock: FixedClock) -> None:
    add_hook(store, receiver.url)

    class Boom(Exception):
        pass

    with pytest.raises(Boom), store.write(world=False) as tx:
        tx.notify("blue", "intent.filed", BODY, T0)
        assert len(tx.deliveries("wh-1")) == 1  # queued inside the transaction...
        raise Boom

    assert deliveries(store) == []  # ...and gone with it
    with store.read() as tx:
        assert tx.notifications("blue", after=0, unread=False, limit=10) == []
    assert dispatch(store, clock) == 0
    assert receiver.requests == []


# -- the loop -----------------------------------------------------------------


def test_run_survives_a_failing_batch_and_stops_when_told(
    store: Store, receiver: Receiver, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    add_hook(store, receiver.url)
    notify(store)

    class Flaky(Dispatcher):
        calls = 0

        async def run_once(self) -> int:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("database away")
            return await super().run_once()

    async def go() -> int:
        stop = asyncio.Event()
        async with httpx.AsyncClient() as client:
            dispatcher = Flaky(store, clock, client)
            task = asyncio.create_task(dispatcher.run(stop, idle_s=0.01))
            for _ in range(500):
                if receiver.requests and deliveries(store)[0]["delivered_at"] is not None:
                    break
                await asyncio.sleep(0.01)
            calls = dispatcher.calls
            await asyncio.sleep(0.05)  # idle: nothing due, it keeps polling
            assert dispatcher.calls > calls
            stop.set()
            await asyncio.wait_for(task, 5)
            return dispatcher.calls

    with caplog.at_level(logging.ERROR, logger="detente.adapters.notify.webhooks"):
        calls = asyncio.run(go())
    assert calls >= 3
    assert "webhook dispatch failed" in caplog.text
    assert len(receiver.requests) == 1
    [d] = deliveries(store)
    assert d["delivered_at"] == T0


# -- signatures and settings --------------------------------------------------


def test_verify_rejects_malformed_headers() -> None:
    body = b'{"id":"ntf-1"}'
    good = signature_header(SECRET, 1_000, body)
    assert verify(SECRET, good, body, 1_000)
    v1 = good.split(",")[1]
    for header in ("", "garbage", v1, "t=1000", f"t=abc,{v1}", f"t=1000;{v1}", f"t=1000,v1=00{v1[5:]}"):
        assert not verify(SECRET, header, body, 1_000), header
    # a second signature (another secret, during rotation) does not hide the good one
    assert verify(SECRET, f"t=1000,v1={sign('old', 1_000, body)},{v1}", body, 1_000)


def test_lease_must_outlast_an_attempt(store: Store, clock: FixedClock) -> None:
    async def make(**options: Any) -> None:
        async with httpx.AsyncClient() as client:
            Dispatcher(store, clock, client, **options)

    with pytest.raises(ValueError, match="lease"):
        asyncio.run(make(lease=timedelta(seconds=5), timeout_s=10))
    with pytest.raises(ValueError, match="batch"):
        asyncio.run(make(batch=0))
