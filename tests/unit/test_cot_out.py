"""Cursor-on-Target out: the drawings, markers and deletions detente publishes, and the picture diff.

The XML is read back here with defusedxml (never the stdlib parser) for the
details, and with detente's own hardened parser for the basics.
"""

from __future__ import annotations

import doctest
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, MultiLineString, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry

from detente.adapters.feeds.cot_publisher import changes, logged_reads, picture
from detente.adapters.interop import cot_out
from detente.adapters.interop.cot import UNKNOWN, category_of, decode, parse_event
from detente.adapters.interop.cot_out import (
    STYLES,
    argb,
    delete_event,
    event_uid,
    object_events,
    object_items,
    object_uid,
    ping_event,
    track_event_marker,
)
from detente.adapters.interop.feedmap import Assignment, Dropped, FeedMapping
from detente.adapters.interop.scenario import load_scenario
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.geodesic import distance_m
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Role, WorldObject
from detente.domain.tracks import Event, EventType, Other

DEMO = Path(__file__).resolve().parents[2] / "src" / "detente" / "demo" / "syria-2017.geojson"
NOW = datetime(2017, 7, 7, 10, 0, tzinfo=UTC)
STALE = timedelta(minutes=10)
RED, BLUE, ORANGE, GREEN = -65536, -16776961, -32768, -16711936


def obj(
    kind: Kind,
    geometry: BaseGeometry,
    radius_m: float = 0.0,
    *,
    oid: str = "x",
    time: TimeWindow | None = None,
    name: str | None = None,
    **fields: object,
) -> WorldObject:
    volume = Volume4D(Footprint(geometry, radius_m), AltitudeBand(), time or TimeWindow())
    extra = ({"name": name} if name is not None else {},)
    return WorldObject(kind, oid, "blue", (volume,), extra=extra, **fields)  # type: ignore[arg-type]


def xml(data: bytes) -> Element:
    root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    assert isinstance(root, Element)
    return root


def value(root: Element, name: str) -> str | None:
    element = root.find(f"detail/{name}")
    return None if element is None else element.get("value")


def links(root: Element) -> list[tuple[float, float]]:
    """The ``(lat, lon)`` of each ``<link point>``."""
    out = []
    for link in root.findall("detail/link"):
        lat, lon = link.get("point", "").split(",")
        out.append((float(lat), float(lon)))
    return out


SQUARE = Polygon([(36.0, 33.0), (36.2, 33.0), (36.2, 33.1), (36.0, 33.1), (36.0, 33.0)])


def test_doctests() -> None:
    assert doctest.testmod(cot_out).failed == 0


def test_argb_packs_a_signed_32_bit_integer() -> None:
    assert (argb(0xFFFFFFFF), argb(0x00000000), argb(0x7FFFFFFF), argb(0x80000000)) == (-1, 0, 2**31 - 1, -(2**31))
    with pytest.raises(ValueError):
        argb(1 << 32)


# ---------------------------------------------------------------------------------------------
# Each kind


def test_a_polygon_zone_is_a_closed_red_u_d_f_with_its_vertices_as_lat_lon_links() -> None:
    [data] = object_events(obj(Kind.NFZ, SQUARE, oid="golan", name="Area of separation"), now=NOW, stale=STALE)
    root = xml(data)
    assert (root.get("uid"), root.get("type"), root.get("how")) == ("detente.nfz.golan.0", "u-d-f", "h-g-i-g-o")
    points = links(root)
    assert points == [(lat, lon) for lon, lat in SQUARE.exterior.coords]  # lat first, ring closed
    assert points[0] == points[-1] and len(points) == 5
    assert value(root, "strokeColor") == str(RED)
    assert value(root, "fillColor") == str(argb(0x40FF0000))
    assert value(root, "strokeWeight") == "3.0"
    assert value(root, "labels_on") == "true"
    assert root.find("detail/contact").get("callsign") == "Area of separation"  # type: ignore[union-attr]
    remarks = root.find("detail/remarks").text  # type: ignore[union-attr]
    assert "No-fly zone golan (party blue)" in remarks  # type: ignore[operator]
    point = root.find("point")
    assert point is not None
    centre = SQUARE.centroid
    assert (float(point.get("lat", "")), float(point.get("lon", ""))) == pytest.approx((centre.y, centre.x))
    assert float(point.get("hae", "")) == UNKNOWN  # a drawing has no altitude: the band is in the remarks


