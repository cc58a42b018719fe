"""The monitor over a stream: positions arrive in batches, episodes span batches.

The batch monitor (:mod:`detente.engine.monitor`) sees a whole recording at
once; a live feed delivers it a few hundred positions at a time.  This
module keeps what a batch needs from the ones before it, and no more:

* **a short window of recent samples** (columns, like :class:`Samples`):
  every live track's latest sample, and the samples after the earliest
  latest sample of any live track, so an instant of one track is evaluated
  once the other track's next sample arrives (separation interpolates
  between samples), and the last instant of an open episode is evaluated
  again, which is how an episode is seen to go on;
* **the open episodes**, one per (type, track, other), with start, end and
  least distance.

Each step checks the window plus the new samples with the batch monitor
(handed in as ``check``), then merges what it finds into the open episodes:
an event that overlaps an open episode extends it; an event that lies
wholly in instants already evaluated by an earlier step is old news; any
other event opens an episode.  An open episode whose instants have moved
on without it closes at its last instant in conflict, as does one whose
tracks fell silent for longer than ``MAX_GAP_S`` (they have no position).
The result is the same episodes as the batch monitor finds on the whole
recording, as long as each track's samples arrive in time order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.intervals import from_epoch
from detente.domain.tracks import MAX_GAP_S, Event, EventType, Samples, TrackInfo

#: ``(track, party, category, purpose, t_epoch_s, lon, lat, alt_m)``, as :meth:`Samples.build` takes.
Row = tuple[str, str, str, str, float, float, float, float]
#: An episode's identity: its type, its track and the other object or track.
Key = tuple[str, str, str, str]

Check = Callable[[Samples], list[Event]]


def key_of(event: Event) -> Key:
    """The identity of an event's episode; a pair of tracks is one key whichever comes first."""
    if event.type is EventType.SEPARATION:
        a, b = sorted((event.track, event.other.id))
        return (event.type.value, a, "track", b)
    return (event.type.value, event.track, event.other.kind, event.other.id)


@dataclass(eq=False)
class Episode:
    """An episode as it stands: open while ``closed`` is False; ``id`` is the store's, once written."""

    event: Event
    start: float
    end: float
    min_distance_m: float
    #: Where the track was when the episode opened (lon, lat, alt_m).
    position: tuple[float, float, float]
    closed: bool = False
    id: int | None = None

    @property
    def key(self) -> Key:
        return key_of(self.event)

    def as_event(self) -> Event:
        """The episode as the spec's event (start, end, least distance)."""
        start, end = from_epoch(self.start), from_epoch(self.end)
        assert start is not None and end is not None
        e = self.event
        return Event(e.type, e.track, e.party, e.other, start, end, self.min_distance_m)


@dataclass
class Step:
    """What one batch changed: episodes opened, extended (still open) and closed; samples refused as stale."""

    opened: list[Episode] = field(default_factory=list)
    extended: list[Episode] = field(default_factory=list)
    closed: list[Episode] = field(default_factory=list)
    accepted: int = 0
    stale: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.opened or self.extended or self.closed)


