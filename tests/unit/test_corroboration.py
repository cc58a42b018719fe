"""Corroboration: ST-DBSCAN over observer reports (engine/corroboration.py).

The ceasefire test reads tests/data/barrages.json: 24 observer reports of
three real, publicly reported barrages in the southwest Syria ceasefire area
(July 2017) and six single reports, which must come out as exactly those
three incidents and six lone reports.  Then the distances and the rules one
by one on constructed reports, and Hypothesis properties: the vectorised
neighbour search equals a brute-force one, the order of the reports does not
matter, and an exact duplicate joins its report's cluster.
"""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from detente.domain.errors import InvalidInput
from detente.domain.geo.geodesic import distance_m, distances_m
from detente.domain.observations import ObservedEvent, ObservedHow, ObserverReport, estimate_positions
from detente.engine.corroboration import (
    DEFAULT_EPS_SPACE_M,
    DEFAULT_EPS_TIME_S,
    Cluster,
    cluster_reports,
    neighbours,
)

GEOD = Geod(ellps="WGS84")
FIXTURE = Path(__file__).resolve().parents[1] / "data" / "barrages.json"
T = datetime(2017, 7, 9, 20, 10, tzinfo=UTC)
P0 = (36.1, 32.62)


def load() -> tuple[dict[str, Any], list[ObserverReport]]:
    data = json.loads(FIXTURE.read_text(encoding="utf-8"))
    raw = [r for b in data["barrages"] for r in b["reports"]] + [n["report"] for n in data["noise"]]
    return data, [ObserverReport.from_json(r, index=k) for k, r in enumerate(raw)]


def at(lon_lat: tuple[float, float], east_m: float = 0.0, north_m: float = 0.0) -> tuple[float, float]:
    lon, lat, _ = GEOD.fwd(lon_lat[0], lon_lat[1], 90.0, east_m)
    lon, lat, _ = GEOD.fwd(lon, lat, 0.0, north_m)
    return float(lon), float(lat)


def seen_at(
    rid: str,
    where: tuple[float, float],
    minutes: float = 0.0,
    span_min: float = 0.0,
    radius_m: float = 1000.0,
    party: str = "observers",
    **changes: Any,
) -> ObserverReport:
    """A report whose estimate is ``where`` with uncertainty ``radius_m`` (no bearing: a band to ``radius_m``)."""
    start = T + timedelta(minutes=minutes)
    r = ObserverReport(
        id=rid,
        party=party,
        lon=where[0],
        lat=where[1],
        start=start,
        end=start + timedelta(minutes=span_min),
        event_type=ObservedEvent.IMPACT,
        observed_how=ObservedHow.SEEN,
        distance_m=(0.0, radius_m),
    )
    return replace(r, **changes) if changes else r


def groups(clusters: list[Cluster]) -> set[frozenset[str]]:
    return {frozenset(c.report_ids) for c in clusters}


# --- the ceasefire test ---------------------------------------------------------------------------------


def test_thirty_reports_of_three_real_barrages_and_noise_make_exactly_three_incidents() -> None:
    data, reports = load()
    assert len(reports) == 30
    random.Random(2017).shuffle(reports)
    clusters = cluster_reports(reports)

    barrages = {frozenset(r["id"] for r in b["reports"]): b for b in data["barrages"]}
    noise = {n["id"] for n in data["noise"]}
    assert len(barrages) == 3 and len(noise) == 6
    assert groups(clusters) == set(barrages) | {frozenset({n}) for n in noise}
    assert len(clusters) == 9

    for c in clusters:
        members = frozenset(c.report_ids)
        if members in barrages:
            b = barrages[members]
            assert c.corroborated and not c.noise
            assert c.sources == len(members)  # every report from another observer position
            # The incident is found where it happened: its centroid within a kilometre of the real place,
            # and the real place inside its uncertainty circle.
            miss = distance_m(c.lon, c.lat, b["lon"], b["lat"])
            assert miss < 1000.0
            assert miss <= c.uncertainty_m
            assert c.start <= min(r.start for r in reports if r.id in members)
            assert c.event_types <= {ObservedEvent.IMPACT, ObservedEvent.OUTGOING}
        else:
            assert len(members) == 1 and next(iter(members)) in noise
            assert c.noise and not c.corroborated and c.sources == 1


