"""Position reports in: CSV and JSON Lines files of track samples (SCENARIO.md, "Position reports"),
and feeds recorded to files: Cursor-on-Target XML and ADS-B ``aircraft.json`` snapshots (at the end).

Both formats carry the same names: ``track,party,category,purpose,t,lon,lat,alt_m``.
CSV has a header row naming them in any order (other columns are ignored);
JSON Lines has one object per line with these members (others are ignored).
``t`` is ISO 8601 with an explicit UTC offset (``Z`` or ``+hh:mm``); a
naive time is refused, as SEMANTICS.md asks.  ``alt_m`` is metres above
mean sea level and may not be empty or null: no-fly zones have altitude
bands.

The input is hostile until read: sizes, rows, line lengths and identifiers
are capped; NUL characters, undecodable bytes, broken quoting and missing
columns are refused.  Every problem found is reported with its 1-based
line number in :attr:`Problem.index` (and the track id in
:attr:`Problem.id`), up to :data:`MAX_PROBLEMS` of them; nothing is half
read: either every sample comes back, or :class:`InvalidInput` is raised.

Whether a track's party is a party of the scenario is the caller's check
(the reader knows no scenario).

Speed: millions of rows are read with the :mod:`csv` module and one tuple
per row, the shape :meth:`Samples.build` takes; the per-row work is three
``float`` calls and one ``datetime.fromisoformat``, and every diagnosis is
kept off that path.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tomllib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from detente.adapters.interop.adsb import ALT_BARO, read_snapshots
from detente.adapters.interop.cot import MAX_EVENT_BYTES, EventSplitter, parse_event, to_report
from detente.adapters.interop.feedmap import ALT_HAE_AS_MSL, Dropped, FeedMapping, Report
from detente.domain.errors import InvalidInput, Problem
from detente.domain.model import PURPOSES, Category
from detente.domain.tracks import Samples

#: Largest file :func:`read_tracks` reads.
MAX_FILE_BYTES: Final = 200 * 1024 * 1024
#: Largest text :func:`parse_tracks` parses.
MAX_TEXT_BYTES: Final = 50 * 1024 * 1024
#: Most position reports in one input.
MAX_ROWS: Final = 5_000_000
#: Most characters in a track id or party id.
MAX_ID_CHARS: Final = 200
#: Most characters in one JSON Lines line (a CSV field is held to the csv module's limit, 131,072).
MAX_LINE_CHARS: Final = 64 * 1024
#: Most cells in the CSV header row.
MAX_COLUMNS: Final = 500
#: Most problems listed; the rest are counted in a last "... and N more" problem.
MAX_PROBLEMS: Final = 100

COLUMNS: Final = ("track", "party", "category", "purpose", "t", "lon", "lat", "alt_m")
JSONL_SUFFIXES: Final = frozenset({".jsonl", ".ndjson"})
CSV_SUFFIXES: Final = frozenset({".csv"})

_CATEGORIES: Final = frozenset(c.value for c in Category)
_PURPOSES: Final = frozenset(PURPOSES)

Row = tuple[str, str, str, str, float, float, float, float]


def read_tracks(path: Path, *, fmt: str | None = None) -> Samples:
    """The samples in a CSV or JSON Lines file (``fmt`` ``"csv"`` or ``"jsonl"``; by default from the
    extension, else from its first character).

    Raises :class:`InvalidInput` listing every problem, each with its line number.
    """
    path = Path(path)
    if fmt not in (None, "csv", "jsonl"):
        raise ValueError(f"read_tracks reads csv or jsonl, not {fmt!r}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput([_size_problem(path.name, size, MAX_FILE_BYTES)])
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput([Problem("tracks-file", f"{path}: {exc.strerror or exc}")]) from exc
    if len(data) > MAX_FILE_BYTES:  # it grew since stat
        raise InvalidInput([_size_problem(path.name, len(data), MAX_FILE_BYTES)])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            [Problem("tracks-encoding", f"{path.name} is not UTF-8 (byte {exc.start + 1}: {exc.reason})", index=line)]
        ) from exc
    del data
    return _parse(text, path.name, fmt or _format_of(path.name))


def parse_tracks(text: str, *, name: str = "tracks") -> Samples:
    """The samples in CSV or JSON Lines text; ``name`` (a file name) names it in messages and may give its format."""
    if len(text) > MAX_TEXT_BYTES or (
        len(text) * 4 > MAX_TEXT_BYTES and len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES
    ):
        raise InvalidInput([_size_problem(name, len(text.encode("utf-8", "surrogatepass")), MAX_TEXT_BYTES)])
    return _parse(text, name, _format_of(name))


# -- the two formats ---------------------------------------------------------------------------


def _format_of(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return "csv"
    return None


def _parse(text: str, name: str, fmt: str | None) -> Samples:
    if text.startswith("\ufeff"):
        text = text[1:]
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InvalidInput([Problem("tracks-nul", f"{name} contains a NUL character (is it a binary file?)", line)])
    stripped = text.lstrip()
    if not stripped:
        raise InvalidInput([Problem("tracks-empty", f"{name} is empty: no position reports")])
    if fmt is None:
        fmt = "jsonl" if stripped[0] == "{" else "csv"
    reader = _Reader(name)
    if fmt == "jsonl":
        reader.jsonl(text)
    else:
        reader.csv(text)
    return reader.samples()


class _Reader:
    """One pass over the rows: good rows as tuples (with their line numbers), bad ones as problems."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows: list[Row] = []
        self.lines: list[int] = []
        self.problems: list[Problem] = []
        self.fatal = False
        self.text_numbers = True  # CSV cells are text; JSON numbers must be numbers

    def csv(self, text: str) -> None:
        reader = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
        at = 0  # physical lines read so far
        header: list[str] | None = None
        try:
            for cells in reader:
                line, at = at + 1, reader.line_num
                if not cells:
                    continue
                header = cells
                break
            if header is None:  # pragma: no cover - _parse refuses blank text first
                self.problems.append(Problem("tracks-empty", f"{self.name} has no header row"))
                return
            where = self._header(header, line)
            if where is None:
                return
            i_track, i_party, i_cat, i_pur, i_t, i_lon, i_lat, i_alt = where
            width = len(header)
            rows, lines, bad = self.rows, self.lines, self._bad
            fromiso = datetime.fromisoformat
            cats, purs = _CATEGORIES, _PURPOSES
            for cells in reader:
                line, at = at + 1, reader.line_num
                if len(cells) != width:
                    if cells:  # a blank line is no row
                        self._add(
                            Problem(
                                "tracks-cells",
                                f"the row has {len(cells)} cell(s); the header has {width}",
                                line,
                                cells[i_track] if len(cells) > i_track else None,
                            )
                        )
                    continue
                track, party, cat, pur, ts = cells[i_track], cells[i_party], cells[i_cat], cells[i_pur], cells[i_t]
                try:
                    lon, lat, alt = float(cells[i_lon]), float(cells[i_lat]), float(cells[i_alt])
                    t = fromiso(ts)
                    if (
                        t.tzinfo is None
                        or cat not in cats
                        or pur not in purs
                        or not track
                        or not party
                        or len(track) > MAX_ID_CHARS
                        or len(party) > MAX_ID_CHARS
                    ):
                        bad(line, track, party, cat, pur, ts, cells[i_lon], cells[i_lat], cells[i_alt])
                        continue
                    rows.append((track, party, cat, pur, t.timestamp(), lon, lat, alt))
                except (ValueError, OverflowError):
                    bad(line, track, party, cat, pur, ts, cells[i_lon], cells[i_lat], cells[i_alt])
                    continue
                lines.append(line)
                if len(rows) > MAX_ROWS:
                    self._too_many()
                    return
        except csv.Error as exc:
            # Broken quoting or an oversized field: what follows cannot be trusted, so reading stops here.
            self._add(Problem("tracks-csv", f"{self.name} is not valid CSV: {exc}", max(reader.line_num, at + 1)))
            self.fatal = True

    def _header(self, header: list[str], line: int) -> tuple[int, ...] | None:
        if len(header) > MAX_COLUMNS:
            self._add(Problem("tracks-columns", f"the header has {len(header)} columns; the limit is {MAX_COLUMNS}"))
            self.fatal = True
            return None
        names = [h.strip().lower() for h in header]
        twice = sorted({n for n in names if n in COLUMNS and names.count(n) > 1})
        missing = [c for c in COLUMNS if c not in names]
        if missing or twice:
            parts = []
            if missing:
                parts.append(f"missing column(s) {', '.join(missing)}")
            if twice:
                parts.append(f"column(s) named twice: {', '.join(twice)}")
            self._add(
                Problem(
                    "tracks-columns",
                    f"the header row {'; '.join(parts)} (needs {','.join(COLUMNS)}, in any order)",
                    line,
                )
            )
            self.fatal = True
            return None
        return tuple(names.index(c) for c in COLUMNS)

    def jsonl(self, text: str) -> None:
        self.text_numbers = False
        rows, lines, bad = self.rows, self.lines, self._bad
        fromiso = datetime.fromisoformat
        cats, purs = _CATEGORIES, _PURPOSES
        loads = json.loads
        for line, raw in enumerate(text.split("\n"), start=1):
            if not raw or raw.isspace():
                continue
            if len(raw) > MAX_LINE_CHARS:
                self._add(
                    Problem("tracks-line", f"the line has {len(raw)} characters; the limit is {MAX_LINE_CHARS}", line)
                )
                continue
            try:
                obj = loads(raw)
            except (ValueError, RecursionError) as exc:
                self._add(Problem("tracks-json", f"not a JSON object: {exc}", line))
                continue
            if not isinstance(obj, dict):
                self._add(Problem("tracks-json", f"a JSON {type(obj).__name__}, not an object", line))
                continue
            try:
                track, party, cat, pur = obj["track"], obj["party"], obj["category"], obj["purpose"]
                ts, lon, lat, alt = obj["t"], obj["lon"], obj["lat"], obj["alt_m"]
            except KeyError:
                missing = [c for c in COLUMNS if c not in obj]
                ident = obj.get("track")
                self._add(
                    Problem(
                        "tracks-members",
                        f"missing member(s) {', '.join(missing)}",
                        line,
                        ident if isinstance(ident, str) else None,
                    )
                )
                continue
            if (
                type(lon) not in (float, int)
                or type(lat) not in (float, int)
                or type(alt) not in (float, int)
                or type(ts) is not str
                or type(track) is not str
                or type(party) is not str
                or type(cat) is not str
                or type(pur) is not str
                or cat not in cats
                or pur not in purs
                or not track
                or not party
                or len(track) > MAX_ID_CHARS
                or len(party) > MAX_ID_CHARS
            ):
                bad(line, track, party, cat, pur, ts, lon, lat, alt)
                continue
            try:
                t = fromiso(ts)
                if t.tzinfo is None:
                    bad(line, track, party, cat, pur, ts, lon, lat, alt)
                    continue
                rows.append((track, party, cat, pur, t.timestamp(), float(lon), float(lat), float(alt)))
            except (ValueError, OverflowError):
                bad(line, track, party, cat, pur, ts, lon, lat, alt)
                continue
            lines.append(line)
            if len(rows) > MAX_ROWS:
                self._too_many()
                return

    # -- diagnosis (off the fast path) -------------------------------------------------------

    def _bad(self, line: int, track: Any, party: Any, cat: Any, pur: Any, ts: Any, *numbers: Any) -> None:
        """Every problem of one row that failed the fast path's checks."""
        ident = track if isinstance(track, str) and track and len(track) <= MAX_ID_CHARS else None
        found = len(self.problems)
        for label, value in (("track", track), ("party", party)):
            if not isinstance(value, str) or not value:
                self._add(Problem("tracks-value", f"{label} is empty or not text", line, ident))
            elif len(value) > MAX_ID_CHARS:
                self._add(
                    Problem(
                        "tracks-value", f"{label} is {len(value)} characters; the limit is {MAX_ID_CHARS}", line, ident
                    )
                )
        if not isinstance(cat, str) or cat not in _CATEGORIES:
            self._add(Problem("category", f"category {_show(cat)} is not air or ground", line, ident))
        if not isinstance(pur, str) or pur not in _PURPOSES:
            self._add(Problem("purpose", f"purpose {_show(pur)} is not one of {', '.join(PURPOSES)}", line, ident))
        self._time(line, ts, ident)
        for label, value in zip(("lon", "lat", "alt_m"), numbers, strict=True):
            problem = _number(label, value, text=self.text_numbers)
            if problem:
                self._add(Problem("tracks-number", problem, line, ident))
        if len(self.problems) == found:  # pragma: no cover - the fast path only sends rows with a problem
            self._add(Problem("tracks-value", "the row could not be read", line, ident))

    def _time(self, line: int, ts: Any, ident: str | None) -> None:
        if not isinstance(ts, str) or not ts:
            self._add(
                Problem("time", "t is empty or not text (an ISO 8601 time, e.g. 2017-07-07T05:00:00Z)", line, ident)
            )
            return
        try:
            t = datetime.fromisoformat(ts)
        except ValueError:
            self._add(
                Problem("time", f"t {_show(ts)} is not an ISO 8601 time (e.g. 2017-07-07T05:00:00Z)", line, ident)
            )
            return
        if t.tzinfo is None:
            self._add(
                Problem("naive-time", f"t {_show(ts)} needs an explicit UTC offset (e.g. {ts[:40]}Z)", line, ident)
            )

    def _add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def _too_many(self) -> None:
        self._add(Problem("tracks-rows", f"{self.name} has more than {MAX_ROWS:,} position reports"))
        self.fatal = True

    # -- the samples -------------------------------------------------------------------------

    def samples(self) -> Samples:
        """Every sample, or :class:`InvalidInput` with every problem (the reader's and the domain's) by line."""
        problems = self.problems
        if not self.fatal and not self.rows and not problems:
            problems.append(Problem("tracks-empty", f"{self.name} has no position reports"))
        if self.fatal:
            raise InvalidInput(_capped(problems))
        try:
            built = Samples.build(self.rows)
        except InvalidInput as exc:
            problems.extend(self._by_line(exc.problems))
        else:
            if not problems:
                return built
        raise InvalidInput(_capped(problems))

    def _by_line(self, found: Iterable[Problem]) -> list[Problem]:
        """The domain's problems with row positions turned into line numbers; duplicates found here, all of them."""
        out: list[Problem] = []
        for p in found:
            if p.rule == "duplicate-sample":
                out.extend(self._duplicates())
            elif p.index is not None:
                out.append(Problem(p.rule, p.message, self.lines[p.index], p.id))
            else:
                out.append(p)
        return out

    def _duplicates(self) -> list[Problem]:
        first: dict[tuple[str, float], int] = {}
        out: list[Problem] = []
        for row, line in zip(self.rows, self.lines, strict=True):
            key = (row[0], row[4])
            seen = first.setdefault(key, line)
            if seen != line:
                out.append(
                    Problem(
                        "duplicate-sample",
                        f"track {row[0]!r} already has a sample at this instant (line {seen})",
                        line,
                        row[0],
                    )
                )
        return out


