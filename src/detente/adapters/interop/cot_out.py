"""Cursor-on-Target out: zones, lines, sites, movements and live events as TAK drawings and markers.

Pure functions that build CoT ``<event>`` XML (UTF-8 bytes, with an XML
declaration, closed with ``</event>``) for a TAK client such as ATAK or
WinTAK to draw.  The drawing schema is ATAK's own (the CoT its Drawing Tools
send and its importers read; see docs/cot.md, "CoT out"):

* a polygon is ``u-d-f`` with one ``<link point="lat,lon"/>`` per vertex,
  the first vertex repeated at the end (ATAK writes a closed shape "physically
  closed" and reads it back as closed);
* a circle is ``u-d-c-c`` with its centre in ``<point>`` and
  ``<shape><ellipse major=r minor=r angle="360"/></shape>``, ``r`` the radius
  in metres;
* a line is ``u-d-f`` with its vertices as links, not closed;
* style is ``<strokeColor value=ARGB/>``, ``<strokeWeight value=.../>``,
  ``<fillColor value=ARGB/>`` (closed shapes only), ``<strokeStyle
  value="dashed"/>``, ``<labels_on value="true"/>``; colours are ARGB packed
  in a signed 32-bit integer, as Android writes them;
* the label is ``<contact callsign=.../>`` and the text ``<remarks>``.

Every event is built with :mod:`xml.etree.ElementTree` (building only: no
CoT is ever parsed with it) and parses back with detente's own hardened
parser, :func:`detente.adapters.interop.cot.parse_event`.

Uids are stable: ``detente.<kind>.<id>.<volume>`` for a volume's drawing,
with ``.p<k>`` for the k-th further part of a multi-part (or
antimeridian-split) geometry, ``.p<k>.h<j>`` for the j-th hole of part k, and
``.marker`` for a site's marker.  Characters of the id other than ``A-Z a-z
0-9 - _ ~`` are percent-encoded (so a ``.`` in an id cannot be mistaken for
a separator); an id whose encoding is longer than 120 characters is replaced
by ``~`` and 32 hex digits of its SHA-256.  Sending an event again with the
same uid updates the drawing in place; :func:`delete_event` removes it.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from xml.etree.ElementTree import Element, SubElement, tostring

from shapely.geometry import LinearRing, LineString, MultiLineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from detente.adapters.interop.cot import MAX_EVENT_BYTES, PING_TYPE, UNKNOWN, _cot_time
from detente.adapters.interop.feedmap import MAX_ID_CHARS
from detente.domain.geo.intervals import format_time
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, WorldObject
from detente.domain.tracks import Event, EventType

#: ``how`` of every event detente publishes: human-generated, GPS-independent ("h-g-i-g-o").
HOW: Final = "h-g-i-g-o"
#: CoT types written.
POLYGON_TYPE: Final = "u-d-f"
LINE_TYPE: Final = "u-d-f"
CIRCLE_TYPE: Final = "u-d-c-c"
SPOT_TYPE: Final = "b-m-p-s-m"
DELETE_TYPE: Final = "t-x-d-d"
#: Kinds published as drawings; intents are plans private to their party and never published.
PUBLISHED_KINDS: Final = frozenset({Kind.NFZ, Kind.BOUNDARY, Kind.LINE, Kind.SITE, Kind.MOVEMENT})
#: Most vertices in one drawing: a part with more is simplified for display (outward, see :func:`object_events`).
MAX_VERTICES: Final = 1000
#: Longest label (``<contact callsign>``) and remarks written.
MAX_REMARKS_CHARS: Final = 2000

_XML_DECLARATION: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
_UID_SAFE_RE: Final = re.compile(r"[A-Za-z0-9_~-]")
_MAX_UID_ID_CHARS: Final = 120
# XML 1.0 forbids most C0 controls, surrogates and U+FFFE/U+FFFF; remarks keep tabs and newlines
_NOT_XML_RE: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_WHITESPACE_RE: Final = re.compile(r"\s+")
_METRES_PER_DEGREE: Final = 111_320.0


def argb(value: int) -> int:
    """An ``0xAARRGGBB`` colour as the signed 32-bit integer Android (and so CoT) writes.

    >>> argb(0xFFFF0000)
    -65536
    >>> argb(0x4000FF00)
    1073807104
    """
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"colour {value:#x} is not 32-bit ARGB")
    return value - (1 << 32) if value >= 1 << 31 else value


@dataclass(frozen=True)
class Style:
    """How one kind is drawn: colours as ``0xAARRGGBB``, ``fill`` ``None`` for no fill."""

    stroke: int
    fill: int | None
    weight: float
    dashed: bool = False


#: Colours per kind: no-fly zones red, boundaries blue, lines orange, sites green, movements green dashed.
STYLES: Final[dict[Kind, Style]] = {
    Kind.NFZ: Style(0xFFFF0000, 0x40FF0000, 3.0),
    Kind.BOUNDARY: Style(0xFF0000FF, 0x1A0000FF, 3.0),
    Kind.LINE: Style(0xFFFF8000, None, 4.0),
    Kind.SITE: Style(0xFF00FF00, 0x4000FF00, 3.0),
    Kind.MOVEMENT: Style(0xFF00FF00, None, 4.0, dashed=True),
}
#: Marker colours of live events.
EVENT_COLOURS: Final[dict[EventType, int]] = {
    EventType.INCURSION: 0xFFFF0000,
    EventType.BOUNDARY_CROSSING: 0xFFFF8000,
    EventType.SEPARATION: 0xFFFFFF00,
    EventType.PROXIMITY: 0xFFFFFF00,
}
_KIND_NAMES: Final[dict[Kind, str]] = {
    Kind.NFZ: "No-fly zone",
    Kind.BOUNDARY: "Boundary",
    Kind.LINE: "Deconfliction line",
    Kind.SITE: "Protected site",
    Kind.MOVEMENT: "Movement",
}


# ---------------------------------------------------------------------------------------------
# Small helpers


def _utc(now: datetime) -> datetime:
    if now.utcoffset() is None:
        raise ValueError("now must be an aware datetime (naive times are refused)")
    return now.astimezone(UTC)


def _deg(value: float) -> str:
    """Degrees with 7 decimals (about 1 cm), never ``-0``."""
    return f"{value + 0.0:.7f}"


def _metres(value: float) -> str:
    return f"{value:.1f}"


def _xml_text(value: str) -> str:
    """``value`` with the characters XML 1.0 cannot carry replaced by U+FFFD."""
    return _NOT_XML_RE.sub("\ufffd", value)


def _label(value: str, fallback: str) -> str:
    """A callsign: printable, one line, 1 to :data:`MAX_ID_CHARS` characters."""
    text = "".join(c if c.isprintable() else " " for c in value)
    text = _WHITESPACE_RE.sub(" ", _xml_text(text)).strip()[:MAX_ID_CHARS].strip()
    return text or fallback


def _uid_part(value: str) -> str:
    """An id for a uid: safe characters kept, the rest percent-encoded (UTF-8); hashed if long."""
    encoded = "".join(
        c if _UID_SAFE_RE.fullmatch(c) else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        for c in value
    )
    if len(encoded) > _MAX_UID_ID_CHARS:
        return "~" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return encoded


def object_uid(kind: Kind | str, object_id: str, volume: int) -> str:
    """The uid of an object's volume: ``detente.<kind>.<id>.<volume>``.

    >>> object_uid(Kind.NFZ, "tanf-55km", 0)
    'detente.nfz.tanf-55km.0'
    >>> object_uid(Kind.SITE, "camp.a b", 1)
    'detente.site.camp%2Ea%20b.1'
    """
    return f"detente.{Kind(kind).value}.{_uid_part(object_id)}.{volume}"


def event_uid(event: Event) -> str:
    """The uid of a live event's marker: stable over one episode (type, track, other, start)."""
    start = event.start.astimezone(UTC).strftime("%Y%m%dT%H%M%S") + f".{event.start.microsecond // 1000:03d}Z"
    return (
        f"detente.event.{event.type.value}.{_uid_part(event.track)}."
        f"{_uid_part(event.other.kind)}.{_uid_part(event.other.id)}.{start}"
    )


