"""``detente replay TRACKS``: feed recorded position reports into a running server, paced by their times.

Reads TRACKS with :func:`detente.adapters.interop.tracks.read_tracks`, puts
every report of every track in one time order, and sends them to the
server's ``POST /positions`` as a live feed would: a report recorded ``d``
seconds after the first is sent ``d / speed`` seconds after the replay
starts (``--speed max``: as fast as the server takes them).  Reports whose
send times fall within ``--batch-s`` of the first of them go in one request
(at most ``--max-batch``), sent when the last of them is due; the plan is
:func:`schedule`, a pure function.

``--now`` stamps each report with the time it is sent, ``now + d / speed``:
the first report is now and none is ever ahead of the server's clock, for a
live demonstration on a world whose zones are current.  Otherwise reports
keep their recorded times (the server takes any past time).

A full queue (503) is retried after its ``Retry-After``, and a lost
connection with a growing pause, both a bounded number of times; re-sending
a batch the server did take is harmless, as it counts those reports stale.
401, 403 and 422 stop the replay with the server's problems.

Exit codes: 0 every report sent; 1 the server refused a request, or could
not be reached; 2 invalid input (TRACKS, with the messages of ``detente
monitor``, or the options).  See ``docs/replay.md``.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
import numpy as np
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from detente.adapters.cli.monitor_cmd import duration_text, fail_input
from detente.adapters.interop.tracks import read_tracks
from detente.domain.errors import DetenteError, InvalidInput, Problem
from detente.domain.tracks import Samples

out = Console(width=max(120, Console().width), highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DEFAULT_URL: Final = "http://127.0.0.1:8000"
#: Most reports the server takes in one request.
MAX_REQUEST: Final = 10_000
#: Longest pause asked by a ``Retry-After`` that is honoured (a longer one is cut to this).
MAX_RETRY_AFTER_S: Final = 60.0
#: Pause after the first lost connection; it doubles on each further one, up to :data:`MAX_BACKOFF_S`.
FIRST_BACKOFF_S: Final = 0.5
MAX_BACKOFF_S: Final = 15.0
#: Most problems of a refused request printed.
MAX_SHOWN: Final = 20
#: Seconds the client waits for the server's answer to one request.
TIMEOUT_S: Final = 60.0
#: With a server that queues reports: how often its episodes are read back, and how long, after the last
#: request, the replay waits for its monitor to check them.
WATCH_S: Final = 1.0
SETTLE_S: Final = 30.0
#: Episodes read in one ``GET /track-events``.
PAGE: Final = 500

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class Format(StrEnum):
    table = "table"
    json = "json"


# -- the plan ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Batch:
    """One request: reports ``start`` to ``stop`` (exclusive) of the time order, sent ``send_at`` s after the start."""

    start: int
    stop: int
    send_at: float

    def __len__(self) -> int:
        return self.stop - self.start


def parse_speed(text: str) -> float:
    """``--speed``: a factor over recorded time; ``max`` or ``0`` is ``math.inf`` (as fast as the server takes them)."""
    word = text.strip().lower()
    if word in ("max", "0", "0.0", "inf"):
        return math.inf
    try:
        speed = float(word)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number or 'max'", param_hint="'--speed'") from None
    if not math.isfinite(speed) or speed < 0:
        raise typer.BadParameter(f"{text!r}: give a factor > 0, or 0 or 'max'", param_hint="'--speed'")
    return math.inf if speed == 0 else speed


def schedule(
    times: Sequence[float] | np.ndarray, *, speed: float, batch_s: float = 1.0, max_batch: int = 1000
) -> list[Batch]:
    """The requests that send reports recorded at ``times`` (epoch seconds, ascending) at ``speed``.

    A report recorded ``d`` s after the first is due ``d / speed`` s after the
    start (``speed`` ``math.inf``: at once).  A request takes the first report
    not yet sent and every later one due less than ``batch_s`` after it (and,
    whatever ``batch_s``, every one due at the same instant), at most
    ``max_batch``; it is sent when the last of them is due, so no report
    leaves before its time.  Times are compared in whole microseconds.

    >>> [(b.start, b.stop, b.send_at) for b in schedule([0, 10, 20, 30, 40], speed=10, batch_s=2)]
    [(0, 2, 1.0), (2, 4, 3.0), (4, 5, 4.0)]
    >>> [(b.start, b.stop, b.send_at) for b in schedule([0, 10, 20, 30, 40], speed=math.inf, max_batch=2)]
    [(0, 2, 0.0), (2, 4, 0.0), (4, 5, 0.0)]
    """
    if not speed > 0:
        raise ValueError("speed must be > 0 (math.inf: as fast as possible)")
    if batch_s < 0 or max_batch < 1:
        raise ValueError("batch_s must be >= 0 and max_batch >= 1")
    us = np.rint(np.asarray(times, dtype=np.float64) * 1e6).astype(np.int64)
    n = len(us)
    if n and np.any(np.diff(us) < 0):
        raise ValueError("times must be in ascending order")
    window_us = math.inf if math.isinf(speed) else batch_s * speed * 1e6  # batch_s of sending, in recorded time
    batches: list[Batch] = []
    i = 0
    while i < n:
        first = int(us[i])
        stop = n if math.isinf(window_us) else int(np.searchsorted(us, first + window_us, side="left"))
        stop = max(stop, int(np.searchsorted(us, first, side="right")))
        stop = min(stop, i + max_batch)
        send_at = 0.0 if math.isinf(speed) else (int(us[stop - 1]) - int(us[0])) / 1e6 / speed
        batches.append(Batch(i, stop, send_at))
        i = stop
    return batches


@dataclass
class Timeline:
    """The reports to send, in time order: ``order`` indexes ``samples``; ``recorded_us`` their recorded times.

    ``shift_us``: with ``--now``, each report's time after the first, as sent
    (its recorded time after the first, divided by the speed); the replay adds
    the instant it starts.  None: the recorded times are sent.
    """

    samples: Samples
    order: np.ndarray
    recorded_us: np.ndarray
    shift_us: np.ndarray | None = None
    start_us: int = 0

    @classmethod
    def of(
        cls,
        samples: Samples,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        now_speed: float | None = None,
    ) -> Timeline:
        """The samples between ``since`` and ``until`` (inclusive) in time order (ties: by track).

        ``now_speed``: ``--now`` at this (finite) speed.  Raises :class:`InvalidInput`
        when nothing is left, or when at that speed two reports of one track
        would fall on the same microsecond.
        """
        us = np.rint(samples.t * 1e6).astype(np.int64)
        keep = np.ones(len(us), dtype=bool)
        if since is not None:
            keep &= us >= _us(since)
        if until is not None:
            keep &= us <= _us(until)
        picked = np.flatnonzero(keep)
        if not len(picked):
            window = (
                f"between {_show_time(since) if since else 'the start'} and {_show_time(until) if until else 'the end'}"
            )
            raise InvalidInput([Problem("replay-window", f"no position report {window}")])
        order = picked[np.argsort(us[picked], kind="stable")]
        recorded = us[order]
        shift = None
        if now_speed is not None:
            shifted = np.rint((us[picked] - recorded[0]) / now_speed).astype(np.int64)  # track-major, as samples
            same_track = np.diff(samples.track[picked]) == 0
            clash = np.flatnonzero(same_track & (np.diff(shifted) <= 0))
            if len(clash):
                track = samples.tracks[int(samples.track[picked[clash[0]]])].id
                message = (
                    f"at --speed {now_speed:g}, two reports of track {track!r} fall on the same microsecond "
                    "once --now compresses their times: use a lower --speed"
                )
                raise InvalidInput([Problem("replay-speed", message, id=track)])
            shift = np.rint((recorded - recorded[0]) / now_speed).astype(np.int64)
        return cls(samples, order, recorded, shift)

    def __len__(self) -> int:
        return len(self.order)

    @property
    def tracks(self) -> int:
        return len(np.unique(self.samples.track[self.order]))

    def last_sent(self, stop: int) -> dict[str, int]:
        """Each track's last time sent (µs) among reports 0 to ``stop``."""
        codes = self.samples.track[self.order[:stop]][::-1]
        tracks, first = np.unique(codes, return_index=True)  # first in reverse: last in time
        return {
            self.samples.tracks[k].id: self.sent_us(stop - 1 - i)
            for k, i in zip(tracks.tolist(), first.tolist(), strict=True)
        }

    def sent_us(self, i: int) -> int:
        """The time report ``i`` carries, in microseconds since the epoch."""
        if self.shift_us is None:
            return int(self.recorded_us[i])
        return self.start_us + int(self.shift_us[i])

    def positions(self, start: int, stop: int) -> list[dict[str, Any]]:
        """Reports ``start`` to ``stop`` as ``POST /positions`` takes them."""
        s = self.samples
        idx = self.order[start:stop]
        out: list[dict[str, Any]] = []
        for i, k, lon, lat, alt in zip(
            range(start, stop),
            s.track[idx].tolist(),
            s.lon[idx].tolist(),
            s.lat[idx].tolist(),
            s.alt[idx].tolist(),
            strict=True,
        ):
            info = s.tracks[k]
            out.append(
                {
                    "track": info.id,
                    "party": info.party,
                    "category": info.category.value,
                    "purpose": info.purpose,
                    "t": _iso(self.sent_us(i)),
                    "lon": lon,
                    "lat": lat,
                    "alt_m": alt,
                }
            )
        return out


