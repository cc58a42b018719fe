"""The part of an intent's footprint another party is shown.

Need-to-know: the other party learns where the plan touches what concerns
it, never the whole plan.  That is the intent footprint clipped to the other
object's reach (its footprint grown by the distance that decides the rule),
grown geodesically in a local azimuthal equidistant projection.
"""

from __future__ import annotations

import shapely
import shapely.ops
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from detente.domain.geo.geodesic import split_at_antimeridian


def geodesic_buffer(geom: BaseGeometry, distance_m: float) -> BaseGeometry:
    """``geom`` grown by ``distance_m`` metres, in lon/lat."""
    if distance_m <= 0:
        return geom
    c = geom.centroid
    fwd = Transformer.from_crs(
        "EPSG:4326", f"+proj=aeqd +lat_0={c.y} +lon_0={c.x} +datum=WGS84 +units=m", always_xy=True
    )
    back = Transformer.from_crs(fwd.target_crs, "EPSG:4326", always_xy=True)
    local = shapely.ops.transform(fwd.transform, shapely.segmentize(geom, 0.01))
    grown = shapely.ops.transform(back.transform, local.buffer(distance_m, quad_segs=16))
    return split_at_antimeridian(shapely.make_valid(grown))


def disclosure_area(intent_geom: BaseGeometry, other_geom: BaseGeometry, reach_m: float) -> BaseGeometry:
    """The intent footprint clipped to ``other_geom`` grown by ``reach_m``."""
    area = intent_geom.intersection(geodesic_buffer(other_geom, reach_m))
    return area if not area.is_empty else intent_geom.boundary.intersection(geodesic_buffer(other_geom, reach_m))
