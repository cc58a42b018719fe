"""Cursor-on-Target in: one CoT ``<event>`` into a position report, and a splitter for TAK streams.

CoT arrives from outside and is hostile until read.  Every event is parsed
with :mod:`defusedxml` (a DTD, an entity declaration or an external
reference is refused before anything is expanded), is held to
:data:`MAX_EVENT_BYTES`, and every field the monitor uses is checked:

* ``uid`` is the track id (1 to :data:`MAX_ID_CHARS` printable characters);
* ``type`` must be an atom, ``a-<affiliation>-<dimension>[-...]``; the third
  atom gives the category (``A`` air, ``G`` ground); any other dimension
  (sea, subsurface, space, SOF, other) is refused with a reason, and events
  that are not atoms (``t-x-d-d`` hellos, ``b-`` bits, ...) are ignored;
* ``time``, ``start`` and ``stale`` are ISO 8601 with an explicit UTC offset
  (CoT writes ``Z``); a naive time is refused, and so is ``stale`` before
  ``start`` or before ``time``; the sample's time is ``time``;
* ``<point lat lon hae ce le>``: finite, latitude in [-90, 90], longitude in
  [-180, 180], ``ce``/``le`` not negative; ``hae`` ``9999999.0`` (CoT's
  "unknown") is refused, because zones have altitude bands and an unknown
  altitude cannot be checked against them (the track readers refuse an empty
  ``alt_m`` for the same reason); a known ``hae`` must lie in
  [:data:`MIN_HAE_M`, :data:`MAX_HAE_M`];
* the callsign is ``<detail><contact callsign=...>`` and an ICAO address,
  if any, ``<detail><_aircot_ icao=...>`` or a uid ``ICAO-<hex>``.

Party and purpose are not in CoT: each feed has a :class:`FeedMapping` that
gives them by exact uid, ICAO address or callsign prefix; an event the
mapping does not cover is dropped with a reason (counted, not an error).

Altitude (SEMANTICS.md, "Units and frames"): CoT ``hae`` is height above the
WGS84 ellipsoid, detente wants metres above mean sea level.  If PROJ can
apply the EGM96 geoid grid (``us_nga_egm96_15.tif``, installed with
``projsync --file us_nga_egm96_15.tif`` or found through PROJ's network
access) ``hae`` is converted and the report's ``alt_ref`` is ``"msl"``;
otherwise ``hae`` is used as if it were MSL and ``alt_ref`` is
``"hae-as-msl"`` (the geoid undulation is between about -107 m and +86 m).
PROJ's "ballpark" fallback, which returns ``hae`` unchanged, is never taken
for a conversion.

:class:`EventSplitter` cuts a TAK stream (events back to back, no delimiter,
split anywhere by TCP) into single events, skipping XML declarations and
whitespace between them, counting garbage, and dropping an event longer than
the byte cap without holding more than about twice the cap in memory.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from typing import Any, Final
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from detente.adapters.interop.feedmap import (
    ALT_HAE_AS_MSL,
    ALT_MSL,
    ICAO_RE,
    MAX_ID_CHARS,
    Dropped,
    FeedMapping,
    Report,
)
from detente.domain.errors import InvalidInput, Problem
from detente.domain.model import PURPOSES, Category

#: Largest single event, in bytes (the XML declaration included).
MAX_EVENT_BYTES: Final = 64 * 1024
#: CoT's "unknown" value for ``hae``, ``ce`` and ``le``.
UNKNOWN: Final = 9999999.0
#: Lowest and highest ``hae`` accepted, metres (the Dead Sea shore to well above any aircraft).
MIN_HAE_M: Final = -1_000.0
MAX_HAE_M: Final = 100_000.0
#: The geoid model used when its grid is installed.
GEOID_MODEL: Final = "EGM96 (EPSG:5773, PROJ grid us_nga_egm96_15.tif)"
#: A TAK client's ping and the server's answer.
PING_TYPE: Final = "t-x-c-t"
PONG_TYPE: Final = "t-x-c-t-r"

_CATEGORY_BY_DIMENSION: Final = {"A": Category.AIR.value, "G": Category.GROUND.value}
_DIMENSION_NAMES: Final = {
    "S": "sea surface",
    "U": "subsurface",
    "P": "space",
    "F": "special operations forces",
    "X": "other",
}
_PURPOSES: Final = frozenset(PURPOSES)
_TYPE_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,200}")  # 200 = MAX_ID_CHARS
_TIME_RE: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:[.,]([0-9]{1,9}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})?"
)
_NUMBER_RE: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


# ---------------------------------------------------------------------------------------------
# Events and reports


@dataclass(frozen=True)
class CotEvent:
    """One parsed CoT event: what detente reads of it, checked but not yet mapped to a party."""

    uid: str
    type: str
    time: float
    start: float
    stale: float
    lat: float
    lon: float
    hae: float
    ce: float
    le: float
    callsign: str | None = None
    icao: str | None = None
    how: str | None = None

    @property
    def is_ping(self) -> bool:
        """A TAK client's keep-alive ping, to be answered with :func:`pong_event`."""
        return self.type == PING_TYPE


