"""ADS-B in: readsb / dump1090 ``aircraft.json`` snapshots to position reports.

A receiver writes ``{"now": <epoch s>, "aircraft": [{"hex", "flight", "lat",
"lon", "alt_baro", "alt_geom", "seen_pos", ...}]}`` about once a second;
detente reads a snapshot (a file, or the body fetched from a URL) and maps
each aircraft to a party with the feed's mapping table, by ICAO address or
callsign prefix (`feedmap.FeedMapping`).

Altitude: ``alt_geom`` (GNSS height, feet, WGS84 ellipsoid) is preferred
and, with no geoid installed, taken as MSL and flagged ``hae-as-msl``, as
for CoT; otherwise ``alt_baro`` (pressure altitude, feet, standard
atmosphere) is taken as MSL and flagged ``baro``, since the local pressure
is not known.  An aircraft reported ``"ground"`` is a ground track at 0 m
above its unknown field elevation: it is refused rather than guessed.
Positions older than ``max_age_s`` (``seen_pos``) are dropped as stale.

A receiver keeps an aircraft's last position in every snapshot until a new
one is decoded, so consecutive snapshots repeat it: :class:`RepeatFilter`
passes each position of an aircraft once (by its time, ``now - seen_pos``).
:func:`read_snapshots` reads recorded snapshots (one ``aircraft.json``, a
JSON Lines file of them, or a directory of them) in time order through that
filter; :class:`~detente.adapters.feeds.adsb_poller.AdsbPoller` polls a URL.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from detente.adapters.interop.feedmap import ALT_HAE_AS_MSL, ICAO_RE, MAX_ID_CHARS, Dropped, FeedMapping, Report
from detente.domain.errors import InvalidInput, Problem

FEET: Final = 0.3048
#: Largest snapshot accepted, bytes (a busy receiver's is a few hundred kB).
MAX_BYTES: Final = 20 * 1024 * 1024
MAX_AIRCRAFT: Final = 100_000
#: A position not refreshed for this long is not reported.
MAX_AGE_S: Final = 60.0
ALT_BARO: Final = "baro"
#: readsb and dump1090 write ``now`` and ``seen_pos`` to 0.1 s: one position seen in two snapshots may be
#: dated up to this much apart (with the same lon/lat), and is still one position.
ROUNDING_S: Final = 0.2
#: Largest total of recorded snapshot files :func:`read_snapshots` reads, bytes.
MAX_FILE_BYTES: Final = 200 * 1024 * 1024
#: Most files read from a directory of snapshots, and most snapshots and reports in one input.
MAX_FILES: Final = 100_000
MAX_SNAPSHOTS: Final = 1_000_000
MAX_REPORTS: Final = 5_000_000
#: Most problems listed; the rest are counted in a last "... and N more" problem.
MAX_PROBLEMS: Final = 100


@dataclass(frozen=True)
class Snapshot:
    """What one ``aircraft.json`` gave: its reports, and each aircraft it could not use, with the reason."""

    now: float
    reports: list[Report]
    dropped: list[Dropped]
    #: The 0-based index in ``aircraft`` of each dropped entry (same order as ``dropped``).
    dropped_at: list[int] = field(default_factory=list)
    #: Entries in ``aircraft``.
    aircraft: int = 0


def parse_snapshot(data: bytes | str, mapping: FeedMapping, *, max_age_s: float = MAX_AGE_S) -> Snapshot:
    """Reports from one snapshot; a snapshot that is not ``aircraft.json`` at all is refused whole."""
    if len(data) > MAX_BYTES:
        raise InvalidInput([Problem("adsb-size", f"the snapshot is over {MAX_BYTES} bytes")])
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput([Problem("adsb-json", f"not JSON: {exc}")]) from None
    except RecursionError:
        raise InvalidInput([Problem("adsb-json", "not JSON: nested too deeply")]) from None
    return snapshot_of(doc, mapping, max_age_s=max_age_s)


def snapshot_of(doc: Any, mapping: FeedMapping, *, max_age_s: float = MAX_AGE_S) -> Snapshot:
    """Reports from one snapshot already decoded from JSON (see :func:`parse_snapshot`)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("aircraft"), list):
        raise InvalidInput([Problem("adsb-format", "expected an object with an 'aircraft' list (aircraft.json)")])
    now = doc.get("now")
    if isinstance(now, bool) or not isinstance(now, int | float) or not math.isfinite(now) or now <= 0:
        raise InvalidInput([Problem("adsb-format", "'now' must be the snapshot's time, epoch seconds")])
    aircraft = doc["aircraft"]
    if len(aircraft) > MAX_AIRCRAFT:
        raise InvalidInput([Problem("adsb-size", f"more than {MAX_AIRCRAFT} aircraft in one snapshot")])
    reports: list[Report] = []
    dropped: list[Dropped] = []
    dropped_at: list[int] = []
    for i, entry in enumerate(aircraft):
        found = _aircraft(entry, float(now), mapping, max_age_s)
        if isinstance(found, Report):
            reports.append(found)
        else:
            dropped.append(found)
            dropped_at.append(i)
    return Snapshot(float(now), reports, dropped, dropped_at, len(aircraft))