def test_a_circular_zone_is_a_u_d_c_c_whose_ellipse_is_the_radius_in_metres() -> None:
    [data] = object_events(obj(Kind.NFZ, Point(38.618, 33.505), 55_000.0, oid="tanf"), now=NOW, stale=STALE)
    root = xml(data)
    assert (root.get("uid"), root.get("type")) == ("detente.nfz.tanf.0", "u-d-c-c")
    point = root.find("point")
    assert point is not None and (point.get("lat"), point.get("lon")) == ("33.5050000", "38.6180000")
    ellipse = root.find("detail/shape/ellipse")
    assert ellipse is not None
    assert (float(ellipse.get("major", "")), float(ellipse.get("minor", ""))) == (55_000.0, 55_000.0)
    assert ellipse.get("angle") == "360"  # what ATAK writes for a circle (deg360(360) = 0: not an ellipse)
    assert not root.findall("detail/link")
    assert value(root, "strokeColor") == str(RED) and value(root, "fillColor") is not None
    assert root.find("detail/contact").get("callsign") == "nfz tanf"  # type: ignore[union-attr]  # no name


def test_boundary_blue_line_orange_movement_green_dashed() -> None:
    [boundary] = object_events(obj(Kind.BOUNDARY, SQUARE), now=NOW, stale=STALE)
    assert value(xml(boundary), "strokeColor") == str(BLUE)
    route = LineString([(36.0, 33.0), (36.5, 33.2), (37.0, 33.1)])
    [line] = object_events(obj(Kind.LINE, route, 2000.0), now=NOW, stale=STALE)
    root = xml(line)
    assert root.get("type") == "u-d-f" and value(root, "strokeColor") == str(ORANGE)
    assert value(root, "fillColor") is None and value(root, "strokeStyle") is None
    assert links(root) == [(lat, lon) for lon, lat in route.coords]  # open: not closed
    assert "Buffer 2000 m" in root.find("detail/remarks").text  # type: ignore[union-attr,operator]
    [movement] = object_events(obj(Kind.MOVEMENT, route, 1000.0), now=NOW, stale=STALE)
    root = xml(movement)
    assert (value(root, "strokeColor"), value(root, "strokeStyle"), value(root, "fillColor")) == (
        str(GREEN),
        "dashed",
        None,
    )
    point = root.find("point")
    assert point is not None
    middle = route.interpolate(0.5, normalized=True)
    assert (float(point.get("lat", "")), float(point.get("lon", ""))) == pytest.approx((middle.y, middle.x))


def test_a_site_is_a_green_circle_and_a_spot_marker() -> None:
    site = obj(Kind.SITE, Point(38.7, 33.29), 3000.0, oid="rukban", name="Rukban camp")
    items = object_items(site, now=NOW, stale=STALE)
    assert [uid for uid, _ in items] == ["detente.site.rukban.0", "detente.site.rukban.0.marker"]
    circle, marker = (xml(data) for _, data in items)
    assert circle.get("type") == "u-d-c-c" and value(circle, "strokeColor") == str(GREEN)
    assert circle.find("detail/shape/ellipse").get("major") == "3000.0"  # type: ignore[union-attr]
    assert marker.get("type") == "b-m-p-s-m"
    assert marker.find("detail/color").get("argb") == str(GREEN)  # type: ignore[union-attr]
    assert marker.find("detail/usericon").get("iconsetpath") == f"COT_MAPPING_SPOTMAP/b-m-p-s-m/{GREEN}"  # type: ignore[union-attr]
    assert marker.find("detail/contact").get("callsign") == "Rukban camp"  # type: ignore[union-attr]
    # a site without a protection radius is only its marker
    bare = object_items(obj(Kind.SITE, Point(38.7, 33.29), 0.0, oid="p"), now=NOW, stale=STALE)
    assert [uid for uid, _ in bare] == ["detente.site.p.0.marker"]


def test_styles_cover_every_published_kind_and_intents_are_refused() -> None:
    assert set(STYLES) == set(cot_out.PUBLISHED_KINDS)
    intent = obj(Kind.INTENT, SQUARE, category=None)
    with pytest.raises(ValueError, match="intents are private"):
        object_events(intent, now=NOW, stale=STALE)
    assert picture([intent], now=NOW, stale=STALE) == {}


