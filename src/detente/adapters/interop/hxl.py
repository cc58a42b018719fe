"""HXL-tagged CSV: import and export of humanitarian sites and movements.

Aid agencies exchange tables as HXL (Humanitarian Exchange Language) CSV: an
optional row of plain-language headers, a row of hashtags (``#loc+name``,
``#geo+lat``...) and the data rows.  :func:`read_hxl` turns such a file into
``site`` and ``movement`` objects and :func:`write_hxl` writes them back; the
column mapping and every rule are in ``docs/hxl.md``.

How a row becomes an object: each row is turned into the GeoJSON Feature a
scenario file would hold for the same data and the features go through the
scenario codec (:func:`~detente.adapters.interop.scenario.objects_from_features`),
so an HXL import yields exactly what a GeoJSON import of the same data
yields and the geometry, radius and time rules are the codec's.  Export goes
the other way through :func:`~detente.adapters.interop.scenario.object_to_features`.

libhxl finds the hashtag row (within the first 25 rows, at least half of its
non-empty cells hashtags) and matches tag patterns, so ``#geo+lat+x_source``
still counts as ``#geo+lat``.  The text is split into rows by the stdlib
``csv`` module first and libhxl only ever sees a list of lists: it never
opens a file or a URL.

A file is read whole or not at all: every problem is reported, file-level
ones (``index`` the line concerned or ``None``) and one per broken row
(``index`` the row's 1-based line number, ``id`` its id when it has one), and
nothing is returned unless there is none.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any, Final

import hxl
import shapely.wkt
from shapely.errors import ShapelyError
from shapely.geometry import mapping

from detente.adapters.interop.scenario import object_to_features, objects_from_features
from detente.domain.errors import InvalidInput, Problem
from detente.domain.geo.intervals import ALL_ALTITUDES, format_time
from detente.domain.model import Kind, Party, Role, WorldObject

MAX_BYTES: Final = 5_000_000
#: Data rows (rows after the hashtag row, blank rows included).
MAX_ROWS: Final = 20_000
MAX_COLUMNS: Final = 500
#: Longest ``#geo+route`` cell read (WKT characters).
MAX_WKT_CHARS: Final = 100_000
#: libhxl looks for the hashtag row in this many leading rows.
HASHTAG_SCAN_ROWS: Final = 25

SITE_TYPES: Final = ("hospital", "school", "camp", "warehouse", "office", "other")
#: Parties whose role may notify a site or a movement.
NOTIFYING_ROLES: Final = frozenset({Role.HUMANITARIAN, Role.SECRETARIAT})

#: Every rule a problem may name, and what it guards.
RULES: Final[dict[str, str]] = {
    "hxl-size": f"the file is larger than {MAX_BYTES} bytes",
    "hxl-rows": f"the file has more than {MAX_ROWS} data rows",
    "hxl-nul": "the file holds a NUL character",
    "hxl-csv": "the text is not well-formed CSV, a cell is too long or a row has too many cells",
    "hxl-no-hashtags": f"no HXL hashtag row in the first {HASHTAG_SCAN_ROWS} rows",
    "hxl-missing-column": "a required column is absent from the hashtag row",
    "hxl-conflicting-columns": "two columns matching the same hashtag give different values in a row",
    "hxl-kind": "#meta+kind is empty or not site/movement",
    "hxl-id": "#meta+id is empty",
    "hxl-duplicate-id": "two rows give the same #meta+id",
    "hxl-unknown-org": "#org is empty, unknown, ambiguous or not a humanitarian/secretariat party",
    "hxl-coordinates": "#geo+lat/#geo+lon is empty, not a finite decimal number or out of range",
    "hxl-radius": "#geo+radius is empty or not a finite number > 0",
    "hxl-route": "#geo+route is empty, too long, not WKT LINESTRING/MULTILINESTRING or an invalid route",
    "hxl-corridor": "#geo+corridor is empty or not a finite number > 0",
    "hxl-site-type": f"#loc+type is not one of {', '.join(SITE_TYPES)}",
    "hxl-vehicles": "#indicator+vehicles is not an integer >= 0",
    "hxl-time": "#date+start/#date+end is not ISO 8601 with an offset (or a bare date), or end <= start",
    "hxl-urgent": "#status+urgent is not yes/no/true/false or empty",
    "hxl-not-applicable": "a column that does not apply to the row's kind is filled",
    "hxl-export-kind": "only sites and movements can be exported",
    "hxl-export-volumes": "an object with other than one volume cannot be exported",
    "hxl-export-altitude": "an object limited in altitude cannot be exported (HXL has no altitude column here)",
    "hxl-export-geometry": "a site that is not a 2D point, or a movement that is not a (multi)line",
}


@dataclass(frozen=True)
class HxlImport:
    """The objects of an HXL file, in row order, and each row's urgent flag."""

    objects: list[WorldObject]
    #: object id -> the row's ``#status+urgent`` flag (False when empty).
    urgent: dict[str, bool]
    #: object id -> the row's line number, to name the row of a problem found later (a lead time).
    lines: dict[str, int] = field(default_factory=dict, compare=False)

    def on_rows(self, error: InvalidInput) -> InvalidInput:
        """``error`` with each problem that names an object of this file placed on that object's row."""
        return InvalidInput(
            [
                replace(p, index=self.lines[p.id]) if p.index is None and p.id in self.lines else p
                for p in error.problems
            ]
        )