def _number(entry: dict[str, Any], name: str) -> float | None:
    value = entry.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def _aircraft(entry: Any, now: float, mapping: FeedMapping, max_age_s: float) -> Report | Dropped:
    if not isinstance(entry, dict):
        return Dropped("invalid", "adsb-aircraft", "an aircraft entry is not an object")
    icao = entry.get("hex")
    if not isinstance(icao, str) or not ICAO_RE.fullmatch(icao.lstrip("~")):
        return Dropped("invalid", "adsb-hex", "'hex' is not a 24-bit ICAO address")
    icao = icao.lstrip("~").upper()
    uid = f"ICAO-{icao}"
    flight = entry.get("flight")
    callsign = flight.strip()[:MAX_ID_CHARS] if isinstance(flight, str) and flight.strip() else None
    lat, lon = _number(entry, "lat"), _number(entry, "lon")
    if lat is None or lon is None:
        return Dropped("ignored", "adsb-no-position", "no position in this snapshot", uid)
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return Dropped("invalid", "adsb-position", f"({lon}, {lat}) is out of range", uid)
    age = _number(entry, "seen_pos")
    age = 0.0 if age is None else age
    if age < 0 or age > max_age_s:
        return Dropped("refused", "adsb-stale", f"position {age:g} s old (limit {max_age_s:g} s)", uid)
    if entry.get("alt_baro") == "ground":
        return Dropped("refused", "adsb-ground", "on the ground: its field elevation is not known", uid)
    geometric, baro = _number(entry, "alt_geom"), _number(entry, "alt_baro")
    if geometric is not None:
        alt_m, alt_ref = geometric * FEET, ALT_HAE_AS_MSL
    elif baro is not None:
        alt_m, alt_ref = baro * FEET, ALT_BARO
    else:
        return Dropped("refused", "adsb-altitude", "no altitude (alt_geom or alt_baro)", uid)
    party = mapping.resolve(uid, callsign, icao)
    if party is None:
        return Dropped("unmapped", "adsb-unmapped", f"no party for {icao} ({callsign or 'no callsign'})", uid)
    return Report(uid, party[0], "air", party[1], now - age, lon, lat, alt_m, alt_ref, callsign)


# ---------------------------------------------------------------------------------------------
# One position, reported once


Verdict = Literal["new", "repeated", "older"]


class RepeatFilter:
    """Per aircraft, the newest position passed: a later snapshot that repeats it is not passed again.

    A report is ``"repeated"`` if its time (``now - seen_pos``) is the last
    passed one's (to the millisecond), or within :data:`ROUNDING_S` of it
    with the same lon/lat (readsb rounds ``now`` and ``seen_pos``; the
    altitude may have been refreshed without a new position); ``"older"`` if
    it is dated before the last passed one; otherwise ``"new"``, and it
    becomes the last passed one.

    >>> from dataclasses import replace
    >>> f = RepeatFilter()
    >>> r = Report("ICAO-738A51", "il", "air", "armed", 100.0, 35.0, 32.0, 9000.0, "baro")
    >>> [f.check(r), f.check(replace(r, t_epoch=100.1)), f.check(replace(r, t_epoch=99.0, lon=35.1))]
    ['new', 'repeated', 'older']
    >>> f.check(replace(r, t_epoch=101.0, lon=35.01))
    'new'
    """

    def __init__(self, tolerance_s: float = ROUNDING_S) -> None:
        self.tolerance_s = tolerance_s
        self._last: dict[str, tuple[float, float, float]] = {}

    def __len__(self) -> int:
        return len(self._last)

    def check(self, report: Report) -> Verdict:
        """Whether ``report`` is a new position of its aircraft (and remember it if so)."""
        last = self._last.get(report.track)
        if last is not None:
            t, lon, lat = last
            dt = report.t_epoch - t
            if abs(dt) < 5e-4 or (abs(dt) <= self.tolerance_s and lon == report.lon and lat == report.lat):
                return "repeated"
            if dt < 0:
                return "older"
        self._last[report.track] = (report.t_epoch, report.lon, report.lat)
        return "new"

    def forget_before(self, t_epoch: float) -> int:
        """Forget aircraft whose last position is older than ``t_epoch`` (no report that old is taken any more)."""
        old = [k for k, v in self._last.items() if v[0] < t_epoch]
        for k in old:
            del self._last[k]
        return len(old)

    def clear(self) -> None:
        self._last.clear()