def test_each_volume_is_its_own_event() -> None:
    a = Volume4D(Footprint(SQUARE), AltitudeBand(0, 1000))
    b = Volume4D(Footprint(Point(36.5, 33.5), 5000.0), AltitudeBand(1000, 2000))
    zone = WorldObject(Kind.NFZ, "two", "blue", (a, b))
    uids = [uid for uid, _ in object_items(zone, now=NOW, stale=STALE)]
    assert uids == ["detente.nfz.two.0", "detente.nfz.two.1"]
    remarks = [xml(d).find("detail/remarks").text for d in object_events(zone, now=NOW, stale=STALE)]  # type: ignore[union-attr]
    assert "Altitude 0 m to 1000 m MSL" in remarks[0]  # type: ignore[operator]
    assert "Altitude 1000 m to 2000 m MSL" in remarks[1]  # type: ignore[operator]


# ---------------------------------------------------------------------------------------------
# Time


def test_time_start_and_stale_follow_the_volume_window() -> None:
    def times(window: TimeWindow) -> list[tuple[str | None, str | None, str | None]]:
        events = object_events(obj(Kind.NFZ, SQUARE, time=window), now=NOW, stale=STALE)
        return [(r.get("time"), r.get("start"), r.get("stale")) for r in map(xml, events)]

    always = ("2017-07-07T10:00:00.000Z", "2017-07-07T10:00:00.000Z", "2017-07-07T10:10:00.000Z")
    assert times(TimeWindow()) == [always]
    # valid until an end sooner than now + stale: stale is the end
    ends = TimeWindow(NOW - timedelta(hours=1), NOW + timedelta(minutes=3))
    assert times(ends) == [("2017-07-07T10:00:00.000Z", "2017-07-07T10:00:00.000Z", "2017-07-07T10:03:00.000Z")]
    # starting within the horizon: start is the volume's start, the label says so
    soon = TimeWindow(NOW + timedelta(minutes=4), None)
    assert times(soon) == [("2017-07-07T10:00:00.000Z", "2017-07-07T10:04:00.000Z", "2017-07-07T10:10:00.000Z")]
    [data] = object_events(obj(Kind.NFZ, SQUARE, time=soon, name="Z"), now=NOW, stale=STALE)
    assert xml(data).find("detail/contact").get("callsign") == "Z (from 2017-07-07T10:04:00Z)"  # type: ignore[union-attr]
    # over, or not yet within the horizon: nothing to draw
    assert times(TimeWindow(None, NOW)) == []
    assert times(TimeWindow(NOW + STALE, None)) == []


def test_bad_arguments_are_refused() -> None:
    zone = obj(Kind.NFZ, SQUARE)
    with pytest.raises(ValueError, match="aware"):
        object_events(zone, now=datetime(2017, 7, 7, 10), stale=STALE)
    with pytest.raises(ValueError, match="positive"):
        object_events(zone, now=NOW, stale=timedelta(0))
    with pytest.raises(ValueError, match="aware"):
        delete_event("a", now=datetime(2017, 7, 7, 10))
    with pytest.raises(ValueError, match="printable"):
        delete_event("a\nb", now=NOW)


# ---------------------------------------------------------------------------------------------
# Multi-part geometry, the antimeridian, holes, big outlines


def test_an_antimeridian_split_polygon_is_one_event_per_part() -> None:
    # RFC 7946: a polygon across 180 degrees is given split, as a MultiPolygon
    east = Polygon([(179.0, -17.0), (180.0, -17.0), (180.0, -16.0), (179.0, -16.0), (179.0, -17.0)])
    west = Polygon([(-180.0, -17.0), (-179.0, -17.0), (-179.0, -16.0), (-180.0, -16.0), (-180.0, -17.0)])
    items = object_items(obj(Kind.NFZ, MultiPolygon([east, west]), oid="fiji"), now=NOW, stale=STALE)
    assert [uid for uid, _ in items] == ["detente.nfz.fiji.0", "detente.nfz.fiji.0.p1"]
    for (_, data), part in zip(items, (east, west), strict=True):
        root = xml(data)
        assert root.get("type") == "u-d-f"
        assert links(root) == [(lat, lon) for lon, lat in part.exterior.coords]
        assert all(-180.0 <= lon <= 180.0 for _, lon in links(root))
        assert value(root, "fillColor") is not None