# -- the server -------------------------------------------------------------------------------------


class Refused(Exception):
    """The server refused a request (any answer but 202 that is not retried)."""

    def __init__(self, status: int, body: Any, text: str) -> None:
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.text = text
        super().__init__(f"{status}")


class Unreachable(Exception):
    """The server could not be reached, or stayed busy, through every retry."""


@dataclass
class Sender:
    """``POST /positions`` with retries: a busy server (503) after its Retry-After, a lost connection with backoff."""

    client: httpx.Client
    retries: int = 10
    #: Called before each pause with (why, seconds, attempt): progress lines.
    on_retry: Any = None
    attempts: int = 0
    retried: int = 0

    def post(self, positions: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The server's answers (one, or more when a request too large for it was split in two)."""
        backoff = FIRST_BACKOFF_S
        attempt = 0
        while True:
            attempt += 1
            self.attempts += 1
            try:
                response = self.client.post("/positions", json={"positions": positions})
            except httpx.TransportError as exc:
                why = f"no answer from the server ({type(exc).__name__}: {exc or 'no detail'})"
                if attempt > self.retries:
                    raise Unreachable(f"{why}; gave up after {attempt} attempt(s)") from exc
                self._pause(why, backoff, attempt)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            if response.status_code == 202:
                return [response.json()]
            if response.status_code == 503:
                wait = _retry_after(response.headers.get("Retry-After"))
                why = f"the server is busy (503: {_detail(response)})"
                if attempt > self.retries:
                    raise Unreachable(f"{why}; gave up after {attempt} attempt(s)")
                if wait is None:
                    wait = backoff
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                self._pause(why, wait, attempt)
                continue
            if response.status_code == 413 and len(positions) > 1:  # over the server's body limit: halve it
                half = len(positions) // 2
                return self.post(positions[:half]) + self.post(positions[half:])
            raise Refused(response.status_code, _json(response), response.text)

    def _pause(self, why: str, seconds: float, attempt: int) -> None:
        self.retried += 1
        if self.on_retry is not None:
            self.on_retry(why, seconds, attempt)
        time.sleep(seconds)


def _retry_after(value: str | None) -> float | None:
    """Seconds a ``Retry-After`` asks for (a number or an HTTP date), at most :data:`MAX_RETRY_AFTER_S`."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds()
        except (TypeError, ValueError, IndexError):
            return None
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _detail(response: httpx.Response) -> str:
    body = _json(response)
    if isinstance(body, dict) and body.get("detail"):
        return str(body["detail"])
    return response.reason_phrase or "no detail"


@dataclass
class Watcher:
    """Episodes of a server that queues reports for its monitor thread: read back from ``GET /track-events``.

    :meth:`start` notes the newest episode before the replay; :meth:`events`
    lists every episode after it (as it now stands); :meth:`caught_up` tells
    whether the monitor has checked every track up to its last report sent
    (``GET /tracks``).  Any failure turns the watcher off: it only informs.
    """

    client: httpx.Client
    after: int = 0
    on: bool = True

    def start(self) -> None:
        try:
            while True:
                page = self._get("/track-events", {"after": self.after, "limit": PAGE})
                if page:
                    self.after = max(int(e["id"]) for e in page)
                if len(page) < PAGE:
                    return
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            self.on = False

    def events(self) -> list[dict[str, Any]]:
        if not self.on:
            return []
        found: list[dict[str, Any]] = []
        cursor = self.after
        try:
            while True:
                page = self._get("/track-events", {"after": cursor, "limit": PAGE})
                found += page
                if len(page) < PAGE:
                    return found
                cursor = max(int(e["id"]) for e in page)
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            self.on = False
            return found

    def caught_up(self, last_sent: dict[str, int]) -> bool:
        """Whether the server's latest position of every track in ``last_sent`` (µs) is no older than it."""
        try:
            latest = {
                t["track"]: _us(datetime.fromisoformat(t["t"].replace("Z", "+00:00"))) for t in self._get("/tracks")
            }
        except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError):
            self.on = False
            return True
        return all(latest.get(track, -1) >= t for track, t in last_sent.items())

    def _get(self, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        response = self.client.get(path, params=params)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, list):
            raise ValueError(f"{path}: not a list")
        return body