@dataclass(frozen=True)
class _Field:
    """One column detente reads and writes."""

    #: The pattern a column must match to be read (libhxl tag pattern).
    pattern: str
    #: The hashtag written on export.
    tag: str
    #: The plain-language header written on export.
    header: str
    #: Free text, kept as written: when several columns match, the first
    #: non-blank one wins.  Other fields are stripped of surrounding blanks
    #: and matching columns must agree.
    text: bool = False
    #: Text a spreadsheet could take for a formula: escaped on export,
    #: unescaped on import (numbers, dates and WKT never are).
    escaped: bool = False

    @property
    def shown(self) -> str:
        """The hashtag as named in messages: what any matching column has."""
        return self.pattern.split("-")[0]


FIELDS: Final[dict[str, _Field]] = {
    "kind": _Field("#meta+kind", "#meta+kind", "Kind"),
    "id": _Field("#meta+id", "#meta+id", "ID", escaped=True),
    "name": _Field("#loc+name", "#loc+name", "Name", text=True, escaped=True),
    "site_type": _Field("#loc+type", "#loc+type", "Site type", escaped=True),
    # +type is the organisation's type (NGO, UN agency); +funder, +impl and
    # +partner name other organisations than the one notifying.
    "org": _Field("#org-type-funder-impl-partner", "#org+code", "Organisation", escaped=True),
    "lat": _Field("#geo+lat", "#geo+lat", "Latitude"),
    "lon": _Field("#geo+lon", "#geo+lon", "Longitude"),
    "radius": _Field("#geo+radius", "#geo+radius", "Protection radius (m)"),
    "route": _Field("#geo+route", "#geo+route", "Route (WKT, lon lat)"),
    "corridor": _Field("#geo+corridor", "#geo+corridor", "Corridor half-width (m)"),
    "start": _Field("#date+start", "#date+start", "Start (UTC)"),
    "end": _Field("#date+end", "#date+end", "End (UTC)"),
    "vehicles": _Field("#indicator+vehicles", "#indicator+vehicles+num", "Vehicles"),
    "cargo": _Field("#item+name", "#item+name", "Cargo", text=True, escaped=True),
    "contact_name": _Field("#contact+name", "#contact+name", "Contact name", text=True, escaped=True),
    "contact_phone": _Field("#contact+phone", "#contact+phone", "Contact phone", text=True, escaped=True),
    "contact_email": _Field("#contact+email", "#contact+email", "Contact email", text=True, escaped=True),
    "urgent": _Field("#status+urgent", "#status+urgent", "Urgent"),
    "source": _Field("#meta+source", "#meta+source", "Source", text=True, escaped=True),
}