def test_the_fixture_names_a_public_source_and_real_coordinates_for_each_barrage() -> None:
    data, reports = load()
    assert "constructed" in data["construction"]
    for b in data["barrages"]:
        assert b["source"].strip() and b["event"].strip() and b["place"].strip()
        assert 35.5 < b["lon"] < 37.0 and 32.3 < b["lat"] < 33.4  # the southwest Syria ceasefire area
        for r in b["reports"]:
            assert r["start"].startswith("2017-07")
    for n in data["noise"]:
        assert n["note"].strip() and "source" in n
        assert ("constructed" in n["note"].lower()) or n["source"]
    assert len({r.id for r in reports}) == len(reports)


def test_every_barrage_report_covers_the_real_place() -> None:
    # The estimates are honest: each report's uncertainty circle contains the place it reports.
    data, _ = load()
    for b in data["barrages"]:
        rs = [ObserverReport.from_json(r) for r in b["reports"]]
        lon, lat, u = estimate_positions(rs)
        miss = distances_m(lon, lat, np.full(len(rs), b["lon"]), np.full(len(rs), b["lat"]))
        assert np.all(miss <= u), b["id"]


def test_the_simultaneous_barrages_twelve_km_apart_stay_apart_only_with_a_tight_spatial_eps() -> None:
    data, reports = load()
    saida, balad = (frozenset(r["id"] for r in b["reports"]) for b in data["barrages"][:2])
    assert saida in groups(cluster_reports(reports))
    merged = groups(cluster_reports(reports, eps_space_m=7000.0))
    assert saida | balad in merged


def test_the_later_exchange_of_fire_in_al_naimah_joins_daraa_only_with_a_loose_temporal_eps() -> None:
    data, reports = load()
    balad = frozenset(r["id"] for r in data["barrages"][1]["reports"])
    assert frozenset({"naimah-exchange"}) in groups(cluster_reports(reports))
    assert balad | {"naimah-exchange"} in groups(cluster_reports(reports, eps_time_s=3 * 3600.0))


# --- distances and rules --------------------------------------------------------------------------------


def test_spatial_distance_is_between_the_circles() -> None:
    # Two circles of 1 km and 500 m whose centres are 4.5 km apart: 3 km between them.
    a = seen_at("a", P0, radius_m=1000.0)
    b_in = seen_at("b", at(P0, east_m=4499.0), radius_m=500.0)
    b_out = seen_at("b", at(P0, east_m=4501.0), radius_m=500.0)
    i, j, ds, dt = neighbours([a, b_in])
    assert (list(i), list(j)) == ([0], [1])
    assert ds[0] == pytest.approx(2999.0, abs=1e-6) and dt[0] == 0.0
    assert len(neighbours([a, b_out])[0]) == 0
    assert groups(cluster_reports([a, b_in])) == {frozenset("ab")}
    assert groups(cluster_reports([a, b_out])) == {frozenset("a"), frozenset("b")}


def test_overlapping_circles_are_at_distance_zero() -> None:
    a = seen_at("a", P0, radius_m=3000.0)
    b = seen_at("b", at(P0, north_m=2000.0), radius_m=3000.0)
    _, _, ds, _ = neighbours([a, b], eps_space_m=0.0)
    assert list(ds) == [0.0]