# -- what the server said ---------------------------------------------------------------------------


@dataclass
class Tally:
    """What the server answered, added up; ``episodes`` holds each episode as last reported, by key."""

    sent: int = 0
    requests: int = 0
    accepted: int = 0
    stale: int = 0
    queued: int = 0
    opened: int = 0
    closed: int = 0
    episodes: dict[Any, dict[str, Any]] = field(default_factory=dict)

    def add(self, answer: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """Count one answer; the episodes it opened and closed, as (``"opened"`` | ``"closed"``, event)."""
        self.requests += 1
        self.sent += int(answer.get("received", 0))
        self.accepted += int(answer.get("accepted", 0))
        self.stale += int(answer.get("stale", 0))
        self.queued += int(answer.get("queued", 0))
        return self.see(answer.get("events") or [])

    def see(self, events: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
        """Note episodes as the server reports them now; those first seen (opened) and seen to end (closed)."""
        news: list[tuple[str, dict[str, Any]]] = []
        for event in events:
            if not isinstance(event, dict):
                continue
            key = _episode_key(event)
            if key not in self.episodes:
                self.opened += 1
                news.append(("opened", event))
            was_open = self.episodes.get(key, {}).get("open", True)
            self.episodes[key] = event
            if was_open and event.get("open") is False:
                self.closed += 1
                news.append(("closed", event))
        return news

    @property
    def still_open(self) -> int:
        return sum(1 for e in self.episodes.values() if e.get("open"))


def _episode_key(event: dict[str, Any]) -> Any:
    if event.get("id") is not None:
        return ("id", event["id"])
    other = event.get("other") or {}
    pair = (str(event.get("track")), str(other.get("id")))
    if event.get("type") == "separation":
        pair = (min(pair), max(pair))
    return (event.get("type"), *pair, event.get("start"))


# -- the command ------------------------------------------------------------------------------------


def replay_cmd(
    tracks: Annotated[
        Path, typer.Argument(help="Position reports: CSV with a header row, or JSON Lines (docs/monitoring.md).")
    ],
    url: Annotated[str, typer.Option(help="The server's base URL.", envvar="DETENTE_URL")] = DEFAULT_URL,
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help="A file holding the bearer token (a party's, for its own tracks; the secretariat's, for any). "
            "Default: the DETENTE_TOKEN environment variable.",
        ),
    ] = None,
    speed: Annotated[
        str, typer.Option(help="Times faster than recorded; 'max' or 0: as fast as the server takes them.")
    ] = "60",
    batch_s: Annotated[
        float, typer.Option("--batch-s", min=0, help="Reports due within this many seconds go in one request.")
    ] = 1.0,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, max=MAX_REQUEST, help="Most reports in one request.")
    ] = 1000,
    now: Annotated[
        bool,
        typer.Option(
            "--now", help="Stamp each report with the time it is sent (the first: now), not its recorded time."
        ),
    ] = False,
    since: Annotated[
        str | None, typer.Option("--from", help="Only reports recorded at or after this ISO 8601 time (with offset).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Only reports recorded at or before this ISO 8601 time (with offset).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan; send nothing.")] = False,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="The summary's format.")] = Format.table,
    retries: Annotated[
        int, typer.Option(min=0, max=100, help="Retries of one request: server busy (503) or no answer.")
    ] = 10,
) -> None:
    """Feed recorded position reports to a running server, paced by their times. Exit 0: all sent; 1: refused."""
    factor = parse_speed(speed)
    if now and math.isinf(factor):
        raise typer.BadParameter(
            "--now stamps each report with the time it is sent, spread as recorded divided by the speed: "
            "give a finite speed (e.g. --speed 60)",
            param_hint="'--speed'",
        )
    if not url.lower().startswith(("http://", "https://")):
        raise typer.BadParameter(f"{url!r}: give the server's http:// or https:// URL", param_hint="'--url'")
    window = (_parse_time(since, "--from"), _parse_time(until, "--until"))
    if window[0] and window[1] and window[0] > window[1]:
        raise typer.BadParameter(f"{since} is after --until {until}", param_hint="'--from'")
    token = None if dry_run else _token(token_file)
    try:
        samples = read_tracks(tracks)
        timeline = Timeline.of(samples, since=window[0], until=window[1], now_speed=factor if now else None)
    except (DetenteError, OSError) as exc:
        raise fail_input(exc, where="line") from exc
    plan = schedule(timeline.recorded_us / 1e6, speed=factor, batch_s=batch_s, max_batch=max_batch)
    if dry_run:
        _print_plan(timeline, plan, factor, now, fmt)
        raise typer.Exit(0)
    assert token is not None
    run = Run(timeline, plan, fmt=fmt, url=url, speed=factor, now=now)
    with httpx.Client(
        base_url=url.rstrip("/"),
        headers={"Authorization": f"Bearer {token}", "User-Agent": "detente-replay"},
        timeout=TIMEOUT_S,
    ) as client:
        code = run.go(Sender(client, retries=retries))
    raise typer.Exit(code)


