"""ADS-B ``aircraft.json`` snapshots (readsb / dump1090) to position reports, and into the monitor."""

from __future__ import annotations

import json
from typing import Any

import pytest
from shapely.geometry import Polygon

from detente.adapters.interop.adsb import FEET, RepeatFilter, parse_snapshot
from detente.adapters.interop.feedmap import Assignment, FeedMapping, Report
from detente.domain.errors import InvalidInput
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Party, Role, WorldObject
from detente.domain.tracks import Samples
from detente.engine.monitor import zone_events

NOW = 1499407200.0  # 2017-07-07T06:00:00Z
MAPPING = FeedMapping(
    "amman-receiver",
    by_icao={"738A51": Assignment("coalition")},
    by_callsign_prefix={"RFF": Assignment("ru"), "RFF7": Assignment("ru", "humanitarian")},
)


def aircraft(hex_: str, **fields: Any) -> dict[str, Any]:
    return {"hex": hex_, "lat": 35.1, "lon": 38.1, "alt_baro": 30000, "alt_geom": 30500, "seen_pos": 0.4, **fields}


def snapshot(*planes: dict[str, Any], now: float = NOW) -> bytes:
    return json.dumps({"now": now, "messages": 12345, "aircraft": list(planes)}).encode()


def test_aircraft_are_mapped_by_icao_address_and_callsign_prefix() -> None:
    found = parse_snapshot(
        snapshot(
            aircraft("738a51", flight="QID123  "),
            aircraft("155f21", flight="RFF7072 "),
            aircraft("155f22", flight="RFF1234 ", alt_geom=None),
        ),
        MAPPING,
    )
    got = [(r.track, r.party, r.purpose, r.callsign, r.alt_ref) for r in found.reports]
    assert got == [
        ("ICAO-738A51", "coalition", "armed", "QID123", "hae-as-msl"),
        ("ICAO-155F21", "ru", "humanitarian", "RFF7072", "hae-as-msl"),
        ("ICAO-155F22", "ru", "armed", "RFF1234", "baro"),
    ]
    first = found.reports[0]
    assert (first.t_epoch, first.lon, first.lat) == (NOW - 0.4, 38.1, 35.1)
    assert first.alt_m == pytest.approx(30500 * FEET) and found.reports[2].alt_m == pytest.approx(30000 * FEET)
    assert found.dropped == []


def test_what_cannot_be_used_is_dropped_with_the_reason() -> None:
    found = parse_snapshot(
        snapshot(
            aircraft("4ca1fa"),  # no rule covers it
            aircraft("738a52", seen_pos=75.0),
            aircraft("738a53", alt_baro="ground", alt_geom=None),
            {"hex": "738a54", "seen": 1.0},
            aircraft("738a55", alt_baro=None, alt_geom=None),
            aircraft("zzzzzz"),
            aircraft("738a56", lat=95.0),
            "not an object",
        ),
        MAPPING,
    )
    assert found.reports == []
    assert [(d.kind, d.rule) for d in found.dropped] == [
        ("unmapped", "adsb-unmapped"),
        ("refused", "adsb-stale"),
        ("refused", "adsb-ground"),
        ("ignored", "adsb-no-position"),
        ("refused", "adsb-altitude"),
        ("invalid", "adsb-hex"),
        ("invalid", "adsb-position"),
        ("invalid", "adsb-aircraft"),
    ]


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"<html>not json</html>", "adsb-json"),
        (b'{"now": 1, "planes": []}', "adsb-format"),
        (b'{"aircraft": []}', "adsb-format"),
        (b'{"now": "soon", "aircraft": []}', "adsb-format"),
        (b"\xff\xfe", "adsb-json"),
    ],
)
def test_a_snapshot_that_is_not_aircraft_json_is_refused(data: bytes, rule: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_snapshot(data, MAPPING)
    assert [p.rule for p in refused.value.problems] == [rule]


def test_snapshots_feed_the_monitor() -> None:
    """Two snapshots a second apart: the coalition aircraft inside a zone binding it is an incursion."""
    parties = {p: Party(p, p, Role.MILITARY) for p in ("coalition", "ru", "sy")}
    zone = WorldObject(
        Kind.NFZ,
        "box",
        "sy",
        (Volume4D(Footprint(Polygon([(38.0, 35.0), (38.2, 35.0), (38.2, 35.2), (38.0, 35.2)]))),),
    )
    rows = []
    for k, lon in enumerate((37.99, 38.05)):
        rows += [r.row() for r in parse_snapshot(snapshot(aircraft("738a51", lon=lon), now=NOW + k), MAPPING).reports]
    events = zone_events([zone], parties, Samples.build(rows))
    assert [(e.type.value, e.track, e.start.timestamp()) for e in events] == [("incursion", "ICAO-738A51", NOW + 0.6)]


def test_dropped_entries_carry_their_index_in_the_aircraft_list() -> None:
    found = parse_snapshot(
        snapshot(aircraft("738a51"), "junk", aircraft("4ca1fa"), aircraft("738a52", lat=None)), MAPPING
    )
    assert found.aircraft == 4 and found.dropped_at == [1, 2, 3]
    assert [d.rule for d in found.dropped] == ["adsb-aircraft", "adsb-unmapped", "adsb-no-position"]


def test_deeply_nested_json_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidInput) as refused:
        parse_snapshot(b"[" * 200_000 + b"]" * 200_000, MAPPING)
    assert [p.rule for p in refused.value.problems] == ["adsb-json"]


class TestRepeatFilter:
    """Each position of an aircraft passes once, whichever snapshots repeat it."""

    def report(self, t: float, lon: float = 38.1, track: str = "ICAO-738A51") -> Report:
        return Report(track, "coalition", "air", "armed", t, lon, 35.1, 9000.0, "baro")

    def test_the_same_time_is_the_same_position(self) -> None:
        f = RepeatFilter()
        assert [f.check(self.report(NOW)), f.check(self.report(NOW)), f.check(self.report(NOW + 1e-4))] == [
            "new",
            "repeated",
            "repeated",
        ]
        assert f.check(self.report(NOW, track="ICAO-155F21")) == "new"  # per aircraft
        assert len(f) == 2

    def test_rounding_of_seen_pos_with_the_same_position_is_a_repeat(self) -> None:
        """readsb writes now and seen_pos to 0.1 s: now 100.0 seen_pos 0.4, then now 101.0 seen_pos 1.5."""
        f = RepeatFilter()
        first = parse_snapshot(snapshot(aircraft("738a51", seen_pos=0.4), now=NOW), MAPPING).reports[0]
        again = parse_snapshot(snapshot(aircraft("738a51", seen_pos=1.5), now=NOW + 1), MAPPING).reports[0]
        assert again.t_epoch != first.t_epoch
        assert (f.check(first), f.check(again)) == ("new", "repeated")
        # the same time shift with a moved aircraft is a new position; anything older than the last is refused
        moved = parse_snapshot(snapshot(aircraft("738a51", seen_pos=0.0, lon=38.2), now=NOW + 1), MAPPING).reports[0]
        assert f.check(moved) == "new"
        assert f.check(self.report(NOW - 5, lon=37.0)) == "older"

    def test_forgetting_old_aircraft(self) -> None:
        f = RepeatFilter()
        f.check(self.report(NOW))
        f.check(self.report(NOW + 100, track="ICAO-155F21"))
        assert f.forget_before(NOW + 50) == 1 and len(f) == 1
        assert f.check(self.report(NOW)) == "new"  # forgotten: would pass again (the poller forgets only past max age)
        f.clear()
        assert len(f) == 0