def test_temporal_distance_is_the_gap_between_the_spans() -> None:
    a = seen_at("a", P0, minutes=0.0, span_min=20.0)  # 20:10-20:30
    overlapping = seen_at("b", P0, minutes=15.0, span_min=30.0)
    gap_eps = seen_at("b", P0, minutes=20.0 + DEFAULT_EPS_TIME_S / 60.0)  # exactly eps after a's end
    too_late = seen_at("b", P0, minutes=20.0 + DEFAULT_EPS_TIME_S / 60.0 + 1.0 / 60.0)
    before = seen_at("b", P0, minutes=-5.0, span_min=0.0)
    assert list(neighbours([a, overlapping])[3]) == [0.0]
    assert list(neighbours([a, gap_eps])[3]) == [DEFAULT_EPS_TIME_S]
    assert len(neighbours([a, too_late])[0]) == 0
    assert list(neighbours([a, before])[3]) == [300.0]


def test_reports_close_in_space_but_not_in_time_or_the_reverse_are_not_neighbours() -> None:
    a = seen_at("a", P0)
    later = seen_at("b", P0, minutes=60.0)
    far = seen_at("c", at(P0, east_m=20_000.0))
    assert groups(cluster_reports([a, later, far])) == {frozenset("a"), frozenset("b"), frozenset("c")}


def test_min_reports_three_needs_a_core_of_three() -> None:
    pair = [seen_at("a", P0), seen_at("b", at(P0, east_m=1000.0), party="other")]
    assert groups(cluster_reports(pair, min_reports=3)) == {frozenset("a"), frozenset("b")}
    assert all(c.noise for c in cluster_reports(pair, min_reports=3))
    triple = [*pair, seen_at("c", at(P0, east_m=2000.0))]
    (c,) = cluster_reports(triple, min_reports=3)
    assert set(c.report_ids) == {"a", "b", "c"} and not c.noise


def test_a_border_report_joins_the_cluster_but_does_not_grow_it() -> None:
    # Circles of 100 m, so centres within 3.2 km are neighbours.  k0..k3 lie 300 m apart (all neighbours);
    # a is 3.1 km beyond k0 (a neighbour of k0 only) and e 2.9 km beyond a.  With min_reports 4 the k are
    # core, a (3 reports around it) is a border report of their cluster, and e, whose only neighbour a is
    # not core, is noise: a border report does not extend a cluster.
    xs = {"k3": -900.0, "k2": -600.0, "k1": -300.0, "k0": 0.0, "a": 3100.0, "e": 6000.0}
    rs = [seen_at(n, at(P0, east_m=x), radius_m=100.0, party=n) for n, x in xs.items()]
    clusters = cluster_reports(rs, min_reports=4)
    assert groups(clusters) == {frozenset({"k0", "k1", "k2", "k3", "a"}), frozenset({"e"})}
    assert next(c for c in clusters if c.report_ids == ("e",)).noise
    # with min_reports 2 every report with a neighbour is core, and the chain runs on to e
    assert groups(cluster_reports(rs)) == {frozenset(xs)}


def test_a_border_report_between_two_clusters_goes_to_the_nearer_core_whatever_the_order() -> None:
    # Circles of 100 m.  Left reports at x = -600..0, right ones at 5950..6550 (200 m apart); m at 2900 is
    # a neighbour of l0 (2700 m between circles), l1 (2900 m) and r0 (2850 m).  With min_reports 5 only
    # l0, l1 and r0 are core; m is a border report of both clusters and joins the nearer core, l0.
    left = [seen_at(f"l{k}", at(P0, east_m=-200.0 * k), radius_m=100.0, party=f"l{k}") for k in range(4)]
    right = [seen_at(f"r{k}", at(P0, east_m=5950.0 + 200.0 * k), radius_m=100.0, party=f"r{k}") for k in range(4)]
    middle = seen_at("m", at(P0, east_m=2900.0), radius_m=100.0)
    expected = {frozenset({"l0", "l1", "l2", "l3", "m"}), frozenset({"r0", "r1", "r2", "r3"})}
    rs = [*left, *right, middle]
    for seed in range(5):
        random.Random(seed).shuffle(rs)
        assert groups(cluster_reports(rs, min_reports=5)) == expected