# ---------------------------------------------------------------------------------------------
# Parsing one event


def _problem(rule: str, message: str, uid: str | None = None) -> InvalidInput:
    return InvalidInput([Problem(rule, message, id=uid)])


def _text(value: str | None, what: str, uid: str | None, *, required: bool = True) -> str | None:
    if value is None:
        if required:
            raise _problem("cot-missing", f"the event has no {what}", uid)
        return None
    if not (0 < len(value) <= MAX_ID_CHARS) or not value.isprintable():
        raise _problem("cot-text", f"{what} must be 1 to {MAX_ID_CHARS} printable characters", uid)
    return value


def parse_time(value: str | None, what: str, uid: str | None = None) -> float:
    """Epoch seconds of an ISO 8601 time with an explicit offset (``Z`` or ``+hh:mm``); naive is refused.

    >>> parse_time("2024-05-01T12:00:00.5Z", "time")
    1714564800.5
    """
    if value is None:
        raise _problem("cot-time", f"the event has no {what}", uid)
    m = _TIME_RE.fullmatch(value.strip())
    if m is None:
        raise _problem("cot-time", f"{what} {value[:40]!r} is not an ISO 8601 time", uid)
    year, month, day, hour, minute, second, fraction, offset = m.groups()
    if offset is None:
        raise _problem("cot-time", f"{what} {value[:40]!r} has no UTC offset (naive times are refused)", uid)
    try:
        if offset == "Z":
            tz: timezone = UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
        dt = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz)
    except ValueError as exc:
        raise _problem("cot-time", f"{what} {value[:40]!r} is not a valid time ({exc})", uid) from exc
    return dt.timestamp() + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _number(element: Element, name: str, uid: str | None, *, required: bool = True) -> float:
    raw = element.get(name)
    if raw is None:
        if required:
            raise _problem("cot-point", f"<point> has no {name}", uid)
        return UNKNOWN
    if not _NUMBER_RE.fullmatch(raw.strip()):
        raise _problem("cot-point", f"<point> {name} {raw[:40]!r} is not a number", uid)
    value = float(raw)
    if not math.isfinite(value):
        raise _problem("cot-point", f"<point> {name} {raw[:40]!r} is not finite", uid)
    return value


