"""Live monitoring over the API, on the demo world, on both backends.

* The demo's day of tracks, posted in batches as a feed would, gives the
  batch monitor's five episodes as stored track events, each with its
  incident, told to exactly the parties concerned (and the secretariat),
  every row in the signed log.
* An episode is open while it lasts and its row follows it; a second
  episode of the same pair soon after reopens the same incident.
* Bad reports refuse the whole request, naming each, and nothing is kept:
  another party's track, an unknown party, a naive or far-future time, a
  track changing party, too many positions.
* Each party sees its own tracks and the episodes that concern it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.api.demo_world import start_demo_api
from tests.api.world import Api

from detente.adapters.cli.demo_monitor import demo_tracks
from detente.adapters.storage.audit_check import verify_store
from detente.domain.tracks import Samples
from detente.engine.monitor import monitor

DAY_END = datetime(2017, 7, 7, 23, 0, tzinfo=UTC)


@pytest.fixture
def demo(url: str) -> Iterator[Api]:
    for api in start_demo_api(url):
        api.clock.at = DAY_END
        yield api


def reports(samples: Samples) -> list[dict[str, Any]]:
    """The samples as ``POST /positions`` takes them, in time order across tracks (as a feed sends them)."""
    out = []
    for k, t, lon, lat, alt in zip(samples.track, samples.t, samples.lon, samples.lat, samples.alt, strict=True):
        info = samples.tracks[int(k)]
        out.append(
            {
                "track": info.id,
                "party": info.party,
                "category": info.category.value,
                "purpose": info.purpose,
                "t": datetime.fromtimestamp(float(t), UTC).isoformat(),
                "lon": float(lon),
                "lat": float(lat),
                "alt_m": float(alt),
            }
        )
    return sorted(out, key=lambda r: (r["t"], r["track"]))


def post(api: Api, party: str, positions: list[dict[str, Any]]) -> Any:
    return api.client.post("/positions", headers=api.headers[party], json={"positions": positions})


def feed_the_day(api: Api, batch: int = 250) -> list[dict[str, Any]]:
    rows = reports(demo_tracks())
    for i in range(0, len(rows), batch):
        answer = post(api, "secretariat", rows[i : i + batch])
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == len(rows[i : i + batch])
    return rows


def events(api: Api, party: str, **params: Any) -> list[dict[str, Any]]:
    answer = api.client.get("/track-events", headers=api.headers[party], params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json())


def inbox(api: Api, party: str) -> list[dict[str, Any]]:
    items = api.client.get("/notifications", headers=api.headers[party], params={"limit": 500}).json()["items"]
    return [n for n in items if n["type"].startswith("track.event.")]


def spans(found: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    out = []
    for e in found:
        track, other = e["track"], e["other"]["id"]
        if e["type"] == "separation":
            track, other = sorted((track, other))
        out.append((e["type"], track, other, _iso(e["start"]), _iso(e["end"])))
    return sorted(out)


def _iso(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat()


def test_the_demo_day_fed_in_batches_gives_the_batch_episodes_as_stored_events(demo: Api) -> None:
    feed_the_day(demo)
    stored = events(demo, "secretariat")
    expected = [e.to_json() for e in monitor(demo.store.load_world(), demo_tracks())]
    assert len(expected) == 5
    assert spans(stored) == spans(expected)
    assert all(not e["open"] for e in stored)
    # each episode opened one incident, which has ended with it
    incidents = demo.client.get("/incidents", headers=demo.headers["secretariat"]).json()
    assert sorted(i["type"] for i in incidents) == [
        "airspace_incursion",
        "boundary_crossing",
        "boundary_crossing",
        "loss_of_separation",
        "proximity_to_protected",
    ]
    assert all(i["source"] == "monitor" and i["ended_at"] is not None for i in incidents)
    assert sorted(e["incident"] for e in stored) == sorted(i["id"] for i in incidents)
    # the signed log holds every row as it now stands
    report = verify_store(demo.store)
    assert report.intact, report.problems


def test_each_party_is_told_of_what_concerns_it_and_sees_only_that(demo: Api) -> None:
    feed_the_day(demo)
    by_party = {p: spans(events(demo, p)) for p in ("coalition", "ru", "sy", "sdf", "tr", "ocha", "observers")}
    kinds = {p: sorted({(s[0], s[1], s[2]) for s in v}) for p, v in by_party.items()}
    # the Russian incursion into the coalition's Al-Tanf zone: Russia and the coalition
    tanf = ("incursion", "ru-su24-tanf", "tanf-55km")
    assert tanf in kinds["ru"] and tanf in kinds["coalition"]
    assert tanf not in kinds["sy"] and tanf not in kinds["sdf"]
    # the Su-22 and the F-15E: Syria and the coalition
    pair = next(s for s in kinds["sy"] if s[0] == "separation")
    assert pair in kinds["coalition"] and pair not in kinds["ru"]
    assert kinds["tr"] == [] and kinds["observers"] == []
    # the inbox and the listing agree: one "opened" and one "closed" per episode concerning the party
    for party in ("coalition", "ru", "sy", "sdf", "ocha"):
        notes = inbox(demo, party)
        assert sorted(n["type"] for n in notes) == ["track.event.closed"] * len(kinds[party]) + [
            "track.event.opened"
        ] * len(kinds[party])
    assert len(inbox(demo, "secretariat")) == 10
    # latest positions: a party sees its own tracks; the secretariat sees all eight
    assert {t["party"] for t in demo.client.get("/tracks", headers=demo.headers["ru"]).json()} == {"ru"}
    assert len(demo.client.get("/tracks", headers=demo.headers["secretariat"]).json()) == 8
    hidden = events(demo, "sy")[0]["id"]
    assert demo.client.get(f"/track-events/{hidden}", headers=demo.headers["tr"]).status_code == 404


def test_an_episode_is_open_while_it_lasts_and_its_row_follows_it(demo: Api) -> None:
    live = demo.client.app.state.live  # type: ignore[attr-defined]
    live.update_s = 0.0
    rows = [r for r in reports(demo_tracks()) if r["track"] == "ru-su24-tanf"]
    cut = next(i for i, r in enumerate(rows) if events_after(demo, rows[: i + 1]))
    (opened,) = events(demo, "coalition", open=True)
    assert opened["start"] == opened["end"] == rows[cut]["t"].replace("+00:00", "Z")
    post(demo, "ru", rows[cut + 1 : cut + 4])
    (going_on,) = events(demo, "coalition", open=True)
    assert going_on["id"] == opened["id"] and going_on["end"] > opened["end"]
    post(demo, "ru", rows[cut + 4 :])
    assert events(demo, "coalition", open=True) == []
    (closed,) = events(demo, "coalition")
    assert closed["id"] == opened["id"] and not closed["open"] and closed["end"] > going_on["end"]


def events_after(api: Api, rows: list[dict[str, Any]]) -> bool:
    answer = post(api, "ru", rows[-1:])
    assert answer.status_code == 202, answer.text
    return bool(answer.json()["events"])


def test_a_second_episode_of_the_same_pair_soon_after_reopens_its_incident(demo: Api) -> None:
    tanf = next(o for o in demo.store.load_world().objects.values() if o.id == "tanf-55km")
    c = tanf.volumes[0].footprint.geometry.centroid
    base = datetime(2017, 7, 7, 12, 0, tzinfo=UTC).timestamp()

    def at(dt: float, inside: bool) -> dict[str, Any]:
        return {
            "track": "ru-x",
            "party": "ru",
            "category": "air",
            "purpose": "armed",
            "t": datetime.fromtimestamp(base + dt, UTC).isoformat(),
            "lon": c.x if inside else c.x + 3,
            "lat": c.y,
            "alt_m": 5000,
        }

    for dt, inside in ((0, True), (10, True), (20, False), (300, True), (310, False), (3600, True), (3610, False)):
        assert post(demo, "ru", [at(dt, inside)]).status_code == 202
    stored = events(demo, "coalition")
    assert len(stored) == 3
    assert stored[0]["incident"] == stored[1]["incident"] != stored[2]["incident"]
    (first, later) = demo.client.get("/incidents", headers=demo.headers["ru"]).json()
    assert first["ended_at"] is not None and first["ended_at"] > first["started_at"]
    assert later["started_at"] > first["ended_at"]
    assert first["parties"] == ["coalition", "ru"] and first["severity"] == "high"


def good(**change: Any) -> dict[str, Any]:
    row = {
        "track": "ru-1",
        "party": "ru",
        "category": "air",
        "purpose": "armed",
        "t": "2017-07-07T12:00:00Z",
        "lon": 38.6,
        "lat": 33.5,
        "alt_m": 5000,
    }
    return row | change


@pytest.mark.parametrize(
    ("party", "bad", "where", "words"),
    [
        ("sy", good(), ["index", 1], "'sy' reports its own tracks only, not 'ru'"),
        ("secretariat", good(party="xx"), ["index", 1], "unknown party 'xx'"),
        ("ru", good(t="2017-07-08T12:00:00Z"), ["index", 1], "ahead of the server's clock"),
        ("ru", good(t="2017-07-07T12:00:00"), ["body", "positions", 1, "t"], "timezone"),
        ("ru", good(lat=91), ["body", "positions", 1, "lat"], "less than or equal to 90"),
        ("ru", good(track="a b"), ["body", "positions", 1, "track"], "pattern"),
        ("ru", good(category="sea"), ["body", "positions", 1, "category"], "'air' or 'ground'"),
        ("ru", good(track="ru-ok", category="ground", t="2017-07-07T12:00:01Z"), ["index", 1], "changes party"),
    ],
)
def test_a_bad_report_refuses_the_whole_request_and_names_it(
    demo: Api, party: str, bad: dict[str, Any], where: list[Any], words: str
) -> None:
    first = good(party=party if party not in ("secretariat",) else "ru", track=f"{party}-ok")
    if party == "sy":
        first = good(party="sy", track="sy-ok")
    answer = post(demo, party, [first, bad])
    assert answer.status_code == 422, answer.text
    problems = answer.json()["errors"]
    assert any(words in p["message"] for p in problems), problems
    if where[0] == "index":
        assert any(p["index"] == where[1] for p in problems), problems
    else:
        assert any(p["location"] == where for p in problems), problems
    assert demo.client.get("/tracks", headers=demo.headers["secretariat"]).json() == []


def test_too_many_positions_in_one_request_are_refused(demo: Api) -> None:
    rows = [good(t=datetime.fromtimestamp(1_499_428_800 + i, UTC).isoformat()) for i in range(10_001)]
    answer = post(demo, "ru", rows)
    assert answer.status_code in (413, 422), answer.text
    assert demo.client.get("/tracks", headers=demo.headers["secretariat"]).json() == []


def test_old_news_is_counted_stale_and_the_track_keeps_its_latest(demo: Api) -> None:
    assert post(demo, "ru", [good(t="2017-07-07T12:00:10Z")]).json()["accepted"] == 1
    answer = post(demo, "ru", [good(t="2017-07-07T12:00:05Z", lon=10.0)]).json()
    assert (answer["accepted"], answer["stale"]) == (0, 1)
    (track,) = demo.client.get("/tracks", headers=demo.headers["ru"]).json()
    assert (track["t"], track["lon"]) == ("2017-07-07T12:00:10Z", 38.6)


def test_alerts_are_queued_for_the_webhooks_of_the_parties_concerned(demo: Api) -> None:
    hook = demo.client.post("/webhooks", headers=demo.headers["coalition"], json={"url": "https://example.org/co"})
    assert hook.status_code == 201, hook.text
    feed_the_day(demo)
    deliveries = demo.client.get(f"/webhooks/{hook.json()['id']}/deliveries", headers=demo.headers["coalition"])
    alerts = inbox(demo, "coalition")
    everything = demo.client.get("/notifications", headers=demo.headers["coalition"], params={"limit": 500}).json()
    # the Al-Tanf incursion and the Su-22 pair, opened and closed, and the two incidents they opened
    assert len(alerts) == 4
    opened = [n["type"] for n in everything["items"] if n["type"].startswith("incident.")]
    assert opened == ["incident.opened"] * 2
    # one delivery per notification of the coalition
    assert sorted(d["notification"] for d in deliveries.json()) == sorted(n["id"] for n in everything["items"])
    report = verify_store(demo.store)
    assert report.intact, report.problems