def _finish(root: Element) -> bytes:
    data = (_XML_DECLARATION + tostring(root, encoding="unicode")).encode("utf-8")
    if len(data) > MAX_EVENT_BYTES:
        raise ValueError(f"event {root.get('uid')!r} is {len(data)} bytes, more than the {MAX_EVENT_BYTES} allowed")
    return data


def _event(
    uid: str,
    cot_type: str,
    lat: float,
    lon: float,
    *,
    now: datetime,
    start: datetime,
    stale: datetime,
    hae: float = UNKNOWN,
) -> tuple[Element, Element]:
    """The ``<event>`` element (with ``<point>``) and its empty ``<detail>``."""
    if len(uid) > MAX_ID_CHARS or not uid.isprintable():
        raise ValueError(f"uid {uid[:60]!r} is not 1 to {MAX_ID_CHARS} printable characters")
    root = Element(
        "event",
        {
            "version": "2.0",
            "uid": uid,
            "type": cot_type,
            "how": HOW,
            "time": _cot_time(now),
            "start": _cot_time(start),
            "stale": _cot_time(stale),
        },
    )
    SubElement(
        root,
        "point",
        {"lat": _deg(lat), "lon": _deg(lon), "hae": _metres(hae), "ce": _metres(UNKNOWN), "le": _metres(UNKNOWN)},
    )
    return root, SubElement(root, "detail")