def parse_event(data: bytes, *, max_bytes: int = MAX_EVENT_BYTES) -> CotEvent:
    """One CoT ``<event>`` (UTF-8 bytes, XML declaration allowed) parsed and checked.

    Raises :class:`InvalidInput` (one problem) for anything that is not a
    safe, well-formed event with a usable uid, type, times and point.
    """
    if len(data) > max_bytes:
        raise _problem("cot-size", f"the event is {len(data)} bytes, more than the {max_bytes} accepted")
    try:
        root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _problem("cot-forbidden", f"forbidden XML construct ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise _problem("cot-xml", f"not well-formed XML ({str(exc)[:120]})") from exc
    if root.tag != "event":
        raise _problem("cot-xml", f"the root element is <{str(root.tag)[:40]}>, not <event>")
    uid = _text(root.get("uid"), "uid", None)
    assert uid is not None
    cot_type = root.get("type")
    if cot_type is None or not _TYPE_RE.fullmatch(cot_type):
        raise _problem("cot-type", f"type {(cot_type or '')[:40]!r} is not a CoT type", uid)
    how = _text(root.get("how"), "how", uid, required=False)
    t = parse_time(root.get("time"), "time", uid)
    start = parse_time(root.get("start"), "start", uid)
    stale = parse_time(root.get("stale"), "stale", uid)
    if stale < start or stale < t:
        raise _problem("cot-time", "stale is before start or time", uid)
    point = root.find("point")
    if point is None:
        raise _problem("cot-point", "the event has no <point>", uid)
    lat, lon = _number(point, "lat", uid), _number(point, "lon", uid)
    hae = _number(point, "hae", uid, required=False)
    ce, le = _number(point, "ce", uid, required=False), _number(point, "le", uid, required=False)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        raise _problem("cot-point", f"(lat {lat}, lon {lon}) is outside lat [-90, 90], lon [-180, 180]", uid)
    if ce < 0 or le < 0:
        raise _problem("cot-point", "ce and le may not be negative", uid)
    callsign = icao = None
    detail = root.find("detail")
    if detail is not None:
        contact = detail.find("contact")
        if contact is not None:
            callsign = _text(contact.get("callsign"), "callsign", uid, required=False)
        aircot = detail.find("_aircot_")
        if aircot is not None:
            raw_icao = aircot.get("icao")
            if raw_icao is not None and ICAO_RE.fullmatch(raw_icao.strip()):
                icao = raw_icao.strip().upper()
    return CotEvent(uid, cot_type, t, start, stale, lat, lon, hae, ce, le, callsign, icao, how)


# ---------------------------------------------------------------------------------------------
# Altitude


@cache
def _geoid() -> Any:
    """A PROJ transformer from WGS84 ellipsoidal heights to EGM96 heights, or ``None`` without the grid."""
    try:
        from pyproj import Transformer
        from pyproj.exceptions import ProjError

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            transformer = Transformer.from_crs(
                "EPSG:4979", "EPSG:4326+5773", always_xy=True, allow_ballpark=False, only_best=True
            )
            # at (0, 0) the EGM96 undulation is about +17 m: a transformer that leaves h alone is not a geoid
            _, _, h = transformer.transform(0.0, 0.0, 0.0, errcheck=True)
    except (ImportError, ProjError, ValueError, TypeError):
        return None
    if "ballpark" in transformer.description.lower() or not (math.isfinite(h) and abs(h) > 1.0):
        return None
    return transformer


def geoid_available() -> bool:
    """Whether ``hae`` is converted to MSL with :data:`GEOID_MODEL` (else it is taken as MSL and flagged)."""
    return _geoid() is not None


def hae_to_msl(lon: float, lat: float, hae: float) -> tuple[float, str]:
    """``(altitude above MSL, alt_ref)`` for a height above the WGS84 ellipsoid."""
    transformer = _geoid()
    if transformer is not None:
        try:
            _, _, h = transformer.transform(lon, lat, hae, errcheck=True)
        except Exception:  # pragma: no cover - PROJ failing on one in-range point
            h = math.nan
        if math.isfinite(h):
            return float(h), ALT_MSL
    return hae, ALT_HAE_AS_MSL


# ---------------------------------------------------------------------------------------------
# Events to reports


def category_of(cot_type: str) -> str | Dropped:
    """``"air"`` or ``"ground"`` for an atom type, else why it gives no track.

    >>> category_of("a-f-A-M-F")
    'air'
    >>> category_of("a-h-S").reason
    "type 'a-h-S' is a sea surface track; only air (A) and ground (G) tracks are monitored"
    """
    atoms = cot_type.split("-")
    if atoms[0] != "a":
        return Dropped("ignored", "cot-not-a-track", f"type {cot_type!r} is not a position report (not an atom)")
    if len(atoms) < 3 or len(atoms[1]) != 1:
        return Dropped("refused", "cot-type", f"type {cot_type!r} has no battle dimension (a-<affiliation>-<A|G>)")
    category = _CATEGORY_BY_DIMENSION.get(atoms[2])
    if category is None:
        what = _DIMENSION_NAMES.get(atoms[2], f"{atoms[2][:10]!r}-dimension")
        return Dropped(
            "refused",
            "cot-type",
            f"type {cot_type!r} is a {what} track; only air (A) and ground (G) tracks are monitored",
        )
    return category


def to_report(event: CotEvent, mapping: FeedMapping) -> Report | Dropped:
    """The position report of an event, or why it gives none."""
    category = category_of(event.type)
    if isinstance(category, Dropped):
        return Dropped(category.kind, category.rule, category.reason, event.uid)
    if event.hae == UNKNOWN:
        reason = "hae is 9999999.0 (unknown): a track without altitude cannot be checked against altitude bands"
        return Dropped("refused", "cot-altitude", reason, event.uid)
    if not (MIN_HAE_M <= event.hae <= MAX_HAE_M):
        reason = f"hae {event.hae} m is outside [{MIN_HAE_M:g}, {MAX_HAE_M:g}]"
        return Dropped("refused", "cot-altitude", reason, event.uid)
    resolved = mapping.resolve(event.uid, event.callsign, event.icao)
    if resolved is None:
        reason = f"feed {mapping.feed!r} maps no party for uid {event.uid!r}, callsign {event.callsign!r}"
        return Dropped("unmapped", "cot-unmapped", reason, event.uid)
    party, purpose = resolved
    alt, ref = hae_to_msl(event.lon, event.lat, event.hae)
    return Report(event.uid, party, category, purpose, event.time, event.lon, event.lat, alt, ref, event.callsign)


def decode(data: bytes, mapping: FeedMapping, *, max_bytes: int = MAX_EVENT_BYTES) -> Report | Dropped:
    """One event's bytes to a report, or why they give none (never raises on bad input)."""
    try:
        event = parse_event(data, max_bytes=max_bytes)
    except InvalidInput as exc:
        p = exc.problems[0]
        return Dropped("invalid", p.rule, p.message, p.id)
    if event.is_ping:
        return Dropped("ignored", "cot-ping", "a TAK ping", event.uid)
    return to_report(event, mapping)


def reports(events: Iterable[bytes], mapping: FeedMapping) -> tuple[list[Report], list[Dropped]]:
    """The reports in some events and the events dropped."""
    good: list[Report] = []
    dropped: list[Dropped] = []
    for data in events:
        r = decode(data, mapping)
        if isinstance(r, Report):
            good.append(r)
        else:
            dropped.append(r)
    return good, dropped


def _cot_time(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def pong_event(now: datetime | None = None, uid: str = "detente-pong", stale_s: float = 20.0) -> bytes:
    """The server's answer to a TAK ping (type ``t-x-c-t-r``), closed with ``</event>`` as stream readers expect."""
    now = now or datetime.now(UTC)
    time, stale = _cot_time(now), _cot_time(now + timedelta(seconds=stale_s))
    return (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><event version="2.0" uid="{uid}" '
        f'type="{PONG_TYPE}" how="h-g-i-g-o" time="{time}" start="{time}" stale="{stale}">'
        '<point lat="0.0" lon="0.0" hae="0.0" ce="9999999.0" le="9999999.0"/><detail/></event>'
    ).encode()


# ---------------------------------------------------------------------------------------------
# Splitting a stream into events

_START_RE: Final = re.compile(rb"<event[\s/>]")
_END_RE: Final = re.compile(rb"</event\s*>")
_BETWEEN_RE: Final = re.compile(rb"\s+|<\?xml[^<>]{0,200}\?>|<!--(?:(?!-->)[^<>]){0,200}-->")
#: Longest tail kept while waiting for the rest of a ``<?xml ...?>`` or an ``<event`` split by a read.
_MAX_PENDING_TAIL: Final = 256


class EventSplitter:
    """Cuts a TAK stream (events back to back, split anywhere) into single ``<event>...</event>`` byte strings.

    Between events, whitespace, XML declarations and comments are skipped;
    anything else is garbage, discarded and counted.  An event that has not
    ended within ``max_event_bytes`` is dropped and the splitter skips to the
    next ``<event``; an event cut short by the next ``<event`` is dropped as
    truncated.  The buffer never holds more than ``max_event_bytes`` plus one
    slice of input (input is taken in slices of at most ``max_event_bytes``).

    >>> s = EventSplitter()
    >>> s.feed(b'<?xml version="1.0"?><event uid="a"/>junk<event uid="b">')
    [b'<event uid="a"/>']
    >>> s.feed(b'<detail/></event>')
    [b'<event uid="b"><detail/></event>']
    >>> (s.garbage_bytes, s.oversized, s.truncated)
    (4, 0, 0)
    """

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        if max_event_bytes < 64:
            raise ValueError("max_event_bytes must be at least 64")
        self.max_event_bytes = max_event_bytes
        self._buf = bytearray()
        self._in_event = False
        self._tag_end: int | None = None  # index just past the start tag's '>'
        self._scan = 0  # where to resume scanning inside the current event
        self._quote = 0  # the open quote byte while scanning the start tag
        self._skipping = False  # discarding an oversized event until the next <event
        #: Bytes between events that were neither whitespace, declarations nor comments.
        self.garbage_bytes = 0
        #: Events dropped for being longer than the cap, and their bytes seen.
        self.oversized = 0
        self.oversized_bytes = 0
        #: Events cut short by the next ``<event`` (and their bytes).
        self.truncated = 0
        self.truncated_bytes = 0
        #: Events handed out.
        self.events = 0
        #: Largest buffer held, bytes.
        self.peak_buffered = 0

    @property
    def buffered(self) -> int:
        """Bytes held now (a partial event or a pending tail)."""
        return len(self._buf)

    @property
    def discarded_bytes(self) -> int:
        """Every byte thrown away so far: garbage, oversized and truncated events."""
        return self.garbage_bytes + self.oversized_bytes + self.truncated_bytes

    def feed(self, data: bytes) -> list[bytes]:
        """The events completed by ``data``, in order."""
        out: list[bytes] = []
        step = self.max_event_bytes
        for i in range(0, len(data), step):
            self._buf += data[i : i + step]
            self.peak_buffered = max(self.peak_buffered, len(self._buf))
            self._run(out)
        return out

    def _discard_between(self, n: int) -> None:
        """Drop ``n`` bytes in front of the buffer that lie between events."""
        if n <= 0:
            return
        if self._skipping:
            self.oversized_bytes += n
        else:
            chunk = bytes(self._buf[:n])
            self.garbage_bytes += len(_BETWEEN_RE.sub(b"", chunk))
        del self._buf[:n]

    def _run(self, out: list[bytes]) -> None:
        buf = self._buf
        while True:
            if not self._in_event:
                m = _START_RE.search(buf)
                if m is None:
                    # keep a tail that may still become '<event' or a declaration or comment
                    lt = buf.rfind(b"<")
                    tail = bytes(buf[lt:]) if lt >= 0 and len(buf) - lt <= _MAX_PENDING_TAIL else b""
                    pending = (len(tail) < 7 and b"<event".startswith(tail)) or tail[:2] in (b"<?", b"<!")
                    keep = len(tail) if pending else 0
                    self._discard_between(len(buf) - keep)
                    return
                self._discard_between(m.start())
                self._skipping = False
                self._in_event = True
                self._tag_end = None
                self._scan = len(b"<event")
                self._quote = 0
            if self._tag_end is None and not self._scan_start_tag():
                if len(buf) > self.max_event_bytes:
                    self._drop_oversized()
                    continue
                return
            assert self._tag_end is not None
            if buf[self._tag_end - 2] == ord("/"):  # <event .../>
                self._emit(out, self._tag_end)
                continue
            end = _END_RE.search(buf, self._scan)
            restart = _START_RE.search(buf, self._scan, end.start() if end else len(buf))
            if restart is not None:  # a new event before this one ended: this one was cut short
                self.truncated += 1
                self.truncated_bytes += restart.start()
                del buf[: restart.start()]
                self._in_event = False
                continue
            if end is not None:
                if end.end() <= self.max_event_bytes:
                    self._emit(out, end.end())
                else:  # complete but too long: drop exactly this event
                    self.oversized += 1
                    self.oversized_bytes += end.end()
                    del buf[: end.end()]
                    self._in_event = False
                continue
            if len(buf) > self.max_event_bytes:
                self._drop_oversized()
                continue
            lt = buf.rfind(b"<", self._tag_end)
            self._scan = lt if lt >= 0 else len(buf)
            return

    def _scan_start_tag(self) -> bool:
        """Find the '>' closing the start tag (quotes respected); ``False`` if it is not in the buffer yet."""
        buf = self._buf
        i, n, quote = self._scan, len(buf), self._quote
        while i < n:
            c = buf[i]
            if c == 0x3C:  # '<' cannot appear in a start tag, not even quoted: the event is broken here
                self._tag_end = self._scan = i
                self._quote = 0
                return True
            if quote:
                if c == quote:
                    quote = 0
            elif c in (0x22, 0x27):  # " '
                quote = c
            elif c == 0x3E:  # >
                self._tag_end = self._scan = i + 1
                self._quote = 0
                return True
            i += 1
        self._scan, self._quote = n, quote
        return False

    def _emit(self, out: list[bytes], n: int) -> None:
        out.append(bytes(self._buf[:n]))
        del self._buf[:n]
        self.events += 1
        self._in_event = False

    def _drop_oversized(self) -> None:
        """Drop the event being read (longer than the cap) and skip to the next ``<event``."""
        self.oversized += 1
        keep = len(b"<event")
        n = max(0, len(self._buf) - keep)
        self.oversized_bytes += n
        del self._buf[:n]
        self._in_event = False
        self._skipping = True
