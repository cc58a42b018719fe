"""Cursor-on-Target in: the event parser, the feed mapping and the stream splitter, good and hostile input."""

from __future__ import annotations

import doctest
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.adapters.interop import cot
from detente.adapters.interop.cot import (
    MAX_EVENT_BYTES,
    EventSplitter,
    decode,
    parse_event,
    pong_event,
    to_report,
)
from detente.adapters.interop.feedmap import (
    ALT_HAE_AS_MSL,
    ALT_MSL,
    Assignment,
    Dropped,
    FeedMapping,
    Report,
)
from detente.domain.errors import InvalidInput
from detente.domain.tracks import Samples

T0 = "2024-05-01T12:00:00.000Z"
T0_EPOCH = datetime(2024, 5, 1, 12, tzinfo=UTC).timestamp()
STALE = "2024-05-01T12:02:00.000Z"

MAPPING = FeedMapping(
    "north",
    by_uid={"ANDROID-ua-1": Assignment("ua", "armed")},
    by_callsign_prefix={
        "RU-": Assignment("ru"),
        "RU-MED": Assignment("ru", "medevac"),
        "OCHA": Assignment("ocha", "humanitarian"),
    },
    by_icao={"4ca1fa": Assignment("ie", "humanitarian")},
)


def event(
    uid: str = "ANDROID-ua-1",
    cot_type: str = "a-f-A-M-F",
    *,
    t: str = T0,
    start: str = T0,
    stale: str = STALE,
    lat: str = "35.5",
    lon: str = "36.25",
    hae: str = "3000.0",
    callsign: str | None = None,
    detail: str = "",
    declaration: bool = True,
) -> bytes:
    contact = f'<contact callsign="{callsign}"/>' if callsign is not None else ""
    decl = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n' if declaration else ""
    return (
        f'{decl}<event version="2.0" uid="{uid}" type="{cot_type}" how="m-g" time="{t}" start="{start}" '
        f'stale="{stale}"><point lat="{lat}" lon="{lon}" hae="{hae}" ce="10.0" le="9999999.0"/>'
        f"<detail>{contact}{detail}</detail></event>"
    ).encode()


def refused(data: bytes) -> Dropped:
    result = decode(data, MAPPING)
    assert isinstance(result, Dropped), result
    return result


def invalid_rule(data: bytes) -> str:
    with pytest.raises(InvalidInput) as err:
        parse_event(data)
    assert len(err.value.problems) == 1
    return err.value.problems[0].rule


