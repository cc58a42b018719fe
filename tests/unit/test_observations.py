"""Observer reports: reading hostile JSON (every problem listed) and the estimated position of the event.

Geodesic checks use values known independently of pyproj's direct problem
(one degree of longitude on the equator is a·π/180; near the equator the
meridian arc grows by a(1 - e²)·π/180 per degree) and pyproj's
inverse problem.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from pyproj import Geod

from detente.domain.errors import InvalidInput
from detente.domain.observations import (
    BEARING_HALF_WIDTH_DEG,
    DEFAULT_RANGE_M,
    MIN_UNCERTAINTY_M,
    ObservedEvent,
    ObservedHow,
    ObserverReport,
    estimate_positions,
    reports_from_json,
)

GEOD = Geod(ellps="WGS84")
T = datetime(2017, 7, 9, 20, 10, tzinfo=UTC)


def good(**changes: Any) -> dict[str, Any]:
    """A valid report's JSON (an OSCE-style 'heard 12 explosions 3-5 km south-east'), with ``changes``."""
    obj: dict[str, Any] = {
        "id": "r1",
        "party": "observers",
        "observer": {"lon": 36.19, "lat": 32.64},
        "start": "2017-07-09T23:10:00+03:00",
        "end": "2017-07-09T23:22:00+03:00",
        "event_type": "impact",
        "observed_how": "heard",
        "weapon": "artillery",
        "bearing_deg": 135,
        "distance_m": [3000, 5000],
        "count": 12,
        "text": "Positioned 3 km west of Saida, the team heard 12 undetermined explosions 3-5 km south-east.",
    }
    obj.update(changes)
    return {k: v for k, v in obj.items() if v is not _DROP}


_DROP = object()


def problems_of(obj: Any) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as e:
        ObserverReport.from_json(obj)
    return [(p.rule, p.message) for p in e.value.problems]


def report(**changes: Any) -> ObserverReport:
    base = ObserverReport(
        id="r",
        party="observers",
        lon=36.0,
        lat=32.0,
        start=T,
        end=T,
        event_type=ObservedEvent.IMPACT,
        observed_how=ObservedHow.HEARD,
    )
    return replace(base, **changes)


# --- reading -------------------------------------------------------------------------------------------


def test_a_full_report_is_read_with_its_times_in_utc() -> None:
    r = ObserverReport.from_json(good())
    assert r.id == "r1" and r.party == "observers"
    assert (r.lon, r.lat) == (36.19, 32.64)
    assert r.start == datetime(2017, 7, 9, 20, 10, tzinfo=UTC)
    assert r.end == datetime(2017, 7, 9, 20, 22, tzinfo=UTC)
    assert r.start.utcoffset() == timedelta(0)
    assert r.event_type is ObservedEvent.IMPACT and r.observed_how is ObservedHow.HEARD
    assert (r.weapon, r.bearing_deg, r.distance_m, r.count) == ("artillery", 135.0, (3000.0, 5000.0), 12)
    assert r.text.startswith("Positioned 3 km west of Saida")


def test_optional_fields_default_and_a_single_time_is_a_zero_span() -> None:
    obj = good(end=_DROP, weapon=_DROP, bearing_deg=_DROP, distance_m=_DROP, count=_DROP, text=_DROP)
    r = ObserverReport.from_json(obj)
    assert r.start == r.end
    assert (r.weapon, r.bearing_deg, r.distance_m, r.count, r.text) == (None, None, None, 1, "")
    # nulls mean the same as absent fields
    assert (
        ObserverReport.from_json(good(end=None, weapon=None, bearing_deg=None, distance_m=None, text=None)).count == 12
    )


def test_a_report_round_trips_through_json() -> None:
    r = ObserverReport.from_json(good())
    assert ObserverReport.from_json(json.loads(json.dumps(r.to_json()))) == r


@pytest.mark.parametrize("event", [e.value for e in ObservedEvent])
@pytest.mark.parametrize("how", [h.value for h in ObservedHow])
def test_every_event_type_and_way_of_observing_is_read(event: str, how: str) -> None:
    r = ObserverReport.from_json(good(event_type=event, observed_how=how))
    assert (r.event_type.value, r.observed_how.value) == (event, how)


