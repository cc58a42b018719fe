"""Webhook delivery from the outbox: at least once, signed, retried with backoff.

Why an outbox: :meth:`Tx.notify` writes the notification and one
``deliveries`` row per active webhook of the party in the *same*
transaction as the change it reports.  So a committed change always has
its deliveries queued, and a rolled-back one never sends anything; the
HTTP call happens later, here, outside any business transaction (a slow
receiver never holds a database lock or fails a filing).

Why at least once, not exactly once: a worker can crash after the
receiver answered 2xx but before ``delivered_at`` is committed, and the
delivery is then sent again.  Every attempt of one notification carries
the same ``Idempotency-Key: ntf-<notification id>``, so receivers
de-duplicate on it.

Why a lease: :meth:`Tx.claim_deliveries` moves ``next_attempt_at`` of the
claimed rows to ``now + lease`` in the claiming transaction (on PostgreSQL
with ``FOR UPDATE SKIP LOCKED``), so a second worker polling meanwhile
does not send the same delivery at the same time.  If this worker dies,
the lease runs out and another worker picks the delivery up.  The lease
must outlast one attempt, hence ``lease > timeout_s``.

Signatures follow Stripe's scheme: ``Detente-Signature: t=<unix seconds>,v1=<hex>``
where ``hex`` is HMAC-SHA256 over ``"<t>." + body`` with the webhook's
secret.  The timestamp inside the signed text lets a receiver reject
replays of an old request (:func:`verify`, ``tolerance_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from detente.services import audit
from detente.services.context import Clock
from detente.services.ports import Storage

log = logging.getLogger(__name__)

#: Attempts in all before a delivery is given up (``failed_at`` set).
MAX_ATTEMPTS = 12
#: The longest wait between two attempts.
MAX_BACKOFF = timedelta(hours=1)

SIGNATURE_HEADER = "Detente-Signature"
USER_AGENT = "detente-webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 (hex) of ``"<timestamp>." + body`` keyed with ``secret``."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Detente-Signature`` value: ``t=<timestamp>,v1=<hex>``."""
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, now_s: float, tolerance_s: float = 300) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` and is at most ``tolerance_s`` old (or ahead).

    For receivers.  Any ``v1`` entry may match (a sender may list several
    while a secret is rotated); the comparison is constant-time, and a
    malformed header is simply not valid.
    """
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now_s - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body)
    # Check every candidate, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(expected.encode(), c.encode()) for c in candidates]
    return any(matches)


def backoff(attempts: int) -> timedelta:
    """How long to wait after ``attempts`` failed attempts: 2**attempts seconds, at most an hour."""
    exponent = max(0, min(attempts, 12))  # 2**12 s is already past the cap: no huge powers
    return min(timedelta(seconds=2**exponent), MAX_BACKOFF)


def _iso(value: datetime) -> str:
    if value.utcoffset() is None:
        raise ValueError("naive datetime: an explicit UTC offset is required")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def payload(notification: Mapping[str, Any], receipt: Mapping[str, Any] | None = None) -> bytes:
    """The request body of a notification: compact JSON, sorted keys, UTC times ending in ``Z``.

    ``receipt`` is the notification's audit receipt: the receiver can keep
    it as proof, checkable offline, of what it was told and when.
    """
    document: dict[str, Any] = {
        "id": f"ntf-{notification['id']}",
        "type": notification["type"],
        "party": notification["party"],
        "created_at": notification["created_at"],
        "body": notification["body"],
    }
    if receipt is not None:
        document["receipt"] = receipt
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return text.encode("utf-8")


@dataclass(frozen=True)
class _Outcome:
    delivery_id: int
    attempts: int
    error: str | None  # None: delivered


class Dispatcher:
    """Sends due outbox deliveries to their webhooks; run one per process, or several.

    ``run_once`` claims a batch (leasing it), POSTs the batch concurrently
    and records each outcome.  A 2xx is delivered; anything else (another
    status, a redirect, which is never followed, a timeout, a refused
    connection, a malformed URL) is a failed attempt, retried after
    :func:`backoff` until :data:`MAX_ATTEMPTS`, then given up.

    The store (any :class:`Storage`, e.g. ``open_store(url)``) is
    synchronous, so its transactions run in a worker thread
    (``asyncio.to_thread``) and never block the event loop.
    """

    def __init__(
        self,
        store: Storage,
        clock: Clock,
        client: httpx.AsyncClient,
        *,
        batch: int = 50,
        lease: timedelta = timedelta(seconds=60),
        timeout_s: float = 10,
    ) -> None:
        if batch < 1:
            raise ValueError("batch must be at least 1")
        if timeout_s <= 0:
            raise ValueError("timeout_s must be positive")
        if lease.total_seconds() <= timeout_s:
            # Else a slow attempt outlives its lease and a second worker sends it too.
            raise ValueError("lease must be longer than timeout_s")
        self.store = store
        self.clock = clock
        self.client = client
        self.batch = batch
        self.lease = lease
        self.timeout_s = timeout_s

    async def run_once(self) -> int:
        """Claim the due deliveries, send them, record the outcomes; how many were attempted.

        Outcomes are recorded together in one transaction after the batch;
        should that fail, the leases run out and the deliveries are sent
        again (at least once).
        """
        now = self.clock.now()
        claimed = await asyncio.to_thread(self._claim, now)
        if not claimed:
            return 0
        outcomes = await asyncio.gather(*(self._send(d) for d in claimed))
        await asyncio.to_thread(self._record, outcomes)
        return len(claimed)

    async def run(self, stop: asyncio.Event, idle_s: float = 0.5) -> None:
        """Run batches until ``stop`` is set, waiting ``idle_s`` whenever nothing was due.

        A batch that fails (the database is away, say) is logged and the
        loop goes on; one bad webhook cannot stop it, since :meth:`_send`
        turns every error into a failed attempt.
        """
        while not stop.is_set():
            try:
                attempted = await self.run_once()
            except Exception:
                log.exception("webhook dispatch failed; retrying")
                attempted = 0
            if attempted == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), idle_s)

    # -- steps ---------------------------------------------------------------

    def _claim(self, now: datetime) -> list[dict[str, Any]]:
        with self.store.write(world=False) as tx:
            claimed = tx.claim_deliveries(now, now + self.lease, self.batch)
            for delivery in claimed:
                index = audit.sent_index(tx, delivery["notification"]["id"])
                delivery["receipt"] = None if index is None else tx.audit_receipt(index).to_json()
            return claimed

    async def _send(self, delivery: Mapping[str, Any]) -> _Outcome:
        """One attempt; never raises (except cancellation), an error is the outcome."""
        note = delivery["notification"]
        body = payload(note, delivery.get("receipt"))
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Idempotency-Key": f"ntf-{note['id']}",
            SIGNATURE_HEADER: signature_header(delivery["secret"], timestamp, body),
            "Detente-Event": str(note["type"]),
            "Detente-Delivery": str(delivery["id"]),
        }
        error: str | None
        try:
            # asyncio.timeout bounds the whole attempt; httpx's timeout is per phase.
            async with (
                asyncio.timeout(self.timeout_s),
                self.client.stream(
                    "POST",
                    delivery["url"],
                    content=body,
                    headers=headers,
                    timeout=self.timeout_s,
                    follow_redirects=False,
                ) as response,
            ):
                # The response body is not read: only the status matters.
                error = None if 200 <= response.status_code < 300 else f"HTTP {response.status_code}"
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        if error is not None:
            log.warning(
                "webhook %s delivery %s attempt %d failed: %s",
                delivery["webhook"],
                delivery["id"],
                delivery["attempts"] + 1,
                error,
            )
        return _Outcome(delivery["id"], delivery["attempts"], error)

    def _record(self, outcomes: list[_Outcome]) -> None:
        now = self.clock.now()
        with self.store.write(world=False) as tx:
            for outcome in outcomes:
                if outcome.error is None:
                    tx.delivery_done(outcome.delivery_id, now)
                    continue
                tried = outcome.attempts + 1
                retry_at = None if tried >= MAX_ATTEMPTS else now + backoff(tried)
                tx.delivery_failed(outcome.delivery_id, outcome.error, retry_at, now)