def _capped(problems: list[Problem]) -> list[Problem]:
    ordered = sorted(problems, key=lambda p: -1 if p.index is None else p.index)
    if len(ordered) <= MAX_PROBLEMS:
        return ordered
    rest = len(ordered) - MAX_PROBLEMS
    return [*ordered[:MAX_PROBLEMS], Problem("tracks-more", f"… and {rest:,} more problem(s)")]


def _number(label: str, value: Any, *, text: bool) -> str | None:
    """Why ``value`` is not a number for ``label``, or None; ``text``: a CSV cell, else a JSON value."""
    if value is None:
        return f"{label} is null; every report needs a number (altitude: metres above mean sea level)"
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or (isinstance(value, str) and not text):
        return f"{label} {_show(value)} is not a number"
    if isinstance(value, str):
        if not value.strip():
            return f"{label} is empty; every report needs a number"
        try:
            float(value)
        except ValueError:
            return f"{label} {_show(value)} is not a number"
    elif isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return f"{label} is out of range"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _size_problem(name: str, size: int, limit: int) -> Problem:
    return Problem("tracks-size", f"{name} is {size:,} bytes; the limit is {limit:,} bytes")


# -- feeds recorded to files: Cursor-on-Target XML, ADS-B aircraft.json ------------------------

#: What ``detente monitor`` reads: track rows (CSV, JSON Lines), CoT events, ADS-B snapshots.
INPUT_FORMATS: Final = ("csv", "jsonl", "cot", "adsb")
COT_SUFFIXES: Final = frozenset({".xml", ".cot"})
#: Largest feed mapping file, bytes.
MAX_MAPPING_BYTES: Final = 1024 * 1024
#: Bytes looked at to tell a file's format from its content.
_SNIFF_BYTES: Final = 64 * 1024
_AIRCRAFT_KEY: Final = re.compile(r'"aircraft"\s*:')
#: What may lie between CoT events in a file: whitespace, XML declarations, comments (as ``EventSplitter``).
_BETWEEN: Final = re.compile(rb"\s+|<\?xml[^<>]{0,200}\?>|<!--(?:(?!-->)[^<>]){0,200}-->")
#: Track ids named in a note about unmapped tracks.
_UNMAPPED_NAMED: Final = 10


