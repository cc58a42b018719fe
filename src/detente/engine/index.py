"""A 4D box index kept in memory: lon/lat boxes in STR-trees, bucketed by time.

Why this shape (see docs/performance.md and shared PERFORMANCE.md): time is
the most selective dimension, so volumes are grouped into fixed time buckets
(3 h), each with its own Shapely STR-tree of 2D boxes; altitude and the
exact time test are then a vectorised numpy filter over the few candidates.
Volumes that last long or are open-ended go to one extra "long" group.

STR-trees are immutable, so each group keeps a small *pending* list of boxes
added since it was built, scanned with numpy, and is rebuilt when that list
grows past a fraction of the tree.  Removal only clears a slot's ``alive``
flag; rebuilds drop dead entries.  Insert and remove are therefore cheap and
incremental, and a query never sees a stale box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely import STRtree

from detente.domain.geo.arrays import FloatArray, IntArray

BUCKET_S = 3 * 3600.0
#: A volume spanning more buckets than this lives in the "long" group.
MAX_BUCKETS = 16
_LONG = -(2**62)


def split_box(minx: float, miny: float, maxx: float, maxy: float) -> list[tuple[float, float, float, float]]:
    """A lon/lat box that may run past +/-180, as one or two boxes inside it."""
    if maxx - minx >= 360.0:
        return [(-180.0, miny, 180.0, maxy)]
    out = [(max(minx, -180.0), miny, min(maxx, 180.0), maxy)]
    if minx < -180.0:
        out.append((minx + 360.0, miny, 180.0, maxy))
    if maxx > 180.0:
        out.append((-180.0, miny, maxx - 360.0, maxy))
    return out


def buckets_of(t_lo: float, t_hi: float) -> list[int]:
    """Bucket keys a window ``[t_lo, t_hi)`` touches, or ``[_LONG]``."""
    if math.isinf(t_lo) or math.isinf(t_hi):
        return [_LONG]
    first = math.floor(t_lo / BUCKET_S)
    last = math.floor(math.nextafter(t_hi, -math.inf) / BUCKET_S)
    if last - first + 1 > MAX_BUCKETS:
        return [_LONG]
    return list(range(first, last + 1))


@dataclass
class _Group:
    """One time bucket: an STR-tree over built boxes plus pending boxes."""

    tree: STRtree | None = None
    tree_slots: IntArray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    pending_slots: list[int] = field(default_factory=list)
    pending_boxes: list[tuple[float, float, float, float]] = field(default_factory=list)
    dead: int = 0

    def size(self) -> int:
        return len(self.tree_slots) + len(self.pending_slots)


class BoxIndex:
    """Slots (ints) with lon/lat boxes and time windows; query returns candidates."""

    def __init__(self) -> None:
        self._groups: dict[int, _Group] = {}
        self._boxes: dict[int, list[tuple[float, float, float, float]]] = {}
        self._keys: dict[int, list[int]] = {}
        self._alive = np.zeros(1024, dtype=bool)

    def __len__(self) -> int:
        return len(self._keys)

    def _register(self, slot: int, box: tuple[float, float, float, float], t_lo: float, t_hi: float) -> list[_Group]:
        """Record a slot and queue its boxes in every bucket it touches; returns those buckets."""
        if slot >= len(self._alive):
            grown = np.zeros(max(slot + 1, 2 * len(self._alive)), dtype=bool)
            grown[: len(self._alive)] = self._alive
            self._alive = grown
        boxes = split_box(*box)
        keys = buckets_of(t_lo, t_hi)
        self._boxes[slot] = boxes
        self._keys[slot] = keys
        self._alive[slot] = True
        groups = []
        for key in keys:
            group = self._groups.setdefault(key, _Group())
            for b in boxes:
                group.pending_slots.append(slot)
                group.pending_boxes.append(b)
            groups.append(group)
        return groups

    def insert(self, slot: int, box: tuple[float, float, float, float], t_lo: float, t_hi: float) -> None:
        """Add a slot's box; ``box`` may run past +/-180 (it is split)."""
        for group in self._register(slot, box, t_lo, t_hi):
            if len(group.pending_slots) > max(512, len(group.tree_slots) // 8):
                self._rebuild(group)

    def bulk_insert(self, slots: IntArray, boxes: FloatArray, t_lo: FloatArray, t_hi: FloatArray) -> None:
        """Insert many slots at once and build the trees once, at the end."""
        for s, b, lo, hi in zip(slots.tolist(), boxes.tolist(), t_lo.tolist(), t_hi.tolist(), strict=True):
            self._register(s, tuple(b), lo, hi)
        for group in self._groups.values():
            if group.pending_slots:
                self._rebuild(group)

    def remove(self, slot: int) -> None:
        """Forget a slot; its boxes are dropped at the next rebuild of their groups."""
        keys = self._keys.pop(slot, None)
        if keys is None:
            return
        self._boxes.pop(slot, None)
        self._alive[slot] = False
        for key in keys:
            group = self._groups[key]
            group.dead += 1
            if group.dead > max(512, group.size() // 4):
                self._rebuild(group)

    def _rebuild(self, group: _Group) -> None:
        slots: list[int] = []
        boxes: list[tuple[float, float, float, float]] = []
        if group.tree is not None:
            live = self._alive[group.tree_slots]
            old = shapely.bounds(group.tree.geometries)[live]
            slots.extend(group.tree_slots[live].tolist())
            boxes.extend(map(tuple, old.tolist()))
        for s, b in zip(group.pending_slots, group.pending_boxes, strict=True):
            if self._alive[s]:
                slots.append(s)
                boxes.append(b)
        arr = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        group.tree = STRtree(shapely.box(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])) if len(slots) else None
        group.tree_slots = np.asarray(slots, dtype=np.int64)
        group.pending_slots = []
        group.pending_boxes = []
        group.dead = 0

    def query(self, boxes: FloatArray, t_lo: FloatArray, t_hi: FloatArray) -> tuple[IntArray, IntArray]:
        """Candidates for each query box: pairs ``(query index, slot)``.

        ``boxes`` are ``(n, 4)`` lon/lat boxes that may run past +/-180.
        Only the box and bucket are tested here; the exact time and altitude
        tests are the caller's.  A pair may come back more than once (a slot
        in several buckets): callers de-duplicate after their cheap filters,
        where there are far fewer pairs to sort.
        """
        by_group: dict[int, list[int]] = {}
        q_boxes: list[tuple[float, float, float, float]] = []
        q_owner: list[int] = []
        for qi in range(len(boxes)):
            keys = buckets_of(float(t_lo[qi]), float(t_hi[qi]))
            if keys == [_LONG]:
                groups = list(self._groups)
            else:
                groups = [k for k in keys if k in self._groups]
                if _LONG in self._groups:
                    groups.append(_LONG)
            for part in split_box(*boxes[qi].tolist()):
                row = len(q_boxes)
                q_boxes.append(part)
                q_owner.append(qi)
                for g in groups:
                    by_group.setdefault(g, []).append(row)
        owner = np.asarray(q_owner, dtype=np.int64)
        qarr = np.asarray(q_boxes, dtype=np.float64).reshape(-1, 4)
        out_q: list[IntArray] = []
        out_s: list[IntArray] = []
        for key, rows_list in by_group.items():
            group = self._groups[key]
            rows = np.asarray(rows_list, dtype=np.int64)
            if group.tree is not None:
                geoms = shapely.box(qarr[rows, 0], qarr[rows, 1], qarr[rows, 2], qarr[rows, 3])
                qi, ti = group.tree.query(geoms)
                out_q.append(owner[rows[qi]])
                out_s.append(group.tree_slots[ti])
            if group.pending_slots:
                pb = np.asarray(group.pending_boxes, dtype=np.float64)
                ps = np.asarray(group.pending_slots, dtype=np.int64)
                qb = qarr[rows]
                hit = (
                    (pb[None, :, 0] <= qb[:, None, 2])
                    & (pb[None, :, 2] >= qb[:, None, 0])
                    & (pb[None, :, 1] <= qb[:, None, 3])
                    & (pb[None, :, 3] >= qb[:, None, 1])
                )
                r, c = np.nonzero(hit)
                out_q.append(owner[rows[r]])
                out_s.append(ps[c])
        if not out_q:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty
        q = np.concatenate(out_q)
        s = np.concatenate(out_s)
        keep = self._alive[s]
        return q[keep], s[keep]