def test_one_observer_filing_twice_is_not_corroboration() -> None:
    a = seen_at("a", P0)
    again = replace(a, id="a-again")
    other = seen_at("b", at(P0, north_m=500.0), party="observers")
    (c,) = cluster_reports([a, again])
    assert c.sources == 1 and not c.corroborated and not c.noise
    (c,) = cluster_reports([a, again, other])
    assert c.sources == 2 and c.corroborated


def test_a_cluster_says_what_was_seen() -> None:
    a = seen_at("a", P0, minutes=0.0, span_min=5.0, weapon="mortar", count=4)
    b = seen_at(
        "b",
        at(P0, east_m=800.0),
        minutes=3.0,
        span_min=10.0,
        party="other",
        weapon="artillery",
        event_type=ObservedEvent.OUTGOING,
        count=6,
    )
    c = seen_at("c", at(P0, north_m=700.0), minutes=-2.0, weapon=None, observed_how=ObservedHow.HEARD)
    (cl,) = cluster_reports([a, b, c])
    assert cl.report_ids == ("c", "a", "b")  # by start time
    assert (cl.start, cl.end) == (T - timedelta(minutes=2), T + timedelta(minutes=13))
    assert cl.event_types == {ObservedEvent.IMPACT, ObservedEvent.OUTGOING}
    assert cl.weapons == {"mortar", "artillery"}
    assert cl.max_count == 6
    js = cl.to_json()
    assert js["report_ids"] == ["c", "a", "b"] and js["start"] == "2017-07-09T20:08:00Z"
    assert js["weapons"] == ["artillery", "mortar"] and js["corroborated"] is True


def test_the_centroid_is_weighted_by_inverse_variance() -> None:
    sure = seen_at("sure", P0, radius_m=100.0)
    vague = seen_at("vague", at(P0, east_m=2000.0), radius_m=1000.0, party="other")
    (c,) = cluster_reports([sure, vague])
    # weights 1/100² and 1/1000²: the centroid is 2000 m · 1/101 from the sure report, on the line between them
    assert distance_m(c.lon, c.lat, *P0) == pytest.approx(2000.0 / 101.0, rel=1e-3)
    assert distance_m(c.lon, c.lat, *P0) + distance_m(c.lon, c.lat, vague.lon, vague.lat) == pytest.approx(
        2000.0, abs=1e-3
    )
    # the radius reaches both members' circles: the vague one's centre is 1980 m away, its circle 980 m
    assert c.uncertainty_m == pytest.approx(2000.0 * 100.0 / 101.0 - 1000.0, rel=1e-3)


def test_a_lone_report_is_its_own_cluster_with_its_own_estimate() -> None:
    r = seen_at("a", P0, radius_m=1500.0, bearing_deg=45.0, distance_m=(1000.0, 2000.0))
    (c,) = cluster_reports([r])
    lon, lat, u = r.estimated_position()
    assert (c.lon, c.lat) == pytest.approx((lon, lat), abs=1e-9)
    assert c.uncertainty_m == pytest.approx(u, rel=1e-9)
    assert c.noise and not c.corroborated and c.report_ids == ("a",)


def test_no_reports_no_clusters_and_bad_arguments_are_refused() -> None:
    assert cluster_reports([]) == []
    a = seen_at("a", P0)
    with pytest.raises(InvalidInput, match="report id 'a' is used twice"):
        cluster_reports([a, a])
    for eps in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="eps_space_m"):
            cluster_reports([a], eps_space_m=eps)
        with pytest.raises(ValueError, match="eps_time_s"):
            cluster_reports([a], eps_time_s=eps)
    for bad in (0, True, 2.5):
        with pytest.raises(ValueError):
            cluster_reports([a], min_reports=bad)  # type: ignore[arg-type]