@dataclass(frozen=True)
class TrackInput:
    """Position reports read for the monitor: the samples, the format read, and notes on what was not used."""

    samples: Samples
    format: str
    #: One line each: what the feed gave and what it dropped (and why), the altitude's reference.
    notes: tuple[str, ...] = ()


def detect_format(path: Path) -> str:
    """``"csv"``, ``"jsonl"``, ``"cot"`` or ``"adsb"`` for a file or directory, by extension, then content.

    A directory holds ADS-B snapshots.  ``.csv`` is CSV, ``.xml`` and
    ``.cot`` are CoT.  Otherwise the first non-blank character tells: ``<``
    CoT; ``{`` JSON, which is ADS-B if its first object (or, pretty-printed,
    its first 64 KiB) has an ``"aircraft"`` member, else JSON Lines of track
    rows; anything else is CSV (JSON Lines for ``.jsonl`` and ``.ndjson``).
    """
    path = Path(path)
    if path.is_dir():
        return "adsb"
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in COT_SUFFIXES:
        return "cot"
    fallback = "jsonl" if suffix in JSONL_SUFFIXES else "csv"
    try:
        with path.open("rb") as f:
            head = f.read(_SNIFF_BYTES).decode("utf-8", "replace")
    except OSError:
        return fallback  # the reader reports why it cannot be read
    head = head.lstrip("\ufeff \t\r\n")
    if head.startswith("<"):
        return "cot"
    if not head.startswith("{"):
        return fallback
    first = head.split("\n", 1)[0]
    try:
        obj = json.loads(first)
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict):
        return "adsb" if "aircraft" in obj else "jsonl"
    return "adsb" if _AIRCRAFT_KEY.search(head) else "jsonl"


