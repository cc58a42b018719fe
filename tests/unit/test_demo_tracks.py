"""The simulated day of tracks shipped with the Syria, July 2017 demo.

* The builder is deterministic and reproduces the shipped CSV byte for byte.
* The shipped file reads as position reports (SCENARIO.md), at realistic
  speeds, sampled every 10 s (air) and 30 s (ground) on the demo day.
* The monitor, on the demo scenario and these tracks, finds exactly the
  designed episodes, and keeps finding exactly them when every threshold
  moves by 20 % and the SDF's area grows or shrinks by about 2 km, so the
  result does not hinge on where a decision falls.
* The exemptions do the work: the airdrop and the convoy raise nothing of
  their own only because they are humanitarian.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyproj import Geod
from shapely.geometry import mapping, shape

from detente.adapters.interop.scenario import load_scenario, parse_scenario
from detente.adapters.interop.tracks import read_tracks
from detente.demo import build_tracks
from detente.domain.model import Scenario
from detente.domain.tracks import Event, Samples
from detente.engine.monitor import monitor

SHIPPED = Path(str(resources.files("detente.demo").joinpath("syria-2017-tracks.csv")))
SCENARIO = Path(str(resources.files("detente.demo").joinpath("syria-2017.geojson")))

Key = tuple[str, str, str]

#: Every episode the demo's day is built to raise, as (type, track, other id);
#: a separation appears once, under either track (see ``_key``).
EXPECTED: set[Key] = {
    # The Russian strike filed as intent ru-strike-tanf flies it: from T4 into
    # its strike box, ~23 km inside the Al-Tanf zone, which binds ru (armed).
    ("incursion", "ru-su24-tanf", "tanf-55km"),
    # The Su-22 crosses Lake Assad (the Euphrates line) near Ja'Din into the
    # SDF's area of responsibility, ~7 km deep. Tracks have no line-crossing
    # event (SEMANTICS.md): the line crossing shows as this boundary crossing.
    ("boundary_crossing", "sy-su22-jadin", "aor-sdf"),
    # On its way home the coalition flight shadows it 2 km abeam, 150 m above:
    # inside both air minima (9,260 m and 305 m).
    ("separation", "coalition-f15e-tabqa", "sy-su22-jadin"),
    # The armed SDF patrol drives 600 m north of the Ar Raqqah hospital (radius 1,000 m).
    ("proximity", "sdf-patrol-raqqa", "hospital-raqqa"),
    # The OCHA convoy runs its whole route inside the SDF's area; the boundary
    # rule concerns a sample of *any* party inside another party's boundary,
    # humanitarian parties included. (No proximity: it is humanitarian.)
    ("boundary_crossing", "ocha-convoy-ain-issa", "aor-sdf"),
}
#: Tracks that raise nothing: the tanker (over Iraq), the Russian CAP (over the
#: coast) and the humanitarian airdrop (inside the Al-Tanf zone, which exempts it).
QUIET = {"coalition-kc135-iraq", "ru-su35-cap", "ru-il76-airdrop"}

TRACKS = {
    "coalition-f15e-tabqa": ("coalition", "air", "armed"),
    "coalition-kc135-iraq": ("coalition", "air", "unknown"),
    "ru-su24-tanf": ("ru", "air", "armed"),
    "ru-il76-airdrop": ("ru", "air", "humanitarian"),
    "ru-su35-cap": ("ru", "air", "armed"),
    "sy-su22-jadin": ("sy", "air", "armed"),
    "sdf-patrol-raqqa": ("sdf", "ground", "armed"),
    "ocha-convoy-ain-issa": ("ocha", "ground", "humanitarian"),
}

GEOD = Geod(ellps="WGS84")


@cache
def _scenario() -> Scenario:
    return load_scenario(SCENARIO)


@cache
def _samples() -> Samples:
    return read_tracks(SHIPPED)


def _key(e: Event) -> Key:
    if e.type.value == "separation":
        a, b = sorted((e.track, e.other.id))
        return (e.type.value, a, b)
    return (e.type.value, e.track, e.other.id)


def _keys(events: list[Event]) -> set[Key]:
    return {_key(e) for e in events}


def _events(samples: Samples | None = None) -> list[Event]:
    return monitor(_scenario(), _samples() if samples is None else samples)


def _with_purpose(track: str, purpose: str) -> Samples:
    samples = _samples()
    tracks = tuple(dataclasses.replace(t, purpose=purpose) if t.id == track else t for t in samples.tracks)
    return dataclasses.replace(samples, tracks=tracks)


def _at(e: Event) -> tuple[datetime, datetime]:
    return e.start.astimezone(UTC), e.end.astimezone(UTC)


def _utc(hhmm: str) -> datetime:
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime(2017, 7, 7, h, m, tzinfo=UTC)


# ---------------------------------------------------------------------------
# The builder and the file


def test_builder_is_deterministic_and_reproduces_the_shipped_file() -> None:
    first = build_tracks.build(SCENARIO)
    second = build_tracks.build(SCENARIO)
    assert first == second
    assert first.encode("utf-8") == SHIPPED.read_bytes()


def test_builder_main_writes_the_same_bytes(tmp_path: Path) -> None:
    out = tmp_path / "tracks.csv"
    assert build_tracks.main([str(SCENARIO), str(out)]) == 0
    assert out.read_bytes() == SHIPPED.read_bytes()


def test_builder_refuses_unrealistic_speeds() -> None:
    plan = build_tracks.Plan("x", "ru", "air", "armed", (120.0, 300.0)).start("10:00", (37.0, 34.0, 5000.0))
    plan.arrive(38.0, 34.0, 5000.0, build_tracks.hms("10:01"))  # ~92 km in a minute
    with pytest.raises(ValueError, match="m/s"):
        plan.check()


def test_file_is_commit_sized() -> None:
    assert SHIPPED.stat().st_size < 2_000_000


def test_shipped_file_reads_as_position_reports() -> None:
    samples = _samples()
    assert {t.id: (t.party, t.category.value, t.purpose) for t in samples.tracks} == TRACKS
    assert set(TRACKS.values()) and {p for p, _, _ in TRACKS.values()} <= set(_scenario().parties)
    day = datetime(2017, 7, 7, tzinfo=UTC).timestamp()
    assert day <= samples.t.min() and samples.t.max() < day + 86_400
    header = SHIPPED.read_text(encoding="utf-8").splitlines()[0]
    assert header == "track,party,category,purpose,t,lon,lat,alt_m"


@pytest.mark.parametrize("track", sorted(TRACKS))
def test_tracks_are_sampled_regularly_at_realistic_speeds(track: str) -> None:
    samples = _samples()
    k = next(i for i, t in enumerate(samples.tracks) if t.id == track)
    rows = samples.track == k
    t, lon, lat, alt = samples.t[rows], samples.lon[rows], samples.lat[rows], samples.alt[rows]
    ground = samples.tracks[k].category.value == "ground"
    assert set(np.diff(t)) == {30.0 if ground else 10.0}
    _, _, d = GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    speed = d / np.diff(t)
    if ground:
        assert speed.max() < 20.0  # about 70 km/h
        assert np.all((alt > 200.0) & (alt < 500.0))
    else:
        assert speed.max() < 310.0  # about 600 kt
        assert alt.max() < 9000.0
        assert np.all(np.abs(np.diff(alt)) / np.diff(t) < 60.0)  # climbs and descents


# ---------------------------------------------------------------------------
# What the monitor finds


def test_monitor_finds_exactly_the_designed_episodes() -> None:
    events = _events()
    assert _keys(events) == EXPECTED
    assert not QUIET & ({e.track for e in events} | {e.other.id for e in events})
    # one episode each: every track crosses in, and back out, once
    assert Counter(_key(e) for e in events) == Counter(EXPECTED)


def test_the_story_in_order() -> None:
    by_key = {_key(e): e for e in _events()}
    strike = by_key[("incursion", "ru-su24-tanf", "tanf-55km")]
    assert _utc("08:30") < _at(strike)[0] < _at(strike)[1] < _utc("10:30")
    crossing = by_key[("boundary_crossing", "sy-su22-jadin", "aor-sdf")]
    shadowed = by_key[("separation", "coalition-f15e-tabqa", "sy-su22-jadin")]
    assert _at(crossing)[1] < _at(shadowed)[0]  # back across the line, then shadowed home
    assert 1500.0 < shadowed.min_distance_m < 2500.0
    patrol = by_key[("proximity", "sdf-patrol-raqqa", "hospital-raqqa")]
    assert 500.0 < patrol.min_distance_m < 700.0
    convoy = by_key[("boundary_crossing", "ocha-convoy-ain-issa", "aor-sdf")]
    assert _utc("04:00") <= _at(convoy)[0] and _at(convoy)[1] < _utc("12:00")  # inside its notified window


def test_humanitarian_airdrop_is_inside_the_zone_but_exempt() -> None:
    """As an armed flight the same track would be an incursion: the exemption, not the geometry, clears it."""
    armed = _keys(_events(_with_purpose("ru-il76-airdrop", "armed")))
    assert armed - EXPECTED == {("incursion", "ru-il76-airdrop", "tanf-55km")}


def test_convoy_keeps_to_its_route_and_raises_no_proximity_as_humanitarian() -> None:
    """As an armed movement the convoy would be near its own route and the Ain Issa camp the whole way."""
    armed = _events(_with_purpose("ocha-convoy-ain-issa", "armed"))
    extra = _keys(armed) - EXPECTED
    assert extra == {
        ("proximity", "ocha-convoy-ain-issa", "convoy-qamishli-ain-issa"),
        ("proximity", "ocha-convoy-ain-issa", "camp-ain-issa"),
    }
    on_route = [e for e in armed if e.other.id == "convoy-qamishli-ain-issa"]
    samples = _samples()
    k = next(i for i, t in enumerate(samples.tracks) if t.id == "ocha-convoy-ain-issa")
    times = samples.t[samples.track == k]
    assert len(on_route) == 1 and on_route[0].min_distance_m < 1.0
    assert on_route[0].start.timestamp() == times.min() and on_route[0].end.timestamp() == times.max()


def _perturbed(scale: float, grow_deg: float) -> Scenario:
    """The demo scenario with every radius, corridor and separation minimum times ``scale``, aor-sdf grown."""
    doc: dict[str, Any] = json.loads(SCENARIO.read_text(encoding="utf-8"))
    for f in doc["features"]:
        props = f["properties"]
        for name in ("radius_m", "corridor_m", "buffer_m"):
            if props.get(name):
                props[name] = props[name] * scale
        if props["id"] == "aor-sdf":
            f["geometry"] = mapping(shape(f["geometry"]).buffer(grow_deg, join_style="mitre"))
    for minima in doc["detente"]["separation"].values():
        for name in ("horizontal_m", "vertical_m"):
            if minima.get(name):
                minima[name] = minima[name] * scale
    return parse_scenario(json.dumps(doc))


@pytest.mark.parametrize(("scale", "grow_deg"), [(0.8, -0.02), (1.25, 0.02)])
def test_episodes_do_not_hinge_on_thresholds(scale: float, grow_deg: float) -> None:
    assert _keys(monitor(_perturbed(scale, grow_deg), _samples())) == EXPECTED
