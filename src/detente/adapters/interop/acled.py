"""ACLED-style CSV out, ACLED and UCDP GED CSV in (issue 7; the rules are in ``docs/acled.md``).

:func:`export_incidents` writes detente's incidents as an ACLED-style CSV: one
row per incident, ACLED's column names where they apply (``event_id_cnty``,
``event_date``, ``time_precision``, ``event_type``, ``geo_precision``...) and
detente's own columns after them (``detente_id``, ``detente_type``,
``severity``, ``status``, ``started_at``, ``ended_at``).  Humanitarian
coordinators open these files in spreadsheets, so every text cell a
spreadsheet could run as a formula is written with a leading apostrophe.

:func:`read_acled` and :func:`read_ucdp_ged` read the CSV files the two
datasets publish (ACLED's export tool and API, UCDP's GED releases) into a
:class:`ContextLayer`: GeoJSON point features for the map and the reports,
each with the dataset's precision codes turned into an uncertainty in metres
and days.  They are context, never incidents: nothing read here enters the
world or the incident workflow.

The input is hostile until read: its size, rows, columns and ids are capped;
NUL characters, undecodable bytes, broken quoting and missing columns are
refused; every row is checked (ids, dates, coordinates, codes, counts).  A
file is read whole or not at all: every problem is reported, each with its
1-based line in :attr:`Problem.index` and in its message (and the row's id in
:attr:`Problem.id` when it has one), up to :data:`MAX_PROBLEMS` of them, and
nothing is returned unless there is none.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final, TextIO

from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.intervals import format_time

#: Largest input :func:`read_acled` and :func:`read_ucdp_ged` read, bytes (UTF-8).
MAX_BYTES: Final = 50 * 1024 * 1024
#: Most data rows (blank lines not counted).
MAX_ROWS: Final = 200_000
#: Most cells in the header row.
MAX_COLUMNS: Final = 500
#: Longest event id.
MAX_ID_CHARS: Final = 100
#: Most problems listed; the rest are counted in a last "... and N more" problem.
MAX_PROBLEMS: Final = 100

ACLED: Final = "ACLED"
UCDP_GED: Final = "UCDP GED"

#: Every rule a problem may name (prefixed ``acled-`` or ``ucdp-`` by the reader), and what it guards.
RULES: Final[dict[str, str]] = {
    "size": f"the input is larger than {MAX_BYTES:,} bytes",
    "encoding": "the bytes are not UTF-8 (a UTF-8 byte order mark is allowed)",
    "nul": "the text holds a NUL character",
    "empty": "there is no header row",
    "csv": "the text is not well-formed CSV, or a cell is longer than the csv module's limit",
    "header": f"the header row has more than {MAX_COLUMNS} cells or names a column read twice",
    "missing-column": "a required column is absent from the header row",
    "rows": f"more than {MAX_ROWS:,} data rows",
    "cells": "a row has another number of cells than the header",
    "id": f"the event id is empty, longer than {MAX_ID_CHARS} characters or (UCDP) not a whole number",
    "duplicate-id": "two rows give the same event id",
    "date": "a date is empty, not a date the dataset writes, or inconsistent (year, start after end)",
    "coordinates": "latitude/longitude is empty, not a finite decimal number or out of range",
    "precision": "a precision code (or UCDP's type_of_violence) is empty or not one the dataset defines",
    "count": "a fatality count is not a whole number >= 0",
    "type": "ACLED's event_type is empty",
    "more": "more problems than are listed",
    "export": "an incident that cannot be exported (no id, no start, a bad position or precision)",
}

# -- precision codes --------------------------------------------------------------------------------------

#: ACLED ``geo_precision``: the uncertainty in metres detente gives each code, and on export the largest
#: position uncertainty written with the code (1: the town is known; 2: near a town or a small part of a
#: region, about 25 km; 3: a larger region or province, the provincial capital's coordinates).
ACLED_GEO_PRECISION_M: Final[dict[int, float]] = {1: 5_000.0, 2: 25_000.0, 3: 100_000.0}
#: ACLED ``time_precision``: the width of the window around ``event_date``, in days (1: the day is known;
#: 2: the week; 3: only the month, dated to its mid-point), and on export the largest time uncertainty
#: written with the code.
ACLED_TIME_PRECISION_DAYS: Final[dict[int, int]] = {1: 1, 2: 7, 3: 31}
#: UCDP GED ``where_prec``: uncertainty in metres (1 exact place; 2 within 25 km of a known point;
#: 3 second-order administrative division; 4 first-order division (province); 5 a part of the country or a
#: linear feature; 6 the country only; 7 international waters or airspace).
UCDP_WHERE_PREC_M: Final[dict[int, float]] = {
    1: 5_000.0,
    2: 25_000.0,
    3: 50_000.0,
    4: 100_000.0,
    5: 200_000.0,
    6: 500_000.0,
    7: 500_000.0,
}
#: UCDP GED ``date_prec`` codes (1 the day; 2 a period of 2-6 days; 3 the week; 4 8-30 days or the month;
#: 5 more than a month, less than a year).  The window itself is ``date_start`` .. ``date_end``.
UCDP_DATE_PREC: Final = frozenset(range(1, 6))
#: UCDP GED ``type_of_violence``.
UCDP_VIOLENCE: Final[dict[int, str]] = {1: "state-based", 2: "non-state", 3: "one-sided"}

# -- export: the incident types ----------------------------------------------------------------------------

#: ACLED's event taxonomy for the sub-event types an incident may be given: sub_event_type -> (disorder_type,
#: event_type).  Protests and riots are left out: the mechanism does not record them.
ACLED_SUB_EVENTS: Final[dict[str, tuple[str, str]]] = {
    "Armed clash": ("Political violence", "Battles"),
    "Government regains territory": ("Political violence", "Battles"),
    "Non-state actor overtakes territory": ("Political violence", "Battles"),
    "Chemical weapon": ("Political violence", "Explosions/Remote violence"),
    "Air/drone strike": ("Political violence", "Explosions/Remote violence"),
    "Suicide bomb": ("Political violence", "Explosions/Remote violence"),
    "Shelling/artillery/missile attack": ("Political violence", "Explosions/Remote violence"),
    "Remote explosive/landmine/IED": ("Political violence", "Explosions/Remote violence"),
    "Grenade": ("Political violence", "Explosions/Remote violence"),
    "Attack": ("Political violence", "Violence against civilians"),
    "Abduction/forced disappearance": ("Political violence", "Violence against civilians"),
    "Agreement": ("Strategic developments", "Strategic developments"),
    "Arrests": ("Strategic developments", "Strategic developments"),
    "Change to group/activity": ("Strategic developments", "Strategic developments"),
    "Disrupted weapons use": ("Strategic developments", "Strategic developments"),
    "Headquarters or base established": ("Strategic developments", "Strategic developments"),
    "Looting/property destruction": ("Strategic developments", "Strategic developments"),
    "Non-violent transfer of territory": ("Strategic developments", "Strategic developments"),
    "Other": ("Strategic developments", "Strategic developments"),
}
#: detente incident type -> ACLED sub_event_type (its disorder and event type from :data:`ACLED_SUB_EVENTS`).
#: Monitoring's incidents (incursions, crossings, separation, proximity) are not violence: ACLED's
#: "Strategic developments / Other" is its code for a significant non-violent event.
INCIDENT_SUB_EVENTS: Final[dict[str, str]] = {
    "airspace_incursion": "Other",
    "boundary_crossing": "Other",
    "loss_of_separation": "Other",
    "proximity_to_protected": "Other",
    "strike_near_protected": "Air/drone strike",
    "ceasefire_violation": "Armed clash",
    "other": "Other",
}

#: The columns written, in order: ACLED's (in ACLED's order), then detente's.
EXPORT_COLUMNS: Final = (
    "event_id_cnty",
    "event_date",
    "year",
    "time_precision",
    "disorder_type",
    "event_type",
    "sub_event_type",
    "actor1",
    "actor2",
    "assoc_actor_2",
    "country",
    "admin1",
    "location",
    "latitude",
    "longitude",
    "geo_precision",
    "source",
    "notes",
    "fatalities",
    "timestamp",
    "detente_id",
    "detente_type",
    "detente_parties",
    "severity",
    "status",
    "started_at",
    "ended_at",
)
#: Columns detente formats itself (numbers, dates): never escaped, so a negative coordinate stays a number.
_FORMATTED: Final = frozenset(
    {
        "event_date",
        "year",
        "time_precision",
        "latitude",
        "longitude",
        "geo_precision",
        "fatalities",
        "timestamp",
        "detente_id",
        "started_at",
        "ended_at",
    }
)

#: A cell a spreadsheet would run as a formula, possibly after escaping quotes.
_FORMULA: Final = re.compile(r"'*[=+\-@\t\r]")
#: An escaped cell: one quote was added in front of a formula-looking text.
_ESCAPED: Final = re.compile(r"'+[=+\-@\t\r]")


def escape_cell(text: str) -> str:
    """``text`` with a leading apostrophe if a spreadsheet would take it for a formula (``= + - @``, tab, CR).

    Text already escaped gets one more apostrophe, so :func:`unescape_cell` gives it back exactly.
    """
    return f"'{text}" if _FORMULA.match(text) else text


def unescape_cell(text: str) -> str:
    """The text :func:`escape_cell` was given."""
    return text[1:] if _ESCAPED.match(text) else text


def export_incidents(
    incidents: Iterable[Mapping[str, Any]],
    out: TextIO,
    *,
    parties: Mapping[str, str],
    country: str = "Syria",
    id_prefix: str = "DTN",
    bom: bool = False,
) -> int:
    """Write ``incidents`` to ``out`` as ACLED-style CSV; return the number of rows written.

    ``parties`` maps party ids to display names (``actor1``, ``actor2``); an id it lacks is written
    as is.  ``event_id_cnty`` is ``id_prefix`` and the incident id (``DTN17``), never one of ACLED's.
    ``bom`` starts the text with a UTF-8 byte order mark (Excel then reads Arabic place names right).

    An incident is the dict the store gives (``storage.monitoring._incident``); optional keys:
    ``time_precision_s`` and ``position_uncertainty_m`` (precision codes; absent: exact),
    ``sub_event_type`` (one of :data:`ACLED_SUB_EVENTS`, overrides the type's), ``country``,
    ``admin1``, ``location``, ``notes``, ``fatalities``.  Every incident is checked before anything
    is written: :class:`InvalidInput` lists every one that cannot be exported, and ``out`` is untouched.
    """
    problems: list[Problem] = []
    rows: list[list[str]] = []
    for k, incident in enumerate(incidents):
        row = _export_row(incident, k, parties, country, id_prefix, problems)
        if row is not None:
            rows.append(row)
    if problems:
        raise InvalidInput(problems)
    if bom:
        out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(EXPORT_COLUMNS)
    writer.writerows(rows)
    return len(rows)


def acled_time_precision(seconds: float | None) -> int:
    """ACLED ``time_precision`` for a time known to within ``seconds`` (None: exact): 1 within a day,
    2 within a week, 3 otherwise (ACLED has nothing coarser than a month)."""
    if seconds is None:
        return 1
    for code, days in ACLED_TIME_PRECISION_DAYS.items():
        if seconds <= days * 86_400:
            return code
    return 3


def acled_geo_precision(metres: float | None) -> int:
    """ACLED ``geo_precision`` for a position known to within ``metres`` (None: exact): 1 up to 5 km
    (a town), 2 up to 25 km, 3 beyond (a region or province)."""
    if metres is None:
        return 1
    for code, limit in ACLED_GEO_PRECISION_M.items():
        if metres <= limit:
            return code
    return 3


def _export_row(
    incident: Mapping[str, Any],
    k: int,
    parties: Mapping[str, str],
    country: str,
    id_prefix: str,
    problems: list[Problem],
) -> list[str] | None:
    if not isinstance(incident, Mapping):
        problems.append(Problem("acled-export", f"incident {k + 1} is not a mapping", k))
        return None
    raw_id = incident.get("id")
    shown = None if raw_id is None else str(raw_id)
    found: list[str] = []
    if raw_id is None or isinstance(raw_id, bool) or not str(raw_id).strip():
        found.append("it has no id")
    started = _moment(incident.get("started_at"))
    if started is None:
        found.append(f"started_at {_show(incident.get('started_at'))} is not a time")
    ended = _moment(incident.get("ended_at")) if incident.get("ended_at") is not None else None
    if incident.get("ended_at") is not None and ended is None:
        found.append(f"ended_at {_show(incident.get('ended_at'))} is not a time")
    position = incident.get("position")
    lon = lat = None
    if position is not None:
        try:
            lon, lat = float(position["lon"]), float(position["lat"])
        except (TypeError, KeyError, ValueError):
            found.append(f"position {_show(position)} is not {{'lon': .., 'lat': ..}}")
        else:
            if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
                found.append(f"position {_show(position)} is out of range")
    uncertainty: dict[str, float | None] = {}
    for key in ("time_precision_s", "position_uncertainty_m"):
        value = incident.get(key)
        if value is None:
            uncertainty[key] = None
        elif isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 or math.isinf(value):
            found.append(f"{key} {_show(value)} is not a number >= 0")
        else:
            uncertainty[key] = float(value)
    fatalities = incident.get("fatalities")
    if fatalities is not None and (isinstance(fatalities, bool) or not isinstance(fatalities, int) or fatalities < 0):
        found.append(f"fatalities {_show(fatalities)} is not a whole number >= 0")
    kind = str(incident.get("type") or "other")
    sub_event = incident.get("sub_event_type") or INCIDENT_SUB_EVENTS.get(kind, "Other")
    if not isinstance(sub_event, str) or sub_event not in ACLED_SUB_EVENTS:
        found.append(f"sub_event_type {_show(sub_event)} is not one of ACLED's ({', '.join(ACLED_SUB_EVENTS)})")
    if found:
        label = f"incident {shown}" if shown else f"incident {k + 1}"
        problems.extend(Problem("acled-export", f"{label}: {why}", k, shown) for why in found)
        return None
    assert started is not None
    disorder, event_type = ACLED_SUB_EVENTS[sub_event]
    names = [parties.get(p, p) for p in (str(p) for p in incident.get("parties") or ())]
    updated = _moment(incident.get("updated_at")) or _moment(incident.get("created_at"))
    values = {
        "event_id_cnty": f"{id_prefix}{raw_id}",
        "event_date": started.date().isoformat(),
        "year": str(started.year),
        "time_precision": str(acled_time_precision(uncertainty["time_precision_s"])),
        "disorder_type": disorder,
        "event_type": event_type,
        "sub_event_type": sub_event,
        "actor1": names[0] if names else "",
        "actor2": names[1] if len(names) > 1 else "",
        "assoc_actor_2": "; ".join(names[2:]),
        "country": str(incident.get("country") or country),
        "admin1": str(incident.get("admin1") or ""),
        "location": str(incident.get("location") or ""),
        "latitude": "" if lat is None else _coordinate(lat),
        "longitude": "" if lon is None else _coordinate(lon),
        "geo_precision": "" if lat is None else str(acled_geo_precision(uncertainty["position_uncertainty_m"])),
        "source": f"detente: {incident.get('source') or 'unknown'}",
        "notes": " ".join(str(t) for t in (incident.get("title"), incident.get("notes")) if t),
        "fatalities": "" if fatalities is None else str(fatalities),
        "timestamp": "" if updated is None else str(int(updated.timestamp())),
        "detente_id": str(raw_id),
        "detente_type": kind,
        "detente_parties": ";".join(str(p) for p in incident.get("parties") or ()),
        "severity": str(incident.get("severity") or ""),
        "status": str(incident.get("status") or ""),
        "started_at": format_time(started) or "",
        "ended_at": format_time(ended) or "",
    }
    return [values[c] if c in _FORMATTED else escape_cell(values[c]) for c in EXPORT_COLUMNS]


def _moment(value: Any) -> datetime | None:
    """A time in UTC from a datetime (naive: UTC, as the store keeps them) or ISO 8601 text with an offset."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
        if value.tzinfo is None:
            return None
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _coordinate(value: float) -> str:
    """Six decimals (about 0.1 m), trailing zeros dropped."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# -- reading ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContextLayer:
    """Events of a conflict dataset, as GeoJSON point features for the map and the reports.

    Every feature's properties hold ``dataset``, ``source_id`` (the dataset's event id), ``date``,
    ``date_start``, ``date_end`` (the window the event lies in), ``uncertainty_m``,
    ``uncertainty_days``, ``fatalities``, ``summary`` and the dataset's own fields (docs/acled.md).
    """

    name: str
    dataset: str
    features: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.features)

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection (RFC 7946), with ``name`` and ``dataset`` as foreign members."""
        return {"type": "FeatureCollection", "name": self.name, "dataset": self.dataset, "features": self.features}


