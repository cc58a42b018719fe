"""Position reports and the events the monitor finds in them (SEMANTICS.md, "while monitoring").

Samples are held as columns (numpy arrays), sorted by track and then time,
because the monitor checks millions of them at once; a track's party,
category and purpose come from its samples and must not change within it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, fields
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from itertools import islice
from operator import attrgetter, lt
from typing import Any

import numpy as np

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.intervals import format_time, from_epoch
from detente.domain.model import PURPOSES, Category

_CATEGORIES = tuple(Category)

#: Two samples of a track further apart than this leave no position between them (SEMANTICS.md).
MAX_GAP_S = 60.0


class EventType(StrEnum):
    INCURSION = "incursion"
    BOUNDARY_CROSSING = "boundary_crossing"
    SEPARATION = "separation"
    PROXIMITY = "proximity"


@dataclass(frozen=True)
class TrackInfo:
    """What a track is: its id, party, category and purpose (the same in all its samples)."""

    id: str
    party: str
    category: Category
    purpose: str


@dataclass(frozen=True, eq=False)
class Samples:
    """Position samples as columns, sorted by (track, t); ``track`` indexes ``tracks``.

    ``t`` is epoch seconds (UTC), ``alt`` metres above mean sea level.
    """

    tracks: tuple[TrackInfo, ...]
    track: IntArray
    t: FloatArray
    lon: FloatArray
    lat: FloatArray
    alt: FloatArray

    def __post_init__(self) -> None:
        n = len(self.track)
        if any(len(a) != n for a in (self.t, self.lon, self.lat, self.alt)):
            raise ValueError("sample columns must have the same length")
        if n and (np.any(np.diff(self.track) < 0) or np.any((np.diff(self.track) == 0) & (np.diff(self.t) < 0))):
            raise ValueError("samples must be sorted by track, then time")

    def __len__(self) -> int:
        return len(self.track)

    # Integer codes per track, computed on first use and kept with the samples: the monitor's vectorised
    # passes compare these instead of the strings and enums of ``tracks``.

    @cached_property
    def _party_codes(self) -> tuple[tuple[str, ...], IntArray]:
        parties = list(map(attrgetter("party"), self.tracks))
        distinct = tuple(sorted(set(parties)))
        code = {p: k for k, p in enumerate(distinct)}
        return distinct, np.fromiter(map(code.__getitem__, parties), dtype=np.int64, count=len(parties))

    @property
    def parties(self) -> tuple[str, ...]:
        """The tracks' distinct parties, sorted; ``track_party`` indexes it."""
        return self._party_codes[0]

    @property
    def track_party(self) -> IntArray:
        """Per track, the index of its party in ``parties``."""
        return self._party_codes[1]

    @cached_property
    def track_category(self) -> IntArray:
        """Per track, the index of its category in ``tuple(Category)``."""
        n = len(self.tracks)
        return np.fromiter(map(_CATEGORIES.index, map(attrgetter("category"), self.tracks)), dtype=np.int64, count=n)

    @cached_property
    def track_purpose(self) -> IntArray:
        """Per track, the index of its purpose in ``PURPOSES``."""
        n = len(self.tracks)
        return np.fromiter(map(PURPOSES.index, map(attrgetter("purpose"), self.tracks)), dtype=np.int64, count=n)

    @cached_property
    def track_rank(self) -> IntArray:
        """Per track, the rank of its id among the tracks' ids (``arange`` when they are sorted, as from ``build``)."""
        ids = list(map(attrgetter("id"), self.tracks))
        n = len(ids)
        if all(map(lt, ids, islice(ids, 1, None))):
            return np.arange(n, dtype=np.int64)
        rank = np.empty(n, dtype=np.int64)
        rank[sorted(range(n), key=ids.__getitem__)] = np.arange(n, dtype=np.int64)
        return rank

    @classmethod
    def build(
        cls,
        rows: list[tuple[str, str, str, str, float, float, float, float]],
    ) -> Samples:
        """Samples from rows ``(track, party, category, purpose, t_epoch_s, lon, lat, alt_m)`` in any order.

        Refuses (every problem listed) a track whose party, category or
        purpose changes, unknown categories and purposes, non-finite or
        out-of-range coordinates, and two samples of one track at one instant.

        >>> s = Samples.build([("a", "ru", "air", "armed", 10.0, 36.0, 35.0, 3000.0)])
        >>> (len(s), s.tracks[0].party)
        (1, 'ru')
        """
        problems: list[Problem] = []
        info: dict[str, TrackInfo] = {}
        categories = {c.value: c for c in Category}
        purposes = frozenset(PURPOSES)
        for i, (name, party, category, purpose, t, lon, lat, alt) in enumerate(rows):
            known = info.get(name)
            if known is None or (party, category, purpose) != (known.party, known.category.value, known.purpose):
                if category not in categories:
                    problems.append(
                        Problem("category", f"category {category!r} is not air or ground", index=i, id=name)
                    )
                    continue
                if purpose not in purposes:
                    message = f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}"
                    problems.append(Problem("purpose", message, index=i, id=name))
                    continue
                if known is None:
                    info[name] = TrackInfo(name, party, categories[category], purpose)
                else:
                    problems.append(
                        Problem(
                            "track-identity",
                            f"track {name!r} changes party, category or purpose "
                            f"({known.party}/{known.category.value}/{known.purpose} to {party}/{category}/{purpose})",
                            index=i,
                            id=name,
                        )
                    )
            if not (math.isfinite(t) and math.isfinite(lon) and math.isfinite(lat) and math.isfinite(alt)):
                problems.append(Problem("sample", "t, lon, lat and alt_m must be finite numbers", index=i, id=name))
            elif not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
                message = f"({lon}, {lat}) is outside lon [-180, 180], lat [-90, 90]"
                problems.append(Problem("coordinates", message, index=i, id=name))
        if problems:
            raise InvalidInput(problems)
        names = sorted(info)
        code = {name: k for k, name in enumerate(names)}
        codes = np.fromiter((code[r[0]] for r in rows), dtype=np.int64, count=len(rows))
        cols = np.array([r[4:8] for r in rows], dtype=np.float64).reshape(-1, 4)
        order = np.lexsort((cols[:, 0], codes))
        codes, cols = codes[order], cols[order]
        same = (np.diff(codes) == 0) & (np.diff(cols[:, 0]) == 0)
        if np.any(same):
            k = int(np.flatnonzero(same)[0])
            name = names[int(codes[k])]
            raise InvalidInput(
                [
                    Problem(
                        "duplicate-sample",
                        f"track {name!r} has two samples at {format_time(from_epoch(cols[k, 0]))}",
                        id=name,
                    )
                ]
            )
        return cls(tuple(info[n] for n in names), codes, cols[:, 0], cols[:, 1], cols[:, 2], cols[:, 3])


