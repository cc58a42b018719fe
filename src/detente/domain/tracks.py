"""Position reports and the events the monitor finds in them (SEMANTICS.md, "while monitoring").

Samples are held as columns (numpy arrays), sorted by track and then time,
because the monitor checks millions of them at once; a track's party,
category and purpose come from its samples and must not change within it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.intervals import format_time, from_epoch
from detente.domain.model import PURPOSES, Category

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