def read_mapping(path: Path) -> FeedMapping:
    """A feed's mapping table from a JSON (or, named ``.toml``, TOML) file: ``FeedMapping.from_dict``.

    Raises :class:`InvalidInput` naming the file in every problem.
    """
    path = Path(path)
    try:
        with path.open("rb") as f:
            data = f.read(MAX_MAPPING_BYTES + 1)
    except OSError as exc:
        raise InvalidInput([Problem("mapping-file", f"{path}: {exc.strerror or exc}")]) from exc
    if len(data) > MAX_MAPPING_BYTES:
        raise InvalidInput([Problem("mapping-file", f"{path.name} is over {MAX_MAPPING_BYTES:,} bytes")])
    try:
        if path.suffix.lower() == ".toml":
            obj: Any = tomllib.loads(data.decode("utf-8"))
        else:
            obj = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
        raise InvalidInput([Problem("mapping-file", f"{path.name} is not {kind}: {exc}")]) from None
    if not isinstance(obj, dict):
        raise InvalidInput([Problem("cot-mapping", f"{path.name}: a feed mapping must be an object")])
    try:
        return FeedMapping.from_dict(obj)
    except InvalidInput as exc:
        named = [Problem(p.rule, f"{path.name}: {p.message}", p.index, p.id) for p in exc.problems]
        raise InvalidInput(named) from None