@dataclass(frozen=True)
class Other:
    """What a track's event is with: a zone, boundary, site or movement, or another track."""

    kind: str
    id: str
    party: str


@dataclass(frozen=True)
class Event:
    """One episode: a track (or a pair of tracks) in conflict from ``start`` to ``end``, both evaluated instants."""

    type: EventType
    track: str
    party: str
    other: Other
    start: datetime
    end: datetime
    min_distance_m: float

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type.value,
            "track": self.track,
            "party": self.party,
            "other": {"kind": self.other.kind, "id": self.other.id, "party": self.other.party},
            "start": format_time(self.start),
            "end": format_time(self.end),
            "min_distance_m": round(self.min_distance_m, 1),
        }


# --- building many events at once (the monitor's hot path) -----------------------------------------------


def _plain() -> bool:
    """Whether Event and Other are still plain frozen dataclasses with the fields the builders set."""
    names = {
        Event: ["type", "track", "party", "other", "start", "end", "min_distance_m"],
        Other: ["kind", "id", "party"],
    }
    return all(
        "__post_init__" not in vars(cls)
        and "__slots__" not in vars(cls)
        and [f.name for f in fields(cls)] == expected
        and all(f.init and f.default is MISSING and f.default_factory is MISSING for f in fields(cls))
        for cls, expected in names.items()
    )


#: Setting an instance's ``__dict__`` at once is exact for plain frozen dataclasses (no ``__post_init__``, no
#: slots, every field set from an argument): it gives objects equal to the constructor's (same fields,
#: equality, hash, repr) in about two thirds of the time, because the generated ``__init__`` of a frozen
#: dataclass sets each field through ``object.__setattr__``.  If Event or Other ever stop being plain, the
#: builders below fall back to the constructors.
_PLAIN = _plain()


def make_events(
    types: Iterable[EventType],
    tracks: Iterable[str],
    parties: Iterable[str],
    others: Iterable[Other],
    starts: Iterable[datetime],
    ends: Iterable[datetime],
    distances: Iterable[float],
) -> list[Event]:
    """``[Event(*row) for row in zip(types, tracks, ...)]``, faster (the same objects)."""
    columns = (types, tracks, parties, others, starts, ends, distances)
    if not _PLAIN:
        return [Event(*row) for row in zip(*columns, strict=True)]
    new, set_dict = object.__new__, object.__setattr__
    out: list[Event] = []
    append = out.append
    for kind, track, party, other, start, end, dist in zip(*columns, strict=True):
        e = new(Event)
        fields_ = {
            "type": kind,
            "track": track,
            "party": party,
            "other": other,
            "start": start,
            "end": end,
            "min_distance_m": dist,
        }
        set_dict(e, "__dict__", fields_)
        append(e)
    return out


def make_pair_events(
    kind: EventType,
    firsts: Iterable[TrackInfo],
    seconds: Iterable[TrackInfo],
    starts: Iterable[datetime],
    ends: Iterable[datetime],
    distances: Iterable[float],
) -> list[Event]:
    """Events of ``kind`` between two tracks, the other being ``Other("track", second.id, second.party)``, faster."""
    columns = (firsts, seconds, starts, ends, distances)
    if not _PLAIN:
        return [
            Event(kind, a.id, a.party, Other("track", b.id, b.party), s, e, d)
            for a, b, s, e, d in zip(*columns, strict=True)
        ]
    new, set_dict = object.__new__, object.__setattr__
    out: list[Event] = []
    append = out.append
    for a, b, start, end, dist in zip(*columns, strict=True):
        o = new(Other)
        set_dict(o, "__dict__", {"kind": "track", "id": b.id, "party": b.party})
        e = new(Event)
        fields_ = {
            "type": kind,
            "track": a.id,
            "party": a.party,
            "other": o,
            "start": start,
            "end": end,
            "min_distance_m": dist,
        }
        set_dict(e, "__dict__", fields_)
        append(e)
    return out
