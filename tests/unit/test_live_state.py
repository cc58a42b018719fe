"""The monitor over a stream finds the same episodes as the batch monitor on the whole recording.

* The demo's day, cut into batches of many sizes (down to one sample, and
  in time order across tracks, as a live feed delivers it), gives exactly
  the batch monitor's episodes with the same starts, ends and distances.
* Episodes open, go on and close across batch boundaries; an episode's
  track falling silent closes it; a sample older than its track's latest is
  refused as stale; a track cannot change party mid-stream.
* The window of carried samples stays small (each live track's latest few).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.adapters.interop.scenario import load_scenario
from detente.adapters.interop.tracks import read_tracks
from detente.domain.errors import InvalidInput
from detente.domain.model import Scenario
from detente.domain.tracks import Event, Samples
from detente.engine.live import Episode, LiveState, Row
from detente.engine.monitor import monitor

SHIPPED = Path(str(resources.files("detente.demo").joinpath("syria-2017-tracks.csv")))
SCENARIO = Path(str(resources.files("detente.demo").joinpath("syria-2017.geojson")))


@cache
def world() -> Scenario:
    return load_scenario(SCENARIO)


@cache
def rows_in_time_order() -> list[Row]:
    s = read_tracks(SHIPPED)
    rows = [
        (
            s.tracks[int(k)].id,
            s.tracks[int(k)].party,
            s.tracks[int(k)].category.value,
            s.tracks[int(k)].purpose,
            float(t),
            float(lon),
            float(lat),
            float(alt),
        )
        for k, t, lon, lat, alt in zip(s.track, s.t, s.lon, s.lat, s.alt, strict=True)
    ]
    return sorted(rows, key=lambda r: (r[4], r[0]))


def check(samples: Samples) -> list[Event]:
    return monitor(world(), samples)


def spans(events: list[Event]) -> list[tuple[str, str, str, str, str, str, float]]:
    out = []
    for e in events:
        track, other = e.track, e.other.id
        if e.type.value == "separation":
            track, other = sorted((track, other))
        out.append((e.type.value, track, other, e.start.isoformat(), e.end.isoformat(), e.other.kind, e.min_distance_m))
    return sorted(out)


def stream(rows: list[Row], sizes: list[int]) -> tuple[list[Episode], LiveState]:
    state = LiveState()
    done: list[Episode] = []
    i = 0
    k = 0
    while i < len(rows):
        n = sizes[k % len(sizes)]
        k += 1
        step = state.step(Samples.build(rows[i : i + n]), check)
        i += n
        done += [ep for ep in step.opened if ep.closed] + step.closed
    done += state.sweep(float("inf"))
    return done, state


def as_spans(episodes: list[Episode]) -> list[tuple[str, str, str, str, str, str, float]]:
    return spans([ep.as_event() for ep in episodes])


def expected() -> list[tuple[str, str, str, str, str, str, float]]:
    return spans(check(read_tracks(SHIPPED)))


def test_the_demo_day_in_batches_of_one_hundred_gives_the_batch_episodes() -> None:
    found, _ = stream(rows_in_time_order(), [100])
    assert len(expected()) == 5
    assert [s[:5] for s in as_spans(found)] == [s[:5] for s in expected()]
    for got, want in zip(as_spans(found), expected(), strict=True):
        assert got[6] == pytest.approx(want[6], abs=0.5)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=400), min_size=1, max_size=6))
def test_any_batching_gives_the_batch_episodes(sizes: list[int]) -> None:
    found, _ = stream(rows_in_time_order(), sizes)
    assert [s[:5] for s in as_spans(found)] == [s[:5] for s in expected()]


def test_the_window_holds_only_what_the_next_batch_needs() -> None:
    rows = rows_in_time_order()
    state = LiveState()
    largest = 0
    for i in range(0, len(rows), 50):
        state.step(Samples.build(rows[i : i + 50]), check)
        largest = max(largest, state.window_size)
    # eight tracks sampled every 10 s (air) or 30 s (ground): a few samples each, never the day
    assert largest < 100 < len(rows)


def _sample(track: str, t: float, lon: float, party: str = "ru") -> Row:
    return (track, party, "air", "armed", t, lon, 33.0, 5000.0)


def test_an_episode_opens_goes_on_and_closes_across_batches() -> None:
    # the Al-Tanf zone (coalition) binds Russian armed aircraft: an incursion from inside samples
    tanf = world().objects[next(k for k in world().objects if k[1] == "tanf-55km")]
    centre = tanf.volumes[0].footprint.geometry.centroid
    t0 = tanf.volumes[0].time.start_s + 3600
    inside = [("ru-x", "ru", "air", "armed", t0 + 10 * i, centre.x, centre.y, 3000.0) for i in range(3)]
    outside = ("ru-x", "ru", "air", "armed", t0 + 30, centre.x + 2.0, centre.y, 3000.0)
    state = LiveState()
    first = state.step(Samples.build(inside[:2]), check)
    assert [(ep.event.other.id, ep.closed) for ep in first.opened] == [("tanf-55km", False)]
    episode = first.opened[0]
    second = state.step(Samples.build(inside[2:]), check)
    assert second.extended == [episode] and not second.opened
    assert episode.end == t0 + 20
    third = state.step(Samples.build([outside]), check)
    assert third.closed == [episode] and episode.closed and episode.end == t0 + 20
    assert not state.open


def test_a_silent_track_closes_its_episode_after_the_gap() -> None:
    tanf = world().objects[next(k for k in world().objects if k[1] == "tanf-55km")]
    centre = tanf.volumes[0].footprint.geometry.centroid
    t0 = tanf.volumes[0].time.start_s + 3600
    state = LiveState()
    step = state.step(Samples.build([("ru-y", "ru", "air", "armed", t0, centre.x, centre.y, 3000.0)]), check)
    (episode,) = step.opened
    assert state.sweep(t0 + 30) == []
    assert state.sweep(t0 + 61) == [episode] and episode.closed


def test_stale_samples_are_refused_and_counted() -> None:
    state = LiveState()
    state.step(Samples.build([_sample("a", 100.0, 10.0), _sample("a", 110.0, 10.0)]), check)
    step = state.step(Samples.build([_sample("a", 105.0, 10.0), _sample("a", 120.0, 10.0)]), check)
    assert (step.accepted, step.stale) == (1, 1)
    assert float(state.last_t[state.code["a"]]) == 120.0
    assert np.allclose(state.last_pos[state.code["a"]], (10.0, 33.0, 5000.0))


def test_a_track_cannot_change_party_mid_stream() -> None:
    state = LiveState()
    state.step(Samples.build([_sample("a", 100.0, 10.0)]), check)
    with pytest.raises(InvalidInput, match="track 'a' is ru/air/armed, not sy/air/armed"):
        state.step(Samples.build([_sample("a", 110.0, 10.0, party="sy")]), check)
    assert float(state.last_t[state.code["a"]]) == 100.0


def test_several_batches_at_once_count_a_shared_sample_once() -> None:
    state = LiveState()
    one = Samples.build([_sample("a", 100.0, 10.0), _sample("b", 100.0, 11.0)])
    two = Samples.build([_sample("a", 100.0, 10.0), _sample("a", 110.0, 10.5)])
    step = state.step([one, two], check)
    assert (step.accepted, step.stale) == (3, 0)
    assert float(state.last_t[state.code["a"]]) == 110.0
    assert np.allclose(state.last_pos[state.code["a"]], (10.5, 33.0, 5000.0))
    assert state.window_size == 3