def read_cot_file(path: Path, mapping: FeedMapping) -> TrackInput:
    """The position reports in a file of CoT ``<event>``s (back to back, any whitespace, declarations or
    comments between), each mapped to a party by ``mapping``.

    Every event is parsed as a TAK stream's is (:func:`cot.parse_event`: defusedxml, 64 KiB per event).
    Raises :class:`InvalidInput` listing every event that is not a safe, well-formed CoT event, anything
    else between events, and an event that never ends, each with its line and event number, and, as for
    track files, a track whose party changes or that has two reports at one instant.  Events that are well
    formed but give no report (other dimensions, unknown altitude, unmapped, pings, non-atoms) are counted
    in the notes.
    """
    path = Path(path)
    data = _read_bytes(path, "cot")
    name = path.name
    splitter = EventSplitter()
    events = splitter.feed(data)
    problems: list[Problem] = []
    reports: list[Report] = []
    where: list[tuple[int, str]] = []
    dropped: Counter[tuple[str, str]] = Counter()
    unmapped: list[str] = []
    pos, line, counted = 0, 1, 0

    def line_at(offset: int) -> int:
        nonlocal line, counted
        line += data.count(b"\n", counted, offset)
        counted = offset
        return line

    for k, event in enumerate(events, start=1):
        at = data.find(event, pos)
        _between(data, pos, at, name, line_at, problems)
        pos = at + len(event)
        label, event_line = f"{name}, event {k}", line_at(at)
        try:
            parsed = parse_event(event)
        except InvalidInput as exc:
            p = exc.problems[0]
            problems.append(Problem(p.rule, f"{label}: {p.message}", event_line, p.id))
            continue
        if parsed.is_ping:
            dropped[("ignored", "cot-ping")] += 1
            continue
        found = to_report(parsed, mapping)
        if isinstance(found, Dropped):
            dropped[(found.kind, found.rule)] += 1
            if found.kind == "unmapped" and len(unmapped) < _UNMAPPED_NAMED:
                named = f"{parsed.uid} ({parsed.callsign or 'no callsign'})"
                if named not in unmapped:
                    unmapped.append(named)
            continue
        reports.append(found)
        where.append((event_line, label))
        if len(reports) > MAX_ROWS:
            raise InvalidInput([Problem("tracks-rows", f"{name} has more than {MAX_ROWS:,} position reports")])
    _between(data, pos, len(data), name, line_at, problems)
    if not events and not problems:
        problems.append(Problem("tracks-empty", f"{name} holds no CoT <event>"))
    if problems:
        raise InvalidInput(_capped(problems))
    if not reports:
        raise InvalidInput([Problem("tracks-empty", f"{name}: no event gave a position report ({_drops(dropped)})")])
    refs = Counter(r.alt_ref for r in reports)
    notes = [f"{name}: {len(events):,} CoT event(s) gave {len(reports):,} position report(s)"]
    notes += _drop_notes(dropped, unmapped)
    if refs.get(ALT_HAE_AS_MSL):
        notes.append(
            f"altitude: hae (height above the WGS84 ellipsoid) taken as MSL for {refs[ALT_HAE_AS_MSL]:,} report(s): "
            "no geoid grid installed (docs/cot.md, Altitude)"
        )
    return TrackInput(samples_of(reports, where), "cot", tuple(notes))


