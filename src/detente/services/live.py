"""Live monitoring: position reports in, episodes, incidents and alerts out.

Every feed (``POST /positions``, the CoT listener, the ADS-B poller,
``detente replay``) hands its reports to one :class:`LiveMonitor`, which

1. refuses a bad batch whole, naming each bad report (unknown party, a
   party reporting another's tracks, a time far in the future, anything
   :meth:`Samples.build` refuses), and queues a good one;
2. checks each batch with the window of recent samples
   (:class:`~detente.engine.live.LiveState`) against the world's zones
   (a :class:`~detente.engine.monitor.ZoneIndex` kept until the world
   changes) and for loss of separation;
3. writes, in one transaction, every episode opened, gone on or closed
   (``track_events``), the incident each one opens or reopens, and a
   notification to each party concerned: the track's, the other object's
   or track's, and the secretariat.  The notifications reach the inbox,
   the live stream and the webhooks like any other; every row is in the
   audit log.

The monitor's memory is in this process: run one server process for live
feeds (``detente serve --workers 1``, the default).  A world change takes
effect at the next batch.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from detente.domain.accounts import Caller
from detente.domain.errors import Busy, InvalidInput, Problem
from detente.domain.geo.intervals import format_time, from_epoch
from detente.domain.incidents import IncidentType, Severity
from detente.domain.model import Party, Role, Scenario
from detente.domain.tracks import Event, EventType, Samples
from detente.engine.live import Episode, LiveState, Row, Step, key_of
from detente.engine.monitor import ZoneIndex
from detente.engine.separation import separation_events
from detente.services import incidents
from detente.services.context import Mechanism
from detente.services.ports import Tx

log = logging.getLogger("detente.monitor")

#: A report may be at most this far ahead of the server's clock (clocks drift; a feed should not).
MAX_AHEAD = timedelta(minutes=5)
#: Reports in one request, and waiting in the queue.
MAX_BATCH = 10_000
MAX_QUEUED = 200_000
#: An episode of the same track and object starting this soon after the last one ended reopens its incident.
REOPEN_S = 15 * 60.0
#: How often a going-on episode's row is brought up to date (it is always written when it opens and closes).
UPDATE_S = 5.0
#: A pass slower than this is logged (with where its time went).
SLOW_PASS_S = 0.25

#: The incident type each event type opens (the incidents issue's list).
INCIDENT_TYPES = {
    EventType.INCURSION: "airspace_incursion",
    EventType.BOUNDARY_CROSSING: "boundary_crossing",
    EventType.SEPARATION: "loss_of_separation",
    EventType.PROXIMITY: "proximity_to_protected",
}

Listener = Callable[[Step, Scenario], None]


@dataclass
class Accepted:
    """What became of a request's reports: checked now (sync) or queued, and how many were stale."""

    received: int
    accepted: int = 0
    stale: int = 0
    queued: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)


def severity(event: Event, purpose: str) -> str:
    """How serious an episode is, before anyone has looked at it (the incidents issue refines this)."""
    if event.type in (EventType.INCURSION, EventType.SEPARATION):
        return "high" if purpose in ("armed", "unknown") else "medium"
    if event.type is EventType.PROXIMITY:
        return "high"
    return "medium"