@dataclass
class Run:
    """One replay: sends the plan, shows progress on standard error, and the summary."""

    timeline: Timeline
    plan: list[Batch]
    fmt: Format
    url: str
    speed: float
    now: bool
    tally: Tally = field(default_factory=Tally)
    error: dict[str, Any] | None = None
    elapsed_s: float = 0.0
    #: The server queued reports and its monitor had not checked them all within SETTLE_S.
    unchecked: bool = False

    def go(self, sender: Sender) -> int:
        """Send the plan; the exit code (0 all sent, 1 refused or unreachable, 130 interrupted)."""
        tl = self.timeline
        progress = Progress(
            TextColumn("[bold]replay[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[at]}"),
            TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(),
            console=err,
        )

        def tell(news: list[tuple[str, dict[str, Any]]]) -> None:
            for what, event in news:
                progress.console.print(_episode_line(what, event), highlight=False)

        sender.on_retry = lambda why, s, k: progress.console.print(
            f"[yellow]retry[/] {k}/{sender.retries}: {escape(why)}; again in {s:.1f} s"
        )
        watcher = Watcher(sender.client)
        watcher.start()
        task = progress.add_task("replay", total=len(tl), at="", status="")
        tl.start_us = _us(datetime.now(UTC))
        start = polled = time.monotonic()
        code, done = 0, 0
        with progress:
            try:
                for k, batch in enumerate(self.plan, start=1):
                    delay = start + batch.send_at - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)
                    positions = tl.positions(batch.start, batch.stop)
                    try:
                        answers = sender.post(positions)
                    except Refused as exc:
                        self.error = _refusal(exc, k, batch, positions)
                        code = 1
                        break
                    except Unreachable as exc:
                        self.error = {"status": None, "request": k, "detail": str(exc), "problems": []}
                        code = 1
                        break
                    done = batch.stop
                    for answer in answers:
                        tell(self.tally.add(answer))
                    if self.tally.queued and watcher.on and time.monotonic() - polled >= WATCH_S:
                        tell(self.tally.see(watcher.events()))
                        polled = time.monotonic()
                    progress.update(
                        task,
                        completed=done,
                        at=_show_time(_EPOCH + timedelta(microseconds=int(tl.recorded_us[done - 1]))),
                        status=self._status(),
                    )
                if self.tally.queued and watcher.on and done:
                    progress.update(task, status=f"{self._status()}; waiting for the server's monitor")
                    last = tl.last_sent(done)
                    deadline = time.monotonic() + SETTLE_S
                    while not (settled := watcher.caught_up(last)) and time.monotonic() < deadline:
                        time.sleep(0.2)
                    self.unchecked = not settled
                    tell(self.tally.see(watcher.events()))
                    progress.update(task, status=self._status())
            except KeyboardInterrupt:
                self.error = {"status": None, "request": None, "detail": "interrupted", "problems": []}
                code = 130
        self.elapsed_s = time.monotonic() - start
        if self.error is not None:
            _print_refusal(self.error, self.url)
        self._summary(sender)
        return code

    def _status(self) -> str:
        t = self.tally
        parts = [f"accepted {t.accepted:,}", f"stale {t.stale:,}"]
        if t.queued:
            parts.append(f"queued {t.queued:,}")
        parts.append(f"episodes +{t.opened} -{t.closed}")
        return ", ".join(parts)

    def _summary(self, sender: Sender) -> None:
        tl, t = self.timeline, self.tally
        if self.fmt is Format.json:
            doc = {
                "url": self.url,
                "speed": "max" if math.isinf(self.speed) else self.speed,
                "now": self.now,
                "reports": len(tl),
                "tracks": tl.tracks,
                "sent": t.sent,
                "requests": t.requests,
                "retries": sender.retried,
                "accepted": t.accepted,
                "stale": t.stale,
                "queued": t.queued,
                "episodes": {"opened": t.opened, "closed": t.closed, "open": t.still_open},
                "events": list(t.episodes.values()),
                "elapsed_s": round(self.elapsed_s, 3),
                "complete": self.error is None,
                "monitor_caught_up": not self.unchecked,
                "error": self.error,
            }
            print(json.dumps(doc, indent=2, ensure_ascii=False))
            return
        first = _EPOCH + timedelta(microseconds=int(tl.recorded_us[0]))
        last = _EPOCH + timedelta(microseconds=int(tl.recorded_us[-1]))
        verb = "Replayed" if self.error is None else "Stopped after sending"
        out.print(
            f"{verb} {t.sent:,} of {len(tl):,} position report(s) of {tl.tracks:,} track(s) "
            f"(recorded {_show_time(first)} to {_show_time(last)}) to {escape(self.url)} "
            f"in {t.requests:,} request(s), {self.elapsed_s:.1f} s"
            + (f", {sender.retried} retried" if sender.retried else "")
            + "."
        )
        out.print(
            f"The server checked {t.accepted:,} at once, queued {t.queued:,} for its monitor and left out "
            f"{t.stale:,} as stale (no newer than their track's latest)."
        )
        if t.episodes:
            out.print(_episode_table(list(t.episodes.values())))
        out.print(
            f"Episodes reported by the server: {t.opened} opened, {t.closed} closed, {t.still_open} still open."
            + (
                f" The server's monitor had not checked every queued report within {SETTLE_S:.0f} s: "
                "see GET /track-events later."
                if self.unchecked
                else ""
            )
        )