def read_adsb_files(path: Path, mapping: FeedMapping) -> TrackInput:
    """The position reports in recorded ADS-B snapshots (:func:`adsb.read_snapshots`), each position once.

    Raises :class:`InvalidInput` as :func:`adsb.read_snapshots` does, and, as for track files, for a track
    whose party, category or purpose changes (its callsign moved it to another mapping rule).
    """
    path = Path(path)
    found = read_snapshots(path, mapping)
    name = f"{path.name or path.resolve().name}/" if path.is_dir() else path.name
    if not found.reports:
        raise InvalidInput(
            [Problem("tracks-empty", f"{name}: no aircraft gave a position report ({_drops(found.dropped)})")]
        )
    files = f" in {found.files:,} file(s)" if path.is_dir() else ""
    notes = [
        f"{name}: {found.snapshots:,} snapshot(s){files}, {found.aircraft:,} aircraft entries: "
        f"{len(found.reports):,} position report(s), {found.repeated:,} repeated from an earlier snapshot"
        + (f", {found.older:,} dated before a position already read" if found.older else "")
    ]
    notes += _drop_notes(found.dropped, found.unmapped)
    refs = found.alt_refs
    if refs:
        parts = []
        if refs.get(ALT_HAE_AS_MSL):
            parts.append(f"alt_geom (ellipsoid) as MSL for {refs[ALT_HAE_AS_MSL]:,}")
        if refs.get(ALT_BARO):
            parts.append(f"alt_baro (pressure altitude) as MSL for {refs[ALT_BARO]:,}")
        notes.append(f"altitude: {', '.join(parts)} report(s) (docs/adsb.md, Altitude)")
    return TrackInput(samples_of(found.reports, found.where), "adsb", tuple(notes))