class LiveMonitor:
    """The one live monitor of a running mechanism.

    With ``sync`` a submitted batch is checked and written before
    ``submit`` returns (tests, ``detente monitor --db``); otherwise it is
    queued and :meth:`run` (a thread the server starts) checks whatever has
    arrived, in one pass, as soon as the last pass ends.
    """

    def __init__(self, m: Mechanism, *, sync: bool = True, max_queued: int = MAX_QUEUED) -> None:
        self.m = m
        self.sync = sync
        self.max_queued = max_queued
        self.state = LiveState()
        self.listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._world_lock = threading.Lock()
        self._ready = threading.Condition()
        self._queue: deque[Samples] = deque()
        #: When the oldest batch now queued arrived (monotonic), and the same for the pass under way.
        self._oldest: float | None = None
        self._pass_oldest: float | None = None
        #: Seconds from a pass's oldest batch arriving to its openings being committed (the alert's time inside).
        self.alert_s: deque[float] = deque(maxlen=1000)
        self._queued = 0
        self._world: tuple[int, Scenario, ZoneIndex] | None = None
        self._written: dict[int, float] = {}
        #: The incident of each open episode's row (to close it with the episode, without reading it back).
        self._incident_of: dict[int, int] = {}
        # data time (the latest sample) and the wall time it arrived: silence is measured from there
        self._data_t = float("-inf")
        self._data_wall = time.monotonic()
        self.passes = 0
        #: The last passes' (positions, window, seconds), for the status endpoint and the benchmark.
        self.recent: deque[tuple[int, int, float]] = deque(maxlen=200)
        #: How often a going-on episode's row is brought up to date (tests set 0: every batch).
        self.update_s = UPDATE_S

    # -- in -------------------------------------------------------------------

    def submit(self, rows: Sequence[Row], caller: Caller | None) -> Accepted:
        """Take a batch of reports from ``caller`` (None: a feed the server runs, trusted to map parties).

        Raises ``InvalidInput`` naming every bad report (nothing is taken),
        ``Busy`` when the queue is full.
        """
        if len(rows) > MAX_BATCH:
            raise InvalidInput([Problem("positions", f"send at most {MAX_BATCH} positions per request")])
        samples = Samples.build(list(rows))
        self._vet(samples, rows, caller)
        if self.sync:
            step = self.process(samples)
            result = Accepted(len(rows), step.accepted, step.stale)
            result.events = [_event_json(ep) for ep in step.opened + step.extended + step.closed]
            return result
        with self._ready:
            if self._queued + len(rows) > self.max_queued:
                raise Busy(f"the monitor has {self._queued} positions waiting; nothing was taken, send again shortly")
            self._queue.append(samples)
            self._queued += len(samples)
            if self._oldest is None:
                self._oldest = time.monotonic()
            self._ready.notify()
        return Accepted(len(rows), queued=len(rows))

    def _vet(self, samples: Samples, rows: Sequence[Row], caller: Caller | None) -> None:
        """Refuse unknown parties, another party's tracks and times far ahead; rows are only walked to name them."""
        parties = self._scenario().parties
        limit = (self.m.clock.now() + MAX_AHEAD).timestamp()
        own = caller is None or caller.role is Role.SECRETARIAT
        if all(t.party in parties and (own or t.party == caller.party) for t in samples.tracks) and (  # type: ignore[union-attr]
            not len(samples) or float(samples.t.max()) <= limit
        ):
            return
        problems = []
        for i, row in enumerate(rows):
            track, party, t = row[0], row[1], row[4]
            if party not in parties:
                problems.append(Problem("party", f"unknown party {party!r}", index=i, id=track))
            elif caller is not None and not own and party != caller.party:
                message = f"{caller.party!r} reports its own tracks only, not {party!r}'s"
                problems.append(Problem("party", message, index=i, id=track))
            if t > limit:
                when = format_time(from_epoch(t))
                problems.append(
                    Problem("t", f"{when} is more than 5 minutes ahead of the server's clock", index=i, id=track)
                )
            if len(problems) >= 100:
                break
        raise InvalidInput(problems)

    # -- the pass ---------------------------------------------------------------

    def process(self, samples: Samples | Sequence[Samples]) -> Step:
        """Check one batch and write what changed (the queue's worker calls this too)."""
        with self._lock:
            began = time.perf_counter()
            arrived = self._pass_oldest if not self.sync else time.monotonic()
            scenario, zones = self._index()
            minima = scenario.separation

            def pairs(window: Samples) -> list[Event]:
                return separation_events(window, minima)

            step = self.state.step(samples, pairs, zones.events)
            checked = time.perf_counter()
            if step.accepted:
                latest = float(self.state.last_t.max())
                if latest > self._data_t:
                    self._data_t, self._data_wall = latest, time.monotonic()
            self.passes += 1
            if step.changed:
                self._write(step, scenario, arrived)
                for listener in self.listeners:
                    try:
                        listener(step, scenario)
                    except Exception:  # a listener (the CoT bridge) must not stop the monitor
                        log.exception("a monitor listener failed")
            took = time.perf_counter() - began
            self.recent.append((step.accepted + step.stale, self.state.window_size, took))
            if took > SLOW_PASS_S:
                log.warning(
                    "a slow pass: %.0f ms for %d positions (window %d, %d opened, %d closed; checked in %.0f ms)",
                    took * 1000,
                    step.accepted + step.stale,
                    self.state.window_size,
                    len(step.opened),
                    len(step.closed),
                    (checked - began) * 1000,
                )
            return step

    def sweep(self, now_t: float | None = None) -> list[Episode]:
        """Close the episodes whose tracks fell silent (``now_t``: data time; default the data clock now)."""
        with self._lock:
            if now_t is None:
                now_t = self._data_t + (time.monotonic() - self._data_wall)
            closed = self.state.sweep(now_t)
            if closed:
                scenario, _ = self._index()
                self._write(Step(closed=closed), scenario)
                for listener in self.listeners:
                    listener(Step(closed=closed), scenario)
            return closed

    def run(self, stop: threading.Event, *, sweep_s: float = 5.0) -> None:
        """Check queued batches until ``stop`` is set (the server's worker thread)."""
        last_sweep = time.monotonic()
        while not stop.is_set():
            with self._ready:
                if not self._queue:
                    self._ready.wait(timeout=min(sweep_s, 0.5))
                batches = list(self._queue)
                self._queue.clear()
                self._queued = 0
                self._pass_oldest, self._oldest = self._oldest, None
            if batches:
                self._drain(batches)
            if time.monotonic() - last_sweep >= sweep_s:
                last_sweep = time.monotonic()
                try:
                    self.sweep()
                except Exception:
                    log.exception("the monitor's sweep failed")

    def warm(self) -> None:
        """Load the world and build its zone index now, rather than on the first positions."""
        self._index()

    def wake(self) -> None:
        with self._ready:
            self._ready.notify_all()

    def _drain(self, batches: list[Samples]) -> None:
        """Check every waiting batch in one pass; if they clash (a track's party differs between two), one by one."""
        try:
            self.process(batches)
            return
        except InvalidInput:
            pass
        except Exception:
            log.exception("the monitor failed on %d positions", sum(len(b) for b in batches))
            return
        for batch in batches:
            try:
                self.process(batch)
            except Exception as exc:
                log.warning("dropped a batch of %d positions: %s", len(batch), exc)

    # -- the world --------------------------------------------------------------

    def _scenario(self) -> Scenario:
        return self._index()[0]

    def _index(self) -> tuple[Scenario, ZoneIndex]:
        """The world and its zone index, rebuilt when the world's version moves (one thread rebuilds; others wait)."""
        with self.m.store.read() as tx:
            version = tx.version()
        with self._world_lock:
            if self._world is None or self._world[0] != version:
                scenario, loaded = self.m.store.load_world_with_version()
                self._world = (loaded, scenario, ZoneIndex(scenario.objects.values(), scenario.parties))
                # The world's many small objects live until the next change: keep them out of the
                # collector's full passes, which would otherwise stall a monitor pass now and then.
                gc.collect()
                gc.freeze()
            return self._world[1], self._world[2]

    # -- out ------------------------------------------------------------------

    def _write(self, step: Step, scenario: Scenario, arrived: float | None = None) -> None:
        now = self.m.clock.now()
        wall = time.monotonic()
        secretariat = [p.id for p in scenario.parties.values() if p.role is Role.SECRETARIAT]
        due = [
            ep for ep in step.extended if ep.id is not None and wall - self._written.get(ep.id, 0.0) >= self.update_s
        ]
        # the alerts first, in a transaction of their own: they are what must not wait
        if step.opened:
            with self.m.store.write(world=False) as tx:
                for ep in step.opened:
                    audience = _audience(ep.event, scenario.parties, secretariat)
                    ep.id = tx.add_track_event(_row(ep, now) | {"incident_id": None, "created_at": now}, audience)
                    self._notify(tx, ep, "opened", audience, now)
                    if ep.closed:
                        self._notify(tx, ep, "closed", audience, now)
            if arrived is not None:
                self.alert_s.append(time.monotonic() - arrived)
        if not (step.opened or due or step.closed):
            return self._remember(step, due, wall)
        # then the bookkeeping: the incidents the new episodes open, rows brought up to date, closings
        with self.m.store.write(world=False) as tx:
            for ep in step.opened:
                assert ep.id is not None
                audience = _audience(ep.event, scenario.parties, secretariat)
                incident = self._incident(tx, ep, audience, now)
                tx.update_track_event(ep.id, {"incident_id": incident}, audience)
                if not ep.closed:
                    self._incident_of[ep.id] = incident
            for ep in due:
                assert ep.id is not None
                tx.update_track_event(ep.id, _row(ep, now), _audience(ep.event, scenario.parties, secretariat))
            for ep in step.closed:
                if ep.id is None:
                    continue
                audience = _audience(ep.event, scenario.parties, secretariat)
                tx.update_track_event(ep.id, _row(ep, now), audience)
                owning = self._incident_of.pop(ep.id, None)
                if owning is not None:
                    tx.update_incident(owning, {"ended_at": _when(ep.end), "updated_at": now}, audience)
                self._notify(tx, ep, "closed", audience, now)
        self._remember(step, due, wall)

    def _remember(self, step: Step, due: list[Episode], wall: float) -> None:
        """When each open episode's row was last written (a going-on episode is written every ``update_s``)."""
        for ep in step.opened + due:
            if ep.id is not None:
                self._written[ep.id] = wall
        for ep in step.closed + [ep for ep in step.opened if ep.closed]:
            if ep.id is not None:
                self._written.pop(ep.id, None)

    def _incident(self, tx: Tx, ep: Episode, audience: list[str], now: datetime) -> int:
        """The incident this episode opens, or the one of the same pair that ended a short while before."""
        key = "|".join(key_of(ep.event))
        recent = tx.incident_by_key(key, _when(ep.start - REOPEN_S), _when(ep.start))
        ended = _when(ep.end) if ep.closed else None
        if recent is not None:
            tx.update_incident(recent["id"], {"ended_at": ended, "updated_at": now}, audience)
            return int(recent["id"])
        e = ep.event
        track = self.state.tracks[self.state.code[e.track]]
        title = (
            f"{e.type.value.replace('_', ' ')}: {e.track} ({e.party}) and {e.other.kind} {e.other.id} ({e.other.party})"
        )
        return incidents.open_incident(
            tx,
            type=IncidentType(INCIDENT_TYPES[e.type]),
            severity=Severity(severity(e, track.purpose)),
            source="monitor",
            key=key,
            title=title,
            involved=[e.party, e.other.party],
            position=(ep.position[0], ep.position[1]),
            started_at=_when(ep.start),
            ended_at=ended,
            reporter=None,
            description="",
            now=now,
        )

    def _notify(self, tx: Tx, ep: Episode, action: str, audience: list[str], now: datetime) -> None:
        tx.notify_many(audience, f"track.event.{action}", _event_json(ep) | {"action": action}, now)

    # -- reads ----------------------------------------------------------------

    def positions(self, caller: Caller) -> list[dict[str, Any]]:
        """Each track's latest position the caller may see: its own party's (every track, for the secretariat)."""
        out = []
        with self._lock:
            for code, info in enumerate(self.state.tracks):
                if caller.role is not Role.SECRETARIAT and info.party != caller.party:
                    continue
                lon, lat, alt = (float(v) for v in self.state.last_pos[code])
                out.append(
                    {
                        "track": info.id,
                        "party": info.party,
                        "category": info.category.value,
                        "purpose": info.purpose,
                        "t": format_time(from_epoch(float(self.state.last_t[code]))),
                        "lon": lon,
                        "lat": lat,
                        "alt_m": alt,
                    }
                )
        return out

    def status(self) -> dict[str, Any]:
        """How the monitor is doing: queue, tracks, open episodes, and its recent passes."""
        recent = list(self.recent)
        seconds = sorted(r[2] for r in recent)
        return {
            "threaded": not self.sync,
            "waiting": self._queued,
            "tracks": len(self.state.tracks),
            "window": self.state.window_size,
            "open_episodes": len(self.state.open),
            "passes": self.passes,
            "recent_passes": len(recent),
            "positions_per_pass": round(sum(r[0] for r in recent) / len(recent), 1) if recent else None,
            "pass_ms_p50": round(1000 * seconds[len(seconds) // 2], 1) if seconds else None,
            "pass_ms_max": round(1000 * seconds[-1], 1) if seconds else None,
            "alert_ms": _quantiles(list(self.alert_s)),
        }


def _quantiles(xs: list[float]) -> dict[str, float] | None:
    """p50/p90/p99/max in milliseconds, or None for no samples."""
    if not xs:
        return None
    ordered = sorted(xs)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(ordered), "p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": round(1000 * ordered[-1], 1)}


def _audience(event: Event, parties: Mapping[str, Party], secretariat: list[str]) -> list[str]:
    concerned = {event.party, event.other.party, *secretariat}
    return sorted(p for p in concerned if p in parties)


def _when(t: float) -> datetime:
    value = from_epoch(t)
    assert value is not None
    return value


def _row(ep: Episode, now: datetime) -> dict[str, Any]:
    e = ep.event
    return {
        "type": e.type.value,
        "track": e.track,
        "party": e.party,
        "other_kind": e.other.kind,
        "other_id": e.other.id,
        "other_party": e.other.party,
        "start": _when(ep.start),
        "end": _when(ep.end),
        "min_distance_m": round(ep.min_distance_m, 1),
        "lon": ep.position[0],
        "lat": ep.position[1],
        "alt_m": ep.position[2],
        "open": not ep.closed,
        "updated_at": now,
    }


def _event_json(ep: Episode) -> dict[str, Any]:
    lon, lat, alt = ep.position
    return ep.as_event().to_json() | {
        "id": ep.id,
        "open": not ep.closed,
        "position": {"lon": lon, "lat": lat, "alt_m": alt},
    }