_REQUIRED: Final = ("kind", "id", "org")
_REQUIRED_BY_KIND: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.SITE: ("lat", "lon", "radius"),
    Kind.MOVEMENT: ("route", "corridor"),
}
#: Columns that must stay empty on a row of the kind.
_NOT_FOR_KIND: Final[dict[Kind, tuple[str, ...]]] = {
    Kind.SITE: ("route", "corridor", "vehicles", "cargo"),
    Kind.MOVEMENT: ("lat", "lon", "radius", "site_type"),
}
#: Columns whose text is kept as is in ``extra`` under the given property.
_EXTRA_TEXT: Final = (("name", "name"), ("cargo", "cargo"), ("source", "source"))
_CONTACT: Final = (("contact_name", "name"), ("contact_phone", "phone"), ("contact_email", "email"))

#: The codec's rules, in this format's names (the codec guards what these checks miss).
_CODEC_RULES: Final[dict[str, str]] = {
    "id": "hxl-id",
    "kind": "hxl-kind",
    "party": "hxl-unknown-org",
    "unknown_party": "hxl-unknown-org",
    "time": "hxl-time",
    "radius_m": "hxl-radius",
    "corridor_m": "hxl-corridor",
    "duplicate_volume": "hxl-duplicate-id",
}
_GEOMETRY_RULE: Final = {Kind.SITE: "hxl-coordinates", Kind.MOVEMENT: "hxl-route"}

_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_INTEGER = re.compile(r"\d{1,9}")
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_WKT_START = re.compile(r"\s*(?:MULTI)?LINESTRING\b", re.IGNORECASE)
_NON_FINITE = re.compile(r"nan|inf", re.IGNORECASE)
_WKT_NUMBER = re.compile(r"[+-]?[\d.]+(?:[eE][+-]?\d+)?")
_URGENT: Final = {"yes": True, "true": True, "no": False, "false": False, "": False}
#: A cell a spreadsheet would run as a formula, possibly after escaping quotes.
_FORMULA = re.compile(r"'*[=+\-@\t\r]")
#: An escaped cell: one quote was added in front of a formula-looking text.
_ESCAPED = re.compile(r"'+[=+\-@\t\r]")


# ---------------------------------------------------------------- reading


def read_hxl(text: str, parties: Mapping[str, Party]) -> HxlImport:
    """Read sites and movements from HXL CSV; raise :class:`InvalidInput` with every problem.

    ``parties`` are the parties known to detente: ``#org`` must name one of
    them (by id or exact name) whose role is humanitarian or secretariat.
    """
    rows, lines = _split_rows(text)
    hashtag_row, columns = _find_hashtags(rows)
    table = _Table(columns, lines[hashtag_row])
    missing = [name for name in _REQUIRED if not table.has(name)]
    if missing:
        raise InvalidInput([table.missing_column(name) for name in missing])
    data = [(lines[i], rows[i]) for i in range(hashtag_row + 1, len(rows)) if any(c.strip() for c in rows[i])]
    problems: list[Problem] = []
    kinds = {_kind_of(table, row) for _, row in data}
    for kind, names in _REQUIRED_BY_KIND.items():
        if kind in kinds:
            problems.extend(table.missing_column(name) for name in names if not table.has(name))
    reader = _RowReader(table, parties)
    for line, row in data:
        reader.read(line, row)
    problems.extend(reader.problems)
    objects = _through_codec(reader.pieces, parties, problems)
    if problems:
        raise InvalidInput(sorted(problems, key=lambda p: (p.index is not None, p.index or 0)))
    return HxlImport(
        objects=objects,
        urgent={p.id: p.urgent for p in reader.pieces},
        lines={p.id: p.line for p in reader.pieces},
    )