def read_acled(data: bytes | str, *, name: str = "acled.csv") -> ContextLayer:
    """The events of an ACLED CSV export (or of :func:`export_incidents`) as a context layer.

    Required columns: ``event_id_cnty``, ``event_date``, ``time_precision``, ``event_type``,
    ``latitude``, ``longitude``, ``geo_precision``; the others ACLED publishes are read when present,
    any other column is ignored, in any order.  ``name`` (a file name) names the input in messages.
    Raises :class:`InvalidInput` listing every problem, each with its line.
    """
    return _read(data, name, _ACLED)


def read_ucdp_ged(data: bytes | str, *, name: str = "ged.csv") -> ContextLayer:
    """The events of a UCDP GED CSV release (``GEDEvent_v*.csv``) as a context layer.

    Required columns: ``id``, ``date_start``, ``date_end``, ``latitude``, ``longitude``,
    ``where_prec``, ``date_prec``, ``type_of_violence``; the others GED publishes are read when
    present, any other column is ignored, in any order.  Raises :class:`InvalidInput` listing every
    problem, each with its line.
    """
    return _read(data, name, _UCDP)


class _Row:
    """One data row being read: its cells by column name, and the problems found in it."""

    def __init__(self, spec: _Spec, name: str, line: int, cells: dict[str, str]) -> None:
        self.spec = spec
        self.name = name
        self.line = line
        self.cells = cells
        self.id: str | None = None
        self.problems: list[Problem] = []

    def bad(self, rule: str, message: str) -> None:
        self.problems.append(
            Problem(f"{self.spec.prefix}-{rule}", f"{self.name}, line {self.line}: {message}", self.line, self.id)
        )

    def raw(self, column: str) -> str:
        return self.cells.get(column, "").strip()

    def text(self, column: str) -> str | None:
        """A free-text cell, unescaped (None when empty or absent)."""
        value = self.cells.get(column)
        if value is None or not value.strip():
            return None
        return unescape_cell(value.strip())

    def coordinate(self, column: str, limit: float) -> float | None:
        value = self.raw(column)
        if not value:
            self.bad("coordinates", f"{column} is empty; every event needs a point")
            return None
        if not _DECIMAL.fullmatch(value):
            hint = " (use a point, not a comma, for decimals)" if re.fullmatch(r"[+-]?\d+,\d+", value) else ""
            self.bad("coordinates", f"{column} {_show(value)} is not a decimal number{hint}")
            return None
        number = float(value)
        if not -limit <= number <= limit:
            self.bad("coordinates", f"{column} {_show(value)} is out of range [-{limit:g}, {limit:g}]")
            return None
        return number

    def code(self, column: str, allowed: Iterable[int], rule: str = "precision") -> int | None:
        value = self.raw(column)
        codes = sorted(allowed)
        number = _whole(value)
        if number is None or number not in codes:
            what = "empty" if not value else f"{_show(value)}, not one of {', '.join(map(str, codes))}"
            self.bad(rule, f"{column} is {what}")
            return None
        return number

    def count(self, column: str) -> int | None:
        """A whole number >= 0, or None when the cell is empty or absent."""
        value = self.raw(column)
        if not value:
            return None
        number = _whole(value)
        if number is None:
            self.bad("count", f"{column} {_show(value)} is not a whole number >= 0")
        return number