class LiveState:
    """The monitor's memory between batches (one per world; not thread-safe: one writer)."""

    def __init__(self, *, max_gap_s: float = MAX_GAP_S, max_tracks: int = 1_000_000) -> None:
        self.max_gap_s = max_gap_s
        self.max_tracks = max_tracks
        self.tracks: list[TrackInfo] = []
        self.code: dict[str, int] = {}
        #: Latest sample time and position per track code.
        self.last_t: FloatArray = np.zeros(0, dtype=np.float64)
        self.last_pos: FloatArray = np.zeros((0, 3), dtype=np.float64)
        # The window of recent samples, sorted by (track code, t).
        self._w_track: IntArray = np.zeros(0, dtype=np.int64)
        self._w_cols: FloatArray = np.zeros((0, 4), dtype=np.float64)
        self.open: dict[Key, Episode] = {}

    # -- tracks ---------------------------------------------------------------

    def identify(self, samples: Samples) -> IntArray:
        """The live codes of a batch's tracks, registering new ones.

        Raises ``InvalidInput`` if a known track comes back with another
        party, category or purpose (the batch is then refused whole).
        """
        problems = []
        for info in samples.tracks:
            known = self.code.get(info.id)
            if known is not None and self.tracks[known] != info:
                was = self.tracks[known]
                problems.append(
                    Problem(
                        "track-identity",
                        f"track {info.id!r} is {was.party}/{was.category.value}/{was.purpose}, "
                        f"not {info.party}/{info.category.value}/{info.purpose}",
                        id=info.id,
                    )
                )
        new = [info for info in samples.tracks if info.id not in self.code]
        if len(self.tracks) + len(new) > self.max_tracks:
            problems.append(Problem("tracks", f"the monitor follows at most {self.max_tracks} tracks"))
        if problems:
            raise InvalidInput(problems)
        for info in new:
            self.code[info.id] = len(self.tracks)
            self.tracks.append(info)
        grown = len(self.tracks) - len(self.last_t)
        if grown:
            self.last_t = np.concatenate([self.last_t, np.full(grown, -np.inf)])
            self.last_pos = np.concatenate([self.last_pos, np.zeros((grown, 3))])
        return np.array([self.code[info.id] for info in samples.tracks], dtype=np.int64)

    # -- one batch ------------------------------------------------------------

    def step(self, batch: Samples | Sequence[Samples], check: Check, zones: Check | None = None) -> Step:
        """Check a batch, or several at once (with the window), and merge its events into the episodes.

        ``check`` sees the whole window (separation needs every live track);
        ``zones``, if given, sees only the window's samples of the batch's
        own tracks (a zone concerns one track at a time, so the others'
        samples, checked before, cannot change its answer).  A sample that
        two batches both carry (one track, one instant) counts once.
        """
        result = Step()
        batches = [batch] if isinstance(batch, Samples) else list(batch)
        batches = [b for b in batches if len(b)]
        if not batches:
            return result
        codes = np.concatenate([self.identify(b)[b.track] for b in batches])
        cols = np.concatenate([np.column_stack([b.t, b.lon, b.lat, b.alt]) for b in batches])
        if len(batches) > 1:
            order = np.lexsort((cols[:, 0], codes))
            codes, cols = codes[order], cols[order]
            again = np.zeros(len(codes), dtype=bool)
            again[1:] = (codes[1:] == codes[:-1]) & (cols[1:, 0] == cols[:-1, 0])
            codes, cols = codes[~again], cols[~again]
        fresh = cols[:, 0] > self.last_t[codes]
        result.stale = int((~fresh).sum())
        codes, cols = codes[fresh], cols[fresh]
        result.accepted = len(codes)
        if not len(codes):
            return result
        horizon_before = self.last_t.copy()
        # Per code, t ascends (a batch is sorted by track then time; several are sorted by code then time).
        np.maximum.at(self.last_t, codes, cols[:, 0])
        last_row = np.flatnonzero(np.append(codes[1:] != codes[:-1], True))
        self.last_pos[codes[last_row]] = cols[last_row, 1:4]

        track = np.concatenate([self._w_track, codes])
        allcols = np.concatenate([self._w_cols, cols])
        order = np.lexsort((allcols[:, 0], track))
        track, allcols = track[order], allcols[order]
        window = Samples(tuple(self.tracks), track, allcols[:, 0], allcols[:, 1], allcols[:, 2], allcols[:, 3])
        now_t = float(cols[:, 0].max())
        events = check(window)
        if zones is not None:
            mine = np.isin(track, np.unique(codes))
            own = Samples(window.tracks, track[mine], *(allcols[mine, i] for i in range(4)))
            events += zones(own)
        self._merge(events, window, horizon_before, now_t, result)
        self._trim(track, allcols, now_t)
        return result

    def sweep(self, now_t: float) -> list[Episode]:
        """Close the open episodes whose tracks have been silent for longer than the gap (data time ``now_t``)."""
        closed = []
        for key, ep in list(self.open.items()):
            if now_t - self._horizon(ep.event, self.last_t) > self.max_gap_s:
                ep.closed = True
                closed.append(self.open.pop(key))
        return closed

    # -- internals ------------------------------------------------------------

    def _horizon(self, event: Event, last_t: FloatArray) -> float:
        """The latest instant up to which this event's track (or pair) has been evaluated."""
        h = float(last_t[self.code[event.track]])
        if event.type is EventType.SEPARATION:
            h = min(h, float(last_t[self.code[event.other.id]]))
        return h

    def _merge(self, events: list[Event], window: Samples, before: FloatArray, now_t: float, result: Step) -> None:
        opened: list[Episode] = []
        extended: dict[Key, Episode] = {}
        for event in sorted(events, key=lambda e: e.start):
            start, end = event.start.timestamp(), event.end.timestamp()
            key = key_of(event)
            if end <= self._horizon(event, before):
                continue  # every instant of it was evaluated by an earlier batch
            ep = self.open.get(key)
            if ep is not None and start <= ep.end:
                ep.end = max(ep.end, end)
                ep.min_distance_m = min(ep.min_distance_m, event.min_distance_m)
                if ep not in opened:
                    extended[key] = ep
                continue
            if ep is not None:  # a new episode of the same pair: the open one ended before it
                ep.closed = True
                extended.pop(key, None)
                result.closed.append(self.open.pop(key))
            ep = Episode(event, start, end, event.min_distance_m, self._position(window, event.track, start))
            self.open[key] = ep
            opened.append(ep)
        for key, ep in list(self.open.items()):
            horizon = self._horizon(ep.event, self.last_t)
            if horizon > ep.end or now_t - horizon > self.max_gap_s:
                ep.closed = True
                del self.open[key]
                if ep not in opened:
                    extended.pop(key, None)
                    result.closed.append(ep)
        result.opened = opened
        result.extended = [ep for ep in extended.values() if ep not in opened]

    def _position(self, window: Samples, track: str, t: float) -> tuple[float, float, float]:
        code = self.code[track]
        lo = int(np.searchsorted(window.track, code, side="left"))
        hi = int(np.searchsorted(window.track, code, side="right"))
        k = lo + int(np.searchsorted(window.t[lo:hi], t))
        k = min(k, hi - 1)
        return (float(window.lon[k]), float(window.lat[k]), float(window.alt[k]))

    def _trim(self, track: IntArray, cols: FloatArray, now_t: float) -> None:
        """Keep the samples a later batch still needs (see the module's docstring)."""
        live = self.last_t >= now_t - self.max_gap_s
        cut = now_t - self.max_gap_s
        if live.any():
            cut = max(cut, float(self.last_t[live].min()))
        for ep in self.open.values():
            cut = min(cut, ep.end)
        cut = max(cut, now_t - self.max_gap_s)
        is_last = np.append(track[1:] != track[:-1], True)
        keep = (cols[:, 0] >= cut) | (is_last & (cols[:, 0] >= now_t - self.max_gap_s))
        self._w_track, self._w_cols = track[keep], cols[keep]

    @property
    def window_size(self) -> int:
        return len(self._w_track)