def _split_rows(text: str) -> tuple[list[list[str]], list[int]]:
    """The CSV rows and each row's first line number; file-level checks first."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise InvalidInput([Problem("hxl-size", f"the file is larger than the limit of {MAX_BYTES} bytes")])
    nul = text.find("\x00")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise InvalidInput([Problem("hxl-nul", "the file holds a NUL character; is it really CSV text?", line)])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[list[str]] = []
    lines: list[int] = []
    last = 0
    try:
        for row in reader:
            rows.append(row)
            lines.append(last + 1)
            last = reader.line_num
            if len(row) > MAX_COLUMNS:
                message = f"the row has {len(row)} cells; the limit is {MAX_COLUMNS}"
                raise InvalidInput([Problem("hxl-csv", message, lines[-1])])
            if len(rows) > MAX_ROWS + HASHTAG_SCAN_ROWS:
                break
    except csv.Error as exc:
        raise InvalidInput([Problem("hxl-csv", f"not well-formed CSV: {exc}", reader.line_num)]) from None
    return rows, lines


def _find_hashtags(rows: list[list[str]]) -> tuple[int, list[Any]]:
    """The index of the hashtag row and its libhxl columns.

    The rule is libhxl's own (``HXLReader`` calls ``Column.parse_list`` on
    each of the first 25 rows); calling it here gives the row's index too.
    """
    previous: list[str] | None = None
    for index, row in enumerate(rows[:HASHTAG_SCAN_ROWS]):
        columns = hxl.model.Column.parse_list(row, previous)
        if columns is not None:
            data_rows = len(rows) - index - 1
            if data_rows > MAX_ROWS:
                raise InvalidInput([Problem("hxl-rows", f"the file has more than {MAX_ROWS} data rows")])
            return index, list(columns)
        previous = row
    message = (
        f"no HXL hashtag row (#meta+kind, #meta+id, ...) in the first {HASHTAG_SCAN_ROWS} rows; "
        "add one under the header row"
    )
    raise InvalidInput([Problem("hxl-no-hashtags", message)])


class _Table:
    """Which columns hold each field, by libhxl tag-pattern matching."""

    def __init__(self, columns: list[Any], hashtag_line: int) -> None:
        self.hashtag_line = hashtag_line
        self.columns: dict[str, list[int]] = {}
        for name, spec in FIELDS.items():
            pattern = hxl.model.TagPattern.parse(spec.pattern)
            self.columns[name] = [i for i, column in enumerate(columns) if pattern.match(column)]

    def has(self, name: str) -> bool:
        return bool(self.columns[name])

    def missing_column(self, name: str) -> Problem:
        spec = FIELDS[name]
        message = f"the hashtag row has no {spec.shown} column ({spec.header})"
        return Problem("hxl-missing-column", message, self.hashtag_line)

    def cells(self, name: str, row: list[str]) -> list[tuple[int, str]]:
        """Non-blank cells of the field in the row, with their column index."""
        return [(i, row[i]) for i in self.columns[name] if i < len(row) and row[i].strip()]


def _kind_of(table: _Table, row: list[str]) -> Kind | None:
    cells = table.cells("kind", row)
    value = cells[0][1].strip().lower() if cells else ""
    return Kind(value) if value in (Kind.SITE, Kind.MOVEMENT) else None


@dataclass
class _Piece:
    """One row that read cleanly, as the feature the codec will read."""

    line: int
    id: str
    kind: Kind
    urgent: bool
    feature: dict[str, Any]


class _RowReader:
    """Reads rows into features, collecting every row's problems."""

    def __init__(self, table: _Table, parties: Mapping[str, Party]) -> None:
        self.table = table
        self.parties = parties
        self.by_name: dict[str, list[str]] = {}
        for party in parties.values():
            self.by_name.setdefault(party.name, []).append(party.id)
        self.problems: list[Problem] = []
        self.pieces: list[_Piece] = []
        self.seen: dict[str, int] = {}
        # per row
        self.line = 0
        self.row: list[str] = []
        self.id: str | None = None
        self.broken = False

    def add(self, rule: str, message: str) -> None:
        self.problems.append(Problem(rule, message, self.line, self.id))
        self.broken = True

    def read(self, line: int, row: list[str]) -> None:
        self.line, self.row, self.id, self.broken = line, row, None, False
        oid = self.value("id")
        self.id = oid or None
        kind = self.read_kind()
        if oid == "":
            self.add("hxl-id", "#meta+id is empty; every row needs the object's id")
        elif oid is not None and oid in self.seen:
            self.add("hxl-duplicate-id", f"id {oid!r} is already used on line {self.seen[oid]}")
        elif oid is not None:
            self.seen[oid] = line
        party = self.read_org()
        props: dict[str, Any] = {}
        geometry = self.read_place(kind, props) if kind is not None else None
        time = self.read_time()
        urgent = self.read_urgent()
        self.read_extras(kind, props)
        if self.broken or oid is None or kind is None or party is None or time is None or urgent is None:
            return
        props = {"kind": str(kind), "id": oid, "party": party, **props}
        if time != [None, None]:
            props["time"] = time
        feature = {"type": "Feature", "geometry": geometry, "properties": props}
        self.pieces.append(_Piece(line, oid, kind, urgent, feature))

    # ------------------------------------------------------------ cells

    def value(self, name: str) -> str | None:
        """The field's value in the row ('' when blank), ``None`` when columns disagree."""
        spec = FIELDS[name]
        cells = self.table.cells(name, self.row)
        if spec.text:
            return _unescape(cells[0][1]) if cells else ""
        values = {_unescape(v.strip()) if spec.escaped else v.strip() for _, v in cells}
        if len(values) > 1:
            shown = ", ".join(repr(v) for v in sorted(values))
            self.add("hxl-conflicting-columns", f"the {spec.shown} columns disagree: {shown}")
            return None
        return values.pop() if values else ""

    def number(self, name: str, rule: str, label: str) -> float | None:
        raw = self.value(name)
        if raw is None:
            return None
        if raw == "":
            if self.table.has(name):  # a missing column is reported once, for the file
                self.add(rule, f"{FIELDS[name].shown} is empty; the {label} is required")
            else:
                self.broken = True
            return None
        value = _finite(raw)
        if value is None:
            self.add(rule, f"{FIELDS[name].shown} {raw!r} is not a finite decimal number (use . for decimals)")
        return value

    # ------------------------------------------------------------ fields

    def read_kind(self) -> Kind | None:
        raw = self.value("kind")
        if raw is None:
            return None
        kind = raw.lower()
        if kind in (Kind.SITE, Kind.MOVEMENT):
            return Kind(kind)
        given = "empty" if raw == "" else repr(raw)
        self.add("hxl-kind", f"#meta+kind is {given}; it must be site or movement")
        return None

    def read_org(self) -> str | None:
        cells = self.table.cells("org", self.row)
        if not cells:
            self.add("hxl-unknown-org", "#org is empty; name the notifying organisation (party id or name)")
            return None
        resolved: set[str] = set()
        for _, raw in cells:
            party = self.resolve_party(_unescape(raw.strip()))
            if party is None:
                return None
            resolved.add(party)
        if len(resolved) > 1:
            shown = ", ".join(sorted(resolved))
            self.add("hxl-unknown-org", f"the #org columns name different organisations: {shown}")
            return None
        return resolved.pop()

    def resolve_party(self, raw: str) -> str | None:
        party = self.parties.get(raw)
        if party is None:
            ids = self.by_name.get(raw, [])
            if len(ids) > 1:
                self.add("hxl-unknown-org", f"organisation {raw!r} is the name of several parties; give its id")
                return None
            party = self.parties.get(ids[0]) if ids else None
        if party is None:
            self.add("hxl-unknown-org", f"unknown organisation {raw!r}: not the id or exact name of a party")
            return None
        if party.role not in NOTIFYING_ROLES:
            message = (
                f"unknown organisation {raw!r}: party {party.id!r} is {party.role}; "
                "sites and movements are notified by humanitarian or secretariat parties"
            )
            self.add("hxl-unknown-org", message)
            return None
        return party.id

    def read_place(self, kind: Kind, props: dict[str, Any]) -> dict[str, Any] | None:
        """The geometry (and its distance property) of a site or a movement."""
        for name in _NOT_FOR_KIND[kind]:
            cells = self.table.cells(name, self.row)
            if cells:
                self.add("hxl-not-applicable", f"{FIELDS[name].shown} does not apply to a {kind}; leave it empty")
        if kind is Kind.SITE:
            lat = self.number("lat", "hxl-coordinates", "site latitude")
            lon = self.number("lon", "hxl-coordinates", "site longitude")
            if lat is not None and not -90.0 <= lat <= 90.0:
                self.add("hxl-coordinates", f"#geo+lat {lat:g} is outside -90..90")
            if lon is not None and not -180.0 <= lon <= 180.0:
                self.add("hxl-coordinates", f"#geo+lon {lon:g} is outside -180..180")
            radius = self.distance("radius", "hxl-radius", "protection radius")
            if radius is not None:
                props["radius_m"] = radius
            return {"type": "Point", "coordinates": [lon, lat]}
        corridor = self.distance("corridor", "hxl-corridor", "corridor half-width")
        if corridor is not None:
            props["corridor_m"] = corridor
        return self.read_route()

    def distance(self, name: str, rule: str, label: str) -> float | None:
        value = self.number(name, rule, label)
        if value is not None and value <= 0:
            self.add(rule, f"{FIELDS[name].shown} {value:g} must be > 0 metres")
            return None
        return value

    def read_route(self) -> dict[str, Any] | None:
        raw = self.value("route")
        if raw is None:
            return None
        if raw == "":
            if self.table.has("route"):
                self.add("hxl-route", "#geo+route is empty; give the route as WKT LINESTRING (lon lat, ...)")
            else:
                self.broken = True
            return None
        if len(raw) > MAX_WKT_CHARS:
            self.add("hxl-route", f"#geo+route is {len(raw)} characters; the limit is {MAX_WKT_CHARS}")
            return None
        if not _WKT_START.match(raw):
            self.add("hxl-route", f"#geo+route must be WKT LINESTRING or MULTILINESTRING, got {_clip(raw)!r}")
            return None
        if _NON_FINITE.search(raw) or not all(_finite(n) is not None for n in _WKT_NUMBER.findall(raw)):
            self.add("hxl-route", "#geo+route holds a coordinate that is not a finite decimal number")
            return None
        try:
            geometry = shapely.wkt.loads(raw)
        except (ShapelyError, ValueError, TypeError, RuntimeWarning) as exc:  # a warning when run as an error
            self.add("hxl-route", f"#geo+route is not valid WKT: {exc}")
            return None
        if geometry.geom_type not in ("LineString", "MultiLineString"):
            self.add("hxl-route", f"#geo+route must be a LINESTRING or MULTILINESTRING, not {geometry.geom_type}")
            return None
        if geometry.is_empty:
            self.add("hxl-route", "#geo+route is an empty geometry")
            return None
        plain: dict[str, Any] = _plain(dict(mapping(geometry)))
        return plain

    def read_time(self) -> list[str | None] | None:
        bounds: list[datetime | None] = []
        for name in ("start", "end"):
            raw = self.value(name)
            if raw is None:
                return None
            instant, error = _instant(raw)
            if error:
                self.add("hxl-time", f"{FIELDS[name].shown} {error}")
                return None
            bounds.append(instant)
        start, end = bounds
        if start is not None and end is not None and end <= start:
            self.add("hxl-time", f"#date+end {format_time(end)} must be after #date+start {format_time(start)}")
            return None
        return [format_time(start), format_time(end)]

    def read_urgent(self) -> bool | None:
        raw = self.value("urgent")
        if raw is None:
            return None
        urgent = _URGENT.get(raw.lower())
        if urgent is None:
            self.add("hxl-urgent", f"#status+urgent is {raw!r}; use yes, no, true, false or leave it empty")
        return urgent

    def read_extras(self, kind: Kind | None, props: dict[str, Any]) -> None:
        """Name, site type, vehicles, cargo, contact, source: kept in ``extra``."""
        for name, prop in _EXTRA_TEXT:
            text = self.value(name)
            if text:
                props[prop] = text
        site_type = self.value("site_type")
        if site_type and kind is not Kind.MOVEMENT:
            if site_type.lower() in SITE_TYPES:
                props["site_type"] = site_type.lower()
            else:
                self.add("hxl-site-type", f"#loc+type is {site_type!r}; it must be one of {', '.join(SITE_TYPES)}")
        vehicles = self.value("vehicles")
        if vehicles and kind is not Kind.SITE:
            if _INTEGER.fullmatch(vehicles):
                props["vehicles"] = int(vehicles)
            else:
                self.add("hxl-vehicles", f"#indicator+vehicles is {vehicles!r}; it must be a whole number >= 0")
        contact = {key: text for name, key in _CONTACT if (text := self.value(name))}
        if contact:
            props["contact"] = contact