def _value(detail: Element, name: str, value: str) -> None:
    SubElement(detail, name, {"value": value})


def _style(detail: Element, style: Style, *, closed: bool) -> None:
    _value(detail, "strokeColor", str(argb(style.stroke)))
    _value(detail, "strokeWeight", f"{style.weight:.1f}")
    if style.dashed:
        _value(detail, "strokeStyle", "dashed")
    if closed and style.fill is not None:
        _value(detail, "fillColor", str(argb(style.fill)))


def _text_details(detail: Element, label: str, remarks: str) -> None:
    SubElement(detail, "contact", {"callsign": label})
    SubElement(detail, "remarks").text = _xml_text(remarks)[:MAX_REMARKS_CHARS]


# ---------------------------------------------------------------------------------------------
# Geometry for display


@dataclass(frozen=True)
class _Part:
    """One drawing of a volume: a ring (closed) or a line, and its uid suffix."""

    suffix: str
    coords: list[tuple[float, float]]  # lon, lat
    closed: bool
    hole: bool = False
    simplified_m: float = 0.0


def _fit_ring(ring: LinearRing, *, outward: bool, max_vertices: int) -> tuple[list[tuple[float, float]], float]:
    """A ring with at most ``max_vertices`` vertices that covers (``outward``) or lies inside the original.

    Grown (or shrunk) by a tolerance ``t`` and simplified within ``t``, the
    drawn outline never cuts into the zone it shows.  Returns the ring (empty
    if a hole vanished) and the tolerance used, in metres (about).
    """
    coords = [(float(x), float(y)) for x, y, *_ in ring.coords]
    if len(coords) <= max_vertices:
        return coords, 0.0
    polygon = Polygon(ring)
    tolerance = 1e-4
    while True:
        grown = polygon.buffer(tolerance if outward else -tolerance, join_style="mitre")
        if grown.is_empty:
            return [], tolerance * _METRES_PER_DEGREE
        if isinstance(grown, MultiPolygon):  # a hole shrunk into pieces: keep the largest
            grown = max(grown.geoms, key=lambda g: g.area)
        simple = grown.simplify(tolerance, preserve_topology=True)
        exterior = simple.exterior if isinstance(simple, Polygon) else None
        if exterior is not None and len(exterior.coords) <= max_vertices:
            return [(float(x), float(y)) for x, y, *_ in exterior.coords], 2 * tolerance * _METRES_PER_DEGREE
        tolerance *= 2


