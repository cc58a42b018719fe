"""The part of an intent's footprint another party is shown.

Need-to-know: the other party learns where the plan touches what concerns
it, never the whole plan.  That is the intent footprint clipped to the other
object's reach (its footprint grown by the distance that decides the rule),
grown geodesically in a local azimuthal equidistant projection.
"""

from __future__ import annotations

import shapely
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.geodesic import split_at_antimeridian
from detente.engine.measure import aeqd, project


def geodesic_buffer(geom: BaseGeometry, distance_m: float) -> BaseGeometry:
    """``geom`` grown by ``distance_m`` metres, in lon/lat."""
    if distance_m <= 0:
        return geom
    c = geom.centroid
    tr = aeqd(c.x, c.y)
    local = project(shapely.segmentize(geom, 0.01), tr)
    grown = project(local.buffer(distance_m, quad_segs=16), tr, inverse=True)
    return split_at_antimeridian(shapely.make_valid(grown))


def disclosure_area(intent_geom: BaseGeometry, other_geom: BaseGeometry, reach_m: float) -> BaseGeometry:
    """The intent footprint clipped to ``other_geom`` grown by ``reach_m``.

    When the footprints only touch (no shared area), the touching boundary.
    """
    reach = geodesic_buffer(other_geom, reach_m)
    area = intent_geom.intersection(reach)
    return area if not area.is_empty else intent_geom.boundary.intersection(reach)
