"""The in-memory world and the strategic check of SEMANTICS.md.

Every object volume gets a *slot*: a row in numpy columns (time, altitude,
kind, party, category, rule masks) plus its footprint geometry.  ``check``
runs the pipeline the performance notes ask for: index boxes → vectorised
time, altitude and rule filters → exact geometry only for the survivors,
measured in batches (``measure.pair_distances``, ``shapely.relate_pattern``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely

from detente.domain.conflicts import Conflict, Disclosure
from detente.domain.errors import NotFound
from detente.domain.geo.arrays import FloatArray, IntArray
from detente.domain.geo.footprint import Shape
from detente.domain.geo.geodesic import grow_box
from detente.domain.geo.intervals import AltitudeBand, from_epoch
from detente.domain.geo.intervals import TimeWindow as Window
from detente.domain.model import (
    DEFAULT_SEPARATION,
    PURPOSES,
    Category,
    Kind,
    Minima,
    Party,
    Role,
    Scenario,
    WorldObject,
)
from detente.domain.rules import SEVERITY, ConflictType, minima_for, notified
from detente.engine.disclosure import disclosure_area
from detente.engine.index import BoxIndex
from detente.engine.measure import pair_distances

_KINDS = list(Kind)
_KIND_CODE = {k: i for i, k in enumerate(_KINDS)}
_CATS = {None: 0, Category.AIR: 0, Category.GROUND: 1}
_PURPOSE_BIT = {p: 1 << i for i, p in enumerate(PURPOSES)}
_MAX_PARTIES = 63


class _Columns:
    """Growable numpy columns, one row per slot."""

    def __init__(self, capacity: int = 1024) -> None:
        self.t_lo = np.zeros(capacity)
        self.t_hi = np.zeros(capacity)
        self.a_lo = np.zeros(capacity)
        self.a_hi = np.zeros(capacity)
        self.radius = np.zeros(capacity)
        self.kind = np.zeros(capacity, dtype=np.int8)
        self.shape_area = np.zeros(capacity, dtype=bool)
        self.party = np.zeros(capacity, dtype=np.int64)
        self.category = np.zeros(capacity, dtype=np.int8)
        self.binds = np.zeros(capacity, dtype=np.uint64)
        self.exempt = np.zeros(capacity, dtype=np.int64)
        self.obj = np.zeros(capacity, dtype=np.int64)
        self.volume = np.zeros(capacity, dtype=np.int64)
        self.geom = np.empty(capacity, dtype=object)

    _NAMES = (
        "t_lo",
        "t_hi",
        "a_lo",
        "a_hi",
        "radius",
        "kind",
        "shape_area",
        "party",
        "category",
        "binds",
        "exempt",
        "obj",
        "volume",
        "geom",
    )

    def ensure(self, n: int) -> None:
        cap = len(self.t_lo)
        if n <= cap:
            return
        new = max(n, 2 * cap)
        for name in self._NAMES:
            old = getattr(self, name)
            grown = np.zeros(new, dtype=old.dtype) if old.dtype != object else np.empty(new, dtype=object)
            grown[:cap] = old
            setattr(self, name, grown)


@dataclass(frozen=True)
class ConflictBatch:
    """The conflicts of one intent as columns: one row per (intent volume, slot)."""

    intent: WorldObject
    volume: IntArray
    slot: IntArray
    t0: FloatArray
    t1: FloatArray
    a0: FloatArray
    a1: FloatArray
    gap: FloatArray
    distance_m: FloatArray

    def __len__(self) -> int:
        return len(self.slot)


class World:
    """All objects of one scenario, indexed in 4D, checkable in milliseconds."""

    def __init__(self, parties: dict[str, Party], separation: dict[Category, Minima] | None = None) -> None:
        self.parties = dict(parties)
        self.separation = dict(separation or DEFAULT_SEPARATION)
        self.military = frozenset(p.id for p in parties.values() if p.role is Role.MILITARY)
        self._party_code: dict[str, int] = {}
        self._objects: dict[tuple[Kind, str], WorldObject] = {}
        self._obj_code: dict[tuple[Kind, str], int] = {}
        self._obj_list: list[WorldObject | None] = []
        self._slots: dict[tuple[Kind, str], list[int]] = {}
        self._free: list[int] = []
        self._next_slot = 0
        self._cols = _Columns()
        self._index = BoxIndex()
        for pid in parties:
            self._code(pid)

    @classmethod
    def from_scenario(cls, scenario: Scenario) -> World:
        world = cls(scenario.parties, scenario.separation)
        world.add_many(scenario.objects.values())
        return world

    # -- bookkeeping -------------------------------------------------------

    def _code(self, party: str) -> int:
        code = self._party_code.get(party)
        if code is None:
            code = self._party_code[party] = len(self._party_code)
        return code

    def _mask(self, parties: Iterable[str]) -> int:
        mask = 0
        for p in parties:
            code = self._code(p)
            if code < _MAX_PARTIES:
                mask |= 1 << code
        return mask

    def __len__(self) -> int:
        return len(self._objects)

    def __contains__(self, key: object) -> bool:
        return key in self._objects

    def get(self, key: tuple[Kind, str]) -> WorldObject:
        try:
            return self._objects[key]
        except KeyError:
            raise NotFound(f"no {key[0].value} with id {key[1]!r}") from None

    def objects(self) -> list[WorldObject]:
        return list(self._objects.values())

    def volume_count(self) -> int:
        return len(self._index)

    def _slot(self) -> int:
        if self._free:
            return self._free.pop()
        slot = self._next_slot
        self._next_slot += 1
        self._cols.ensure(self._next_slot)
        return slot

    def _fill(self, obj: WorldObject) -> list[tuple[int, tuple[float, float, float, float], float, float]]:
        """Write an object's volumes into slots; return what the index needs."""
        if len(self._party_code) > _MAX_PARTIES:
            raise ValueError(f"at most {_MAX_PARTIES} parties are supported")
        code = self._obj_code.get(obj.key)
        if code is None:
            code = self._obj_code[obj.key] = len(self._obj_list)
            self._obj_list.append(obj)
        else:
            self._obj_list[code] = obj
        self._objects[obj.key] = obj
        binds = 0
        if obj.kind is Kind.NFZ:
            bound = obj.applies_to if obj.applies_to is not None else self.military - {obj.party}
            binds = self._mask(bound)
        exempt = sum(_PURPOSE_BIT.get(p, 0) for p in obj.exempt)
        c = self._cols
        todo = []
        slots = []
        for vi, vol in enumerate(obj.volumes):
            s = self._slot()
            slots.append(s)
            t_lo, t_hi = vol.time.start_s, vol.time.end_s
            c.t_lo[s], c.t_hi[s] = t_lo, t_hi
            c.a_lo[s], c.a_hi[s] = vol.altitude.lower_m, vol.altitude.upper_m
            c.radius[s] = vol.footprint.radius_m
            c.kind[s] = _KIND_CODE[obj.kind]
            c.shape_area[s] = vol.footprint.shape is Shape.AREA
            c.party[s] = self._code(obj.party)
            c.category[s] = _CATS[obj.category]
            c.binds[s] = binds
            c.exempt[s] = exempt
            c.obj[s] = code
            c.volume[s] = vi
            c.geom[s] = vol.footprint.geometry
            todo.append((s, vol.footprint.bounds(), t_lo, t_hi))
        self._slots[obj.key] = slots
        return todo

    def add(self, obj: WorldObject) -> None:
        """Insert an object, or replace the one with the same (kind, id)."""
        if obj.key in self._objects:
            self.remove(obj.key)
        for slot, box, lo, hi in self._fill(obj):
            self._index.insert(slot, box, lo, hi)

    def add_many(self, objs: Iterable[WorldObject]) -> None:
        """Insert many objects and build the index once (start-up, import)."""
        rows = []
        for obj in objs:
            if obj.key in self._objects:
                self.remove(obj.key)
            rows.extend(self._fill(obj))
        if not rows:
            return
        self._index.bulk_insert(
            np.array([r[0] for r in rows], dtype=np.int64),
            np.array([r[1] for r in rows], dtype=np.float64),
            np.array([r[2] for r in rows], dtype=np.float64),
            np.array([r[3] for r in rows], dtype=np.float64),
        )

    def remove(self, key: tuple[Kind, str]) -> None:
        """Remove an object; unknown keys raise ``NotFound``."""
        if key not in self._objects:
            raise NotFound(f"no {key[0].value} with id {key[1]!r}")
        for s in self._slots.pop(key):
            self._index.remove(s)
            self._cols.geom[s] = None
            self._free.append(s)
        del self._objects[key]
        self._obj_list[self._obj_code[key]] = None

    # -- the check ---------------------------------------------------------

    def _query_boxes(self, intent: WorldObject) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Each intent volume's box grown by the separation minimum of its category."""
        reach = minima_for(intent.category, self.separation).horizontal_m
        boxes = np.array([grow_box(v.footprint.bounds(), reach) for v in intent.volumes], dtype=np.float64)
        t_lo = np.array([v.time.start_s for v in intent.volumes])
        t_hi = np.array([v.time.end_s for v in intent.volumes])
        return boxes, t_lo, t_hi

    def check(self, intent: WorldObject) -> list[Conflict]:
        """Every conflict of ``intent`` with the rest of the world, sorted.

        The intent need not be in the world; if it is, its own volumes are
        left out.  This is :meth:`conflicts` followed by :meth:`report`.
        """
        return self.report(self.conflicts(intent))

    def conflicts(self, intent: WorldObject) -> ConflictBatch:
        """The decision of the check, as numpy columns (no Python object per pair).

        Pipeline: index boxes -> time -> rules -> altitude -> de-duplicate ->
        exact geometry.  Turn it into reports with :meth:`report` before the
        world changes (it refers to the world's slots).
        """
        if intent.kind is not Kind.INTENT:
            raise ValueError(f"only intents are checked, not {intent.kind.value}")
        c = self._cols
        boxes, qt_lo, qt_hi = self._query_boxes(intent)
        qv, s = self._index.query(boxes, qt_lo, qt_hi)
        own = self._slots.get(intent.key, [])
        if own and len(s):
            keep = ~np.isin(s, own)
            qv, s = qv[keep], s[keep]
        # time: positive-length overlap of half-open windows
        t0 = np.maximum(qt_lo[qv], c.t_lo[s])
        t1 = np.minimum(qt_hi[qv], c.t_hi[s])
        keep = t0 < t1
        qv, s, t0, t1 = qv[keep], s[keep], t0[keep], t1[keep]
        # rules: which pairs can conflict at all (SEMANTICS.md's table, vectorised)
        me = self._code(intent.party)
        cat = _CATS[intent.category]
        purpose_bit = _PURPOSE_BIT.get(intent.effective_purpose, 0)
        kind = c.kind[s]
        other_party = c.party[s] != me
        is_line = kind == _KIND_CODE[Kind.LINE]
        is_nfz = kind == _KIND_CODE[Kind.NFZ]
        is_intent = kind == _KIND_CODE[Kind.INTENT]
        binds = ((c.binds[s] >> np.uint64(me)) & np.uint64(1)).astype(bool)
        nfz_ok = is_nfz & binds & ((c.exempt[s] & purpose_bit) == 0)
        same_cat = is_intent & (c.category[s] == cat)
        eligible = is_line | (other_party & ((~is_nfz & ~is_intent) | nfz_ok | same_cat))
        qv, s, t0, t1, kind, is_intent = (x[eligible] for x in (qv, s, t0, t1, kind, is_intent))
        # altitude: bands overlap, or for separation a gap under the minimum
        minima = minima_for(intent.category, self.separation)
        vmin = np.inf if minima.vertical_m is None else minima.vertical_m
        qa_lo = np.array([v.altitude.lower_m for v in intent.volumes])[qv]
        qa_hi = np.array([v.altitude.upper_m for v in intent.volumes])[qv]
        a0 = np.maximum(qa_lo, c.a_lo[s])
        a1 = np.minimum(qa_hi, c.a_hi[s])
        gap = np.maximum(0.0, np.maximum(c.a_lo[s] - qa_hi, qa_lo - c.a_hi[s]))
        keep = np.where(is_intent, gap < vmin, a0 < a1)
        # a slot listed in two buckets (or two boxes) came back twice
        width = np.int64(len(c.t_lo))
        _, first = np.unique(qv[keep] * width + s[keep], return_index=True)
        rows = np.flatnonzero(keep)[first]
        qv, s, t0, t1, kind, is_intent, a0, a1, gap = (x[rows] for x in (qv, s, t0, t1, kind, is_intent, a0, a1, gap))
        # geometry: area overlap, or a geodesic distance against a threshold
        qgeom = np.array([v.footprint.geometry for v in intent.volumes], dtype=object)[qv]
        is_nfz = kind == _KIND_CODE[Kind.NFZ]
        area_test = c.shape_area[s] & ~is_intent & (c.radius[s] == 0) & (kind != _KIND_CODE[Kind.LINE])
        threshold = np.where(is_intent, minima.horizontal_m, c.radius[s])
        strict = is_intent | is_nfz
        hit = np.zeros(len(s), dtype=bool)
        dist = np.zeros(len(s))
        ai = np.flatnonzero(area_test)
        if len(ai):
            hit[ai] = shapely.relate_pattern(qgeom[ai], c.geom[s[ai]], "2********")
        di = np.flatnonzero(~area_test)
        if len(di):
            d = pair_distances(qgeom[di], c.geom[s[di]], threshold[di])
            hit[di] = np.where(strict[di], d < threshold[di], d <= threshold[di])
            # a circular zone is an area: report the gap between footprints (0 inside)
            dist[di] = np.where(is_nfz[di], np.maximum(0.0, d - threshold[di]), d)
        return ConflictBatch(
            intent=intent,
            volume=qv[hit],
            slot=s[hit],
            t0=t0[hit],
            t1=t1[hit],
            a0=a0[hit],
            a1=a1[hit],
            gap=gap[hit],
            distance_m=dist[hit],
        )

    def report(self, batch: ConflictBatch) -> list[Conflict]:
        """The conflict reports of a batch, sorted (SEMANTICS.md's fields).

        Windows, bands and notify lists repeat across a batch (windows are
        clipped to the intent's), so each distinct one is built once.
        """
        c = self._cols
        intent = batch.intent
        objs = [self._obj_list[i] for i in c.obj[batch.slot].tolist()]
        other_vol = c.volume[batch.slot].tolist()
        windows: dict[tuple[float, float], Window] = {}
        bands: dict[tuple[float, float], AltitudeBand | None] = {}
        notify: dict[tuple[Kind, str], tuple[str, ...]] = {}
        out = []
        rows = zip(
            batch.volume.tolist(),
            batch.t0.tolist(),
            batch.t1.tolist(),
            batch.a0.tolist(),
            batch.a1.tolist(),
            batch.distance_m.tolist(),
            batch.gap.tolist(),
            strict=True,
        )
        for i, (vol, t0, t1, lo, hi, dist, gap) in enumerate(rows):
            other = objs[i]
            assert other is not None
            ctype = _TYPE_OF[other.kind]
            window = windows.get((t0, t1))
            if window is None:
                window = windows[(t0, t1)] = Window(from_epoch(t0), from_epoch(t1))
            if (lo, hi) not in bands:
                bands[(lo, hi)] = AltitudeBand(_finite(lo), _finite(hi)) if lo < hi else None
            told = notify.get(other.key)
            if told is None:
                told = notify[other.key] = notified(intent, other, ctype)
            out.append(
                Conflict(
                    intent=intent.id,
                    volume=vol,
                    type=ctype,
                    severity=SEVERITY[ctype],
                    other_kind=other.kind,
                    other_id=other.id,
                    other_party=other.party,
                    other_volume=other_vol[i],
                    time=window,
                    altitude=bands[(lo, hi)],
                    distance_m=dist,
                    party=intent.party,
                    notify=told,
                    vertical_gap_m=gap,
                )
            )
        out.sort(key=lambda k: k.sort_key)
        return out

    def disclose(self, conflict: Conflict, intent: WorldObject) -> list[Disclosure]:
        """What each notified party is told of ``conflict``: one disclosure each."""
        other = self.get((conflict.other_kind, conflict.other_id))
        vol = intent.volumes[conflict.volume]
        ovol = other.volumes[conflict.other_volume]
        reach = (
            minima_for(intent.category, self.separation).horizontal_m
            if conflict.type is ConflictType.SEPARATION
            else ovol.footprint.radius_m
        )
        area = disclosure_area(vol.footprint.geometry, ovol.footprint.geometry, reach)
        return [
            Disclosure(
                recipient=p,
                filing_party=intent.party,
                type=conflict.type,
                severity=conflict.severity,
                other_kind=conflict.other_kind,
                other_id=conflict.other_id,
                time=conflict.time,
                altitude=conflict.altitude,
                area=area,
            )
            for p in conflict.notify
        ]


_TYPE_OF = {
    Kind.NFZ: ConflictType.NFZ,
    Kind.SITE: ConflictType.PROTECTED_SITE,
    Kind.MOVEMENT: ConflictType.HUMANITARIAN_MOVEMENT,
    Kind.INTENT: ConflictType.SEPARATION,
    Kind.BOUNDARY: ConflictType.BOUNDARY,
    Kind.LINE: ConflictType.LINE,
}


def _finite(v: float) -> float | None:
    return None if v in (np.inf, -np.inf) else v
