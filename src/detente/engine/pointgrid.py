"""Which boxes hold which points, for millions of points at once: a uniform grid in numpy.

The monitor checks every position of every track against every zone.  An
STR-tree needs a Shapely point per position (about 0.5 µs each before any
query), so instead the zones' boxes are bucketed once into the cells of a
uniform lon/lat grid (compressed rows: cell -> box ids), and a batch of
positions is answered with arithmetic: each position's cell, the boxes
listed there, and an exact box test, all numpy.  The positions are taken in
slots (``slots``): sorted by how many boxes their cell lists, the j-th box
of every position that has one is a single gather over a prefix, so no
position is repeated per candidate.  Boxes that would cover too many cells
(a zone the size of a country) are kept aside and tested against every
position directly; there are few of them.
"""

from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from detente.domain.geo.arrays import FloatArray, IntArray

#: A box covering more cells than this is tested against every point instead of being bucketed.
MAX_CELLS_PER_BOX = 4096


class PointGrid:
    """Boxes ``(min_lon, min_lat, max_lon, max_lat)`` bucketed in a uniform grid.

    >>> grid = PointGrid(np.array([[0.0, 0.0, 1.0, 1.0], [2.0, 2.0, 3.0, 3.0]]))
    >>> p, b = grid.query(np.array([0.5, 2.5, 5.0]), np.array([0.5, 2.5, 5.0]))
    >>> sorted(zip(p.tolist(), b.tolist()))
    [(0, 0), (1, 1)]
    """

    def __init__(self, boxes: FloatArray, cell_deg: float | None = None, max_cells: int = MAX_CELLS_PER_BOX) -> None:
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        self.boxes = boxes
        if len(boxes) == 0:
            self.x0 = self.y0 = 0.0
            self.cell = 1.0
            self.nx = self.ny = 1
            self.starts = np.zeros(3, dtype=np.int64)
            self.members = np.empty(0, dtype=np.int64)
            self.big = np.empty(0, dtype=np.int64)
            return
        widths = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        # Cells a quarter of a typical box: each box touches about 25 cells, and a position's cell
        # lists few boxes that do not hold it (cells the size of a box listed 14 for 3.7 that did:
        # the candidate pairs, not the boxes, are what the query pays for; bench/monitor.py).
        self.cell = float(cell_deg or max(float(np.median(widths)) / 4, 1e-4))
        self.x0, self.y0 = float(boxes[:, 0].min()), float(boxes[:, 1].min())
        self.nx = max(1, math.ceil((float(boxes[:, 2].max()) - self.x0) / self.cell) + 1)
        self.ny = max(1, math.ceil((float(boxes[:, 3].max()) - self.y0) / self.cell) + 1)
        ix0, iy0 = self._cell_xy(boxes[:, 0], boxes[:, 1])
        ix1, iy1 = self._cell_xy(boxes[:, 2], boxes[:, 3])
        spans_x, spans_y = ix1 - ix0 + 1, iy1 - iy0 + 1
        cells = spans_x * spans_y
        small = cells <= max_cells
        self.big = np.flatnonzero(~small).astype(np.int64)
        ids = np.flatnonzero(small).astype(np.int64)
        counts = cells[ids]
        owner = np.repeat(ids, counts)
        # the k-th cell of a box: (k // span_y, k % span_y) from its lower-left cell
        k = np.arange(len(owner), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        sy = spans_y[owner]
        cx = ix0[owner] + k // sy
        cy = iy0[owner] + k % sy
        cell_id = cx * self.ny + cy
        order = np.argsort(cell_id, kind="stable")
        self.members = owner[order]
        # one entry past the last cell too: a sentinel cell (points outside the grid) that lists nothing
        self.starts = np.searchsorted(cell_id[order], np.arange(self.nx * self.ny + 2, dtype=np.int64))

    def _cell_xy(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, IntArray]:
        ix = np.floor((lon - self.x0) / self.cell).astype(np.int64)
        iy = np.floor((lat - self.y0) / self.cell).astype(np.int64)
        return ix, iy

    @cached_property
    def member_boxes(self) -> FloatArray:
        """The boxes in the order of ``members`` (shape (4, entries)): a candidate's box is read contiguously."""
        columns: FloatArray = np.ascontiguousarray(self.boxes[self.members].T)
        return columns

    def slots(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, IntArray, list[int]]:
        """The points whose cell lists boxes, ready to be checked one slot at a time.

        Returns ``(points, first, sizes)``: the points sorted by how many
        boxes their cell lists (most first), the index in ``members`` of
        their cell's first box, and for each slot ``j`` how many points have
        more than ``j`` boxes.  The candidates of slot ``j`` are then
        ``points[:sizes[j]]`` against ``members[first[:sizes[j]] + j]``: no
        point is repeated, and every array is a prefix or a gather.
        """
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        empty = np.empty(0, dtype=np.int64)
        if not len(self.members) or not len(lon):
            return empty, empty, []
        ix, iy = self._cell_xy(lon, lat)
        inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
        cell = ix * self.ny + iy
        cell[~inside] = self.nx * self.ny  # the sentinel cell past the end lists nothing
        lo = self.starts[cell]
        count = self.starts[cell + 1] - lo
        most = int(count.max())
        if most == 0:
            return empty, empty, []
        # Most boxes first, with a radix sort on 16 bits when the counts allow it.
        if most < 1 << 16:
            order = np.argsort((most - count).astype(np.uint16), kind="stable")
        else:
            order = np.argsort(-count, kind="stable")
        histogram = np.bincount(count, minlength=most + 1)
        sizes = (len(count) - np.cumsum(histogram))[:most].tolist()
        points = order[: sizes[0]]
        return points, lo[points], sizes

    def query(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, IntArray]:
        """Pairs (point index, box index) with the point in the box (edges included)."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        points_out: list[IntArray] = []
        found: list[IntArray] = []
        points, first, sizes = self.slots(lon, lat)
        if sizes:
            x0, y0, x1, y1 = self.member_boxes
            px, py = lon[points], lat[points]
            for j, size in enumerate(sizes):
                m = first[:size] + j
                x, y = px[:size], py[:size]
                hit = np.flatnonzero((x0[m] <= x) & (x <= x1[m]) & (y0[m] <= y) & (y <= y1[m]))
                points_out.append(points[hit])
                found.append(self.members[m[hit]])
        for b in self.big:  # few: one vectorised test over all points each
            x0b, y0b, x1b, y1b = self.boxes[b]
            p = np.flatnonzero((lon >= x0b) & (lon <= x1b) & (lat >= y0b) & (lat <= y1b))
            points_out.append(p)
            found.append(np.full(len(p), b, dtype=np.int64))
        if not points_out:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        return np.concatenate(points_out), np.concatenate(found)