@dataclass(frozen=True)
class _Spec:
    dataset: str
    prefix: str
    id_column: str
    required: tuple[str, ...]
    #: Every column read (required or not); the others are ignored.
    known: frozenset[str]
    feature: Callable[[_Row], dict[str, Any] | None]


def _read(data: bytes | str, name: str, spec: _Spec) -> ContextLayer:
    text = _decode(data, name, spec.prefix)
    rule = spec.prefix
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        message = f"{name}, line {line}: a NUL character; is it really CSV text?"
        raise InvalidInput([Problem(f"{rule}-nul", message, line)])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    del text
    at = 0  # physical lines read so far
    header: list[str] | None = None
    read: list[tuple[int, str]] = []  # (index, name) of the columns read
    header_line = 1
    problems: list[Problem] = []  # in line order: rows are read in order
    more = 0  # problems found past MAX_PROBLEMS, only counted
    features: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    rows = 0

    def add(found: list[Problem]) -> None:
        nonlocal more
        room = MAX_PROBLEMS - len(problems)
        problems.extend(found[:room])
        more += max(0, len(found) - max(room, 0))

    try:
        for cells in reader:
            line, at = at + 1, reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header, header_line = _header(cells, line, name, spec), line
                read = [(i, c) for i, c in enumerate(header) if c in spec.known]
                continue
            rows += 1
            if rows > MAX_ROWS:
                message = f"{name} has more than {MAX_ROWS:,} data rows (line {line}); split it"
                raise InvalidInput([*problems, Problem(f"{rule}-rows", message, line)])
            if len(cells) != len(header):
                message = f"{name}, line {line}: the row has {len(cells)} cell(s); the header has {len(header)}"
                add([Problem(f"{rule}-cells", message, line)])
                continue
            row = _Row(spec, name, line, {c: cells[i] for i, c in read})
            feature = _row_feature(row, first_line)
            if row.problems:
                add(row.problems)
            elif feature is not None:
                features.append(feature)
    except csv.Error as exc:
        line = reader.line_num
        add([Problem(f"{rule}-csv", f"{name}, line {line}: not well-formed CSV: {exc}", line)])
    if header is None and not problems:
        problems.append(Problem(f"{rule}-empty", f"{name} is empty: no header row", header_line))
    if more:
        problems.append(Problem(f"{rule}-more", f"… and {more:,} more problem(s)"))
    if problems:
        raise InvalidInput(problems)
    return ContextLayer(name=name, dataset=spec.dataset, features=features)