# ---------------------------------------------------------------------------------------------
# Recorded snapshots: one aircraft.json, JSON Lines of them, a directory of them


@dataclass
class SnapshotFiles:
    """What recorded snapshots gave, in time order, each position once.

    ``where[i]`` is ``(line, label)`` of ``reports[i]``: the line its snapshot
    starts on and ``"<file>, snapshot <k>"`` (1-based).
    """

    reports: list[Report] = field(default_factory=list)
    where: list[tuple[int, str]] = field(default_factory=list)
    files: int = 0
    snapshots: int = 0
    aircraft: int = 0
    #: Positions already passed from an earlier snapshot (:class:`RepeatFilter`), and positions dated before them.
    repeated: int = 0
    older: int = 0
    #: Aircraft entries that gave no report (``invalid`` ones are problems, never here), by (kind, rule).
    dropped: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: The first few unmapped aircraft: ``"ICAO-4CA1FA (RYR12)"``.
    unmapped: list[str] = field(default_factory=list)
    #: Reports by ``alt_ref`` (``baro``, ``hae-as-msl``).
    alt_refs: Counter[str] = field(default_factory=Counter)


_WS: Final = re.compile(r"[ \t\r\n]*")
#: Unmapped aircraft named in :attr:`SnapshotFiles.unmapped`.
_UNMAPPED_NAMED: Final = 10


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while bulk-reading: hundreds of thousands of reports held at once (and
    no reference cycles made) would have the collector walk them over and over, about half the read's time."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def read_snapshots(path: Path, mapping: FeedMapping, *, max_age_s: float = MAX_AGE_S) -> SnapshotFiles:
    """Every position in recorded ``aircraft.json`` snapshots: one file, JSON Lines of them, or a directory.

    A file holds one or more snapshots (JSON objects one after another: one
    ``aircraft.json``, pretty-printed or not, or one per line); a directory
    holds such files, named ``*.json``, read in name order (subdirectories
    and other files are not read).  Snapshots are taken in the order of
    their ``now``, and each aircraft's position is reported once
    (:class:`RepeatFilter`).

    Raises :class:`InvalidInput` listing every problem (a file that is not
    UTF-8 or not JSON, a snapshot that is not ``aircraft.json``, an
    aircraft entry that is ``invalid``), each named by file, snapshot and
    aircraft, with the line its snapshot starts on in :attr:`Problem.index`.
    Aircraft that are ``refused``, ``unmapped`` or ``ignored`` are counted
    in :attr:`SnapshotFiles.dropped`, not problems.
    """
    with _gc_paused():
        return _read_snapshots(Path(path), mapping, max_age_s)


def _read_snapshots(path: Path, mapping: FeedMapping, max_age_s: float) -> SnapshotFiles:
    problems: list[Problem] = []
    if path.is_dir():
        try:
            files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".json" and p.is_file())
        except OSError as exc:
            raise InvalidInput([Problem("adsb-file", f"{path}: {exc.strerror or exc}")]) from exc
        if not files:
            raise InvalidInput([Problem("adsb-empty", f"{path} holds no *.json snapshot file")])
        if len(files) > MAX_FILES:
            raise InvalidInput([Problem("adsb-size", f"{path} holds {len(files):,} files; the limit is {MAX_FILES:,}")])
        folder = path.name or path.resolve().name or str(path)
        names = [f"{folder}/{f.name}" for f in files]
    else:
        files, names = [path], [path.name]
    out = SnapshotFiles(files=len(files))
    snaps: list[tuple[float, int, str, int, Snapshot]] = []  # (now, file index, label, line, snapshot)
    keyed: list[tuple[int, int, Problem]] = []  # (file index, line, problem): listed by file, then line
    budget = MAX_FILE_BYTES
    for fi, (file, name) in enumerate(zip(files, names, strict=True)):
        keyed.extend((fi - 1, p.index or 0, p) for p in problems)
        problems.clear()
        text = _read_text(file, name, budget, problems)
        if text is None:
            continue
        budget -= len(text)
        for k, line, doc in _documents(text, name, problems):
            label = f"{name}, snapshot {k}"
            if isinstance(doc, Problem):
                problems.append(Problem(doc.rule, f"{label}: {doc.message}", line))
                continue
            try:
                snap = snapshot_of(doc, mapping, max_age_s=max_age_s)
            except InvalidInput as exc:
                problems.extend(Problem(p.rule, f"{label}: {p.message}", line) for p in exc.problems)
                continue
            snaps.append((snap.now, fi, label, line, snap))
            out.snapshots += 1
            if out.snapshots > MAX_SNAPSHOTS:
                raise InvalidInput([Problem("adsb-size", f"{path.name} has more than {MAX_SNAPSHOTS:,} snapshots")])
        del text
    keyed.extend((len(files) - 1, p.index or 0, p) for p in problems)
    if not snaps and not keyed:
        raise InvalidInput([Problem("adsb-empty", f"{path.name} holds no snapshot")])
    snaps.sort(key=lambda s: s[0])  # stable: equal times keep file order
    repeats = RepeatFilter()
    for _now, fi, label, line, snap in snaps:
        out.aircraft += snap.aircraft
        for dropped, i in zip(snap.dropped, snap.dropped_at, strict=True):
            if dropped.kind == "invalid":
                message = f"{label}, aircraft {i + 1}: {dropped.reason}"
                keyed.append((fi, line, Problem(dropped.rule, message, line, dropped.uid)))
                continue
            out.dropped[(dropped.kind, dropped.rule)] += 1
            if dropped.kind == "unmapped" and len(out.unmapped) < _UNMAPPED_NAMED:
                named = dropped.reason.removeprefix("no party for ")
                if named not in out.unmapped:
                    out.unmapped.append(named)
        for report in snap.reports:
            verdict = repeats.check(report)
            if verdict == "repeated":
                out.repeated += 1
            elif verdict == "older":
                out.older += 1
            else:
                out.reports.append(report)
                out.where.append((line, label))  # the track is the problem's id
                out.alt_refs[report.alt_ref] += 1
        if len(out.reports) > MAX_REPORTS:
            raise InvalidInput([Problem("adsb-size", f"{path.name} has more than {MAX_REPORTS:,} position reports")])
    if keyed:
        keyed.sort(key=lambda k: k[:2])  # stable
        raise InvalidInput(capped([p for _, _, p in keyed]))
    return out