def _refusal(exc: Refused, k: int, batch: Batch, positions: list[dict[str, Any]]) -> dict[str, Any]:
    """A refused request as the summary tells it: status, detail, and each problem with the report it names."""
    body = exc.body
    problems = []
    for p in body.get("errors") or []:
        if not isinstance(p, dict):
            continue
        index = p.get("index")
        location = p.get("location")
        if index is None and isinstance(location, list) and len(location) > 2 and isinstance(location[2], int):
            index = location[2]
        item: dict[str, Any] = {"message": str(p.get("message", "")), "rule": p.get("rule")}
        if location is not None:
            item["location"] = location
        if isinstance(index, int) and 0 <= index < len(positions):
            report = positions[index]
            item |= {"index": index, "track": report["track"], "party": report["party"], "t": report["t"]}
        problems.append(item)
    detail = body.get("detail") or body.get("title") or exc.text[:200] or "no detail"
    return {
        "status": exc.status,
        "request": k,
        "reports": [batch.start + 1, batch.stop],
        "title": body.get("title"),
        "detail": str(detail),
        "problems": problems,
    }


def _print_refusal(error: dict[str, Any], url: str) -> None:
    status = error["status"]
    if status is None:
        err.print(f"[bold red]stopped[/]: {escape(error['detail'])} ({escape(url)})")
        return
    first, last = error["reports"]
    title = f" {error['title']}" if error.get("title") else ""
    err.print(
        f"[bold red]refused[/]: the server answered {status}{escape(title)} to request {error['request']} "
        f"(reports {first:,} to {last:,}): {escape(error['detail'])}"
    )
    hint = {
        401: "the token is unknown, expired or revoked: give another (--token-file, or DETENTE_TOKEN)",
        403: "this token may not report positions",
    }.get(status)
    if hint:
        err.print(f"  {hint}")
    # one line per distinct problem: the first report it names, and how many more it names
    groups: dict[tuple[Any, str], list[dict[str, Any]]] = {}
    for p in error["problems"]:
        groups.setdefault((p.get("rule"), p["message"]), []).append(p)
    for k, ((rule, message), same) in enumerate(groups.items()):
        if k == MAX_SHOWN:
            err.print(f"  … and {len(groups) - MAX_SHOWN} more kind(s) of problem")
            break
        p = same[0]
        where = ""
        if "index" in p:
            where = f"report {p['index'] + 1} of the request (track {p['track']!r} of {p['party']!r}, {p['t']}): "
        elif p.get("location"):
            where = ".".join(str(x) for x in p["location"]) + ": "
        more = f" (and {len(same) - 1:,} more report(s) alike)" if len(same) > 1 else ""
        err.print(f"  - {where}{f'[{rule}] ' if rule else ''}{message}{more}", markup=False)
    if status == 422:
        before = f"; the {error['request'] - 1:,} request(s) before it were" if error["request"] > 1 else ""
        err.print(f"  nothing of this request was kept{before}")