class TestParse:
    def test_a_position_report(self) -> None:
        r = decode(event(callsign="Viper 1"), MAPPING)
        assert isinstance(r, Report)
        assert (r.track, r.party, r.category, r.purpose, r.t_epoch) == ("ANDROID-ua-1", "ua", "air", "armed", T0_EPOCH)
        assert (r.lon, r.lat, r.callsign) == (36.25, 35.5, "Viper 1")
        assert r.row() == ("ANDROID-ua-1", "ua", "air", "armed", T0_EPOCH, 36.25, 35.5, r.alt_m)
        samples = Samples.build([r.row()])
        assert samples.tracks[0].party == "ua"

    def test_altitude_is_flagged_without_a_geoid(self) -> None:
        r = decode(event(hae="1234.5"), MAPPING)
        assert isinstance(r, Report)
        if cot.geoid_available():
            assert r.alt_ref == ALT_MSL
            assert r.alt_m != 1234.5
        else:
            assert (r.alt_m, r.alt_ref) == (1234.5, ALT_HAE_AS_MSL)

    def test_altitude_is_converted_with_a_geoid(self, monkeypatch: pytest.MonkeyPatch) -> None:
        class Egm:
            def transform(self, lon: float, lat: float, h: float, errcheck: bool = False) -> tuple[float, float, float]:
                return lon, lat, h - 20.0

        monkeypatch.setattr(cot, "_geoid", lambda: Egm())
        r = decode(event(hae="1000"), MAPPING)
        assert isinstance(r, Report)
        assert (r.alt_m, r.alt_ref) == (980.0, ALT_MSL)

    def test_the_geoid_probe_never_takes_the_ballpark(self) -> None:
        # Without the EGM96 grid PROJ offers only a "ballpark" operation that leaves h alone: not a geoid.
        transformer = cot._geoid()
        if transformer is not None:
            assert "ballpark" not in transformer.description.lower()
            assert abs(transformer.transform(0.0, 0.0, 0.0)[2]) > 1.0

    def test_ground_track_and_offsets(self) -> None:
        r = decode(
            event(
                "u1",
                "a-n-G-U-C",
                t="2024-05-01T15:00:00.1234567+03:00",
                start="2024-05-01T15:00:00+03:00",
                stale="2024-05-01T12:05:00Z",
                callsign="OCHA convoy",
            ),
            MAPPING,
        )
        assert isinstance(r, Report)
        assert (r.category, r.party, r.purpose) == ("ground", "ocha", "humanitarian")
        assert r.t_epoch == pytest.approx(T0_EPOCH + 0.1234567)

    @pytest.mark.parametrize(
        "t", ["2024-05-01T12:00:00", "2024-05-01T12:00:00.000", "2024-05-01 12:00:00Z", "yesterday"]
    )
    def test_naive_or_broken_time_refused(self, t: str) -> None:
        assert invalid_rule(event(t=t)) == "cot-time"

    def test_impossible_date_refused(self) -> None:
        assert invalid_rule(event(t="2024-02-30T12:00:00Z")) == "cot-time"

    def test_stale_before_start_refused(self) -> None:
        assert invalid_rule(event(stale="2024-05-01T11:00:00Z")) == "cot-time"

    @pytest.mark.parametrize(
        ("lat", "lon"), [("91", "0"), ("-90.5", "0"), ("0", "180.01"), ("0", "-181"), ("nan", "0"), ("0", "inf")]
    )
    def test_out_of_range_point_refused(self, lat: str, lon: str) -> None:
        assert invalid_rule(event(lat=lat, lon=lon)) == "cot-point"

    @pytest.mark.parametrize("hae", ["1e400", "NaN", "12,5", "0x10", ""])
    def test_bad_numbers_refused(self, hae: str) -> None:
        assert invalid_rule(event(hae=hae)) == "cot-point"

    def test_no_point_refused(self) -> None:
        data = event().replace(b'<point lat="35.5" lon="36.25" hae="3000.0" ce="10.0" le="9999999.0"/>', b"")
        assert invalid_rule(data) == "cot-point"

    def test_unknown_altitude_refused(self) -> None:
        d = refused(event(hae="9999999.0"))
        assert (d.kind, d.rule) == ("refused", "cot-altitude")
        assert "unknown" in d.reason

    def test_absurd_altitude_refused(self) -> None:
        assert refused(event(hae="500000")).rule == "cot-altitude"

    @pytest.mark.parametrize("cot_type", ["a-f-S-X", "a-h-U", "a-u-P", "a-f-F", "a-f-X", "a-f", "a-ff-A"])
    def test_other_dimensions_refused(self, cot_type: str) -> None:
        d = refused(event(cot_type=cot_type))
        assert (d.kind, d.rule, d.uid) == ("refused", "cot-type", "ANDROID-ua-1")

    @pytest.mark.parametrize("cot_type", ["t-x-d-d", "b-m-p-s-p-i", "u-d-f"])
    def test_non_atoms_ignored(self, cot_type: str) -> None:
        assert refused(event(cot_type=cot_type)).kind == "ignored"

    @pytest.mark.parametrize("cot_type", ["", "a f A", "a-f-A!", "a" * 201])
    def test_bad_type_refused(self, cot_type: str) -> None:
        assert invalid_rule(event(cot_type=cot_type)) == "cot-type"

    def test_ping_and_pong(self) -> None:
        ping = parse_event(event("client-1", "t-x-c-t", lat="0", lon="0", hae="0"))
        assert ping.is_ping
        assert refused(event("client-1", "t-x-c-t")).rule == "cot-ping"
        pong = pong_event()
        assert pong.endswith(b"</event>")
        parsed = parse_event(pong.split(b"?>", 1)[1])
        assert parsed.type == "t-x-c-t-r" and not parsed.is_ping

    def test_unmapped_uid_dropped_not_error(self) -> None:
        d = refused(event("stranger", callsign="UA-7"))
        assert (d.kind, d.rule, d.uid, d.is_error) == ("unmapped", "cot-unmapped", "stranger", False)
        assert "north" in d.reason

    @pytest.mark.parametrize("uid", ["", "a\x01b", "x" * 201])
    def test_bad_uid_refused(self, uid: str) -> None:
        assert invalid_rule(event(uid=uid)) in {"cot-text", "cot-xml"}

    def test_missing_uid_refused(self) -> None:
        assert invalid_rule(event().replace(b'uid="ANDROID-ua-1" ', b"")) == "cot-missing"

    def test_root_must_be_event(self) -> None:
        assert invalid_rule(b"<events/>") == "cot-xml"

    @pytest.mark.parametrize("cut", [10, 60, 150, -20, -1])
    def test_truncated_refused(self, cut: int) -> None:
        assert invalid_rule(event()[:cut]) == "cot-xml"

    def test_garbage_refused(self) -> None:
        assert invalid_rule(b"\x00\xff\xfe garbage <<>>") == "cot-xml"
        assert invalid_rule(event(callsign="Viper").replace(b"Viper", b"\xff")) in {"cot-xml", "cot-text"}
        assert refused(b"\x00" * 100).kind == "invalid"