def _row_feature(row: _Row, first_line: dict[str, int]) -> dict[str, Any] | None:
    spec = row.spec
    event_id = row.raw(spec.id_column)
    if not event_id:
        row.bad("id", f"{spec.id_column} is empty")
    elif len(event_id) > MAX_ID_CHARS:
        row.bad("id", f"{spec.id_column} is longer than {MAX_ID_CHARS} characters")
    elif spec.prefix == "ucdp" and _whole(event_id) is None:
        row.bad("id", f"{spec.id_column} {_show(event_id)} is not a whole number")
    else:
        row.id = str(_whole(event_id)) if spec.prefix == "ucdp" else unescape_cell(event_id)
        seen = first_line.setdefault(row.id, row.line)
        if seen != row.line:
            row.bad("duplicate-id", f"{spec.id_column} {row.id!r} is already the id of line {seen}")
    feature = spec.feature(row)
    return None if row.problems else feature


def _decode(data: bytes | str, name: str, rule: str) -> str:
    if isinstance(data, str):
        if len(data) > MAX_BYTES or (
            len(data) * 4 > MAX_BYTES and len(data.encode("utf-8", "surrogatepass")) > MAX_BYTES
        ):
            raise InvalidInput([_too_big(name, len(data.encode("utf-8", "surrogatepass")), rule)])
        return data[1:] if data.startswith("\ufeff") else data
    if len(data) > MAX_BYTES:
        raise InvalidInput([_too_big(name, len(data), rule)])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        message = f"{name} is UTF-16 text; save it as CSV UTF-8"
        raise InvalidInput([Problem(f"{rule}-encoding", message, 1)])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(b"\xef\xbb\xbf") else 0)
        line = data.count(b"\n", 0, start) + 1
        message = (
            f"{name}, line {line}: not UTF-8 (byte {start + 1}: {exc.reason}); export or save the file as CSV UTF-8"
        )
        raise InvalidInput([Problem(f"{rule}-encoding", message, line)]) from None