def _read_text(file: Path, name: str, budget: int, problems: list[Problem]) -> str | None:
    """A snapshot file's text, or ``None`` with the problem recorded."""
    try:
        size = file.stat().st_size
        if size > budget:
            problems.append(_too_big(name, size))
            return None
        with file.open("rb") as f:
            data = f.read(budget + 1)
    except OSError as exc:
        problems.append(Problem("adsb-file", f"{name}: {exc.strerror or exc}"))
        return None
    if len(data) > budget:
        problems.append(_too_big(name, len(data)))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problems.append(Problem("adsb-encoding", f"{name} is not UTF-8 (byte {exc.start + 1}: {exc.reason})", line))
        return None
    return text.removeprefix("\ufeff")


def _too_big(name: str, size: int) -> Problem:
    return Problem(
        "adsb-size", f"{name} is {size:,} bytes; recorded snapshots may total at most {MAX_FILE_BYTES:,} bytes"
    )


def _documents(text: str, name: str, problems: list[Problem]) -> Iterator[tuple[int, int, Any]]:
    """``(k, line, document)`` for each JSON value in ``text`` (one after another, any whitespace between).

    A value that is not JSON stops the file (what follows cannot be trusted):
    its problem is recorded with the line it starts on, and the line and
    column where the JSON breaks.  An oversized value is a :class:`Problem`
    in place of its document.  Each document is decoded when asked for, so
    only one is held at a time.
    """
    decoder = json.JSONDecoder()
    pos, line, n, k = 0, 1, len(text), 0
    while True:
        blank = _WS.match(text, pos)
        start = blank.end() if blank else pos
        line += text.count("\n", pos, start)
        if start >= n:
            return
        k += 1
        try:
            doc, end = decoder.raw_decode(text, start)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno} column {exc.colno}"
            problems.append(Problem("adsb-json", f"{name}, snapshot {k}: not JSON at {where}: {exc.msg}", line))
            return
        except RecursionError:
            problems.append(Problem("adsb-json", f"{name}, snapshot {k}: not JSON: nested too deeply", line))
            return
        if end - start > MAX_BYTES:
            doc = Problem("adsb-size", f"the snapshot is over {MAX_BYTES} bytes")
        yield k, line, doc
        line += text.count("\n", start, end)
        pos = end
        if k >= MAX_SNAPSHOTS:
            problems.append(Problem("adsb-size", f"{name} has more than {MAX_SNAPSHOTS:,} snapshots"))
            return


def capped(problems: list[Problem]) -> list[Problem]:
    """At most :data:`MAX_PROBLEMS` problems, then one counting the rest."""
    if len(problems) <= MAX_PROBLEMS:
        return problems
    rest = len(problems) - MAX_PROBLEMS
    return [*problems[:MAX_PROBLEMS], Problem("adsb-more", f"… and {rest:,} more problem(s)")]