def _fit_line(line: LineString, max_vertices: int) -> tuple[list[tuple[float, float]], float]:
    """A line with at most ``max_vertices`` vertices within a tolerance of the original, and the tolerance (m)."""
    coords = [(float(x), float(y)) for x, y, *_ in line.coords]
    tolerance, used = 1e-4, 0.0
    while len(coords) > max_vertices:
        coords = [(float(x), float(y)) for x, y, *_ in line.simplify(tolerance, preserve_topology=False).coords]
        tolerance, used = tolerance * 2, tolerance
    return coords, used * _METRES_PER_DEGREE


def _parts(geometry: BaseGeometry, max_vertices: int) -> Iterator[_Part]:
    """The drawings of a polygon, multipolygon, line or multiline, in order."""
    pieces = list(geometry.geoms) if isinstance(geometry, MultiPolygon | MultiLineString) else [geometry]
    for k, piece in enumerate(pieces):
        suffix = f".p{k}" if k else ""
        if isinstance(piece, Polygon):
            ring, tol = _fit_ring(piece.exterior, outward=True, max_vertices=max_vertices)
            yield _Part(suffix, ring, closed=True, simplified_m=tol)
            for j, interior in enumerate(piece.interiors, start=1):
                hole, tol = _fit_ring(LinearRing(interior), outward=False, max_vertices=max_vertices)
                if hole:
                    yield _Part(f"{suffix or '.p0'}.h{j}", hole, closed=True, hole=True, simplified_m=tol)
        elif isinstance(piece, LineString):
            line, tol = _fit_line(piece, max_vertices)
            yield _Part(suffix, line, closed=False, simplified_m=tol)
        else:  # pragma: no cover - footprints hold only the types above
            raise ValueError(f"cannot draw a {piece.geom_type}")


def _polygons(geometry: BaseGeometry) -> list[Polygon]:
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    return []


def _anchor(coords: list[tuple[float, float]], closed: bool) -> tuple[float, float]:
    """``(lat, lon)`` for a drawing's ``<point>``: the centroid of a ring, the middle of a line."""
    if closed:
        c = Polygon(coords).centroid
    else:
        line = LineString(coords)
        c = line.interpolate(0.5, normalized=True)
    if c.is_empty:  # pragma: no cover - degenerate geometry
        lon, lat = coords[0]
        return lat, lon
    return float(c.y), float(c.x)


# ---------------------------------------------------------------------------------------------
# Objects


def _window(volume: Volume4D, now: datetime, stale: timedelta) -> tuple[datetime, datetime] | None:
    """``(start, stale)`` of a volume's events, or ``None`` if it is not in force within ``[now, now + stale)``."""
    horizon = now + stale
    window = volume.time
    if window.end is not None and window.end <= now:
        return None
    if window.start is not None and window.start >= horizon:
        return None
    start = max(now, window.start) if window.start is not None else now
    end = min(horizon, window.end) if window.end is not None else horizon
    return start, end


def _altitude_text(volume: Volume4D) -> str:
    band = volume.altitude
    lower = "surface" if band.lower is None else f"{band.lower:g} m"
    upper = "unlimited" if band.upper is None else f"{band.upper:g} m"
    return f"Altitude {lower} to {upper} MSL"


def _time_text(volume: Volume4D) -> str:
    window = volume.time
    if window.start is None and window.end is None:
        return "in force at all times"
    return f"in force from {format_time(window.start) or 'open'} to {format_time(window.end) or 'open'}"


