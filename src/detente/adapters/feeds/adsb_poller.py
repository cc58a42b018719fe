"""Poll a readsb / dump1090 ``aircraft.json`` (over HTTP or HTTPS, or a local file) and pass new positions on.

Every ``interval_s`` the poller fetches the snapshot, parses it with
:func:`~detente.adapters.interop.adsb.parse_snapshot` (each aircraft mapped
to a party by the feed's :class:`~detente.adapters.interop.feedmap.FeedMapping`),
keeps only the positions it has not passed before
(:class:`~detente.adapters.interop.adsb.RepeatFilter`: one position per
aircraft and time ``now - seen_pos``) and awaits ``on_reports`` with them.

The receiver (or whatever answers at its URL) is hostile until read:

* the body is streamed and reading stops as soon as it passes ``max_bytes``
  (a ``Content-Length`` over it is refused before reading); a gzip or
  deflate body is decompressed in bounded steps, held to the same cap;
* each poll has a deadline, ``timeout_s``, for everything (connecting,
  headers, the whole body): a server that hangs or trickles is given up;
* a status other than 200, an unknown ``Content-Encoding``, a body that is
  not JSON or not ``aircraft.json``, an aircraft entry that is not usable:
  each is logged on the ``detente.adsb`` logger and counted in
  :attr:`AdsbPoller.stats`, and the poller polls again at the next interval.

A snapshot whose ``now`` is the previous one's is the same snapshot (it is
skipped); one dated before it (a cache, a second receiver behind a balancer)
is skipped unless it is more than ``max_age_s`` older, which means the
receiver's clock or a replay restarted: then the positions remembered are
forgotten and the new ones taken.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import zlib
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Final

import httpx

from detente.adapters.interop.adsb import MAX_AGE_S, MAX_BYTES, RepeatFilter, Snapshot, parse_snapshot
from detente.adapters.interop.feedmap import FeedMapping, Report
from detente.domain.errors import InvalidInput

log = logging.getLogger("detente.adsb")

OnReports = Callable[[list[Report]], Awaitable[None]]

#: Invalid aircraft entries logged at WARNING per poller; the rest go to DEBUG.
LOGGED_BAD_AIRCRAFT: Final = 10
#: Encodings the poller asks for and decodes (with a cap); any other is refused.
ACCEPT_ENCODING: Final = "gzip, deflate"
USER_AGENT: Final = "detente-adsb-poller"
#: Snapshots larger than this are parsed in a worker thread.
PARSE_IN_THREAD_BYTES: Final = 1024 * 1024


@dataclass
class PollerStats:
    """What the poller has done since :meth:`AdsbPoller.start`."""

    #: Polls made; polls that gave a snapshot; of those, snapshots skipped as the same as the previous or older.
    polls: int = 0
    snapshots: int = 0
    unchanged: int = 0
    older_snapshots: int = 0
    #: Times the receiver's clock went back more than ``max_age_s`` (positions remembered were forgotten).
    clock_resets: int = 0
    #: Aircraft entries read, reports passed to ``on_reports``, positions already passed, positions dated
    #: before the last one passed for their aircraft.
    aircraft: int = 0
    reports: int = 0
    repeated: int = 0
    older: int = 0
    #: Aircraft entries that gave no report, by kind (as :class:`~detente.adapters.interop.feedmap.Dropped`).
    invalid: int = 0
    refused: int = 0
    unmapped: int = 0
    ignored: int = 0
    #: Body bytes read (as received, before decompression).
    bytes_read: int = 0
    callback_errors: int = 0
    #: Failed polls by reason: ``timeout``, ``connect``, ``http-status``, ``too-large``, ``encoding``,
    #: ``json``, ``format``, ``file``, ``internal``.
    errors: Counter[str] = field(default_factory=Counter)
    #: Aircraft entries dropped, by rule.
    drops: Counter[str] = field(default_factory=Counter)
    #: Failed polls since the last good one, and why the last one failed.
    consecutive_errors: int = 0
    last_error: str | None = None

    @property
    def failed(self) -> int:
        """Polls that gave no snapshot."""
        return sum(self.errors.values())

    @property
    def dropped(self) -> int:
        """Aircraft entries that gave no report for a reason other than having no position."""
        return self.invalid + self.refused + self.unmapped


class PollError(Exception):
    """One poll failed, for ``reason`` (a key of :attr:`PollerStats.errors`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class AdsbPoller:
    """Poll ``url`` (``http://``, ``https://``, or a local file path) for ``aircraft.json`` every ``interval_s``.

    ``client``: an :class:`httpx.AsyncClient` to use (for TLS settings, proxies); it is not closed by
    :meth:`stop`.  Without one, the poller makes its own (no redirects followed).
    """

    def __init__(
        self,
        url: str | Path,
        mapping: FeedMapping,
        on_reports: OnReports,
        *,
        interval_s: float = 1.0,
        client: httpx.AsyncClient | None = None,
        max_bytes: int = MAX_BYTES,
        timeout_s: float = 5.0,
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        if interval_s <= 0 or timeout_s <= 0 or max_bytes <= 0:
            raise ValueError("interval_s, timeout_s and max_bytes must be positive")
        if isinstance(url, str) and not url.lower().startswith(("http://", "https://")):
            raise ValueError(f"url must be http:// or https:// (or a Path to a file), not {url[:80]!r}")
        self.url = url
        self.mapping = mapping
        self.on_reports = on_reports
        self.interval_s = interval_s
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.max_age_s = max_age_s
        self.stats = PollerStats()
        self._client = client
        self._own_client = False
        self._task: asyncio.Task[None] | None = None
        self._repeats = RepeatFilter()
        self._last_now: float | None = None
        self._bad_logged = 0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start polling (the first poll is made at once)."""
        if self.running:
            return
        if isinstance(self.url, str):
            self._ensure_client()
        self._task = asyncio.create_task(self._run(), name=f"adsb-poller {self.url}")
        log.info("polling %s every %g s for feed %r", self.url, self.interval_s, self.mapping.feed)

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_s),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
            self._own_client = True
        return self._client

    async def stop(self) -> None:
        """Stop polling (a poll under way is cancelled) and close the client the poller made."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None
            self._own_client = False

    async def __aenter__(self) -> AdsbPoller:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            await self.poll()
            await asyncio.sleep(max(0.0, self.interval_s - (loop.time() - started)))

    # -- one poll ----------------------------------------------------------------------------

    async def poll(self) -> list[Report]:
        """Fetch and read the snapshot once; pass its new positions to ``on_reports`` and return them.

        Never raises for what the source sends: a failed poll is logged and counted.  Without
        :meth:`start`, call :meth:`stop` afterwards to close the client made for it.
        """
        self.stats.polls += 1
        try:
            async with asyncio.timeout(self.timeout_s):
                body = await self._fetch()
            if len(body) > PARSE_IN_THREAD_BYTES:  # a big snapshot is parsed off the event loop
                snapshot = await asyncio.to_thread(parse_snapshot, body, self.mapping, max_age_s=self.max_age_s)
            else:
                snapshot = parse_snapshot(body, self.mapping, max_age_s=self.max_age_s)
        except (TimeoutError, httpx.TimeoutException):
            self._failed("timeout", f"no complete answer within {self.timeout_s:g} s")
            return []
        except PollError as exc:
            self._failed(exc.reason, str(exc))
            return []
        except InvalidInput as exc:
            p = exc.problems[0]
            reason = {"adsb-json": "json", "adsb-size": "too-large"}.get(p.rule, "format")
            self._failed(reason, p.message)
            return []
        except httpx.HTTPError as exc:  # connecting, reading, protocol: the receiver is down or broken
            self._failed("connect", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return []
        except Exception:  # a bug here must not stop the feed
            log.exception("polling %s failed unexpectedly", self.url)
            self._failed("internal", "unexpected error (logged)")
            return []
        self._recovered()
        return await self._take(snapshot)

    async def _take(self, snapshot: Snapshot) -> list[Report]:
        stats, now = self.stats, snapshot.now
        stats.snapshots += 1
        last = self._last_now
        if last is not None and now <= last:
            if now == last:
                stats.unchanged += 1
                return []
            if now >= last - self.max_age_s:
                stats.older_snapshots += 1
                log.debug("%s: snapshot at %.1f is older than the last one (%.1f): skipped", self.url, now, last)
                return []
            stats.clock_resets += 1
            log.warning(
                "%s: snapshot at %.1f is %.0f s before the last one: the receiver's clock went back or a replay "
                "restarted; positions remembered are forgotten",
                self.url,
                now,
                last - now,
            )
            self._repeats.clear()
        self._last_now = now
        stats.aircraft += snapshot.aircraft
        for dropped in snapshot.dropped:
            stats.drops[dropped.rule] += 1
            setattr(stats, dropped.kind, getattr(stats, dropped.kind) + 1)
            if dropped.kind == "invalid":
                level = logging.WARNING if self._bad_logged < LOGGED_BAD_AIRCRAFT else logging.DEBUG
                self._bad_logged += 1
                log.log(level, "%s: aircraft entry dropped [%s]: %s", self.url, dropped.rule, dropped.reason)
        fresh: list[Report] = []
        for report in snapshot.reports:
            verdict = self._repeats.check(report)
            if verdict == "new":
                fresh.append(report)
            elif verdict == "repeated":
                stats.repeated += 1
            else:
                stats.older += 1
        # no position older than max_age_s is taken any more: what is remembered about older ones can go
        self._repeats.forget_before(now - self.max_age_s - 2 * self._repeats.tolerance_s)
        if fresh:
            stats.reports += len(fresh)
            try:
                await self.on_reports(fresh)
            except Exception:
                stats.callback_errors += 1
                log.exception("%s: on_reports failed on %d report(s)", self.url, len(fresh))
        return fresh

    def _failed(self, reason: str, message: str) -> None:
        stats = self.stats
        stats.errors[reason] += 1
        stats.consecutive_errors += 1
        # a receiver that stays down would log every interval: a change of reason is a warning, the rest debug
        level = logging.WARNING if reason != stats.last_error else logging.DEBUG
        stats.last_error = reason
        log.log(level, "polling %s: %s [%s]", self.url, message, reason)

    def _recovered(self) -> None:
        stats = self.stats
        if stats.consecutive_errors:
            log.info("polling %s again after %d failed poll(s)", self.url, stats.consecutive_errors)
        stats.consecutive_errors = 0
        stats.last_error = None

    # -- fetching ----------------------------------------------------------------------------

    async def _fetch(self) -> bytes:
        if isinstance(self.url, Path):
            data = await asyncio.to_thread(_read_file, self.url, self.max_bytes)
            self.stats.bytes_read += len(data)
            return data
        headers = {"Accept-Encoding": ACCEPT_ENCODING, "Accept": "application/json"}
        async with self._ensure_client().stream("GET", self.url, headers=headers) as response:
            if response.status_code != 200:
                raise PollError("http-status", f"HTTP {response.status_code} {response.reason_phrase}"[:200])
            length = response.headers.get("content-length")
            if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
                raise PollError("too-large", f"Content-Length {int(length):,} is over {self.max_bytes:,} bytes")
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
                raise PollError("encoding", f"Content-Encoding {encoding[:40]!r} is not gzip or deflate")
            # wbits 32+: a zlib or gzip header, detected (servers send either for "deflate")
            inflate = None if encoding in ("identity", "") else zlib.decompressobj(32 + zlib.MAX_WBITS)
            body = bytearray()
            async for chunk in response.aiter_raw():  # never decoded by httpx: decompressed here, with a cap
                self.stats.bytes_read += len(chunk)
                if inflate is None:
                    body += chunk
                else:
                    try:
                        # at most one byte past the cap: a bomb never expands further in memory
                        body += inflate.decompress(chunk, self.max_bytes + 1 - len(body))
                    except zlib.error as exc:
                        raise PollError("encoding", f"the {encoding} body does not decompress: {exc}") from None
                if len(body) > self.max_bytes:
                    raise PollError("too-large", f"the body is over {self.max_bytes:,} bytes: reading stopped")
            if inflate is not None and not inflate.eof:
                raise PollError("encoding", f"the {encoding} body is cut short")
        return bytes(body)


def _read_file(path: Path, max_bytes: int) -> bytes:
    """A regular file's bytes, at most ``max_bytes`` (a FIFO or device is refused, never opened for reading)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise PollError("file", f"{path} is not a regular file")
            with os.fdopen(fd, "rb", closefd=False) as f:
                data = f.read(max_bytes + 1)
        finally:
            os.close(fd)
    except OSError as exc:
        raise PollError("file", f"{path}: {exc.strerror or exc}") from None
    if len(data) > max_bytes:
        raise PollError("too-large", f"{path} is over {max_bytes:,} bytes")
    return data
