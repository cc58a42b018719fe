"""Publishing the mechanism's picture to a TAK server as Cursor-on-Target, over TCP or TLS.

:class:`CotPublisher` keeps one connection to a TAK server (TAK Server,
FreeTAKServer, taky, ...), as a TAK client would, and writes the events it is
given; the server relays them to every client connected to it, so a
soldier's tablet draws detente's zones, lines, sites, movements and live
events (built by :mod:`detente.adapters.interop.cot_out`).

* Events wait in a bounded queue (``max_queue`` events).  When the server is
  slow or away and the queue is full, the oldest events are dropped and
  counted (``stats.dropped``): a drawing is republished before it goes stale
  anyway, so the newest state is the one worth keeping.
* A lost connection is retried with exponential backoff (``backoff_initial_s``
  doubling up to ``backoff_max_s``, with jitter); the events being written when
  it broke are written again first (CoT is idempotent by uid).  ``on_connect``,
  if given, is called on every (re)connection and what it returns is sent
  before the queue: give it a function that builds the current picture, so a
  restarted server gets the whole picture back.
* Whatever the server sends (other clients' traffic, pongs) is read and
  discarded, so the server never blocks on us; a write that does not drain
  within ``send_timeout_s`` counts as a dead connection.  With
  ``ping_interval_s`` a ``t-x-c-t`` ping is written when the connection has
  been idle that long, so a half-open connection is found.

:func:`picture` builds the current picture keyed by uid, and :func:`changes`
compares two pictures: what to (re)send and which uids to delete, so a
withdrawn object is deleted on the server and its clients.
:meth:`CotPublisher.sync` does both and remembers the picture it sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import ssl
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from detente.adapters.interop.cot_out import (
    MAX_VERTICES,
    PUBLISHED_KINDS,
    delete_event,
    object_items,
    ping_event,
)
from detente.domain.access import Sight, sight
from detente.domain.model import Role, WorldObject

log = logging.getLogger("detente.cot.out")

OnConnect = Callable[[], Iterable[bytes]]

_TIMES_RE: Final = re.compile(rb'\s(?:time|start|stale)="[^"]*"')


# ---------------------------------------------------------------------------------------------
# Pictures


def picture(
    objects: Iterable[WorldObject],
    *,
    now: datetime,
    stale: timedelta,
    audience: tuple[Role, str] | None = None,
    max_vertices: int = MAX_VERTICES,
) -> dict[str, bytes]:
    """The CoT events drawing ``objects`` at ``now``, by uid, in order (``list(p.values())`` to send them).

    Intents are skipped (they are never published); volumes not in force
    within ``[now, now + stale)`` give no event (see
    :func:`~detente.adapters.interop.cot_out.object_events`).  With
    ``audience`` ``(role, party)``, the party whose tablets the TAK server
    serves, objects it may not see (``detente.domain.access``: another
    party's sites and movements for a humanitarian party or an observer) are
    skipped too; the caller logs the reads that need-to-know logs (use
    :func:`logged_reads`).
    """
    out: dict[str, bytes] = {}
    for obj in objects:
        if obj.kind not in PUBLISHED_KINDS:
            continue
        if audience is not None and sight(audience[0], audience[1], obj.kind, obj.party) is Sight.NONE:
            continue
        for uid, data in object_items(obj, now=now, stale=stale, max_vertices=max_vertices):
            out[uid] = data
    return out


def logged_reads(objects: Iterable[WorldObject], audience: tuple[Role, str]) -> list[WorldObject]:
    """The published objects whose reads by ``audience`` need-to-know logs (another party's sites and movements)."""
    role, party = audience
    return [
        obj
        for obj in objects
        if obj.kind in PUBLISHED_KINDS and sight(role, party, obj.kind, obj.party) is Sight.LOGGED
    ]


def _content(event: bytes) -> bytes:
    """An event without its ``time``, ``start`` and ``stale`` (in its start tag): what it draws."""
    end = event.find(b">", event.find(b"<event"))
    return _TIMES_RE.sub(b"", event[: end + 1]) + event[end + 1 :]


def changed_uids(before: Mapping[str, bytes], after: Mapping[str, bytes]) -> tuple[list[str], list[str]]:
    """``(changed, gone)``: the uids of ``after`` new or drawing something different (times aside), and those gone."""
    changed = [uid for uid, data in after.items() if uid not in before or _content(before[uid]) != _content(data)]
    return changed, [uid for uid in before if uid not in after]


def changes(
    before: Mapping[str, bytes], after: Mapping[str, bytes], *, refresh: bool = False
) -> tuple[list[bytes], list[str]]:
    """``(to_send, to_delete)`` from the picture ``before`` to the picture ``after``.

    ``to_send`` holds the events of ``after`` that are new or draw something
    different (their times aside), or all of ``after`` with ``refresh`` (to
    push ``stale`` forward); ``to_delete`` the uids of ``before`` that are not
    in ``after`` (build their deletions with
    :func:`~detente.adapters.interop.cot_out.delete_event`).
    """
    changed, to_delete = changed_uids(before, after)
    to_send = list(after.values()) if refresh else [after[uid] for uid in changed]
    return to_send, to_delete


# ---------------------------------------------------------------------------------------------
# TLS


def client_ssl_context(
    cafile: str | Path | None = None,
    certfile: str | Path | None = None,
    keyfile: str | Path | None = None,
    password: str | None = None,
    *,
    check_hostname: bool = True,
) -> ssl.SSLContext:
    """A TLS 1.2+ client context: the server checked against ``cafile`` (else the system CAs), a client certificate.

    TAK servers usually require a client certificate signed by their CA;
    give ``certfile`` (and ``keyfile`` unless the key is in it).
    """
    ctx = ssl.create_default_context(cafile=str(cafile) if cafile else None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = check_hostname
    if certfile:
        ctx.load_cert_chain(str(certfile), str(keyfile) if keyfile else None, password)
    return ctx


# ---------------------------------------------------------------------------------------------
# The publisher


@dataclass
class PublisherStats:
    """What the publisher has done since it was made."""

    #: Connected to the server now.
    connected: bool = False
    connects: int = 0
    connect_failures: int = 0
    disconnects: int = 0
    #: Events accepted by :meth:`CotPublisher.publish`, written to the server, and dropped (queue full).
    events_queued: int = 0
    events_sent: int = 0
    dropped: int = 0
    bytes_sent: int = 0
    pings: int = 0
    #: Bytes the server sent us (read and discarded).
    bytes_received: int = 0
    #: Events ``on_connect`` gave, over every connection, and the times it failed.
    on_connect_events: int = 0
    on_connect_errors: int = 0
    last_error: str | None = None


class _Disconnected(Exception):
    """The server closed the connection."""


class CotPublisher:
    """Keep one connection to a TAK server at ``host:port`` and write CoT events to it.

    ``audience`` is ``(role, party)`` of the users of that server: what
    :class:`~detente.adapters.feeds.cot_bridge.CotBridge` publishes to it
    follows that party's need-to-know (``None``: everything published).
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ssl_context: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
        max_queue: int = 10_000,
        batch_bytes: int = 256 * 1024,
        connect_timeout_s: float = 10.0,
        send_timeout_s: float = 10.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
        ping_interval_s: float | None = 30.0,
        on_connect: OnConnect | None = None,
        uid: str = "detente-publisher",
        audience: tuple[Role, str] | None = None,
    ) -> None:
        if max_queue <= 0 or batch_bytes <= 0:
            raise ValueError("max_queue and batch_bytes must be positive")
        if not (0 < backoff_initial_s <= backoff_max_s):
            raise ValueError("backoff_initial_s must be positive and at most backoff_max_s")
        if connect_timeout_s <= 0 or send_timeout_s <= 0 or (ping_interval_s is not None and ping_interval_s <= 0):
            raise ValueError("timeouts and the ping interval must be positive")
        self.host, self.port = host, port
        self.ssl_context = ssl_context
        self.server_hostname = server_hostname
        self.max_queue = max_queue
        self.batch_bytes = batch_bytes
        self.connect_timeout_s = connect_timeout_s
        self.send_timeout_s = send_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.ping_interval_s = ping_interval_s
        self.on_connect = on_connect
        self.uid = uid
        #: ``(role, party)`` whose tablets the server serves (see :func:`picture`); ``None``: everything.
        self.audience = audience
        self.stats = PublisherStats()
        self._queue: deque[bytes] = deque()
        self._inflight: list[bytes] = []
        self._wakeup = asyncio.Event()
        self._stop = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._sent_picture: dict[str, bytes] = {}

    # -- the API -------------------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events queued or being written."""
        return len(self._queue) + len(self._inflight)

    @property
    def current_picture(self) -> dict[str, bytes]:
        """The picture last given to :meth:`sync` (a copy)."""
        return dict(self._sent_picture)

    async def start(self) -> None:
        """Start connecting (and reconnecting) in the background; returns at once."""
        if self._task is not None:
            raise RuntimeError("the publisher is already started")
        self._closing = False
        self._stop.clear()
        self._task = asyncio.create_task(self._run(), name=f"cot-publisher {self.host}:{self.port}")

    async def stop(self, flush_timeout_s: float = 5.0) -> None:
        """Write what is queued (for at most ``flush_timeout_s``, if connected), then close."""
        task, self._task = self._task, None
        if task is None:
            return
        self._closing = True
        self._wakeup.set()
        if not self.stats.connected:  # nothing can be flushed: end a backoff pause now
            self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), flush_timeout_s)
        except TimeoutError:
            pass
        finally:
            self._stop.set()
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.stats.connected = False
        if self.pending:
            log.warning("CoT publisher stopped with %d events unsent", self.pending)

    async def __aenter__(self) -> CotPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def publish(self, events: Iterable[bytes]) -> int:
        """Queue events to write, in order; returns how many were queued.

        When the queue holds ``max_queue`` events the oldest is dropped for each
        new one (counted in ``stats.dropped``).
        """
        n = dropped = 0
        for data in events:
            if not isinstance(data, bytes | bytearray) or not data:
                raise TypeError("events must be non-empty bytes")
            if len(self._queue) >= self.max_queue:
                self._queue.popleft()
                dropped += 1
            self._queue.append(bytes(data))
            n += 1
        if n:
            self.stats.events_queued += n
            self._wakeup.set()
        if dropped:
            self.stats.dropped += dropped
            log.warning("CoT publisher queue full (%d): the %d oldest events dropped", self.max_queue, dropped)
        return n

    async def sync(
        self, after: Mapping[str, bytes], *, now: datetime | None = None, refresh: bool = False
    ) -> tuple[int, int]:
        """Publish the change from the last picture synced to ``after``: deletions first, then new and changed events.

        Returns ``(sent, deleted)``.  With ``refresh`` every event of ``after``
        is sent again (do so before the events go stale).
        """
        to_send, to_delete = changes(self._sent_picture, after, refresh=refresh)
        now = now or datetime.now(UTC)
        deletions = [delete_event(uid, now=now) for uid in to_delete]
        self._sent_picture = dict(after)
        await self.publish([*deletions, *to_send])
        return len(to_send), len(to_delete)

    # -- the connection ------------------------------------------------------------------------

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _run(self) -> None:
        backoff = self.backoff_initial_s
        where = f"{self.host}:{self.port}"
        while not self._closing:
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(
                        self.host,
                        self.port,
                        ssl=self.ssl_context,
                        server_hostname=self.server_hostname if self.ssl_context else None,
                        limit=64 * 1024,
                    ),
                    self.connect_timeout_s,
                )
            except (OSError, TimeoutError, ssl.SSLError) as exc:
                self.stats.connect_failures += 1
                self.stats.last_error = f"connect: {type(exc).__name__}: {exc}"
                delay = backoff * random.uniform(0.5, 1.0)
                log.info("CoT publisher cannot connect to %s (%s); retrying in %.1fs", where, exc, delay)
                await self._pause(delay)
                backoff = min(backoff * 2, self.backoff_max_s)
                continue
            backoff = self.backoff_initial_s
            self.stats.connects += 1
            self.stats.connected = True
            log.info("CoT publisher connected to %s%s", where, " (TLS)" if self.ssl_context else "")
            try:
                await self._session(reader, writer)
            except (OSError, TimeoutError, ssl.SSLError, _Disconnected) as exc:
                self.stats.last_error = f"connection: {type(exc).__name__}: {exc}"
                log.warning("CoT publisher lost %s: %s", where, self.stats.last_error)
            finally:
                self.stats.connected = False
                self.stats.disconnects += 1
                writer.transport.abort()
            if not self._closing:
                await self._pause(backoff * random.uniform(0.5, 1.0))

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Write until the connection breaks or, when closing, until nothing is left."""
        discard = asyncio.create_task(self._discard(reader))
        try:
            if self.on_connect is not None:
                try:
                    fresh = list(self.on_connect())
                except Exception:
                    self.stats.on_connect_errors += 1
                    log.exception("CoT publisher on_connect failed")
                else:
                    self.stats.on_connect_events += len(fresh)
                    self._inflight = fresh + self._inflight
            while True:
                if not self._inflight:
                    self._take_batch()
                if self._inflight:
                    await self._write(writer, self._inflight)
                    self.stats.events_sent += len(self._inflight)
                    self._inflight = []
                    continue
                if self._closing:
                    return
                self._wakeup.clear()
                if self._queue:
                    continue
                waiter = asyncio.create_task(self._wakeup.wait())
                try:
                    done, _ = await asyncio.wait(
                        {waiter, discard}, timeout=self.ping_interval_s, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    waiter.cancel()
                if discard in done:
                    discard.result()  # raises what ended the read, or:
                    raise _Disconnected("the server closed the connection")
                if not done and self.ping_interval_s is not None:  # idle: ping
                    await self._write(writer, [ping_event(self.uid, now=datetime.now(UTC))])
                    self.stats.pings += 1
        finally:
            discard.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await discard

    def _take_batch(self) -> None:
        size = 0
        while self._queue and (size < self.batch_bytes or not self._inflight):
            data = self._queue.popleft()
            self._inflight.append(data)
            size += len(data)

    async def _write(self, writer: asyncio.StreamWriter, events: list[bytes]) -> None:
        data = b"".join(events)
        writer.write(data)
        await asyncio.wait_for(writer.drain(), self.send_timeout_s)
        self.stats.bytes_sent += len(data)

    async def _discard(self, reader: asyncio.StreamReader) -> None:
        """Read and drop what the server sends, until it closes."""
        while True:
            data = await reader.read(64 * 1024)
            if not data:
                return
            self.stats.bytes_received += len(data)
