"""Is this route clear?  Hazards along a route corridor, and a road route around them.

A humanitarian convoy asks two questions: which hazards (no-fly zones,
planned operations, incidents) lie within its corridor along its route
during its time window, and if any do, what is the shortest road route that
keeps them all out of the corridor.

Rules (the same as SEMANTICS.md uses for conflicts):

- a hazard is *active* when its time window overlaps the query window by a
  positive length (half-open windows: touching is not overlapping);
- a hazard *concerns* a piece of road when its geodesic distance to it is at
  most ``corridor_m + reach_m``; distances are geodesic on WGS84, edges are
  straight in lon/lat (RFC 7946), as everywhere in detente.

Why this shape: a road network holds up to hundreds of thousands of edges and
a query may bring hundreds of hazards, so nothing is measured edge by hazard
in Python.  An STR-tree over the edges (built once per network) is queried in
bulk with every hazard's bounding box grown by its distance; only the
candidate pairs it returns are measured, all in one vectorised call to
:func:`detente.engine.measure.pair_distances`.  The search itself is networkx's
Dijkstra on the road graph with blocked edges hidden by the weight function
(a view: the shared graph is never copied or changed, so one network serves
concurrent queries).

Snapping: the start and the end are snapped to the *nearest point on the
nearest edge* (geodesic), not to the nearest node, because a schematic or
sparse network may have nodes tens of kilometres apart while a road passes
right by the convoy.  The snapped edge is split there for this query only:
the two pieces (snap point to either end node) enter the search as offsets,
and a piece is blocked only if a hazard concerns that piece itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import networkx as nx
import numpy as np
import shapely
import shapely.ops
from shapely import STRtree
from shapely.geometry import LineString, MultiLineString, Point
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.arrays import FloatArray, GeomArray, IntArray
from detente.domain.geo.geodesic import distances_m, grow_boxes
from detente.domain.geo.intervals import TimeWindow
from detente.engine.measure import pair_distances

_A = 6_378_137.0
_E2 = 6.69437999014e-3
_DEG = math.pi / 180.0

#: A snap piece shorter than this (where the convoy joins or leaves the
#: network right at a junction) adds no name to ``RoutePlan.roads``: it is
#: not a road the convoy follows.
MIN_NAMED_PIECE_M = 100.0


# ---------------------------------------------------------------------------
# Hazards


@dataclass(frozen=True)
class Hazard:
    """Something a convoy must keep out of its corridor, for a while.

    ``kind`` is ``"nfz"``, ``"intent"`` or ``"incident"`` (free text to the
    engine; it only shows it).  ``ref`` is the id shown to the caller, or
    ``None`` when it must not be disclosed (another party's intent): the
    engine then names the hazard by its index only.  ``reach_m`` widens the
    test for this hazard (e.g. an nfz radius, a separation minimum).
    """

    kind: str
    ref: str | None
    area: BaseGeometry
    window: TimeWindow
    reach_m: float = 0.0

    def __post_init__(self) -> None:
        if not math.isfinite(self.reach_m) or self.reach_m < 0:
            raise ValueError("reach_m must be a finite number >= 0")


def hazard_name(index: int, hazard: Hazard) -> str:
    """How a reason names a hazard: ``nfz 'x'``, or an unnamed one by kind and window.

    An intent is never named (need-to-know): ``intent active 2017-07-07T09:00:00Z–2017-07-07T10:30:00Z``.
    """
    if hazard.ref is not None:
        return f"{hazard.kind} {hazard.ref!r}"
    start, end = hazard.window.to_json()
    return f"{hazard.kind} active {start or '…'}–{end or '…'}"


def _hazard_long(index: int, hazard: Hazard) -> str:
    """``hazard 0 (nfz 'x')`` or ``hazard 2 (intent active …)``."""
    return f"hazard {index} ({hazard_name(index, hazard)})"


def _check_distance(name: str, value: float) -> None:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0")


def _active(hazards: Sequence[Hazard], window: TimeWindow) -> IntArray:
    """Indices of the hazards active in ``window`` with a usable area (vectorised over hazards)."""
    if not hazards:
        return np.empty(0, dtype=np.int64)
    starts = np.fromiter((h.window.start_s for h in hazards), dtype=np.float64, count=len(hazards))
    ends = np.fromiter((h.window.end_s for h in hazards), dtype=np.float64, count=len(hazards))
    areas = np.fromiter((h.area for h in hazards), dtype=object, count=len(hazards))
    overlaps = np.maximum(starts, window.start_s) < np.minimum(ends, window.end_s)
    usable = ~shapely.is_empty(areas) & np.isfinite(shapely.bounds(areas)).all(axis=1)
    return np.flatnonzero(overlaps & usable).astype(np.int64)


def _grown_boxes(areas: GeomArray, distances: FloatArray) -> tuple[GeomArray, IntArray]:
    """Each area's bounding box grown by its distance, as box polygons.

    A grown box that runs past +/-180 is split into its pieces on either
    side; ``owner`` says which area each box belongs to.
    """
    if len(areas) == 0:
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    grown = grow_boxes(shapely.bounds(areas), distances)
    index = np.arange(len(grown), dtype=np.int64)
    minx, miny, maxx, maxy = grown.T
    whole = maxx - minx >= 360.0
    main = np.column_stack(
        [np.where(whole, -180.0, np.maximum(minx, -180.0)), miny, np.where(whole, 180.0, np.minimum(maxx, 180.0)), maxy]
    )
    west = ~whole & (minx < -180.0)
    east = ~whole & (maxx > 180.0)
    pieces = [
        main,
        np.column_stack([minx[west] + 360.0, miny[west], np.full(west.sum(), 180.0), maxy[west]]),
        np.column_stack([np.full(east.sum(), -180.0), miny[east], maxx[east] - 360.0, maxy[east]]),
    ]
    b = np.vstack(pieces)
    owner = np.concatenate([index, index[west], index[east]])
    geoms: GeomArray = shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3])
    return geoms, owner


def _near_pairs(
    tree: STRtree, geoms: GeomArray, areas: GeomArray, thresholds: FloatArray
) -> tuple[IntArray, IntArray, FloatArray]:
    """Pairs (geometry in ``tree``, area) within the area's threshold, with distances.

    The STR-tree narrows the pairs to bounding-box candidates in one bulk
    query; the candidates are measured in one batch.  Returns the geometry
    indices, the area indices and the geodesic distances in metres.
    """
    empty = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64))
    if len(areas) == 0 or len(geoms) == 0:
        return empty
    boxes, owner = _grown_boxes(areas, thresholds)
    hits = np.asarray(tree.query(boxes), dtype=np.int64)
    if hits.shape[1] == 0:
        return empty
    pairs = np.unique(np.column_stack([hits[1], owner[hits[0]]]), axis=0)
    g, a = pairs[:, 0], pairs[:, 1]
    d = pair_distances(geoms[g], areas[a], thresholds[a])
    keep = d <= thresholds[a]
    return g[keep], a[keep], d[keep]


# ---------------------------------------------------------------------------
# Along a given route


@dataclass(frozen=True)
class SegmentHazards:
    """One straight segment of a route and the hazards that concern it, nearest first.

    ``hazards`` holds ``(index into the hazards given, geodesic distance in
    metres)``; ties are broken by index.
    """

    index: int
    start: tuple[float, float]
    end: tuple[float, float]
    length_m: float
    hazards: tuple[tuple[int, float], ...]


def _route_parts(route: BaseGeometry, what: str = "route") -> list[LineString]:
    if isinstance(route, LineString):
        return [route]
    if isinstance(route, MultiLineString):
        return list(route.geoms)
    raise ValueError(f"a {what} is a LineString or MultiLineString, not {route.geom_type}")


def route_hazards(
    route: BaseGeometry, corridor_m: float, window: TimeWindow, hazards: Sequence[Hazard]
) -> list[SegmentHazards]:
    """Every segment of the route, each with the hazards active in the window within corridor_m + reach_m of it.

    Segments join consecutive vertices; the parts of a MultiLineString are
    concatenated (no segment joins one part to the next), so ``index`` runs
    over the whole route.  Reporting per segment (not just yes/no) lets a
    planner see *where* the route is not clear.
    """
    _check_distance("corridor_m", corridor_m)
    starts: list[FloatArray] = []
    ends: list[FloatArray] = []
    for part in _route_parts(route):
        xy = shapely.get_coordinates(part)
        starts.append(xy[:-1])
        ends.append(xy[1:])
    a = np.vstack(starts) if starts else np.empty((0, 2))
    b = np.vstack(ends) if ends else np.empty((0, 2))
    n = len(a)
    if n == 0:
        return []
    lengths = distances_m(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    segs: GeomArray = shapely.linestrings(np.stack([a, b], axis=1))
    active = _active(hazards, window)
    per_segment: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    if len(active):
        areas = np.array([hazards[i].area for i in active], dtype=object)
        thresholds = np.array([corridor_m + hazards[i].reach_m for i in active], dtype=np.float64)
        g, h, d = _near_pairs(STRtree(segs), segs, areas, thresholds)
        hid = active[h]
        for k in np.lexsort((hid, d, g)):
            per_segment[int(g[k])].append((int(hid[k]), float(d[k])))
    return [
        SegmentHazards(
            index=i,
            start=(float(a[i, 0]), float(a[i, 1])),
            end=(float(b[i, 0]), float(b[i, 1])),
            length_m=float(lengths[i]),
            hazards=tuple(per_segment[i]),
        )
        for i in range(n)
    ]


# ---------------------------------------------------------------------------
# Road network and routing


@dataclass(frozen=True)
class RoutePlan:
    """The answer to "take me from A to B keeping every active hazard out of my corridor".

    ``path`` runs from the start's snap point to the end's (lon/lat);
    ``roads`` are the names of the roads it follows, in travel order
    (consecutive repeats and snap pieces under :data:`MIN_NAMED_PIECE_M` left out).
    ``avoided`` lists the hazards that blocked a road the search had to pass
    up (an edge touching a place it reached before arriving); when no route
    is found it lists the hazards named in ``reason``.  ``shortest_length_m``
    is the shortest road route ignoring hazards, so a caller sees the detour.
    """

    found: bool
    path: LineString | None
    length_m: float | None
    roads: tuple[str, ...]
    avoided: tuple[int, ...]
    shortest_length_m: float | None
    snap_m: tuple[float, float]
    reason: str | None


@dataclass(frozen=True)
class _Side:
    """One way out of a snap point: along its edge to one end node."""

    node: int
    piece: LineString | None  # snap point -> node, None when the snap point is the node
    length_m: float
    edge: int


@dataclass(frozen=True)
class _Snap:
    given: tuple[float, float]
    point: tuple[float, float]
    distance_m: float
    edge: int
    pos: float  # planar position of the snap point along the edge (lon/lat units)
    sides: tuple[_Side, ...]


@dataclass(frozen=True)
class _Best:
    length_m: float
    start: _Side | None  # None: start and end on one edge, travelled directly
    end: _Side | None
    nodes: tuple[int, ...]
    direct: LineString | None


def _scales(lat0: float) -> tuple[float, float]:
    """Metres per degree of longitude and latitude at ``lat0`` (WGS84)."""
    s = math.sin(lat0 * _DEG)
    w = math.sqrt(1.0 - _E2 * s * s)
    return _A / w * math.cos(lat0 * _DEG) * _DEG, _A * (1.0 - _E2) / (w * w * w) * _DEG


def _line_length_m(geom: BaseGeometry) -> float:
    xy = shapely.get_coordinates(geom)
    if len(xy) < 2:
        return 0.0
    return float(distances_m(xy[:-1, 0], xy[:-1, 1], xy[1:, 0], xy[1:, 1]).sum())


def _fmt_point(p: tuple[float, float]) -> str:
    return f"({p[0]:.2f}, {p[1]:.2f})"


def _fmt_m(m: float) -> str:
    return f"{m / 1000:.1f} km" if m >= 1000 else f"{m:.0f} m"


class RoadNetwork:
    """A road graph built once from lon/lat lines, answering :meth:`plan` queries.

    Nodes sit at every line end and at every crossing of two lines (shapely
    nodes the lines, so two roads that cross meet; a line's interior
    vertices are not nodes).  Each edge keeps its geometry, its geodesic
    length (the Dijkstra weight) and its road name.  The network does not
    change after construction, so one instance serves concurrent queries.
    Lines must not cross the antimeridian (GeoJSON input is split there).
    """

    def __init__(
        self,
        edges: GeomArray,
        names: Sequence[str | None],
        u: IntArray,
        v: IntArray,
        nodes: FloatArray,
        lengths: FloatArray,
    ) -> None:
        """Use :meth:`from_lines`; this takes the noded edges and their end nodes as built there."""
        self._edges = edges
        self._names = list(names)
        self._u = [int(x) for x in u]
        self._v = [int(x) for x in v]
        self._nodes = nodes
        self._lengths = [float(x) for x in lengths]
        self._tree = STRtree(edges)
        graph: Any = nx.MultiGraph()
        graph.add_nodes_from(range(len(nodes)))
        graph.add_edges_from(
            (self._u[k], self._v[k], k, {"weight": self._lengths[k]}) for k in range(len(self._lengths))
        )
        self._graph = graph

    @classmethod
    def from_lines(cls, lines: Sequence[BaseGeometry], names: Sequence[str | None]) -> RoadNetwork:
        """A network from road lines (LineString or MultiLineString) and their names.

        Overlapping stretches of two lines become one edge (named after one
        of them); an edge's name is the name of the line it came from, found
        by its midpoint.
        """
        if len(lines) != len(names):
            raise ValueError("one name (or None) per line")
        parts: list[LineString] = []
        owner: list[int] = []
        for i, line in enumerate(lines):
            for part in _route_parts(line, "road"):
                if not part.is_empty:
                    parts.append(shapely.force_2d(part))
                    owner.append(i)
        if not parts:
            empty: GeomArray = np.empty(0, dtype=object)
            none = np.empty(0, dtype=np.int64)
            return cls(empty, [], none, none, np.empty((0, 2)), np.empty(0))
        noded = shapely.node(shapely.multilinestrings(parts))
        pieces = np.asarray(shapely.get_parts(noded), dtype=object)
        pieces = pieces[shapely.length(pieces) > 0]
        source = STRtree(np.asarray(parts, dtype=object))
        mids = shapely.line_interpolate_point(pieces, 0.5, normalized=True)
        nearest = np.asarray(source.query_nearest(mids, all_matches=False), dtype=np.int64)
        piece_owner = np.empty(len(pieces), dtype=np.int64)
        piece_owner[nearest[0]] = np.asarray(owner, dtype=np.int64)[nearest[1]]
        piece_names = [names[int(i)] for i in piece_owner]
        ends = np.vstack(
            [
                shapely.get_coordinates(shapely.get_point(pieces, 0)),
                shapely.get_coordinates(shapely.get_point(pieces, -1)),
            ]
        )
        nodes, inverse = np.unique(ends, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        xy, idx = shapely.get_coordinates(pieces, return_index=True)
        same = idx[:-1] == idx[1:]
        step = distances_m(xy[:-1, 0][same], xy[:-1, 1][same], xy[1:, 0][same], xy[1:, 1][same])
        lengths = np.bincount(idx[:-1][same], weights=step, minlength=len(pieces)).astype(np.float64)
        n = len(pieces)
        return cls(pieces, piece_names, inverse[:n], inverse[n:], nodes, lengths)

    @property
    def edge_count(self) -> int:
        return len(self._lengths)

    @property
    def node_count(self) -> int:
        return len(self._nodes)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """The lon/lat box of every road: where hazards can matter to a plan (NaN when empty)."""
        minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(self._edges))
        return minx, miny, maxx, maxy

    def components(self) -> int:
        """How many connected pieces the network has (one, for a usable network)."""
        return int(nx.number_connected_components(self._graph))

    # -- snapping ---------------------------------------------------------

    def _snap(self, p: tuple[float, float]) -> _Snap:
        """The nearest point of the network to ``p`` (geodesic), and the two ways out of it.

        The planar nearest edge gives an upper bound of the geodesic distance;
        every edge whose box lies within that bound is then measured, so the
        geodesic nearest edge is found even where degrees of longitude are short.
        """
        pt = Point(p)
        first = int(np.asarray(self._tree.query_nearest(pt, all_matches=False)).reshape(-1)[0])
        bound = float(pair_distances(self._edges[[first]], np.array([pt], dtype=object))[0])
        boxes, _ = _grown_boxes(np.array([pt], dtype=object), np.array([bound + 1.0]))
        cand = np.unique(np.asarray(self._tree.query(boxes), dtype=np.int64)[1])
        if len(cand) == 0:
            cand = np.array([first], dtype=np.int64)
        d = pair_distances(self._edges[cand], np.array([pt] * len(cand), dtype=object))
        best = int(np.argmin(d))
        k, dist = int(cand[best]), float(d[best])
        edge = self._edges[k]
        # Nearest point in a local affine frame of lon/lat at p: affine maps keep the
        # edge's straight lon/lat segments straight, so the point found lies on it.
        kx, ky = _scales(p[1])

        def to_local(xy: FloatArray) -> FloatArray:
            out: FloatArray = (xy - np.array(p)) * np.array([kx, ky])
            return out

        local_edge = shapely.transform(edge, to_local)
        at = shapely.line_interpolate_point(local_edge, shapely.line_locate_point(local_edge, Point(0.0, 0.0)))
        point = (at.x / kx + p[0], at.y / ky + p[1])
        pos = float(shapely.line_locate_point(edge, Point(point)))
        total = float(edge.length)
        pos = min(max(pos, 0.0), total)
        sides = []
        for node, lo, hi, backwards in ((self._u[k], 0.0, pos, True), (self._v[k], pos, total, False)):
            piece = _cut(edge, lo, hi, backwards)
            sides.append(_Side(node, piece, _line_length_m(piece) if piece is not None else 0.0, k))
        return _Snap(p, point, dist, k, pos, tuple(sides))

    # -- blocking ---------------------------------------------------------

    def _blocked_pairs(
        self, active: IntArray, hazards: Sequence[Hazard], corridor_m: float
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """(edge, hazard index, threshold) for every edge an active hazard blocks."""
        if len(active) == 0 or self.edge_count == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        areas = np.array([hazards[i].area for i in active], dtype=object)
        thresholds = np.array([corridor_m + hazards[i].reach_m for i in active], dtype=np.float64)
        e, h, _ = _near_pairs(self._tree, self._edges, areas, thresholds)
        return e, active[h], thresholds[h]

    # -- searching --------------------------------------------------------

    def _weight(self, blocked: Sequence[bool]) -> Callable[[int, int, Mapping[int, Any]], float | None]:
        """Dijkstra weight hiding blocked edges (networkx skips an edge weighted ``None``).

        For a multigraph networkx passes ``{edge id: attributes}`` of every
        parallel edge; the cheapest open one counts.
        """
        lengths = self._lengths

        def weight(u: int, v: int, keys: Mapping[int, Any]) -> float | None:
            best: float | None = None
            for k in keys:
                if not blocked[k] and (best is None or lengths[k] < best):
                    best = lengths[k]
            return best

        return weight

    def _search(self, sides: Iterable[_Side], weight: Any) -> dict[int, tuple[dict[int, list[int]], dict[int, float]]]:
        """Dijkstra from each distinct side node: predecessors and distances."""
        out: dict[int, tuple[dict[int, list[int]], dict[int, float]]] = {}
        for side in sides:
            if side.node not in out:
                pred, dist = nx.dijkstra_predecessor_and_distance(self._graph, side.node, weight=weight)
                out[side.node] = (cast(dict[int, list[int]], pred), cast(dict[int, float], dist))
        return out

    def _best(
        self,
        s: _Snap,
        e: _Snap,
        weight: Any,
        open_piece: Callable[[LineString | None, int], bool],
    ) -> tuple[_Best | None, dict[int, tuple[dict[int, list[int]], dict[int, float]]]]:
        """The shortest way from snap ``s`` to snap ``e`` over open pieces and edges."""
        starts = [x for x in s.sides if open_piece(x.piece, x.edge)]
        ends = [y for y in e.sides if open_piece(y.piece, y.edge)]
        runs = self._search(starts, weight)
        best: _Best | None = None
        for x in starts:
            pred, dist = runs[x.node]
            for y in ends:
                if y.node in dist:
                    total = x.length_m + dist[y.node] + y.length_m
                    if best is None or total < best.length_m:
                        best = _Best(total, x, y, _walk(pred, x.node, y.node), None)
        if s.edge == e.edge:
            edge = self._edges[s.edge]
            direct = _cut(edge, min(s.pos, e.pos), max(s.pos, e.pos), s.pos > e.pos)
            length = _line_length_m(direct) if direct is not None else 0.0
            if open_piece(direct, s.edge) and (best is None or length <= best.length_m):
                best = _Best(length, None, None, (), direct)
        return best, runs

    def _geometry(self, s: _Snap, e: _Snap, best: _Best, blocked: Sequence[bool]) -> tuple[LineString, list[int]]:
        """The path's lon/lat line and the edges it follows, in travel order."""
        if best.start is None or best.end is None:
            direct = best.direct if best.direct is not None else LineString([s.point, s.point])
            return direct, [s.edge]
        chunks: list[FloatArray] = []
        used: list[int] = []
        if best.start.piece is not None:
            chunks.append(shapely.get_coordinates(best.start.piece))
            if best.start.length_m >= MIN_NAMED_PIECE_M:
                used.append(best.start.edge)
        for a, b in zip(best.nodes, best.nodes[1:], strict=False):
            keys = [k for k in self._graph[a][b] if not blocked[k]]
            k = min(keys, key=lambda key: self._lengths[key])
            xy = shapely.get_coordinates(self._edges[k])
            chunks.append(xy if self._u[k] == a else xy[::-1])
            used.append(k)
        if best.end.piece is not None:
            chunks.append(shapely.get_coordinates(best.end.piece)[::-1])
            if best.end.length_m >= MIN_NAMED_PIECE_M:
                used.append(best.end.edge)
        xy = np.vstack(chunks) if chunks else np.array([s.point, e.point])
        keep = np.ones(len(xy), dtype=bool)
        keep[1:] = np.any(xy[1:] != xy[:-1], axis=1)
        xy = xy[keep]
        if len(xy) < 2:
            xy = np.vstack([xy, xy])
        return LineString(xy), used

    def plan(
        self,
        start: tuple[float, float],
        end: tuple[float, float],
        *,
        corridor_m: float,
        window: TimeWindow,
        hazards: Sequence[Hazard],
        max_snap_m: float = 20_000.0,
    ) -> RoutePlan:
        """The shortest road route from ``start`` to ``end`` keeping active hazards out of the corridor.

        A road edge is blocked when an active hazard lies within
        ``corridor_m + reach_m`` of it; the start and end are snapped to the
        nearest point of the network (see the module docstring) and refused
        beyond ``max_snap_m``.  When no route exists, ``reason`` says why in
        one sentence.
        """
        _check_distance("corridor_m", corridor_m)
        _check_distance("max_snap_m", max_snap_m)
        if self.edge_count == 0:
            return RoutePlan(False, None, None, (), (), None, (math.inf, math.inf), "the road network is empty")
        s, e = self._snap(start), self._snap(end)
        snap_m = (s.distance_m, e.distance_m)

        def refuse(reason: str, avoided: Iterable[int] = (), shortest: float | None = None) -> RoutePlan:
            return RoutePlan(False, None, None, (), tuple(sorted({int(i) for i in avoided})), shortest, snap_m, reason)

        for label, snap in (("start", s), ("end", e)):
            if snap.distance_m > max_snap_m:
                return refuse(
                    f"the {label} point is {snap.distance_m / 1000:.1f} km from the nearest road "
                    f"(limit {max_snap_m / 1000:g} km)"
                )
        shortest, shortest_runs = self._best(s, e, "weight", lambda piece, edge: True)
        shortest_m = shortest.length_m if shortest is not None else None
        if shortest is None:
            return refuse(f"no road connects {_fmt_point(start)} to {_fmt_point(end)}: they lie on separate networks")

        active = _active(hazards, window)
        if len(active):
            areas = np.array([hazards[i].area for i in active], dtype=object)
            thresholds = np.array([corridor_m + hazards[i].reach_m for i in active], dtype=np.float64)
            for label, p in (("start", start), ("end", end)):
                pts = np.array([Point(p)] * len(active), dtype=object)
                d = pair_distances(pts, areas, thresholds)
                inside = np.flatnonzero(d <= thresholds)
                if len(inside):
                    k = int(inside[np.lexsort((active[inside], d[inside]))[0]])
                    i, dist = int(active[k]), float(d[k])
                    where = (
                        f"lies inside {_hazard_long(i, hazards[i])}"
                        if dist == 0
                        else f"lies {_fmt_m(dist)} from {_hazard_long(i, hazards[i])}, "
                        f"within the corridor ({_fmt_m(float(thresholds[k]))})"
                    )
                    return refuse(f"the {label} point {where}", active[inside], shortest_m)

        edge_ids, hazard_ids, limits = self._blocked_pairs(active, hazards, corridor_m)
        blocked = [False] * self.edge_count
        for k in edge_ids:
            blocked[int(k)] = True
        by_edge: dict[int, list[tuple[int, float]]] = {}
        for k, h, t in zip(edge_ids, hazard_ids, limits, strict=True):
            by_edge.setdefault(int(k), []).append((int(h), float(t)))
        piece_blocks: dict[tuple[int, bytes], list[int]] = {}

        def piece_hazards(piece: LineString | None, edge: int) -> list[int]:
            """Hazards that block this piece of a blocked edge (a sub-line: measured on its own)."""
            if piece is None or edge not in by_edge:
                return []
            key = (edge, piece.wkb)
            if key not in piece_blocks:
                hs = by_edge[edge]
                d = pair_distances(
                    np.array([piece] * len(hs), dtype=object),
                    np.array([hazards[h].area for h, _ in hs], dtype=object),
                    np.array([t for _, t in hs]),
                )
                piece_blocks[key] = [h for (h, t), dh in zip(hs, d, strict=True) if dh <= t]
            return piece_blocks[key]

        weight = self._weight(blocked)
        if len(edge_ids):
            best, runs = self._best(s, e, weight, lambda piece, edge: not piece_hazards(piece, edge))
        else:  # nothing blocked: the shortest route is the answer
            best, runs = shortest, shortest_runs
        if best is None:
            cut = self._cut_hazards(s, e, weight, runs, edge_ids, hazard_ids, piece_hazards)
            names = ", ".join(hazard_name(i, hazards[i]) for i in cut)
            return refuse(
                f"no road route from {_fmt_point(start)} to {_fmt_point(end)} avoids the hazards: "
                f"every route is blocked by {names}",
                cut,
                shortest_m,
            )
        path, used = self._geometry(s, e, best, blocked)
        avoided = self._passed_up(s, e, best, runs, edge_ids, hazard_ids, piece_hazards)
        roads: list[str] = []
        for k in used:
            name = self._names[k]
            if name is not None and (not roads or roads[-1] != name):
                roads.append(name)
        return RoutePlan(True, path, best.length_m, tuple(roads), avoided, shortest_m, snap_m, None)

    def _reach(
        self, snap: _Snap, runs: Mapping[int, tuple[dict[int, list[int]], dict[int, float]]], open_piece: Any
    ) -> dict[int, float]:
        """Distance from the snap point to every node reachable from it over open roads."""
        reach: dict[int, float] = {}
        for side in snap.sides:
            if side.node in runs and open_piece(side.piece, side.edge):
                for n, d in runs[side.node][1].items():
                    total = side.length_m + d
                    if total < reach.get(n, math.inf):
                        reach[n] = total
        return reach

    def _passed_up(
        self,
        s: _Snap,
        e: _Snap,
        best: _Best,
        runs: Mapping[int, tuple[dict[int, list[int]], dict[int, float]]],
        edge_ids: IntArray,
        hazard_ids: IntArray,
        piece_hazards: Callable[[LineString | None, int], list[int]],
    ) -> tuple[int, ...]:
        """Hazards blocking an edge that touches a node reached before the route's length.

        Those are the roads the search had to pass up on its way (and the
        blocked ways out of the start and into the end); hazards far off on
        roads it never came near are not "avoided".
        """
        reach = self._reach(s, runs, lambda piece, edge: not piece_hazards(piece, edge))
        out: set[int] = set()
        for side in (*s.sides, *e.sides):
            out.update(piece_hazards(side.piece, side.edge))
        for k, h in zip(edge_ids, hazard_ids, strict=True):
            near = min(reach.get(self._u[int(k)], math.inf), reach.get(self._v[int(k)], math.inf))
            if near < best.length_m:
                out.add(int(h))
        return tuple(sorted(out))

    def _cut_hazards(
        self,
        s: _Snap,
        e: _Snap,
        weight: Any,
        runs: Mapping[int, tuple[dict[int, list[int]], dict[int, float]]],
        edge_ids: IntArray,
        hazard_ids: IntArray,
        piece_hazards: Callable[[LineString | None, int], list[int]],
    ) -> list[int]:
        """The hazards that cut every route: those fencing in both the start's and the end's region.

        The start's region is what it reaches over open roads; the hazards
        blocking a road out of it fence it in.  The same from the end.  The
        hazards on both fences are named; if none is on both (different
        hazards fence each end in), all of them are.
        """

        def is_open(piece: LineString | None, edge: int) -> bool:
            return not piece_hazards(piece, edge)

        def fence(snap: _Snap, reach: Mapping[int, float]) -> set[int]:
            out: set[int] = set()
            for side in snap.sides:
                out.update(piece_hazards(side.piece, side.edge))
            for k, h in zip(edge_ids, hazard_ids, strict=True):
                if self._u[int(k)] in reach or self._v[int(k)] in reach:
                    out.add(int(h))
            return out

        start_fence = fence(s, self._reach(s, runs, is_open))
        end_runs = self._search([y for y in e.sides if is_open(y.piece, y.edge)], weight)
        end_fence = fence(e, self._reach(e, end_runs, is_open))
        both = start_fence & end_fence
        return sorted(both or (start_fence | end_fence))


def _cut(edge: BaseGeometry, lo: float, hi: float, backwards: bool) -> LineString | None:
    """The stretch of ``edge`` between planar positions ``lo`` and ``hi``; None if it is a point.

    ``backwards`` reverses it (a piece always runs away from the snap point).
    """
    if hi - lo <= 0.0:
        return None
    piece = shapely.ops.substring(edge, lo, hi)
    if not isinstance(piece, LineString) or piece.length == 0.0:
        return None
    return piece.reverse() if backwards else piece


def _walk(pred: Mapping[int, list[int]], source: int, target: int) -> tuple[int, ...]:
    """The node path from ``source`` to ``target`` through Dijkstra's predecessors."""
    path = [target]
    while path[-1] != source:
        path.append(pred[path[-1]][0])
    return tuple(reversed(path))
