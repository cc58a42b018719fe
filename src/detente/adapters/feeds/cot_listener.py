"""A TCP (optionally TLS with client certificates) listener for TAK clients streaming Cursor-on-Target.

Each connection is read on its own task through its own
:class:`~detente.adapters.interop.cot.EventSplitter`; every event is parsed
with :func:`~detente.adapters.interop.cot.parse_event`, mapped to a party by
the feed's :class:`~detente.adapters.interop.cot.FeedMapping`, and the
reports of one read are handed to ``on_reports`` in one list.

A client is held to its own resources and cannot stall the others:

* a read is at most ``read_bytes``, the stream reader's buffer is limited to
  the same, and the splitter holds at most ``max_event_bytes`` plus one read;
  a connection whose buffer passes ``max_buffer_bytes`` is closed;
* bad input (garbage between events, truncated or oversized events, events
  that are not well-formed safe XML) is dropped, logged on ``detente.cot``
  and counted; more than ``max_bad_bytes`` of it with no good event in
  between closes the connection (the count is reset by any read that holds a
  well-formed event);
* pings (``t-x-c-t``) are answered with a pong (``t-x-c-t-r``);
* at most ``max_clients`` connections are served; more are closed at once.

The listener also pushes CoT to its clients (detente's picture, see
:mod:`detente.adapters.feeds.cot_bridge`): :meth:`CotListener.send` queues
events to every client, or to the clients of some parties, and never waits.
Each client has its own queue and writer task; what it has not taken yet
(queued events, pongs and the socket's write buffer) is bounded by
``max_pending_write_bytes``: a client that does not read is dropped, with a
log line, when that is passed (or when a write does not drain within
``send_timeout_s``), and the other clients go on.  ``welcome(party)``, if
set, gives the events a client receives first, when it connects.

A connection belongs to a party only through its TLS client certificate: the
certificate's common name (CN) is looked up in ``parties_by_cn``.  A client
without one (plain TCP, or a CN not in the table) is :data:`ANONYMOUS`.

With an ``ssl_context`` (see :func:`server_ssl_context`) a client must
present a certificate signed by the given CA; one that does not fails the
TLS handshake and is never read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from detente.adapters.interop.cot import (
    GEOID_MODEL,
    MAX_EVENT_BYTES,
    EventSplitter,
    geoid_available,
    parse_event,
    pong_event,
    to_report,
)
from detente.adapters.interop.feedmap import (
    Dropped,
    FeedMapping,
    Report,
)
from detente.domain.errors import InvalidInput

log = logging.getLogger("detente.cot")

#: Bad events logged at WARNING per connection; the rest go to DEBUG.
LOGGED_BAD_EVENTS = 10

OnReports = Callable[[list[Report]], Awaitable[None]]
#: ``welcome(party)``: the events a client of ``party`` (:data:`ANONYMOUS` if none) receives first.
Welcome = Callable[[str], Iterable[bytes]]

#: The party of a connection not known to belong to one (no client certificate, or a CN not in ``parties_by_cn``).
#: Never a party id: a scenario's party ids are not empty.
ANONYMOUS: Final = ""
#: Bytes written to a client's socket per drain.
WRITE_CHUNK_BYTES: Final = 64 * 1024


def server_ssl_context(certfile: str | Path, keyfile: str | Path, cafile: str | Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context that requires a client certificate signed by ``cafile``."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(certfile), str(keyfile))
    ctx.load_verify_locations(cafile=str(cafile))
    return ctx


@dataclass
class ConnectionStats:
    """What one connection has sent so far."""

    peer: str
    #: The party this connection belongs to (from its certificate), :data:`ANONYMOUS` if none.
    party: str = ANONYMOUS
    events_ok: int = 0
    invalid: int = 0
    refused: int = 0
    unmapped: int = 0
    ignored: int = 0
    pings: int = 0
    discarded_bytes: int = 0
    bad_run_bytes: int = 0
    buffered: int = 0
    peak_buffered: int = 0
    #: Bytes queued for the client (events sent to it, pongs) and not yet taken by its socket, now and at most.
    pending_write_bytes: int = 0
    peak_pending_write_bytes: int = 0
    #: Events queued for this client (:meth:`CotListener.send`, the welcome), and bytes written to its socket.
    events_queued: int = 0
    bytes_sent: int = 0
    warnings_logged: int = 0
    closed: str | None = None

    @property
    def dropped(self) -> int:
        return self.invalid + self.refused + self.unmapped


@dataclass
class ListenerStats:
    """Totals over every connection since :meth:`CotListener.start`."""

    events_ok: int = 0
    invalid: int = 0
    refused: int = 0
    unmapped: int = 0
    ignored: int = 0
    pings: int = 0
    pongs: int = 0
    #: Bytes the splitters threw away (garbage, truncated and oversized events).
    discarded_bytes: int = 0
    #: Clients connected now, connections accepted, connections refused (too many), clients closed for misbehaving.
    clients: int = 0
    connections: int = 0
    refused_connections: int = 0
    clients_dropped: int = 0
    callback_errors: int = 0
    #: Events queued to clients (one per client it was queued to) and bytes written to them.
    events_sent: int = 0
    bytes_sent: int = 0
    #: Largest splitter buffer any connection held, bytes.
    peak_buffered: int = 0
    #: Dropped events by rule, and closed connections by reason.
    drops: Counter[str] = field(default_factory=Counter)
    closes: Counter[str] = field(default_factory=Counter)

    @property
    def dropped(self) -> int:
        """Events that gave no report for a reason other than not being a position report."""
        return self.invalid + self.refused + self.unmapped


class _Close(Exception):
    """Close this connection, for this reason."""


@dataclass(eq=False)
class _Client:
    """One connection: its writer, counts, party, and what waits to be written to it."""

    writer: asyncio.StreamWriter
    conn: ConnectionStats
    queue: deque[bytes] = field(default_factory=deque)
    queued_bytes: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


def certificate_cn(cert: Any) -> str | None:
    """The first common name of a peer certificate's subject (as ``ssl`` gives it), or ``None``."""
    if not isinstance(cert, dict):
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return None