def test_an_antimeridian_split_line_is_one_event_per_part_and_a_circle_stays_one() -> None:
    split = MultiLineString([[(179.0, 10.0), (180.0, 10.5)], [(-180.0, 10.5), (-179.0, 11.0)]])
    uids = [uid for uid, _ in object_items(obj(Kind.LINE, split, 500.0, oid="l"), now=NOW, stale=STALE)]
    assert uids == ["detente.line.l.0", "detente.line.l.0.p1"]
    [circle] = object_events(obj(Kind.NFZ, Point(179.9, 0.0), 50_000.0), now=NOW, stale=STALE)
    assert xml(circle).get("type") == "u-d-c-c"  # the client draws a circle across 180 degrees itself


def test_a_polygon_with_a_hole_is_unfilled_and_its_hole_drawn_dashed() -> None:
    hole = [(36.05, 33.02), (36.1, 33.02), (36.1, 33.05), (36.05, 33.05), (36.05, 33.02)]
    with_hole = Polygon(SQUARE.exterior.coords, [hole])
    items = object_items(obj(Kind.BOUNDARY, with_hole, oid="b"), now=NOW, stale=STALE)
    assert [uid for uid, _ in items] == ["detente.boundary.b.0", "detente.boundary.b.0.p0.h1"]
    outer, inner = (xml(d) for _, d in items)
    assert value(outer, "fillColor") is None and value(inner, "fillColor") is None
    assert value(inner, "strokeStyle") == "dashed" and value(inner, "labels_on") == "false"
    assert links(inner) == [(lat, lon) for lon, lat in hole]
    assert "hole" in inner.find("detail/remarks").text  # type: ignore[union-attr,operator]


def test_a_big_outline_is_simplified_outward_for_display() -> None:
    big = Point(36.0, 33.0).buffer(0.5, quad_segs=1000)  # about 4000 vertices
    assert len(big.exterior.coords) > 3000
    [data] = object_events(obj(Kind.NFZ, big), now=NOW, stale=STALE, max_vertices=200)
    root = xml(data)
    shown = Polygon([(lon, lat) for lat, lon in links(root)])
    assert len(links(root)) <= 200
    assert shown.covers(big)  # the zone drawn is never smaller than the zone
    assert shown.area < big.area * 1.01
    assert "simplified for display" in root.find("detail/remarks").text  # type: ignore[union-attr,operator]
    assert parse_event(data).uid == "detente.nfz.x.0"


def test_a_long_line_is_simplified_within_a_tolerance() -> None:
    line = LineString([(36.0 + i * 1e-4, 33.0 + 1e-5 * (i % 7)) for i in range(5000)])
    [data] = object_events(obj(Kind.LINE, line, 100.0), now=NOW, stale=STALE, max_vertices=100)
    shown = links(xml(data))
    assert len(shown) <= 100
    assert shown[0] == (33.0, 36.0)


# ---------------------------------------------------------------------------------------------
# Uids and text


def test_uids_are_stable_and_unambiguous() -> None:
    assert object_uid(Kind.NFZ, "tanf-55km", 0) == "detente.nfz.tanf-55km.0"
    # a dot in an id is encoded, so "a.0" volume 1 and "a" volume 0 part 1 never meet
    assert object_uid(Kind.NFZ, "a.0", 1) == "detente.nfz.a%2E0.1"
    assert object_uid(Kind.SITE, "é ü", 0) == "detente.site.%C3%A9%20%C3%BC.0"
    long_id = "z" * 500
    uid = object_uid(Kind.LINE, long_id, 3)
    assert uid.startswith("detente.line.~") and uid.endswith(".3") and len(uid) < 200
    assert uid == object_uid(Kind.LINE, long_id, 3) != object_uid(Kind.LINE, long_id + "!", 3)
    [data] = object_events(obj(Kind.NFZ, SQUARE, oid=long_id), now=NOW, stale=STALE)
    assert parse_event(data).uid == object_uid(Kind.NFZ, long_id, 0)


def test_hostile_names_are_escaped_and_cleaned() -> None:
    name = "Zone <b>\"&'</b>\x00\x07 with\nnewline " + "y" * 300
    zone = obj(Kind.NFZ, SQUARE, oid="a\x01b", name=name)
    [data] = object_events(zone, now=NOW, stale=STALE)
    event = parse_event(data)  # well-formed, and the callsign is 1 to 200 printable characters
    assert event.callsign is not None and event.callsign.startswith("Zone <b>\"&'</b>")
    assert len(event.callsign) <= 200 and event.callsign.isprintable()
    assert event.uid == "detente.nfz.a%01b.0"
    assert b"<!DOCTYPE" not in data and b"\x00" not in data
    # JSON can carry a lone surrogate ("\\ud800"): encoded in the uid, replaced in the text
    [data] = object_events(obj(Kind.NFZ, SQUARE, oid="\ud800", name="\udfff"), now=NOW, stale=STALE)
    assert parse_event(data).uid == "detente.nfz.%ED%A0%80.0"


