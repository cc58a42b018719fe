"""The monitor's point grid finds exactly the (point, box) pairs a brute-force test finds."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.engine import pointgrid
from detente.engine.pointgrid import PointGrid

coord = st.floats(-10.0, 10.0, allow_nan=False)


@st.composite
def boxes(draw: st.DrawFn) -> list[tuple[float, float, float, float]]:
    out = []
    for _ in range(draw(st.integers(0, 30))):
        x, y = draw(coord), draw(coord)
        w, h = draw(st.floats(0.0, 8.0)), draw(st.floats(0.0, 8.0))
        out.append((x, y, x + w, y + h))
    return out


@settings(max_examples=200, deadline=None)
@given(boxes(), st.lists(st.tuples(coord, coord), max_size=60), st.sampled_from([None, 0.05, 0.7]), st.booleans())
def test_grid_matches_brute_force(
    found_boxes: list[tuple[float, float, float, float]],
    points: list[tuple[float, float]],
    cell: float | None,
    few_cells: bool,
) -> None:
    # Points on box corners and edges too: the edges count as inside.
    points = points + [(b[0], b[1]) for b in found_boxes[:5]] + [(b[2], b[3]) for b in found_boxes[:5]]
    b = np.array(found_boxes, dtype=np.float64).reshape(-1, 4)
    lon = np.array([p[0] for p in points], dtype=np.float64)
    lat = np.array([p[1] for p in points], dtype=np.float64)
    # With few cells allowed, big boxes take the path for boxes kept aside.
    max_cells = 4 if few_cells else pointgrid.MAX_CELLS_PER_BOX
    p, k = PointGrid(b, cell, max_cells).query(lon, lat)
    got = sorted(zip(p.tolist(), k.tolist(), strict=True))
    want = sorted(
        (i, j)
        for i in range(len(points))
        for j in range(len(b))
        if b[j, 0] <= lon[i] <= b[j, 2] and b[j, 1] <= lat[i] <= b[j, 3]
    )
    assert got == want