class TestHostileXml:
    def test_xxe_external_entity(self, tmp_path: object) -> None:
        data = (
            b'<?xml version="1.0"?><!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b'<event version="2.0" uid="&xxe;" type="a-f-A" time="'
            + T0.encode()
            + b'" start="'
            + T0.encode()
            + b'" stale="'
            + STALE.encode()
            + b'"><point lat="1" lon="1" hae="1"/><detail/></event>'
        )
        with pytest.raises(InvalidInput) as err:
            parse_event(data)
        assert err.value.problems[0].rule == "cot-forbidden"
        assert "root:" not in str(err.value)

    def test_external_dtd(self) -> None:
        data = b'<!DOCTYPE event SYSTEM "http://127.0.0.1:9/evil.dtd"><event uid="a"/>'
        assert invalid_rule(data) == "cot-forbidden"

    def test_parameter_entity(self) -> None:
        data = b'<!DOCTYPE event [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p.dtd"> %p;]><event uid="a"/>'
        assert invalid_rule(data) == "cot-forbidden"

    def test_billion_laughs(self) -> None:
        lol = "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
        data = f'<?xml version="1.0"?><!DOCTYPE event [<!ENTITY lol0 "lol">{lol}]><event uid="&lol9;"/>'.encode()
        assert invalid_rule(data) == "cot-forbidden"  # refused at the first declaration, nothing expanded

    def test_plain_doctype(self) -> None:
        assert invalid_rule(b"<!DOCTYPE event><event uid='a'/>") == "cot-forbidden"

    def test_ten_megabyte_event_refused_unparsed(self) -> None:
        big = event(detail="<remarks>" + "A" * (10 * 1024 * 1024) + "</remarks>")
        with pytest.raises(InvalidInput) as err:
            parse_event(big)
        assert err.value.problems[0].rule == "cot-size"
        assert str(MAX_EVENT_BYTES) in err.value.problems[0].message


class TestMapping:
    def test_precedence(self) -> None:
        m = FeedMapping(
            "f",
            by_uid={"ICAO-4CA1FA": Assignment("uid-wins")},
            by_callsign_prefix={"A": Assignment("a"), "AB": Assignment("ab", "medevac")},
            by_icao={"4CA1FA": Assignment("icao"), "ABCDEF": Assignment("icao2")},
            default=Assignment("default", "unknown"),
        )
        assert m.resolve("ICAO-4CA1FA", "ABC") == ("uid-wins", "armed")
        assert m.resolve("ICAO-abcdef", "ABC") == ("icao2", "armed")
        assert m.resolve("x", "ABC", icao="abcdef") == ("icao2", "armed")
        assert m.resolve("x", "ABC") == ("ab", "medevac")  # the longest prefix
        assert m.resolve("x", "AC") == ("a", "armed")
        assert m.resolve("x", None) == ("default", "unknown")
        assert m.resolve("ICAO-123", "zz") == ("default", "unknown")

    def test_icao_from_aircot_detail(self) -> None:
        data = event("adsb-1", "a-n-A-C-F", detail='<_aircot_ icao="4CA1FA" flight="EIN1"/>')
        r = decode(data, MAPPING)
        assert isinstance(r, Report) and (r.party, r.purpose) == ("ie", "humanitarian")

    def test_no_default_means_unmapped(self) -> None:
        assert MAPPING.resolve("nobody", "XX") is None

    def test_from_dict(self) -> None:
        m = FeedMapping.from_dict(
            {
                "feed": "north",
                "uid": {"ANDROID-1": {"party": "ua"}},
                "callsign_prefix": {"RU-": {"party": "ru", "purpose": "armed"}},
                "icao": {"4ca1fa": {"party": "ie", "purpose": "humanitarian"}},
                "default": None,
            }
        )
        assert m.resolve("ANDROID-1", None) == ("ua", "armed")
        assert m.resolve("ICAO-4CA1FA", None) == ("ie", "humanitarian")
        assert m.resolve("x", "RU-5") == ("ru", "armed")
        assert m.resolve("x", "UA-5") is None

    def test_bad_tables_list_every_problem(self) -> None:
        with pytest.raises(InvalidInput) as err:
            FeedMapping.from_dict(
                {
                    "feed": "",
                    "uid": {"a": {"party": "ua", "purpose": "tourism"}, "b": "ua"},
                    "icao": {"XYZ": {"party": "ie"}},
                    "extra": 1,
                }
            )
        text = str(err.value)
        assert len(err.value.problems) >= 4
        for needle in ("tourism", "'b'", "XYZ", "extra", "feed"):
            assert needle in text

    def test_rejects_empty_prefix(self) -> None:
        with pytest.raises(InvalidInput):
            FeedMapping("f", by_callsign_prefix={"": Assignment("x")})