# ---------------------------------------------------------------------------------------------
# Deletion, live events, pings


def test_delete_event_is_the_standard_forced_deletion() -> None:
    data = delete_event("detente.nfz.golan.0", now=NOW)
    root = xml(data)
    assert root.get("type") == "t-x-d-d"
    link = root.find("detail/link")
    assert link is not None
    assert (link.get("uid"), link.get("relation"), link.get("type")) == ("detente.nfz.golan.0", "none", "none")
    assert root.find("detail/__forcedelete") is not None
    event = parse_event(data)
    assert event.stale > event.time  # a deletion must not be stale on arrival
    assert (
        event.uid != "detente.nfz.golan.0"
        and event.uid == parse_event(delete_event("detente.nfz.golan.0", now=NOW)).uid
    )


EVENT = Event(
    EventType.INCURSION,
    "RU-SU24-01",
    "ru",
    Other("nfz", "tanf-55km", "coalition"),
    datetime(2017, 7, 7, 9, 1, 2, 345000, tzinfo=UTC),
    datetime(2017, 7, 7, 9, 20, tzinfo=UTC),
    0.0,
)


def test_a_live_event_is_a_coloured_spot_marker_naming_track_and_other() -> None:
    data = track_event_marker(EVENT, 38.6, 33.4, now=NOW)
    root = xml(data)
    assert root.get("type") == "b-m-p-s-m"
    assert (
        root.get("uid") == event_uid(EVENT) == "detente.event.incursion.RU-SU24-01.nfz.tanf-55km.20170707T090102.345Z"
    )
    point = root.find("point")
    assert point is not None and (point.get("lat"), point.get("lon")) == ("33.4000000", "38.6000000")
    assert root.find("detail/color").get("argb") == str(RED)  # type: ignore[union-attr]
    assert root.find("detail/contact").get("callsign") == "RU-SU24-01 in nfz tanf-55km"  # type: ignore[union-attr]
    remarks = root.find("detail/remarks").text or ""  # type: ignore[union-attr]
    for text in ("Incursion", "RU-SU24-01", "party ru", "nfz tanf-55km", "party coalition", "2017-07-07T09:20:00Z"):
        assert text in remarks
    # the same episode later, elsewhere: same uid, so the marker moves
    assert parse_event(track_event_marker(EVENT, 38.7, 33.5, now=NOW + STALE)).uid == event_uid(EVENT)
    with pytest.raises(ValueError):
        track_event_marker(EVENT, 200.0, 33.4, now=NOW)


def test_ping_is_a_tak_ping() -> None:
    event = parse_event(ping_event(now=NOW))
    assert (event.type, event.is_ping) == ("t-x-c-t", True)


# ---------------------------------------------------------------------------------------------
# Parse-back: detente reads its own output, and never as a track


def demo_events() -> dict[str, bytes]:
    scenario = load_scenario(DEMO)
    return picture(scenario.objects.values(), now=NOW, stale=STALE)


def test_every_demo_event_parses_back_with_detentes_hardened_parser() -> None:
    events = demo_events()
    scenario = load_scenario(DEMO)
    kinds = {uid.split(".")[1] for uid in events}
    assert kinds == {"nfz", "boundary", "line", "site", "movement"}
    assert not any(".intent." in uid for uid in events)
    assert "detente.nfz.sw-ceasefire.0" not in events  # in force from 9 July only
    # the movement (04:00-12:00 on 7 July) is drawn, and goes stale at most at its end
    assert "detente.movement.convoy-qamishli-ain-issa.0" in events
    mapping = FeedMapping("loopback", default=Assignment("blue"))
    for uid, data in events.items():
        event = parse_event(data)
        assert event.uid == uid
        assert event.type in ("u-d-f", "u-d-c-c", "b-m-p-s-m")
        assert event.time <= event.start <= event.stale
        root = xml(data)
        point = root.find("point")
        assert point is not None
        assert (event.lat, event.lon) == (float(point.get("lat", "")), float(point.get("lon", "")))
        # fed back into a detente listener (even one with a default party), a drawing never becomes a track
        assert isinstance(category_of(event.type), Dropped)
        result = decode(data, mapping)
        assert isinstance(result, Dropped) and result.kind == "ignored"
    tanf = parse_event(events["detente.nfz.tanf-55km.0"])
    centre = scenario.objects[(Kind.NFZ, "tanf-55km")].volumes[0].footprint.geometry
    assert distance_m(tanf.lon, tanf.lat, centre.x, centre.y) < 0.1