HOSTILE: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown field", {"bearing": 135}, "field", "unknown field 'bearing'"),
    ("missing id", {"id": _DROP}, "field", "'id' is required"),
    ("missing observer", {"observer": _DROP}, "field", "'observer' is required"),
    ("missing start", {"start": _DROP}, "field", "'start' is required"),
    ("missing event type", {"event_type": _DROP}, "field", "'event_type' is required"),
    ("missing how", {"observed_how": _DROP}, "field", "'observed_how' is required"),
    ("blank id", {"id": "  "}, "id", "id must be a non-blank string"),
    ("numeric id", {"id": 7}, "id", "'id' must be a string, not the number 7"),
    ("long party", {"party": "x" * 201}, "party", "at most 200 characters"),
    ("numeric weapon", {"weapon": 152}, "weapon", "'weapon' must be a string"),
    ("naive start", {"start": "2017-07-09T23:10:00"}, "time", "start '2017-07-09T23:10:00' has no UTC offset"),
    ("naive end", {"end": "2017-07-09T23:22:00"}, "time", "end '2017-07-09T23:22:00' has no UTC offset"),
    ("not a time", {"start": "yesterday evening"}, "time", "start 'yesterday evening' is not an ISO 8601 time"),
    ("numeric time", {"start": 1499631000}, "time", "start must be an ISO 8601 string, not the number"),
    ("end before start", {"end": "2017-07-09T23:00:00+03:00"}, "time", "end 2017-07-09T20:00:00Z is before start"),
    ("span over a day", {"end": "2017-07-11T00:00:00+03:00"}, "time", "longer than 1 day"),
    ("lon out of range", {"observer": {"lon": 196.19, "lat": 32.64}}, "observer", "observer.lon 196.19 is not"),
    ("lat out of range", {"observer": {"lon": 36.19, "lat": -91.0}}, "observer", "observer.lat -91.0 is not"),
    ("lon not finite", {"observer": {"lon": math.nan, "lat": 32.64}}, "observer", "observer.lon nan is not a finite"),
    ("lat infinite", {"observer": {"lon": 36.19, "lat": math.inf}}, "observer", "observer.lat inf is not a finite"),
    ("lon a string", {"observer": {"lon": "36.19", "lat": 32.64}}, "observer", "observer.lon must be a number"),
    ("lat a boolean", {"observer": {"lon": 36.19, "lat": True}}, "observer", "not a boolean"),
    ("observer a list", {"observer": [36.19, 32.64]}, "observer", 'observer must be {"lon": number, "lat": number}'),
    ("lon too large", {"observer": {"lon": 10**400, "lat": 32.64}}, "observer", "observer.lon is too large"),
    ("unknown event", {"event_type": "explosion"}, "event_type", "event_type the string 'explosion' is not one of"),
    ("unknown how", {"observed_how": "smelled"}, "observed_how", "is not one of heard, seen, camera, uav"),
    ("event a list", {"event_type": ["impact"]}, "event_type", "event_type an array is not one of"),
    ("bearing negative", {"bearing_deg": -10}, "bearing_deg", "bearing_deg -10.0 is not a finite number"),
    ("bearing above 360", {"bearing_deg": 361}, "bearing_deg", "in [0, 360]"),
    ("bearing not finite", {"bearing_deg": math.nan}, "bearing_deg", "bearing_deg nan is not a finite"),
    ("bearing a compass point", {"bearing_deg": "SE"}, "bearing_deg", "bearing_deg must be a number"),
    ("absurd distance", {"distance_m": [3000, 60000]}, "distance_m", "60000 m is beyond 50000 m"),
    ("distance min above max", {"distance_m": [5000, 3000]}, "distance_m", "0 <= min <= max"),
    ("negative distance", {"distance_m": [-1000, 3000]}, "distance_m", "0 <= min <= max"),
    ("distance not finite", {"distance_m": [3000, math.inf]}, "distance_m", "must be finite numbers"),
    ("distance a number", {"distance_m": 4000}, "distance_m", "distance_m must be [min, max] in metres"),
    ("distance of three", {"distance_m": [1, 2, 3]}, "distance_m", "distance_m must be [min, max] in metres"),
    ("distance a string", {"distance_m": ["3 km", 5000]}, "distance_m", "distance_m min must be a number"),
    ("count zero", {"count": 0}, "count", "count 0 must be a whole number from 1"),
    ("count fractional", {"count": 2.5}, "count", "count must be a whole number, not the number 2.5"),
    ("count boolean", {"count": True}, "count", "count must be a whole number, not a boolean"),
    ("count absurd", {"count": 10**9}, "count", "from 1 to 100000"),
    ("text too long", {"text": "x" * 4001}, "text", "text has 4001 characters; at most 4000"),
    ("text not a string", {"text": ["a"]}, "text", "text must be a string"),
]