def _too_big(name: str, size: int, rule: str) -> Problem:
    return Problem(f"{rule}-size", f"{name} is {size:,} bytes; the limit is {MAX_BYTES:,} bytes")


def _header(cells: list[str], line: int, name: str, spec: _Spec) -> list[str]:
    rule = spec.prefix
    if len(cells) > MAX_COLUMNS:
        message = f"{name}, line {line}: the header has {len(cells):,} cells; the limit is {MAX_COLUMNS}"
        raise InvalidInput([Problem(f"{rule}-header", message, line)])
    header = [c.strip().lstrip("\ufeff").strip().lower() for c in cells]
    problems: list[Problem] = []
    for column in sorted({c for c in header if c in spec.known and header.count(c) > 1}):
        message = f"{name}, line {line}: the header names {column!r} {header.count(column)} times"
        problems.append(Problem(f"{rule}-header", message, line))
    missing = [c for c in spec.required if c not in header]
    for column in missing:
        message = f"{name}, line {line}: the header has no {column!r} column ({spec.dataset} names it so)"
        problems.append(Problem(f"{rule}-missing-column", message, line))
    if missing and len(header) == 1 and ";" in header[0]:
        message = (
            f"{name}, line {line}: the header is one cell holding ';': the file is separated by semicolons "
            "(a spreadsheet's regional setting); save it with commas"
        )
        problems.append(Problem(f"{rule}-csv", message, line))
    if problems:
        raise InvalidInput(problems)
    return header


_DECIMAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
_WHOLE: Final = re.compile(r"(\d{1,9})(?:\.0*)?")
_ISO_DATE: Final = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_NAMED_DATE: Final = re.compile(r"(\d{1,2})[ -]([A-Za-z]{3,9})[ -](\d{4})")
_MONTHS: Final = {
    m: i
    for i, names in enumerate(
        (
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for m in names
}


def _whole(value: str) -> int | None:
    """A whole number >= 0 written as digits (``12``, or ``12.0`` as pandas re-exports write it)."""
    m = _WHOLE.fullmatch(value.strip())
    return int(m.group(1)) if m else None


def _date(row: _Row, column: str, *, named: bool) -> date | None:
    """A date: ``YYYY-MM-DD`` (a time of day after it is allowed and ignored), or with ``named``
    also ``15 July 2017`` / ``15-Jul-2017`` (older ACLED exports)."""
    value = row.raw(column)
    if not value:
        row.bad("date", f"{column} is empty")
        return None
    m = _ISO_DATE.fullmatch(value)
    try:
        if m:
            return date.fromisoformat(m.group(1))
        n = _NAMED_DATE.fullmatch(value) if named else None
        if n and n.group(2).lower() in _MONTHS:
            return date(int(n.group(3)), _MONTHS[n.group(2).lower()], int(n.group(1)))
    except ValueError:
        row.bad("date", f"{column} {_show(value)} is not a day of the calendar")
        return None
    forms = "2017-07-15 or 15 July 2017" if named else "2017-07-15"
    hint = "; a spreadsheet may have rewritten it" if re.fullmatch(r"\d{1,4}[/.]\d{1,2}[/.]\d{1,4}", value) else ""
    row.bad("date", f"{column} {_show(value)} is not a date as {row.spec.dataset} writes it ({forms}){hint}")
    return None


def _point(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def _acled_feature(row: _Row) -> dict[str, Any] | None:
    day = _date(row, "event_date", named=True)
    year = row.raw("year")
    if day is not None and year and year != str(day.year):
        row.bad("date", f"year {_show(year)} is not the year of event_date {day.isoformat()}")
    time_precision = row.code("time_precision", ACLED_TIME_PRECISION_DAYS)
    geo_precision = row.code("geo_precision", ACLED_GEO_PRECISION_M)
    lat = row.coordinate("latitude", 90)
    lon = row.coordinate("longitude", 180)
    fatalities = row.count("fatalities")
    event_type = row.text("event_type")
    if event_type is None:
        row.bad("type", "event_type is empty; every ACLED event has one")
    if row.problems or day is None or time_precision is None or geo_precision is None or lat is None or lon is None:
        return None
    half = timedelta(days=ACLED_TIME_PRECISION_DAYS[time_precision] // 2)
    sub_event = row.text("sub_event_type")
    props: dict[str, Any] = {
        "dataset": ACLED,
        "source_id": row.id,
        "date": day.isoformat(),
        "date_start": (day - half).isoformat(),
        "date_end": (day + half).isoformat(),
        "time_precision": time_precision,
        "geo_precision": geo_precision,
        "uncertainty_m": ACLED_GEO_PRECISION_M[geo_precision],
        "uncertainty_days": ACLED_TIME_PRECISION_DAYS[time_precision],
        "fatalities": fatalities,
        "summary": ": ".join(t for t in (event_type, sub_event) if t) or None,
        "disorder_type": row.text("disorder_type"),
        "event_type": event_type,
        "sub_event_type": sub_event,
    }
    for column in _ACLED_TEXT:
        props[column] = row.text(column)
    return {"type": "Feature", "id": f"acled:{row.id}", "geometry": _point(lon, lat), "properties": props}


def _ucdp_feature(row: _Row) -> dict[str, Any] | None:
    start = _date(row, "date_start", named=False)
    end = _date(row, "date_end", named=False)
    if start is not None and end is not None and end < start:
        row.bad("date", f"date_end {end.isoformat()} is before date_start {start.isoformat()}")
    date_prec = row.code("date_prec", UCDP_DATE_PREC)
    where_prec = row.code("where_prec", UCDP_WHERE_PREC_M)
    violence = row.code("type_of_violence", UCDP_VIOLENCE)
    lat = row.coordinate("latitude", 90)
    lon = row.coordinate("longitude", 180)
    counts = {column: row.count(column) for column in ("best", "low", "high", "deaths_civilians")}
    if row.problems or start is None or end is None or where_prec is None or violence is None:
        return None
    if date_prec is None or lat is None or lon is None:
        return None
    side_a, side_b = row.text("side_a"), row.text("side_b")
    sides = " – ".join(s for s in (side_a, side_b) if s)
    props: dict[str, Any] = {
        "dataset": UCDP_GED,
        "source_id": row.id,
        "date": start.isoformat(),
        "date_start": start.isoformat(),
        "date_end": end.isoformat(),
        "date_prec": date_prec,
        "where_prec": where_prec,
        "uncertainty_m": UCDP_WHERE_PREC_M[where_prec],
        "uncertainty_days": (end - start).days + 1,
        "fatalities": counts["best"],
        "summary": f"{UCDP_VIOLENCE[violence]} violence" + (f": {sides}" if sides else ""),
        "type_of_violence": violence,
        "violence": UCDP_VIOLENCE[violence],
        "low": counts["low"],
        "high": counts["high"],
        "deaths_civilians": counts["deaths_civilians"],
    }
    for column in _UCDP_TEXT:
        props[column] = row.text(column)
    return {"type": "Feature", "id": f"ucdp-ged:{row.id}", "geometry": _point(lon, lat), "properties": props}


#: ACLED text columns kept as properties when present.
_ACLED_TEXT: Final = (
    "actor1",
    "assoc_actor_1",
    "actor2",
    "assoc_actor_2",
    "civilian_targeting",
    "country",
    "admin1",
    "admin2",
    "admin3",
    "location",
    "source",
    "source_scale",
    "notes",
    "tags",
)
#: UCDP GED text columns kept as properties when present.
_UCDP_TEXT: Final = (
    "side_a",
    "side_b",
    "conflict_name",
    "dyad_name",
    "country",
    "adm_1",
    "adm_2",
    "where_coordinates",
    "where_description",
    "source_office",
)

_ACLED_REQUIRED: Final = (
    "event_id_cnty",
    "event_date",
    "time_precision",
    "event_type",
    "latitude",
    "longitude",
    "geo_precision",
)
_UCDP_REQUIRED: Final = (
    "id",
    "date_start",
    "date_end",
    "latitude",
    "longitude",
    "where_prec",
    "date_prec",
    "type_of_violence",
)

_ACLED: Final = _Spec(
    dataset=ACLED,
    prefix="acled",
    id_column="event_id_cnty",
    required=_ACLED_REQUIRED,
    known=frozenset(
        {*_ACLED_REQUIRED, *_ACLED_TEXT, "year", "disorder_type", "sub_event_type", "fatalities"},
    ),
    feature=_acled_feature,
)
_UCDP: Final = _Spec(
    dataset=UCDP_GED,
    prefix="ucdp",
    id_column="id",
    required=_UCDP_REQUIRED,
    known=frozenset({*_UCDP_REQUIRED, *_UCDP_TEXT, "best", "low", "high", "deaths_civilians"}),
    feature=_ucdp_feature,
)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:57]}..."
