"""The vectorised box growing agrees with the scalar one it replaces in the hot paths."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from detente.domain.geo.geodesic import grow_box, grow_boxes

lon = st.floats(-180.0, 180.0)
lat = st.floats(-90.0, 90.0)
distance = st.one_of(st.just(0.0), st.floats(0.0, 5_000_000.0))


@given(st.lists(st.tuples(lon, lon, lat, lat, distance), min_size=1, max_size=20))
def test_grow_boxes_matches_grow_box(cases: list[tuple[float, float, float, float, float]]) -> None:
    boxes = [(min(a, b), min(c, d), max(a, b), max(c, d)) for a, b, c, d, _ in cases]
    distances = [r for *_, r in cases]
    got = grow_boxes(np.array(boxes), np.array(distances))
    want = np.array([grow_box(box, r) for box, r in zip(boxes, distances, strict=True)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