def _remarks(obj: WorldObject, index: int, volume: Volume4D, extra_text: str = "") -> str:
    footprint = volume.footprint
    lines = [f"{_KIND_NAMES[obj.kind]} {obj.id} (party {obj.party}), volume {index}."]
    if obj.kind is Kind.NFZ:
        if footprint.radius_m:
            lines.append(f"Radius {footprint.radius_m:g} m.")
        lines.append("Applies to: " + (", ".join(sorted(obj.applies_to)) if obj.applies_to else "every party") + ".")
        if obj.exempt:
            lines.append("Exempt: " + ", ".join(sorted(obj.exempt)) + ".")
    elif obj.kind is Kind.LINE:
        lines.append(f"Buffer {footprint.radius_m:g} m either side.")
        if obj.signatories:
            lines.append("Signatories: " + ", ".join(sorted(obj.signatories)) + ".")
    elif obj.kind is Kind.SITE:
        lines.append(f"Protection radius {footprint.radius_m:g} m.")
        site_type = obj.extra[index].get("site_type") if index < len(obj.extra) else None
        if isinstance(site_type, str):
            lines.append(f"Site type: {site_type}.")
    elif obj.kind is Kind.MOVEMENT:
        lines.append(f"Corridor {footprint.radius_m:g} m either side.")
    lines.append(f"{_altitude_text(volume)}; {_time_text(volume)}.")
    if extra_text:
        lines.append(extra_text)
    lines.append("Published by detente.")
    return "\n".join(lines)


def _name(obj: WorldObject, index: int) -> str:
    raw = obj.extra[index].get("name") if index < len(obj.extra) else None
    fallback = f"{obj.kind.value} {obj.id}"
    return _label(raw, _label(fallback, obj.kind.value)) if isinstance(raw, str) else _label(fallback, obj.kind.value)


def _tag(detail: Element, obj: WorldObject, index: int) -> None:
    """A detail of detente's own naming the object (TAK clients keep unknown details and ignore them)."""
    SubElement(
        detail,
        "__detente",
        {"kind": obj.kind.value, "id": _label(obj.id, "?"), "party": _label(obj.party, "?"), "volume": str(index)},
    )


def object_items(
    obj: WorldObject, *, now: datetime, stale: timedelta, max_vertices: int = MAX_VERTICES
) -> list[tuple[str, bytes]]:
    """``(uid, event)`` for every drawing of an object's volumes in force within ``[now, now + stale)``.

    See :func:`object_events`.
    """
    if obj.kind not in PUBLISHED_KINDS:
        raise ValueError(f"{obj.kind.value} {obj.id!r} is not published: intents are private to their party")
    if stale <= timedelta(0):
        raise ValueError("stale must be positive")
    if max_vertices < 4:
        raise ValueError("max_vertices must be at least 4")
    now = _utc(now)
    style = STYLES[obj.kind]
    out: list[tuple[str, bytes]] = []
    for index, volume in enumerate(obj.volumes):
        window = _window(volume, now, stale)
        if window is None:
            continue
        start, stale_at = window
        uid = object_uid(obj.kind, obj.id, index)
        name = _name(obj, index)
        label = name if start <= now else _label(f"{name} (from {format_time(start)})", name)
        footprint = volume.footprint
        geometry = footprint.geometry
        if isinstance(geometry, Point):
            lon, lat = float(geometry.x), float(geometry.y)
            if footprint.radius_m > 0:
                root, detail = _event(uid, CIRCLE_TYPE, lat, lon, now=now, start=start, stale=stale_at)
                shape = SubElement(detail, "shape")
                r = _metres(footprint.radius_m)
                SubElement(shape, "ellipse", {"major": r, "minor": r, "angle": "360"})
                _style(detail, style, closed=True)
                SubElement(detail, "labels_on", {"value": "true"})
                _text_details(detail, label, _remarks(obj, index, volume))
                _tag(detail, obj, index)
                out.append((uid, _finish(root)))
            if obj.kind is Kind.SITE:
                marker = f"{uid}.marker"
                root, detail = _event(marker, SPOT_TYPE, lat, lon, now=now, start=start, stale=stale_at)
                colour = str(argb(style.stroke))
                SubElement(detail, "color", {"argb": colour})
                SubElement(detail, "usericon", {"iconsetpath": f"COT_MAPPING_SPOTMAP/{SPOT_TYPE}/{colour}"})
                _text_details(detail, label, _remarks(obj, index, volume))
                _tag(detail, obj, index)
                out.append((marker, _finish(root)))
            elif footprint.radius_m <= 0:  # pragma: no cover - a point nfz always has a radius
                raise ValueError(f"{obj.kind.value} {obj.id!r} volume {index} is a point without a radius")
            continue
        # u-d-f has no holes: a polygon with holes is drawn unfilled, its holes as dashed outlines
        has_holes = any(len(p.interiors) for p in _polygons(geometry))
        for part in _parts(geometry, max_vertices):
            part_uid = uid + part.suffix
            lat, lon = _anchor(part.coords, part.closed)
            root, detail = _event(
                part_uid, POLYGON_TYPE if part.closed else LINE_TYPE, lat, lon, now=now, start=start, stale=stale_at
            )
            for x, y in part.coords:
                SubElement(detail, "link", {"point": f"{_deg(y)},{_deg(x)}"})
            part_style = Style(style.stroke, None if has_holes else style.fill, style.weight, style.dashed or part.hole)
            _style(detail, part_style, closed=part.closed)
            SubElement(detail, "labels_on", {"value": "false" if part.hole else "true"})
            notes = []
            if part.hole:
                notes.append("This outline is a hole in the area (outside it).")
            if part.simplified_m:
                way = "enlarged" if part.closed and not part.hole else "moved"
                notes.append(f"Outline simplified for display ({way} by at most about {part.simplified_m:.0f} m).")
            _text_details(detail, label, _remarks(obj, index, volume, " ".join(notes)))
            _tag(detail, obj, index)
            out.append((part_uid, _finish(root)))
    return out


