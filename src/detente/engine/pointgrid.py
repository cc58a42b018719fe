"""Which boxes hold which points, for millions of points at once: a uniform grid in numpy.

The monitor checks every position of every track against every zone.  An
STR-tree needs a Shapely point per position (about 0.5 µs each before any
query), so instead the zones' boxes are bucketed once into the cells of a
uniform lon/lat grid (compressed rows: cell -> box ids), and a batch of
positions is answered with arithmetic: each position's cell, the boxes
listed there, and an exact box test, all numpy.  Boxes that would cover too
many cells (a zone the size of a country) are kept aside and tested against
every position directly; there are few of them.
"""

from __future__ import annotations

import math

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
            self.starts = np.zeros(2, dtype=np.int64)
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
        self.starts = np.searchsorted(cell_id[order], np.arange(self.nx * self.ny + 1, dtype=np.int64))

    def _cell_xy(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, IntArray]:
        ix = np.floor((lon - self.x0) / self.cell).astype(np.int64)
        iy = np.floor((lat - self.y0) / self.cell).astype(np.int64)
        return ix, iy

    def query(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, IntArray]:
        """Pairs (point index, box index) with the point in the box (edges included)."""
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        points: list[IntArray] = []
        found: list[IntArray] = []
        if len(self.members):
            ix, iy = self._cell_xy(lon, lat)
            inside = (ix >= 0) & (ix < self.nx) & (iy >= 0) & (iy < self.ny)
            p = np.flatnonzero(inside)
            cell = ix[p] * self.ny + iy[p]
            lo, hi = self.starts[cell], self.starts[cell + 1]
            counts = hi - lo
            p = np.repeat(p, counts)
            offsets = np.arange(len(p), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            b = self.members[np.repeat(lo, counts) + offsets]
            points.append(p)
            found.append(b)
        for b in self.big:  # few: one vectorised test over all points each
            x0, y0, x1, y1 = self.boxes[b]
            p = np.flatnonzero((lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1))
            points.append(p)
            found.append(np.full(len(p), b, dtype=np.int64))
        if not points:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
        p, b = np.concatenate(points), np.concatenate(found)
        box = self.boxes[b]
        hit = (lon[p] >= box[:, 0]) & (lon[p] <= box[:, 2]) & (lat[p] >= box[:, 1]) & (lat[p] <= box[:, 3])
        return p[hit], b[hit]