def _through_codec(pieces: list[_Piece], parties: Mapping[str, Party], problems: list[Problem]) -> list[WorldObject]:
    """The objects the scenario codec makes of the features; its problems by line."""
    try:
        return objects_from_features([p.feature for p in pieces], parties)
    except InvalidInput as exc:
        for problem in exc.problems:
            piece = pieces[problem.index] if problem.index is not None and problem.index < len(pieces) else None
            rule = _CODEC_RULES.get(problem.rule)
            if rule is None and problem.rule in ("geometry", "geometry_type") and piece is not None:
                rule = _GEOMETRY_RULE[piece.kind]
            if rule is None:
                rule = "hxl-" + problem.rule.replace("_", "-")
            line = piece.line if piece is not None else None
            problems.append(Problem(rule, problem.message, line, problem.id))
        return []


def _finite(raw: str) -> float | None:
    """A plain decimal number (ASCII digits, . for decimals), finite."""
    if not _NUMBER.fullmatch(raw):
        return None
    value = float(raw)
    return value if math.isfinite(value) else None


def _instant(raw: str) -> tuple[datetime | None, str | None]:
    """An instant in UTC, or the reason it is refused; a bare date is 00:00 UTC."""
    if raw == "":
        return None, None
    if _BARE_DATE.fullmatch(raw):
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            return None, f"{raw!r} is not a date"
        return datetime(day.year, day.month, day.day, tzinfo=UTC), None
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return None, f"{_clip(raw)!r} is not ISO 8601 (e.g. 2017-07-07T06:00:00Z or 2017-07-07)"
    if parsed.utcoffset() is None:
        return None, f"{raw!r} has no UTC offset; add Z or +hh:mm (a bare date is written YYYY-MM-DD)"
    try:
        return parsed.astimezone(UTC), None
    except OverflowError:
        return None, f"{raw!r} is out of range in UTC"