def _print_plan(tl: Timeline, plan: list[Batch], speed: float, now: bool, fmt: Format) -> None:
    first = _EPOCH + timedelta(microseconds=int(tl.recorded_us[0]))
    last = _EPOCH + timedelta(microseconds=int(tl.recorded_us[-1]))
    duration = plan[-1].send_at
    if fmt is Format.json:
        doc = {
            "dry_run": True,
            "reports": len(tl),
            "tracks": tl.tracks,
            "first": _iso(int(tl.recorded_us[0])),
            "last": _iso(int(tl.recorded_us[-1])),
            "speed": "max" if math.isinf(speed) else speed,
            "now": now,
            "requests": len(plan),
            "duration_s": duration,
            "batches": [{"send_at": round(b.send_at, 6), "reports": len(b)} for b in plan],
        }
        print(json.dumps(doc, indent=2))
        return
    pace = "as fast as the server takes them" if math.isinf(speed) else f"at {speed:g}x, over {duration_text(duration)}"
    times = "stamped with the time each is sent" if now else "with their recorded times"
    out.print(
        f"Would send {len(tl):,} position report(s) of {tl.tracks:,} track(s), recorded {_show_time(first)} to "
        f"{_show_time(last)} ({duration_text((last - first).total_seconds())}), {pace}, {times}: "
        f"{len(plan):,} request(s) of up to {max(len(b) for b in plan):,} report(s)."
    )