def samples_of(reports: list[Report], where: list[tuple[int, str]]) -> Samples:
    """:meth:`Samples.build` of feed reports; each problem names the report by ``where[i]`` = (line, label)."""
    try:
        return Samples.build([r.row() for r in reports])
    except InvalidInput as exc:
        problems: list[Problem] = []
        for p in exc.problems:
            if p.rule == "duplicate-sample":
                problems.extend(_feed_duplicates(reports, where))
            elif p.index is not None:
                line, label = where[p.index]
                problems.append(Problem(p.rule, f"{label}: {p.message}", line, p.id))
            else:
                problems.append(p)
        raise InvalidInput(_capped(problems)) from None


def _feed_duplicates(reports: list[Report], where: list[tuple[int, str]]) -> list[Problem]:
    first: dict[tuple[str, float], int] = {}
    out: list[Problem] = []
    for i, r in enumerate(reports):
        seen = first.setdefault((r.track, r.t_epoch), i)
        if seen != i:
            line, label = where[i]
            other_line, other = where[seen]
            message = f"{label}: track {r.track!r} already has a report at this instant ({other}, line {other_line})"
            out.append(Problem("duplicate-sample", message, line, r.track))
    return out


def _between(
    data: bytes, start: int, end: int, name: str, line_at: Callable[[int], int], problems: list[Problem]
) -> None:
    """A problem if ``data[start:end]`` (between two events) holds more than whitespace, declarations, comments."""
    i = start
    while i < end:
        m = _BETWEEN.match(data, i, end)
        if m is not None and m.end() > i:
            i = m.end()
            continue
        if data.startswith(b"<event", i):
            message = (
                f"{name}: an <event> that does not end, is cut short by the next one or is longer than "
                f"{MAX_EVENT_BYTES:,} bytes"
            )
            problems.append(Problem("cot-event", message, line_at(i)))
        else:
            shown = data[i : min(end, i + 40)].split(b"\n", 1)[0]
            problems.append(Problem("cot-garbage", f"{name}: not CoT between events: {_show(shown)}", line_at(i)))
        # what follows up to the next <event (left behind by the splitter) belongs to this problem
        following = data.find(b"<event", i + 1, end)
        if following < 0:
            return
        i = following


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise InvalidInput([_size_problem(path.name, size, MAX_FILE_BYTES)])
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InvalidInput([Problem(f"{what}-file", f"{path}: {exc.strerror or exc}")]) from exc
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput([_size_problem(path.name, len(data), MAX_FILE_BYTES)])
    return data


def _drops(dropped: Counter[tuple[str, str]]) -> str:
    if not dropped:
        return "nothing dropped"
    return ", ".join(f"{n:,} {kind} ({rule})" for (kind, rule), n in dropped.most_common())


def _drop_notes(dropped: Counter[tuple[str, str]], unmapped: list[str]) -> list[str]:
    if not dropped:
        return []
    notes = [f"not used: {_drops(dropped)}"]
    if unmapped:
        more = " …" if len(unmapped) >= _UNMAPPED_NAMED else ""
        notes.append(f"unmapped (no rule of the feed mapping covers them): {', '.join(unmapped)}{more}")
    return notes