def _unescape(text: str) -> str:
    """Undo export's formula escaping: drop the quote put before a formula-looking text."""
    return text[1:] if _ESCAPED.match(text) else text


def _plain(value: Any) -> Any:
    """Shapely's tuples as lists, as GeoJSON read from JSON would have them."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# ---------------------------------------------------------------- writing


def write_hxl(
    objects: Iterable[WorldObject], parties: Mapping[str, Party], urgent: Mapping[str, bool] | None = None
) -> str:
    """Write sites and movements as HXL CSV: header row, hashtag row, one row per object.

    ``urgent`` (object id -> flag) fills ``#status+urgent``; without it the
    column is left empty.  Raises :class:`InvalidInput` (``index`` the
    object's 0-based position) for an object this format cannot hold (not a
    site or movement, several volumes, an altitude limit) and for one that
    :func:`read_hxl` would refuse, so every file written reads back.
    """
    objs = list(objects)
    problems: list[Problem] = []
    rows = [[spec.header for spec in FIELDS.values()], [spec.tag for spec in FIELDS.values()]]
    for position, obj in enumerate(objs):
        cells = _object_cells(position, obj, parties, urgent, problems)
        if cells is not None:
            rows.append([_escape(cells.get(n, "")) if spec.escaped else cells.get(n, "") for n, spec in FIELDS.items()])
    if problems:
        raise InvalidInput(problems)
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    text = out.getvalue()
    _check_reads_back(text, objs, parties)
    return text


def _object_cells(
    position: int,
    obj: WorldObject,
    parties: Mapping[str, Party],
    urgent: Mapping[str, bool] | None,
    problems: list[Problem],
) -> dict[str, str] | None:
    def refuse(rule: str, message: str) -> None:
        problems.append(Problem(rule, message, position, obj.id))

    if obj.kind not in (Kind.SITE, Kind.MOVEMENT):
        refuse("hxl-export-kind", f"a {obj.kind} cannot be written as HXL; only sites and movements")
        return None
    if len(obj.volumes) != 1:
        refuse("hxl-export-volumes", f"the {obj.kind} has {len(obj.volumes)} volumes; HXL rows hold exactly one")
        return None
    if obj.volumes[0].altitude != ALL_ALTITUDES:
        refuse("hxl-export-altitude", f"the {obj.kind} is limited in altitude, which HXL rows cannot hold")
        return None
    if obj.party not in parties:
        refuse("hxl-unknown-org", f"party {obj.party!r} is not among the parties given")
        return None
    feature = object_to_features(obj)[0]
    props: dict[str, Any] = feature["properties"]
    coordinates = feature["geometry"]["coordinates"]
    gtype = feature["geometry"]["type"]
    cells: dict[str, str] = {"kind": str(obj.kind), "id": obj.id, "org": obj.party}
    if obj.kind is Kind.SITE:
        if gtype != "Point" or len(coordinates) != 2:
            refuse("hxl-export-geometry", f"a site is written as #geo+lat/#geo+lon: a 2D Point, not this {gtype}")
            return None
        cells["lon"], cells["lat"] = (_format_number(v) for v in coordinates)
        cells["radius"] = _format_number(props["radius_m"])
    elif gtype not in ("LineString", "MultiLineString"):
        refuse("hxl-export-geometry", f"a movement route is written as WKT (MULTI)LINESTRING, not {gtype}")
        return None
    else:
        cells["route"] = _wkt(feature["geometry"])
        cells["corridor"] = _format_number(props["corridor_m"])
    start, end = props["time"]
    cells["start"], cells["end"] = start or "", end or ""
    for name, prop in (*_EXTRA_TEXT, ("site_type", "site_type"), ("vehicles", "vehicles")):
        if props.get(prop) is not None:
            cells[name] = str(props[prop])
    contact = props.get("contact")
    if isinstance(contact, dict):
        cells.update({name: str(contact[key]) for name, key in _CONTACT if contact.get(key) is not None})
    elif contact is not None:
        cells["contact_name"] = str(contact)
    if urgent is not None and obj.id in urgent:
        cells["urgent"] = "yes" if urgent[obj.id] else "no"
    return cells


def _check_reads_back(text: str, objects: list[WorldObject], parties: Mapping[str, Party]) -> None:
    """Refuse to hand out a file :func:`read_hxl` would refuse, naming the objects at fault."""
    try:
        read_hxl(text, parties)
    except InvalidInput as exc:
        positions = {obj.id: i for i, obj in enumerate(objects)}
        raise InvalidInput(
            [
                Problem(p.rule, f"would not read back: {p.message}", positions.get(p.id or ""), p.id)
                for p in exc.problems
            ]
        ) from None


def _escape(text: str) -> str:
    """Put a quote before a text a spreadsheet would run as a formula (OWASP CSV injection)."""
    return "'" + text if _FORMULA.match(text) else text


def _format_number(value: Any) -> str:
    """Shortest text that reads back to the same float; whole numbers without '.0'."""
    number = float(value)
    if number.is_integer() and abs(number) < 2**53:
        return str(int(number))
    return repr(number)


def _wkt(geometry: dict[str, Any]) -> str:
    """WKT of a GeoJSON (Multi)LineString, every coordinate written exactly (lon lat [alt])."""

    def points(line: list[list[float]]) -> str:
        return "(" + ", ".join(" ".join(_format_number(v) for v in position) for position in line) + ")"

    lines = [geometry["coordinates"]] if geometry["type"] == "LineString" else geometry["coordinates"]
    has_z = any(len(position) == 3 for line in lines for position in line)
    name = "LINESTRING" if geometry["type"] == "LineString" else "MULTILINESTRING"
    if has_z:
        name += " Z"
    if geometry["type"] == "LineString":
        return f"{name} {points(lines[0])}"
    return f"{name} (" + ", ".join(points(line) for line in lines) + ")"