def test_deletions_and_markers_parse_back_too() -> None:
    for data in (delete_event("detente.site.camp-rukban.0.marker", now=NOW), track_event_marker(EVENT, 0, 0, now=NOW)):
        assert isinstance(decode(data, FeedMapping("f", default=Assignment("blue"))), Dropped)


@settings(max_examples=60, deadline=None)
@given(
    lon=st.floats(-179.0, 178.0),
    lat=st.floats(-80.0, 79.0),
    size=st.floats(0.001, 1.0),
    radius=st.floats(1.0, 500_000.0),
    name=st.text(max_size=80),
    oid=st.text(min_size=1, max_size=40),
)
def test_generated_objects_always_parse_back(
    lon: float, lat: float, size: float, radius: float, name: str, oid: str
) -> None:
    box = shapely.box(lon, lat, lon + size, lat + size)
    for zone in (obj(Kind.NFZ, box, oid=oid, name=name), obj(Kind.NFZ, Point(lon, lat), radius, oid=oid, name=name)):
        for uid, data in object_items(zone, now=NOW, stale=STALE):
            event = parse_event(data)
            assert event.uid == uid and event.callsign


# ---------------------------------------------------------------------------------------------
# The picture and its changes


def test_changes_sends_what_is_new_or_different_and_deletes_what_is_gone() -> None:
    scenario = load_scenario(DEMO)
    objects = list(scenario.objects.values())
    before = picture(objects, now=NOW, stale=STALE)
    later = NOW + timedelta(minutes=5)
    same = picture(objects, now=later, stale=STALE)
    assert same != before  # the times moved ...
    assert changes(before, same) == ([], [])  # ... but nothing drawn changed
    to_send, to_delete = changes(before, same, refresh=True)
    assert (len(to_send), to_delete) == (len(same), [])
    # withdraw the Rukban camp, move a hospital
    kept = [o for o in objects if o.id != "camp-rukban"]
    moved = [
        WorldObject(o.kind, o.id, o.party, (Volume4D(Footprint(Point(39.0, 35.9), 1500.0)),), extra=o.extra)
        if o.id == "hospital-raqqa"
        else o
        for o in kept
    ]
    after = picture(moved, now=later, stale=STALE)
    to_send, to_delete = changes(before, after)
    assert to_delete == ["detente.site.camp-rukban.0", "detente.site.camp-rukban.0.marker"]
    assert sorted(parse_event(d).uid for d in to_send) == [
        "detente.site.hospital-raqqa.0",
        "detente.site.hospital-raqqa.0.marker",
    ]


def test_the_picture_follows_need_to_know_for_its_audience() -> None:
    objects = list(load_scenario(DEMO).objects.values())
    everything = picture(objects, now=NOW, stale=STALE)

    def kinds(events: dict[str, bytes]) -> set[str]:
        return {uid.split(".")[1] for uid in events}

    # a military party's tablets: agreed geography and the humanitarian sites and movements (reads logged)
    military = picture(objects, now=NOW, stale=STALE, audience=(Role.MILITARY, "ru"))
    assert military == everything
    logged = logged_reads(objects, (Role.MILITARY, "ru"))
    assert {o.kind for o in logged} == {Kind.SITE, Kind.MOVEMENT}
    # an observer's: no other party's sites or movements
    observer = picture(objects, now=NOW, stale=STALE, audience=(Role.OBSERVER, "observers"))
    assert kinds(observer) == {"nfz", "boundary", "line"}
    assert logged_reads(objects, (Role.OBSERVER, "observers")) == []
    # the humanitarian party that owns them sees its own
    ocha = picture(objects, now=NOW, stale=STALE, audience=(Role.HUMANITARIAN, "ocha"))
    assert kinds(ocha) == {"nfz", "boundary", "line", "site", "movement"}