def test_ten_observers_hearing_one_barrage_from_all_sides_make_one_incident() -> None:
    # OSCE-style: ten teams around a target, each hearing it 3-5 km away on its compass point.
    target = at(P0, east_m=10_000.0)
    rs = []
    for k in range(10):
        back = 36.0 * k
        lon, lat, _ = GEOD.fwd(target[0], target[1], back, 4000.0)
        bearing = round(((back + 180.0) % 360.0) / 45.0) * 45.0 % 360.0
        rs.append(
            ObserverReport(
                id=f"t{k}",
                party="smm",
                lon=float(lon),
                lat=float(lat),
                start=T + timedelta(minutes=k % 3),
                end=T + timedelta(minutes=5 + k % 3),
                event_type=ObservedEvent.IMPACT,
                observed_how=ObservedHow.HEARD,
                weapon="artillery",
                bearing_deg=bearing,
                distance_m=(3000.0, 5000.0),
                count=12,
            )
        )
    (c,) = cluster_reports(rs)
    assert c.sources == 10 and c.corroborated and c.max_count == 12
    assert distance_m(c.lon, c.lat, *target) < min(c.uncertainty_m, 1000.0)


# --- properties -----------------------------------------------------------------------------------------


@st.composite
def report_sets(draw: st.DrawFn, max_size: int = 24) -> list[ObserverReport]:
    """Reports around a few incidents near Daraa: positions within ~20 km, times within two hours."""
    n = draw(st.integers(min_value=1, max_value=max_size))
    centres = draw(
        st.lists(
            st.tuples(st.floats(-15_000, 15_000), st.floats(-15_000, 15_000), st.integers(0, 120)),
            min_size=1,
            max_size=4,
        )
    )
    reports = []
    for k in range(n):
        cx, cy, cm = draw(st.sampled_from(centres))
        dx, dy = draw(st.floats(-4000, 4000)), draw(st.floats(-4000, 4000))
        lon, lat = at(P0, east_m=cx + dx, north_m=cy + dy)
        start = T + timedelta(minutes=cm + draw(st.integers(-15, 15)))
        span = timedelta(minutes=draw(st.sampled_from([0, 0, 1, 5, 30])))
        bearing = draw(st.one_of(st.none(), st.sampled_from([0.0, 45.0, 90.0, 135.0, 180.0, 225.0, 270.0, 315.0])))
        lo = draw(st.sampled_from([0.0, 1000.0, 2000.0, 3000.0]))
        width = draw(st.sampled_from([1000.0, 2000.0]))
        band = draw(st.sampled_from([None, (lo, lo + width)]))
        reports.append(
            ObserverReport(
                id=f"r{k:02d}",
                party=draw(st.sampled_from(["observers", "smm"])),
                lon=lon,
                lat=lat,
                start=start,
                end=start + span,
                event_type=draw(st.sampled_from(list(ObservedEvent))),
                observed_how=draw(st.sampled_from(list(ObservedHow))),
                weapon=draw(st.sampled_from([None, "artillery", "mortar"])),
                bearing_deg=bearing,
                distance_m=band,
                count=draw(st.integers(1, 20)),
            )
        )
    return reports


def brute_force_pairs(reports: list[ObserverReport], eps_s: float, eps_t: float) -> set[tuple[int, int]]:
    lon, lat, u = estimate_positions(reports)
    found = set()
    for i, j in itertools.combinations(range(len(reports)), 2):
        a, b = reports[i], reports[j]
        gap = max((b.start - a.end).total_seconds(), (a.start - b.end).total_seconds(), 0.0)
        apart = max(distance_m(lon[i], lat[i], lon[j], lat[j]) - u[i] - u[j], 0.0)
        if gap <= eps_t and apart <= eps_s:
            found.add((i, j))
    return found


