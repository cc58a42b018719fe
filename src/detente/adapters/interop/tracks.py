"""Position reports in: CSV and JSON Lines files of track samples (SCENARIO.md, "Position reports").

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
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Final

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


def read_tracks(path: Path) -> Samples:
    """The samples in a CSV or JSON Lines file (format by extension, else by its first character).

    Raises :class:`InvalidInput` listing every problem, each with its line number.
    """
    path = Path(path)
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
    return _parse(text, path.name, _format_of(path.name))


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