class CotListener:
    """Serve TAK clients on ``host:port`` and pass their position reports to ``on_reports``."""

    def __init__(
        self,
        host: str,
        port: int,
        mapping: FeedMapping,
        on_reports: OnReports,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_event_bytes: int = MAX_EVENT_BYTES,
        read_bytes: int = 16 * 1024,
        max_buffer_bytes: int | None = None,
        max_bad_bytes: int = 256 * 1024,
        max_clients: int = 256,
        max_pending_write_bytes: int = 4 * 1024 * 1024,
        send_buffer_bytes: int | None = 64 * 1024,
        send_timeout_s: float = 5.0,
        idle_timeout_s: float | None = None,
        handshake_timeout_s: float = 10.0,
        parties_by_cn: Mapping[str, str] | None = None,
        welcome: Welcome | None = None,
    ) -> None:
        if read_bytes <= 0 or max_event_bytes < 64 or max_clients <= 0:
            raise ValueError("read_bytes and max_clients must be positive and max_event_bytes at least 64")
        if max_pending_write_bytes <= 0:
            raise ValueError("max_pending_write_bytes must be positive")
        if parties_by_cn and ANONYMOUS in parties_by_cn.values():
            raise ValueError("a certificate must map to a party id, not the empty string")
        self.host, self.port = host, port
        self.mapping = mapping
        self.on_reports = on_reports
        self.ssl_context = ssl_context
        self.max_event_bytes = max_event_bytes
        self.read_bytes = read_bytes
        self.max_buffer_bytes = max_buffer_bytes or max_event_bytes + read_bytes
        self.max_bad_bytes = max_bad_bytes
        self.max_clients = max_clients
        self.max_pending_write_bytes = max_pending_write_bytes
        self.send_buffer_bytes = send_buffer_bytes
        self.send_timeout_s = send_timeout_s
        self.idle_timeout_s = idle_timeout_s
        self.handshake_timeout_s = handshake_timeout_s
        self.parties_by_cn: dict[str, str] = dict(parties_by_cn or {})
        self.welcome = welcome
        self.stats = ListenerStats()
        self._server: asyncio.Server | None = None
        self._live: dict[asyncio.Task[None], _Client] = {}

    async def start(self) -> int:
        """Start listening; the port (the one the OS chose if ``port`` was 0)."""
        if self._server is not None:
            raise RuntimeError("the listener is already started")
        self._server = await asyncio.start_server(
            self._serve,
            self.host,
            self.port,
            ssl=self.ssl_context,
            ssl_handshake_timeout=self.handshake_timeout_s if self.ssl_context else None,
            limit=self.read_bytes,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("listening for CoT on %s:%d%s", self.host, self.port, " (TLS)" if self.ssl_context else "")
        # look for the geoid grid now rather than on the first report (it reads the PROJ database)
        if geoid_available():
            log.info("CoT hae is converted to MSL with %s", GEOID_MODEL)
        else:
            log.warning("no geoid grid installed: CoT hae is taken as MSL and reports are flagged alt_ref=hae-as-msl")
        return self.port

    async def stop(self) -> None:
        """Stop listening and close every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._live)
        for client in self._live.values():
            client.writer.transport.abort()  # the handler reads EOF and returns
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=5.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5.0)
        log.info("stopped listening for CoT on %s:%d", self.host, self.port)

    def connections(self) -> list[ConnectionStats]:
        """The connections open now."""
        return [client.conn for client in self._live.values()]

    def audiences(self) -> set[str]:
        """The parties of the clients connected now (:data:`ANONYMOUS` for clients without one)."""
        return {client.conn.party for client in self._live.values() if client.conn.closed is None}

    def send(self, events: bytes | Iterable[bytes], parties: Collection[str] | None = None) -> int:
        """Queue CoT events to every connected client, or to the clients of ``parties``; never waits.

        ``parties`` holds party ids, and :data:`ANONYMOUS` for the clients that
        belong to no party; ``None`` is every client.  A client whose unsent
        bytes would pass ``max_pending_write_bytes`` is dropped (logged,
        counted in ``stats.clients_dropped``) instead.  Returns the number of
        clients the events were queued to.
        """
        batch = [events] if isinstance(events, bytes | bytearray) else list(events)
        for data in batch:
            if not isinstance(data, bytes | bytearray) or not data:
                raise TypeError("events must be non-empty bytes")
        batch = [bytes(data) for data in batch]
        if not batch:
            return 0
        wanted = None if parties is None else frozenset(parties)
        n = 0
        for client in list(self._live.values()):
            if client.conn.closed is None and (wanted is None or client.conn.party in wanted):
                n += self._enqueue(client, batch)
        return n

    async def __aenter__(self) -> CotListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- one connection ------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        if self._server is None:  # accepted (or its handshake finished) while stopping
            writer.transport.abort()
            return
        if len(self._live) >= self.max_clients:
            self.stats.refused_connections += 1
            log.warning("CoT client %s refused: %d clients already connected", peer, len(self._live))
            writer.transport.abort()
            return
        task = asyncio.current_task()
        assert task is not None
        cert = writer.get_extra_info("peercert")
        cn = certificate_cn(cert)
        conn = ConnectionStats(peer, party=self.parties_by_cn.get(cn, ANONYMOUS) if cn is not None else ANONYMOUS)
        client = _Client(writer, conn)
        self._live[task] = client
        self.stats.connections += 1
        self.stats.clients = len(self._live)
        log.info(
            "CoT client %s connected%s, %s",
            peer,
            f" (certificate {cert.get('subject')})" if cert else "",
            f"party {conn.party!r}" if conn.party else "anonymous",
        )
        self._tune(writer)
        client.task = asyncio.create_task(self._write_loop(client), name=f"cot-client-writer {peer}")
        if self.welcome is not None:
            # in the same step as joining self._live, so no send() falls between the welcome and the client
            try:
                first = list(self.welcome(conn.party))
            except Exception:
                self.stats.callback_errors += 1
                log.exception("welcome failed for CoT client %s", peer)
            else:
                if first:
                    self._enqueue(client, first)
        try:
            if conn.closed is None:
                await self._read_loop(reader, client)
        except _Close as exc:
            self._drop(client, str(exc))
        except TimeoutError:  # before OSError, of which it is a subclass
            conn.closed = conn.closed or "idle"
            log.info("CoT client %s idle for %ss, closed", peer, self.idle_timeout_s)
        except (ConnectionError, ssl.SSLError, OSError, asyncio.IncompleteReadError) as exc:
            conn.closed = conn.closed or f"connection error: {type(exc).__name__}"
            log.info("CoT client %s: %s", peer, conn.closed)
        except asyncio.CancelledError:
            # Only the listener's own shutdown (or the loop's) cancels a handler; ending quietly keeps
            # asyncio's stream callback (which calls task.exception()) from logging an error.
            conn.closed = conn.closed or "cancelled"
        finally:
            conn.closed = conn.closed or "eof"
            self._live.pop(task, None)
            self.stats.clients = len(self._live)
            writer.transport.abort()
            client.queue.clear()
            client.queued_bytes = 0
            if client.task is not None:
                client.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await client.task
            log.info("CoT client %s closed (%s): %d ok, %d dropped", peer, conn.closed, conn.events_ok, conn.dropped)

    def _drop(self, client: _Client, reason: str) -> None:
        """Close a misbehaving client now: log, count, free its queue (its handler then ends)."""
        conn = client.conn
        if conn.closed is not None:
            return
        conn.closed = reason
        self.stats.clients_dropped += 1
        self.stats.closes[reason] += 1
        log.warning("CoT client %s dropped: %s", conn.peer, reason)
        client.queue.clear()
        client.queued_bytes = 0
        client.writer.transport.abort()

    def _pending(self, client: _Client) -> int:
        """What the client has not taken yet: its queue and its socket's write buffer."""
        return client.queued_bytes + client.writer.transport.get_write_buffer_size()

    def _enqueue(self, client: _Client, batch: list[bytes]) -> int:
        """Queue events for one client (1), or drop it if that would pass its bound (0)."""
        conn = client.conn
        if conn.closed is not None:
            return 0
        size = sum(len(data) for data in batch)
        pending = self._pending(client) + size
        if pending > self.max_pending_write_bytes:
            self._drop(client, f"more than {self.max_pending_write_bytes} unsent bytes: the client does not read")
            return 0
        client.queue.extend(batch)
        client.queued_bytes += size
        conn.events_queued += len(batch)
        self.stats.events_sent += len(batch)
        conn.pending_write_bytes = pending
        conn.peak_pending_write_bytes = max(conn.peak_pending_write_bytes, pending)
        client.wake.set()
        return 1

    async def _write_loop(self, client: _Client) -> None:
        """Write the client's queue to its socket, one chunk per drain, until the connection ends."""
        conn, writer = client.conn, client.writer
        try:
            while conn.closed is None:
                await client.wake.wait()
                client.wake.clear()
                while client.queue and conn.closed is None:
                    chunk: list[bytes] = []
                    size = 0
                    while client.queue and (not chunk or size + len(client.queue[0]) <= WRITE_CHUNK_BYTES):
                        data = client.queue.popleft()
                        chunk.append(data)
                        size += len(data)
                    writer.write(b"".join(chunk))
                    client.queued_bytes -= size
                    try:
                        await asyncio.wait_for(writer.drain(), self.send_timeout_s)
                    except TimeoutError:
                        self._drop(client, f"a send took longer than {self.send_timeout_s}s")
                        return
                    conn.bytes_sent += size
                    self.stats.bytes_sent += size
                    conn.pending_write_bytes = self._pending(client)
        except (ConnectionError, ssl.SSLError, OSError):
            return  # the connection is gone: the handler sees it and ends

    def _tune(self, writer: asyncio.StreamWriter) -> None:
        """Bound the socket's own write buffer (what the client has not taken is bounded in :meth:`_enqueue`)."""
        writer.transport.set_write_buffer_limits(high=min(WRITE_CHUNK_BYTES, self.max_pending_write_bytes))
        sock = writer.get_extra_info("socket")
        if sock is not None and self.send_buffer_bytes:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.send_buffer_bytes)

    async def _read_loop(self, reader: asyncio.StreamReader, client: _Client) -> None:
        splitter = EventSplitter(self.max_event_bytes)
        stats = self.stats
        conn = client.conn
        while conn.closed is None:
            if self.idle_timeout_s is None:
                data = await reader.read(self.read_bytes)
            else:
                data = await asyncio.wait_for(reader.read(self.read_bytes), self.idle_timeout_s)
            if not data:
                return
            discarded, oversized, truncated = splitter.discarded_bytes, splitter.oversized, splitter.truncated
            events = splitter.feed(data)
            for _ in range(splitter.oversized - oversized):
                self._count(conn, Dropped("invalid", "cot-size", f"event longer than {self.max_event_bytes} bytes"))
            for _ in range(splitter.truncated - truncated):
                self._count(conn, Dropped("invalid", "cot-truncated", "event cut short by the next <event>"))
            bad = splitter.discarded_bytes - discarded
            conn.discarded_bytes += bad
            stats.discarded_bytes += bad
            if bad:
                self._warn(conn, f"{bad} bytes discarded (garbage between events, truncated or oversized events)")
            conn.buffered = splitter.buffered
            conn.peak_buffered = max(conn.peak_buffered, splitter.peak_buffered)
            stats.peak_buffered = max(stats.peak_buffered, splitter.peak_buffered)
            good_seen = False
            reports: list[Report] = []
            for raw in events:
                try:
                    event = parse_event(raw, max_bytes=self.max_event_bytes)
                except InvalidInput as exc:
                    p = exc.problems[0]
                    self._count(conn, Dropped("invalid", p.rule, p.message, p.id))
                    bad += len(raw)
                    continue
                good_seen = True
                if event.is_ping:
                    conn.pings += 1
                    stats.pings += 1
                    stats.pongs += self._enqueue(client, [pong_event()])
                    continue
                result = to_report(event, self.mapping)
                if isinstance(result, Report):
                    reports.append(result)
                else:
                    self._count(conn, result)
            conn.events_ok += len(reports)
            stats.events_ok += len(reports)
            if reports:
                try:
                    await self.on_reports(reports)
                except Exception:
                    stats.callback_errors += 1
                    log.exception("on_reports failed for %d reports from %s", len(reports), conn.peer)
            conn.bad_run_bytes = 0 if good_seen else conn.bad_run_bytes + bad
            if conn.bad_run_bytes > self.max_bad_bytes:
                raise _Close(f"more than {self.max_bad_bytes} bad bytes in a row")
            if splitter.buffered > self.max_buffer_bytes or splitter.peak_buffered > self.max_buffer_bytes:
                raise _Close(f"buffer over {self.max_buffer_bytes} bytes")

    def _count(self, conn: ConnectionStats, dropped: Dropped) -> None:
        stats = self.stats
        setattr(conn, dropped.kind, getattr(conn, dropped.kind) + 1)
        setattr(stats, dropped.kind, getattr(stats, dropped.kind) + 1)
        stats.drops[dropped.rule] += 1
        if dropped.kind == "ignored":
            log.debug("CoT from %s ignored: [%s] %s", conn.peer, dropped.rule, dropped.reason)
            return
        message = f"dropped ({dropped.kind}, uid {dropped.uid!r}): [{dropped.rule}] {dropped.reason}"
        if dropped.is_error:
            self._warn(conn, message)
        else:  # refused or unmapped: a normal feed may send many of these
            log.debug("CoT from %s %s", conn.peer, message)

    def _warn(self, conn: ConnectionStats, message: str) -> None:
        """Log bad input at WARNING, the first :data:`LOGGED_BAD_EVENTS` times per connection, then at DEBUG."""
        conn.warnings_logged += 1
        if conn.warnings_logged <= LOGGED_BAD_EVENTS:
            log.warning("CoT from %s %s", conn.peer, message)
        else:
            if conn.warnings_logged == LOGGED_BAD_EVENTS + 1:
                log.warning("CoT from %s: further bad input is logged at DEBUG only", conn.peer)
            log.debug("CoT from %s %s", conn.peer, message)