def object_events(
    obj: WorldObject, *, now: datetime, stale: timedelta, max_vertices: int = MAX_VERTICES
) -> list[bytes]:
    """CoT events drawing an object: one per volume (and per part, hole and site marker), in order.

    * a polygon (``nfz`` polygon, ``boundary``) is a closed ``u-d-f``; a
      multipolygon, including a polygon split at the antimeridian as RFC 7946
      asks, gives one ``u-d-f`` per part (ATAK then draws the 180° meridian as
      an edge); each hole is its own unfilled, dashed ``u-d-f``, and a
      polygon with holes is not filled;
    * a circle (``nfz`` or ``site``: a Point with a radius) is a ``u-d-c-c``
      (one event even across the antimeridian: the client draws it);
    * a line or movement is an open ``u-d-f`` along its centre line (the
      buffer or corridor width is in the remarks), one per part;
    * a site is also a spot marker (``b-m-p-s-m``, uid ``<uid>.marker``).

    Only volumes in force at some time in ``[now, now + stale)`` are drawn:
    ``start`` is ``max(now, volume start)`` (a volume starting later is
    labelled "(from <time>)") and ``stale`` is ``min(volume end, now +
    stale)``; republish before ``stale`` to keep the picture.  A ring or line
    with more than ``max_vertices`` vertices is simplified for display so that
    a zone's outline only grows (a hole's only shrinks), with a note in the
    remarks.  Intents raise :class:`ValueError`: they are never published.
    """
    return [data for _, data in object_items(obj, now=now, stale=stale, max_vertices=max_vertices)]


# ---------------------------------------------------------------------------------------------
# Deletion, live events, pings