def same_clusters(a: list[Cluster], b: list[Cluster]) -> None:
    assert [c.report_ids for c in a] == [c.report_ids for c in b]
    for x, y in zip(a, b, strict=True):
        assert (x.start, x.end, x.event_types, x.weapons, x.sources, x.corroborated, x.noise, x.max_count) == (
            y.start,
            y.end,
            y.event_types,
            y.weapons,
            y.sources,
            y.corroborated,
            y.noise,
            y.max_count,
        )
        # centroids are sums in another order: equal to rounding
        assert (x.lon, x.lat) == pytest.approx((y.lon, y.lat), abs=1e-9)
        assert x.uncertainty_m == pytest.approx(y.uncertainty_m, rel=1e-9, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(
    report_sets(),
    st.sampled_from([0.0, 500.0, DEFAULT_EPS_SPACE_M, 10_000.0]),
    st.sampled_from([0.0, 60.0, DEFAULT_EPS_TIME_S, 3600.0]),
)
def test_the_vectorised_neighbour_search_equals_brute_force(
    reports: list[ObserverReport], eps_s: float, eps_t: float
) -> None:
    i, j, _, _ = neighbours(reports, eps_space_m=eps_s, eps_time_s=eps_t)
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == brute_force_pairs(reports, eps_s, eps_t)


@settings(max_examples=150, deadline=None)
@given(report_sets(), st.randoms(use_true_random=False), st.sampled_from([1, 2, 3, 4]))
def test_permuting_the_reports_does_not_change_the_clustering(
    reports: list[ObserverReport], rnd: random.Random, min_reports: int
) -> None:
    shuffled = list(reports)
    rnd.shuffle(shuffled)
    same_clusters(cluster_reports(reports, min_reports=min_reports), cluster_reports(shuffled, min_reports=min_reports))


@settings(max_examples=150, deadline=None)
@given(report_sets(), st.data())
def test_an_exact_duplicate_joins_its_reports_cluster_and_changes_nothing_else(
    reports: list[ObserverReport], data: st.DataObject
) -> None:
    original = data.draw(st.sampled_from(reports))
    duplicate = replace(original, id="duplicate")
    where = data.draw(st.integers(0, len(reports)))
    before = groups(cluster_reports(reports))
    after = groups(cluster_reports([*reports[:where], duplicate, *reports[where:]]))
    home = next(g for g in before if original.id in g)
    assert after == (before - {home}) | {home | {"duplicate"}}
    # the duplicate is the same observer: it corroborates nothing that was not corroborated
    (alone,) = [c for c in cluster_reports([original, duplicate]) if "duplicate" in c.report_ids]
    assert set(alone.report_ids) == {original.id, "duplicate"} and not alone.corroborated


@settings(max_examples=100, deadline=None)
@given(report_sets(max_size=16), st.data())
def test_with_a_larger_core_a_duplicate_still_lands_with_its_clustered_report(
    reports: list[ObserverReport], data: st.DataObject
) -> None:
    # With min_reports 3 a lone report and its copy are two reports, still too few for a core: both stay
    # noise.  A report in a cluster keeps its copy with it (the copy has the same neighbours, plus it).
    original = data.draw(st.sampled_from(reports))
    (was,) = [c for c in cluster_reports(reports, min_reports=3) if original.id in c.report_ids]
    clusters = cluster_reports([*reports, replace(original, id="duplicate")], min_reports=3)
    (home,) = [c for c in clusters if original.id in c.report_ids]
    assert ("duplicate" in home.report_ids) == (not was.noise or len(home.report_ids) > 1)
    assert set(was.report_ids) <= set(home.report_ids)


@settings(max_examples=100, deadline=None)
@given(report_sets())
def test_every_report_is_in_exactly_one_cluster_and_noise_is_alone(reports: list[ObserverReport]) -> None:
    clusters = cluster_reports(reports)
    ids = [rid for c in clusters for rid in c.report_ids]
    assert sorted(ids) == sorted(r.id for r in reports)
    for c in clusters:
        assert c.noise == (len(c.report_ids) == 1)  # with min_reports 2, noise is exactly the lone reports
        assert c.corroborated == (c.sources >= 2)
        assert c.uncertainty_m >= 100.0