def _episode_line(what: str, e: dict[str, Any]) -> str:
    other = e.get("other") or {}
    style = "bold red" if what == "opened" else "green"
    when = e.get("start") if what == "opened" else e.get("end")
    text = (
        f"{e.get('type')} {e.get('track')} ({e.get('party')}) / "
        f"{other.get('kind')} {other.get('id')} ({other.get('party')}) at {when}"
    )
    return f"[{style}]{what}[/] {escape(text)}"


def _episode_table(events: list[dict[str, Any]]) -> Table:
    table = Table(title="Episodes", title_justify="left", header_style="bold", pad_edge=False)
    for col in ("type", "track (party)", "other (kind id party)", "start", "end", "open"):
        table.add_column(col, overflow="fold")
    for e in events:
        other = e.get("other") or {}
        table.add_row(
            escape(str(e.get("type"))),
            escape(f"{e.get('track')} ({e.get('party')})"),
            escape(f"{other.get('kind')} {other.get('id')} ({other.get('party')})"),
            escape(str(e.get("start"))),
            escape(str(e.get("end"))),
            "yes" if e.get("open") else "no",
        )
    return table


# -- small things -----------------------------------------------------------------------------------


def _token(token_file: Path | None) -> str:
    """The bearer token: the file's first line, else DETENTE_TOKEN; a usage error (exit 2) if neither."""
    if token_file is not None:
        try:
            text = token_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise fail_input(InvalidInput([Problem("token-file", f"{token_file}: {exc}")]), where="line") from exc
        token = text.strip().splitlines()[0].strip() if text.strip() else ""
        if not token:
            raise fail_input(InvalidInput([Problem("token-file", f"{token_file} holds no token")]), where="line")
        return token
    token = os.environ.get("DETENTE_TOKEN", "").strip()
    if not token:
        raise fail_input(
            InvalidInput([Problem("token", "give the bearer token: --token-file FILE, or the DETENTE_TOKEN variable")]),
            where="line",
        )
    return token


def _parse_time(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=f"'{option}'") from None
    if t.tzinfo is None or t.utcoffset() is None:
        raise typer.BadParameter(f"{text!r} needs an explicit UTC offset (Z or +hh:mm)", param_hint=f"'{option}'")
    return t


def _us(t: datetime) -> int:
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _iso(us: int) -> str:
    t = _EPOCH + timedelta(microseconds=us)
    return t.isoformat(timespec="microseconds" if t.microsecond else "seconds").replace("+00:00", "Z")


def _show_time(t: datetime | None) -> str:
    return "" if t is None else f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"