def delete_event(uid: str, *, now: datetime, stale: timedelta = timedelta(minutes=1)) -> bytes:
    """The standard TAK deletion of the drawing or marker ``uid``: a ``t-x-d-d`` event.

    The target is named by ``<link uid=... relation="none" type="none"/>``;
    ``<__forcedelete/>`` asks clients to remove it even if it is locked.  The
    event's own uid is derived from the target's.
    """
    now = _utc(now)
    if not (0 < len(uid) <= MAX_ID_CHARS) or not uid.isprintable():
        raise ValueError(f"uid {uid[:60]!r} is not 1 to {MAX_ID_CHARS} printable characters")
    own = "detente.delete." + hashlib.sha256(uid.encode()).hexdigest()[:32]
    root, detail = _event(own, DELETE_TYPE, 0.0, 0.0, now=now, start=now, stale=now + stale)
    SubElement(detail, "link", {"uid": uid, "relation": "none", "type": "none"})
    SubElement(detail, "__forcedelete")
    return _finish(root)


_EVENT_LABELS: Final[dict[EventType, str]] = {
    EventType.INCURSION: "{track} in {kind} {other}",
    EventType.BOUNDARY_CROSSING: "{track} crossed {kind} {other}",
    EventType.SEPARATION: "{track} separation with {other}",
    EventType.PROXIMITY: "{track} near {kind} {other}",
}


def track_event_marker(
    event: Event, lon: float, lat: float, *, now: datetime, stale: timedelta = timedelta(minutes=5)
) -> bytes:
    """A live event as a coloured spot marker (``b-m-p-s-m``) at ``(lon, lat)``, uid :func:`event_uid`.

    The label names the track and what it is in conflict with; the remarks
    give the type, track and party, the other object or track, the episode's
    start and end and the least distance.  Sending it again with a new
    position moves it; :func:`delete_event` of its uid removes it.  A spot
    marker, not an ``b-a-o-tbl`` alarm: that is a TAK user's own emergency
    call, and clients ring for it.
    """
    now = _utc(now)
    if not (math.isfinite(lon) and math.isfinite(lat) and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        raise ValueError(f"({lon}, {lat}) is not a position in lon [-180, 180], lat [-90, 90]")
    if stale <= timedelta(0):
        raise ValueError("stale must be positive")
    uid = event_uid(event)
    other = event.other
    label = _label(
        _EVENT_LABELS[event.type].format(track=event.track, kind=other.kind, other=other.id), f"detente {event.type}"
    )
    remarks = "\n".join(
        [
            f"{event.type.value.replace('_', ' ').capitalize()}: track {event.track} (party {event.party}).",
            f"With {other.kind} {other.id} (party {other.party}).",
            f"From {format_time(event.start)} to {format_time(event.end)}; "
            f"least distance {event.min_distance_m:.0f} m.",
            "Published by detente.",
        ]
    )
    colour = str(argb(EVENT_COLOURS[event.type]))
    root, detail = _event(uid, SPOT_TYPE, lat, lon, now=now, start=now, stale=now + stale)
    SubElement(detail, "color", {"argb": colour})
    SubElement(detail, "usericon", {"iconsetpath": f"COT_MAPPING_SPOTMAP/{SPOT_TYPE}/{colour}"})
    _text_details(detail, label, remarks)
    SubElement(
        detail,
        "__detente",
        {"event": event.type.value, "track": _label(event.track, "?"), "other": _label(other.id, "?")},
    )
    return _finish(root)


def ping_event(uid: str = "detente-publisher", *, now: datetime, stale: timedelta = timedelta(seconds=20)) -> bytes:
    """A TAK keep-alive ping (``t-x-c-t``), as clients send to their server."""
    now = _utc(now)
    root, _ = _event(f"{uid}-ping", PING_TYPE, 0.0, 0.0, now=now, start=now, stale=now + stale)
    return _finish(root)


__all__ = [
    "CIRCLE_TYPE",
    "DELETE_TYPE",
    "EVENT_COLOURS",
    "HOW",
    "LINE_TYPE",
    "MAX_VERTICES",
    "POLYGON_TYPE",
    "PUBLISHED_KINDS",
    "SPOT_TYPE",
    "STYLES",
    "Style",
    "argb",
    "delete_event",
    "event_uid",
    "object_events",
    "object_items",
    "object_uid",
    "ping_event",
    "track_event_marker",
]