def stream(*events: bytes) -> bytes:
    return b"".join(events)


class TestSplitter:
    def test_back_to_back_events_split_anywhere(self) -> None:
        evs = [event("a"), event("b", declaration=False), b'<event uid="c" type="t-x-c-t"/>', event("d")]
        data = stream(evs[0], b"\n\r\n  ", evs[1], evs[2], b"<!-- keepalive -->", evs[3])
        want = [e.split(b"?>\n", 1)[-1] for e in evs]
        for step in (1, 2, 3, 7, 64, 1000, len(data)):
            s = EventSplitter()
            got = [e for i in range(0, len(data), step) for e in s.feed(data[i : i + step])]
            assert got == want, step
            assert (s.garbage_bytes, s.oversized, s.truncated, s.buffered) == (0, 0, 0, 0)

    def test_quotes_and_end_tag_spacing(self) -> None:
        data = b"<event uid=\"a>b\" how='x/>'><detail/></event  >"
        s = EventSplitter()
        assert [e for b in data for e in s.feed(bytes([b]))] == [data]

    def test_garbage_between_events_counted(self) -> None:
        s = EventSplitter()
        out = s.feed(b"HELLO" + event("a") + b"\x00\x01junk<foo/>" + event("b") + b"tail")
        assert len(out) == 2
        assert s.garbage_bytes == len(b"HELLO") + len(b"\x00\x01junk<foo/>") + len(b"tail")

    def test_garbage_only_keeps_no_memory(self) -> None:
        s = EventSplitter()
        for _ in range(200):
            assert s.feed(b"x" * 10_000 + b"<" + b"y" * 500) == []
        assert s.buffered <= 256
        assert s.garbage_bytes >= 200 * 10_000

    def test_truncated_event_resynchronised(self) -> None:
        s = EventSplitter()
        out = s.feed(event("a")[:120] + event("b") + event("c"))
        assert [parse_event(e).uid for e in out] == ["b", "c"]
        assert s.truncated == 1

    def test_oversized_event_dropped_with_bounded_memory(self) -> None:
        cap = 4096
        big = event("big", detail="<remarks>" + "A" * (10 * 1024 * 1024) + "</remarks>", declaration=False)
        data = event("a") + big + event("b")
        s = EventSplitter(cap)
        got = [e for i in range(0, len(data), 16 * 1024) for e in s.feed(data[i : i + 16 * 1024])]
        assert [parse_event(e).uid for e in got] == ["a", "b"]
        assert s.oversized == 1
        assert s.peak_buffered <= cap + 16 * 1024
        s2 = EventSplitter(cap)  # one huge feed is cut into slices of the cap
        assert [parse_event(e).uid for e in s2.feed(data)] == ["a", "b"]
        assert s2.peak_buffered <= 2 * cap

    def test_oversized_but_complete_event_dropped_exactly(self) -> None:
        s = EventSplitter(1024)
        out = s.feed(event("big", detail="x" * 2000) + event("b"))
        assert [parse_event(e).uid for e in out] == ["b"]
        assert s.oversized == 1

    def test_unclosed_quote_cannot_swallow_the_stream(self) -> None:
        s = EventSplitter(1024)
        out = []
        for _ in range(20):
            out += s.feed(b'<event uid="never closed ' + b"z" * 200)
        out += s.feed(event("ok"))
        assert [parse_event(e).uid for e in out][-1:] == ["ok"]
        assert s.buffered == 0 and s.peak_buffered <= 2 * 1024

    def test_tiny_cap_refused(self) -> None:
        with pytest.raises(ValueError):
            EventSplitter(10)

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.integers(1, 400), max_size=30))
    def test_any_split_gives_the_same_events(self, cuts: list[int]) -> None:
        data = stream(event("a"), b"  ", event("b", cot_type="a-h-G"), b'<event uid="c"/>', event("d"))
        whole = EventSplitter().feed(data)
        s, got, i = EventSplitter(), [], 0
        for c in cuts:
            got += s.feed(data[i : i + c])
            i += c
        got += s.feed(data[i:])
        assert got == whole and len(whole) == 4

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=2000))
    def test_random_bytes_never_raise(self, junk: bytes) -> None:
        s = EventSplitter(512)
        for e in s.feed(junk + event("a") + junk):
            decode(e, MAPPING)
        assert s.buffered <= 512
        assert isinstance(decode(junk, MAPPING), Report | Dropped)


def test_doctests() -> None:
    assert doctest.testmod(cot).failed == 0


def test_to_report_keeps_callsign_none() -> None:
    r = to_report(parse_event(event()), MAPPING)
    assert isinstance(r, Report) and r.callsign is None