@pytest.mark.parametrize(("case", "changes", "rule", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_input_is_refused_with_a_clear_message(
    case: str, changes: dict[str, Any], rule: str, message: str
) -> None:
    found = problems_of(good(**changes))
    assert len(found) == 1, found
    assert found[0][0] == rule
    assert message in found[0][1], found[0][1]


def test_a_report_that_is_not_an_object_is_refused() -> None:
    assert problems_of([1, 2]) == [("report", "a report must be a JSON object, not an array")]
    assert problems_of(None)[0][1] == "a report must be a JSON object, not null"


def test_every_problem_of_a_report_is_listed_at_once() -> None:
    obj = good(
        start="2017-07-09T23:10:00",
        end="2017-07-09T23:22:00+03:00",
        observer={"lon": math.nan, "lat": 95},
        event_type="explosion",
        bearing_deg=400,
        distance_m=[3000, 80000],
        count=-3,
        text="x" * 5000,
        color="red",
    )
    rules = sorted(rule for rule, _ in problems_of(obj))
    assert rules == sorted(
        ["field", "time", "observer", "observer", "event_type", "bearing_deg", "distance_m", "count", "text"]
    )


def test_problems_carry_the_report_index_and_id() -> None:
    with pytest.raises(InvalidInput) as e:
        ObserverReport.from_json(good(id="saida-04", count=0), index=7)
    (p,) = e.value.problems
    assert (p.index, p.id) == (7, "saida-04")
    assert str(p).startswith("feature 7, id 'saida-04': [count]")


def test_hostile_json_text_with_nan_and_infinity_literals_is_refused() -> None:
    # Python's json module reads NaN and Infinity; they must not pass as numbers.
    raw = '{"id": "r", "party": "p", "observer": {"lon": NaN, "lat": Infinity}, "start": "2017-07-09T20:10:00Z",'
    raw += ' "event_type": "impact", "observed_how": "seen", "bearing_deg": -Infinity}'
    rules = [rule for rule, _ in problems_of(json.loads(raw))]
    assert rules == ["observer", "observer", "bearing_deg"]


def test_building_a_report_directly_checks_the_same_rules() -> None:
    with pytest.raises(InvalidInput) as e:
        report(start=datetime(2017, 7, 9, 20, 10), end=datetime(2017, 7, 9, 20, 10))
    assert [p.rule for p in e.value.problems] == ["time", "time"]
    with pytest.raises(InvalidInput, match="is before start"):
        report(end=T - timedelta(minutes=1))
    with pytest.raises(InvalidInput, match="beyond 50000 m"):
        report(distance_m=(0.0, 50_001.0))
    with pytest.raises(InvalidInput, match="count"):
        report(count=0)


def test_an_offset_time_is_the_same_instant_in_utc() -> None:
    r = ObserverReport.from_json(good(start="2017-07-09T23:10:00+03:00", end="2017-07-09T20:22:00Z"))
    assert r.start == datetime(2017, 7, 9, 23, 10, tzinfo=timezone(timedelta(hours=3)))
    assert r.end - r.start == timedelta(minutes=12)


def test_a_list_of_reports_lists_every_problem_and_refuses_duplicate_ids() -> None:
    with pytest.raises(InvalidInput) as e:
        reports_from_json([good(id="a"), good(id="b", count=0), good(id="a"), good(id="c", bearing_deg=999)])
    found = [(p.index, p.id, p.rule) for p in e.value.problems]
    assert found == [(1, "b", "count"), (2, "a", "duplicate-id"), (3, "c", "bearing_deg")]
    assert [r.id for r in reports_from_json([good(id="a"), good(id="b")])] == ["a", "b"]
    with pytest.raises(InvalidInput, match="reports must be a JSON array"):
        reports_from_json({"reports": []})


# --- estimated position --------------------------------------------------------------------------------


def test_a_report_due_east_on_the_equator_lands_at_the_arc_length_in_longitude() -> None:
    # Along the equator (a geodesic) 0.4 degree of longitude is 0.4·a·π/180 on WGS84.
    arc = 0.4 * 6_378_137.0 * math.pi / 180.0
    r = report(lon=0.0, lat=0.0, bearing_deg=90.0, distance_m=(arc - 1000.0, arc + 1000.0))
    lon, lat, _ = r.estimated_position()
    assert lon == pytest.approx(0.4, abs=1e-10)
    assert lat == pytest.approx(0.0, abs=1e-10)


def test_a_report_due_north_lands_on_the_meridian_at_the_arc_length() -> None:
    r = report(lon=36.0, lat=0.0, bearing_deg=0.0, distance_m=(20_000.0, 22_000.0))
    lon, lat, _ = r.estimated_position()
    assert lon == pytest.approx(36.0, abs=1e-12)
    # Near the equator the meridian arc grows by a(1 - e²)·π/180 per degree (110,574.3 m), to 1e-7 over 21 km.
    f = 1.0 / 298.257223563
    per_degree = 6_378_137.0 * (1.0 - f * (2.0 - f)) * math.pi / 180.0
    assert lat * per_degree == pytest.approx(21_000.0, abs=0.01)


@pytest.mark.parametrize(
    ("lon", "lat", "bearing", "band"),
    [
        (36.19, 32.64, 135.0, (3000.0, 5000.0)),  # 'heard ... 3-5 km south-east', near Saida
        (37.80, 48.00, 292.5, (5000.0, 7000.0)),  # Donetsk, 'west-north-west, 5-7 km'
        (179.99, 10.0, 90.0, (1000.0, 4000.0)),  # across the antimeridian
        (-70.0, -54.0, 225.0, (0.0, 2000.0)),  # southern hemisphere, a band from the observer
        (20.0, 89.9, 10.0, (8000.0, 9000.0)),  # across the north pole
    ],
)
def test_the_estimate_lies_on_the_bearing_at_the_middle_of_the_band(
    lon: float, lat: float, bearing: float, band: tuple[float, float]
) -> None:
    r = report(lon=lon, lat=lat, bearing_deg=bearing, distance_m=band)
    elon, elat, _ = r.estimated_position()
    azimuth, _, distance = GEOD.inv(lon, lat, elon, elat)
    assert distance == pytest.approx((band[0] + band[1]) / 2.0, abs=1e-3)
    if distance > 0:
        assert (azimuth - bearing + 180.0) % 360.0 - 180.0 == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("how", list(ObservedHow))
@pytest.mark.parametrize("band", [(3000.0, 5000.0), (0.0, 2000.0), (4000.0, 4000.0), (10_000.0, 50_000.0)])
def test_the_uncertainty_covers_the_whole_sector_and_no_more_than_needed(
    how: ObservedHow, band: tuple[float, float]
) -> None:
    r = report(lon=36.19, lat=32.64, bearing_deg=135.0, distance_m=band, observed_how=how)
    elon, elat, u = r.estimated_position()
    half = BEARING_HALF_WIDTH_DEG[how]
    az, d = np.meshgrid(np.linspace(135.0 - half, 135.0 + half, 41), np.linspace(band[0], band[1], 41))
    plon, plat, _ = GEOD.fwd(np.full(az.size, r.lon), np.full(az.size, r.lat), az.ravel(), d.ravel())
    _, _, reach = GEOD.inv(np.full(az.size, elon), np.full(az.size, elat), plon, plat)
    farthest = float(np.max(reach))
    # Covers every point of the sector (the planar law of cosines is within 0.1 % at 50 km) ...
    assert farthest <= u * 1.001
    # ... and is no bigger than the sector needs (the floor aside).
    assert u == pytest.approx(max(farthest, MIN_UNCERTAINTY_M), rel=2e-3)


def test_without_a_bearing_the_estimate_is_the_observer_with_the_band_as_radius() -> None:
    assert report(distance_m=(3000.0, 5000.0)).estimated_position() == (36.0, 32.0, 5000.0)
    assert report().estimated_position() == (36.0, 32.0, DEFAULT_RANGE_M)
    assert report(distance_m=(0.0, 0.0)).estimated_position() == (36.0, 32.0, MIN_UNCERTAINTY_M)


def test_without_a_band_a_bearing_points_into_the_default_range() -> None:
    lon, lat, u = report(bearing_deg=90.0).estimated_position()
    _, _, d = GEOD.inv(36.0, 32.0, lon, lat)
    assert d == pytest.approx(DEFAULT_RANGE_M / 2.0, abs=1e-3)
    assert DEFAULT_RANGE_M / 2.0 <= u <= DEFAULT_RANGE_M


def test_bearing_360_is_north() -> None:
    a = report(bearing_deg=360.0, distance_m=(1000.0, 3000.0)).estimated_position()
    b = report(bearing_deg=0.0, distance_m=(1000.0, 3000.0)).estimated_position()
    assert a == pytest.approx(b, abs=1e-9)


def test_many_estimates_at_once_equal_one_at_a_time() -> None:
    rs = [
        report(id="a", bearing_deg=45.0, distance_m=(1000.0, 3000.0)),
        report(id="b"),
        report(id="c", bearing_deg=200.0, observed_how=ObservedHow.UAV),
        report(id="d", distance_m=(0.0, 800.0)),
    ]
    lon, lat, u = estimate_positions(rs)
    assert [(float(x), float(y), float(z)) for x, y, z in zip(lon, lat, u, strict=True)] == [
        r.estimated_position() for r in rs
    ]
