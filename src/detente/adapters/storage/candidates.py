"""The 4D box query: which volumes may meet a box, answered by the spatial index.

Each backend's index is asked first (the R*Tree on SQLite, the GiST on
``(reach, alt, during)`` on PostGIS); both store rounded-outward boxes, so
they return a superset.  The same exact test on the shared columns then
trims the answer, so both backends give the same list, equal to
``Box4D.admits`` over every volume.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    DateTime,
    Numeric,
    Select,
    cast,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
)
from sqlalchemy.sql.elements import ColumnClause

from detente.adapters.storage.box import Box4D
from detente.adapters.storage.tables import VolumeRow

#: The SQLite R*Tree over volume boxes (created by migration 0001).
VOLUME_RTREE = table(
    "volume_rtree",
    *(
        column(name)
        for name in ("id", "min_lon", "max_lon", "min_lat", "max_lat", "min_alt", "max_alt", "min_t", "max_t")
    ),
)

#: The PostGIS index the box query uses (created by migration 0001).
POSTGIS_INDEX = "ix_volumes_reach_alt_during"

#: Volume columns only PostgreSQL has (generated; see migration 0001).
_REACH: ColumnClause[Any] = literal_column("volumes.reach")
_ALT: ColumnClause[Any] = literal_column("volumes.alt")
_DURING: ColumnClause[Any] = literal_column("volumes.during")


def exact_conditions(box: Box4D) -> list[ColumnElement[bool]]:
    """``Box4D.admits`` in SQL over the shared columns (NULL ends are unbounded)."""
    v = VolumeRow
    conditions: list[ColumnElement[bool]] = [
        v.min_lon <= box.max_lon,
        v.max_lon >= box.min_lon,
        v.min_lat <= box.max_lat,
        v.max_lat >= box.min_lat,
    ]
    alt, time = box.altitude, box.time
    if alt.upper is not None:
        conditions.append(or_(v.altitude_lower_m.is_(None), v.altitude_lower_m < alt.upper))
    if alt.lower is not None:
        conditions.append(or_(v.altitude_upper_m.is_(None), v.altitude_upper_m > alt.lower))
    if time.end is not None:
        conditions.append(or_(v.time_start.is_(None), v.time_start < time.end))
    if time.start is not None:
        conditions.append(or_(v.time_end.is_(None), v.time_end > time.start))
    return conditions


def _rtree_conditions(box: Box4D) -> list[ColumnElement[bool]]:
    r = VOLUME_RTREE.c
    conditions: list[ColumnElement[bool]] = [
        r.min_lon <= box.max_lon,
        r.max_lon >= box.min_lon,
        r.min_lat <= box.max_lat,
        r.max_lat >= box.min_lat,
    ]
    alt, time = box.altitude, box.time
    if alt.upper is not None:
        conditions.append(r.min_alt <= alt.upper)
    if alt.lower is not None:
        conditions.append(r.max_alt >= alt.lower)
    if time.end is not None:
        conditions.append(r.min_t <= time.end.timestamp())
    if time.start is not None:
        conditions.append(r.max_t >= time.start.timestamp())
    return conditions


def _gist_conditions(box: Box4D) -> list[ColumnElement[bool]]:
    envelope = func.ST_MakeEnvelope(box.min_lon, box.min_lat, box.max_lon, box.max_lat, 4326)
    conditions: list[ColumnElement[bool]] = [_REACH.op("&&", return_type=Boolean)(envelope)]
    alt, time = box.altitude, box.time
    if alt.lower is not None or alt.upper is not None:
        # Widened to whole metres and closed, as the stored ``alt`` is: a superset.
        lower = None if alt.lower is None else math.floor(alt.lower)
        upper = None if alt.upper is None else math.ceil(alt.upper)
        band = func.numrange(cast(lower, Numeric), cast(upper, Numeric), "[]")
        conditions.append(_ALT.op("&&", return_type=Boolean)(band))
    if time.start is not None or time.end is not None:
        window = func.tstzrange(
            cast(time.start, DateTime(timezone=True)), cast(time.end, DateTime(timezone=True)), "[)"
        )
        conditions.append(_DURING.op("&&", return_type=Boolean)(window))
    return conditions


def candidates_query(box: Box4D, dialect: str) -> Select[str, str, int]:
    """SELECT kind, object_id, volume of every volume the box admits, in key order."""
    v = VolumeRow
    query = select(v.kind, v.object_id, v.volume)
    if dialect == "sqlite":
        query = query.select_from(VOLUME_RTREE.join(v.__table__, v.id == VOLUME_RTREE.c.id)).where(
            *_rtree_conditions(box)
        )
    elif dialect == "postgresql":
        query = query.where(*_gist_conditions(box))
    else:
        raise NotImplementedError(f"no spatial index on {dialect}")
    return query.where(*exact_conditions(box)).order_by(v.kind, v.object_id, v.volume)
