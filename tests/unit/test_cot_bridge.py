"""The CoT bridge's need-to-know, welcome and live markers, without a network (the listener is made, not started)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from detente.adapters.feeds.cot_bridge import PUBLIC_KINDS, CotBridge
from detente.adapters.feeds.cot_listener import ANONYMOUS, CotListener, certificate_cn
from detente.adapters.feeds.cot_publisher import CotPublisher, changed_uids, picture
from detente.adapters.interop.cot import parse_event
from detente.adapters.interop.cot_out import event_uid
from detente.adapters.interop.feedmap import FeedMapping, Report
from detente.adapters.interop.scenario import load_scenario
from detente.domain.model import Kind, Party, Role, WorldObject
from detente.domain.tracks import Event, EventType, Other

DEMO = Path(__file__).resolve().parents[2] / "src" / "detente" / "demo" / "syria-2017.geojson"
SCENARIO = load_scenario(DEMO)
OBJECTS = list(SCENARIO.objects.values())
PARTIES = {**SCENARIO.parties, "sec": Party("sec", "Secretariat", Role.SECRETARIAT)}
NOW = datetime(2017, 7, 7, 10, 0, tzinfo=UTC)
STALE = timedelta(minutes=10)


async def ignore(reports: list[Report]) -> None:
    return None


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def kinds(uids: object) -> set[str]:
    return {uid.split(".")[1] for uid in uids}  # type: ignore[attr-defined]


def event(track: str, party: str, other_party: str, minute: int = 0) -> Event:
    start = NOW + timedelta(minutes=minute)
    return Event(EventType.INCURSION, track, party, Other("nfz", "tanf-55km", other_party), start, start, 0.0)


def test_public_kinds_are_what_every_party_may_see() -> None:
    assert {Kind.NFZ, Kind.BOUNDARY, Kind.LINE} == PUBLIC_KINDS


async def _world(bridge: CotBridge, objects: list[WorldObject] = OBJECTS) -> None:
    await bridge.world(objects, PARTIES, now=NOW)


def test_each_party_is_drawn_what_it_may_see_and_an_unknown_one_what_anyone_may() -> None:
    bridge = CotBridge(clock=Clock(), stale=STALE)
    asyncio.run(_world(bridge))
    everything = picture(OBJECTS, now=NOW, stale=STALE)
    assert bridge.picture_for("ru") == everything  # a military party: the humanitarian sites and movements too
    assert bridge.picture_for("sec") == everything
    assert kinds(bridge.picture_for("observers")) == {"nfz", "boundary", "line"}
    assert kinds(bridge.picture_for("ocha")) == {"nfz", "boundary", "line", "site", "movement"}  # its own
    public = bridge.picture_for(ANONYMOUS)
    assert kinds(public) == {"nfz", "boundary", "line"}
    assert bridge.picture_for("nobody-we-know") == public
    assert not any(".intent." in uid for uid in everything)


def test_the_welcome_is_the_picture_and_the_live_markers_that_concern_the_party() -> None:
    clock = Clock()
    listener = CotListener("127.0.0.1", 0, FeedMapping("tak"), ignore)
    reads: list[tuple[str, set[str]]] = []
    bridge = CotBridge(
        listener,
        clock=clock,
        event_stale=timedelta(minutes=5),
        on_reads=lambda party, objs: reads.append((party, {o.id for o in objs})),
    )
    assert listener.welcome is not None
    ru_jet = event("ru-jet-1", "ru", "coalition")

    async def go() -> None:
        await _world(bridge)
        await bridge.events([ru_jet, event("no-position", "ru", "coalition")], {"ru-jet-1": (38.6, 33.5, 3000.0)})

    asyncio.run(go())
    assert bridge.stats.no_position == 1
    welcome = listener.welcome

    def uids(party: str) -> list[str]:
        return [parse_event(d).uid for d in welcome(party)]

    marker = event_uid(ru_jet)
    # the picture first, then the markers
    assert uids("ru")[-1] == marker and set(uids("ru")[:-1]) == set(bridge.picture_for("ru"))
    assert marker in uids("coalition")  # the other party
    assert marker in uids("observers") and marker in uids("sec")  # the watchers
    assert marker not in uids("sdf") and marker not in uids(ANONYMOUS)
    sites = {o.id for o in OBJECTS if o.kind in (Kind.SITE, Kind.MOVEMENT)}
    assert ("ru", sites) in reads and ("sec", sites) in reads
    assert {party for party, _ in reads} <= {"ru", "sec", "coalition", "sy", "sdf", "tr"}  # military, secretariat
    # the marker goes stale: no longer given to a tablet that connects
    clock.now = NOW + timedelta(minutes=5)
    assert marker not in uids("ru")


def test_live_markers_are_bounded() -> None:
    bridge = CotBridge(clock=Clock(), max_markers=3)
    events = [event(f"jet-{i}", "ru", "coalition", minute=i) for i in range(5)]
    asyncio.run(bridge.events(events, {f"jet-{i}": (38.0, 33.0, 1000.0) for i in range(5)}))
    assert bridge.stats.markers_sent == 5 and bridge.stats.markers_evicted == 2
    assert len(bridge._markers) == 3


def test_one_welcome_per_listener_and_one_on_connect_per_publisher() -> None:
    listener = CotListener("127.0.0.1", 0, FeedMapping("tak"), ignore, welcome=lambda party: [])
    with pytest.raises(ValueError, match="welcome"):
        CotBridge(listener)
    publisher = CotPublisher("127.0.0.1", 1, on_connect=lambda: [])
    with pytest.raises(ValueError, match="on_connect"):
        CotBridge(publisher=publisher)


def test_changed_uids_and_certificate_cn() -> None:
    before = picture(OBJECTS, now=NOW, stale=STALE)
    later = picture(OBJECTS, now=NOW + timedelta(minutes=1), stale=STALE)
    assert changed_uids(before, later) == ([], [])
    kept = [o for o in OBJECTS if o.id != "camp-rukban"]
    changed, gone = changed_uids(before, picture(kept, now=NOW, stale=STALE))
    assert (changed, gone) == ([], ["detente.site.camp-rukban.0", "detente.site.camp-rukban.0.marker"])
    cert = {"subject": ((("countryName", "SY"),), (("commonName", "tak-ru"),), (("commonName", "second"),))}
    assert certificate_cn(cert) == "tak-ru"
    assert certificate_cn({}) is None and certificate_cn(None) is None
