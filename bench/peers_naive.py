"""The naive peer: a plain Python loop over every volume of the world.

No index of any kind.  For each intent volume it walks every world volume in
order, applies the cheap tests first (time, then the party/kind rules, then
altitude) and only then the exact horizontal test:

- areas share positive area: ``relate_pattern(a, b, "2********")`` in lon/lat
  (edges are straight in lon/lat, RFC 7946, so planar lon/lat is exact);
- distances: 0 when the footprints intersect in lon/lat; otherwise both
  geometries are densified in lon/lat (0.005 degree steps, so a straight
  lon/lat edge stays within millimetres of its image), projected to an
  azimuthal equidistant frame centred on the intent volume (pyproj), their
  nearest points found there, and the geodesic length of that pair measured
  on WGS84 (pyproj ``Geod.inv``).

The rules are written here from SEMANTICS.md, independently of
``detente.domain.rules``, so this peer is a second opinion, not a copy.
It is also the reference measure the benchmark uses to tell how far a
disagreement between detente and PostGIS sits from its threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import CRS, Geod, Transformer
from shapely.geometry.base import BaseGeometry

from detente.domain.model import Category, Minima, Party, Role, WorldObject

GEOD = Geod(ellps="WGS84")
DENSIFY_DEG = 0.005
INF = math.inf

#: A found conflict: (intent volume, type, other kind, other id, other volume).
Key = tuple[int, str, str, str, int]


def _t(v: object, default: float) -> float:
    return default if v is None else v.timestamp()  # type: ignore[attr-defined]


def _a(v: float | None, default: float) -> float:
    return default if v is None else float(v)


class LocalFrame:
    """Geodesic distances from one geometry (the intent volume's footprint)."""

    def __init__(self, geom: BaseGeometry) -> None:
        self.geom = geom
        c = geom.centroid
        crs = CRS.from_dict({"proj": "aeqd", "lat_0": c.y, "lon_0": c.x, "datum": "WGS84", "units": "m"})
        self.tr = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
        self._projected: BaseGeometry | None = None

    def project(self, geom: BaseGeometry) -> BaseGeometry:
        dense = shapely.segmentize(geom, DENSIFY_DEG) if geom.geom_type != "Point" else geom
        return shapely.transform(dense, lambda xy: np.column_stack(self.tr.transform(xy[:, 0], xy[:, 1])))

    @property
    def projected(self) -> BaseGeometry:
        if self._projected is None:
            self._projected = self.project(self.geom)
        return self._projected

    def distance_m(self, other: BaseGeometry) -> float:
        """Geodesic distance from the frame's geometry to ``other``, metres."""
        if shapely.intersects(self.geom, other):
            return 0.0
        line = shapely.shortest_line(self.projected, self.project(other))
        (x1, y1), (x2, y2) = line.coords
        lon, lat = self.tr.transform([x1, x2], [y1, y2], direction="INVERSE")
        _, _, d = GEOD.inv(lon[0], lat[0], lon[1], lat[1])
        return float(d)


def reference_distance_m(a: BaseGeometry, b: BaseGeometry) -> float:
    """The spec's geodesic distance between two lon/lat footprints (base geometries)."""
    return LocalFrame(a).distance_m(b)


@dataclass(frozen=True)
class _Row:
    t0: float
    t1: float
    lo: float
    hi: float
    kind: str
    id: str
    vol: int
    party: str
    shape: str
    geom: BaseGeometry
    radius_m: float
    category: str
    applies_to: frozenset[str] | None
    exempt: frozenset[str]


class NaivePeer:
    name = "naive"

    def __init__(self, parties: dict[str, Party], separation: dict[Category, Minima]) -> None:
        self.military = frozenset(p.id for p in parties.values() if p.role is Role.MILITARY)
        self.separation = separation
        self.rows: list[_Row] = []

    @staticmethod
    def rows_of(o: WorldObject) -> list[_Row]:
        rows = []
        for i, v in enumerate(o.volumes):
            g = v.footprint.geometry
            rows.append(
                _Row(
                    _t(v.time.start, -INF),
                    _t(v.time.end, INF),
                    _a(v.altitude.lower, -INF),
                    _a(v.altitude.upper, INF),
                    o.kind.value,
                    o.id,
                    i,
                    o.party,
                    "area" if g.geom_type in ("Polygon", "MultiPolygon") else "point_or_line",
                    g,
                    v.footprint.radius_m,
                    (o.category or Category.AIR).value,
                    o.applies_to,
                    o.exempt,
                )
            )
        return rows

    def load(self, objects: Iterable[WorldObject]) -> None:
        for o in objects:
            self.rows.extend(self.rows_of(o))

    def rule(self, intent: WorldObject, r: _Row) -> tuple[str, str, float] | None:
        """(type, test, threshold) deciding ``r`` against ``intent``, or None."""
        party = intent.party
        kind = r.kind
        if kind == "line":
            return "line", "within", r.radius_m
        if r.party == party:
            return None
        if kind == "nfz":
            bound = r.applies_to if r.applies_to is not None else self.military - {r.party}
            if party not in bound or (intent.purpose or "armed") in r.exempt:
                return None
            return ("nfz", "area", 0.0) if r.shape == "area" else ("nfz", "closer", r.radius_m)
        if kind == "site":
            return "protected_site", "within", r.radius_m
        if kind == "movement":
            return "humanitarian_movement", "within", r.radius_m
        if kind == "boundary":
            return "boundary", "area", 0.0
        if kind == "intent":
            cat = intent.category or Category.AIR
            if r.category != cat.value:
                return None
            return "separation", "closer", self.separation[cat].horizontal_m
        return None

    def judge(self, intent: WorldObject, vi: int, other: WorldObject, ovi: int) -> dict[str, object]:
        """The reference decision for one pair, with how far it is from its threshold.

        ``margin_m`` is |distance - threshold| for distance tests, ``None`` for
        area tests; ``stage`` names the first test that rejects the pair.
        """
        r = self.rows_of(other)[ovi]
        v = intent.volumes[vi]
        out: dict[str, object] = {"hit": False, "stage": None, "test": None, "distance_m": None}
        out["threshold_m"] = out["margin_m"] = None
        qt0, qt1 = _t(v.time.start, -INF), _t(v.time.end, INF)
        if not max(r.t0, qt0) < min(r.t1, qt1):
            out["stage"] = "time"
            return out
        rule = self.rule(intent, r)
        if rule is None:
            out["stage"] = "rule"
            return out
        ctype, test, thr = rule
        out.update(type=ctype, test=test, threshold_m=thr)
        qlo, qhi = _a(v.altitude.lower, -INF), _a(v.altitude.upper, INF)
        if ctype == "separation":
            vm = self.separation[intent.category or Category.AIR].vertical_m
            ok = max(0.0, r.lo - qhi, qlo - r.hi) < (INF if vm is None else vm)
        else:
            ok = max(r.lo, qlo) < min(r.hi, qhi)
        if not ok:
            out["stage"] = "altitude"
            return out
        qg = v.footprint.geometry
        if test == "area":
            hit = bool(shapely.relate_pattern(r.geom, qg, "2********"))
        else:
            d = LocalFrame(qg).distance_m(r.geom)
            hit = d <= thr if test == "within" else d < thr
            out.update(distance_m=d, margin_m=abs(d - thr))
        out["hit"] = hit
        out["stage"] = None if hit else "horizontal"
        return out

    def check(self, intent: WorldObject) -> list[Key]:
        cat = intent.category or Category.AIR
        minima = self.separation[cat]
        sep_v = INF if minima.vertical_m is None else minima.vertical_m
        out: list[Key] = []
        for vi, v in enumerate(intent.volumes):
            qt0, qt1 = _t(v.time.start, -INF), _t(v.time.end, INF)
            qlo, qhi = _a(v.altitude.lower, -INF), _a(v.altitude.upper, INF)
            qg = v.footprint.geometry
            frame: LocalFrame | None = None
            for r in self.rows:
                if not max(r.t0, qt0) < min(r.t1, qt1):
                    continue
                rule = self.rule(intent, r)
                if rule is None:
                    continue
                ctype, test, thr = rule
                if ctype == "separation":
                    if not max(0.0, r.lo - qhi, qlo - r.hi) < sep_v:
                        continue
                elif not max(r.lo, qlo) < min(r.hi, qhi):
                    continue
                if test == "area":
                    if not shapely.relate_pattern(r.geom, qg, "2********"):
                        continue
                else:
                    if frame is None:
                        frame = LocalFrame(qg)
                    d = frame.distance_m(r.geom)
                    if not (d <= thr if test == "within" else d < thr):
                        continue
                out.append((vi, ctype, r.kind, r.id, r.vol))
        out.sort()
        return out
