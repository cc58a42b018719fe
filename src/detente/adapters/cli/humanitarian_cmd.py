"""``detente corridor``, ``detente notices ...`` and ``detente hxl ...``: humanitarian notification from the terminal.

The terminal acts as the mechanism's local operator: whoever runs it holds
the database already (as for ``detente import`` and ``export``), so these
commands call the services as the secretariat (``Caller("cli",
"secretariat", SECRETARIAT)``), except ``hxl import``, which notifies as
the party named by ``--party``.  Reads of other parties' protected data are
logged in the access log as the API logs them.

Exit codes: ``corridor``: 0 the route is clear, 1 hazards lie on it, 2
invalid input; the others: 0 done, 2 invalid input (nothing stored).
See ``docs/humanitarian-cli.md``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Final

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from shapely.errors import ShapelyError
from shapely.geometry.base import BaseGeometry
from sqlalchemy.exc import SQLAlchemyError

from detente.adapters.interop import hxl, roads
from detente.adapters.interop.scenario import ScenarioCodec, load_scenario
from detente.adapters.storage import Store, normalise_url, open_store
from detente.domain.accounts import Caller
from detente.domain.errors import DetenteError, InvalidInput, Problem
from detente.domain.geo.footprint import geometry_from_geojson
from detente.domain.geo.intervals import TimeWindow, format_time
from detente.domain.model import Kind, Role, WorldObject
from detente.engine.corridor import RoadNetwork
from detente.services import checking, corridor, notices, objects
from detente.services.accounts import SECRETARIAT
from detente.services.context import Clock, FixedClock, Mechanism, SystemClock

notices_app = typer.Typer(help="Humanitarian notices: the reminder and escalation sweep, and every notice's status.")
hxl_app = typer.Typer(help="Sites and movements as HXL-tagged CSV: export, and import as notices.")
out = Console(width=max(120, Console().width), highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

DEMO_SCENARIO: Final = Path(__file__).resolve().parents[2] / "demo" / "syria-2017.geojson"
DEFAULT_DB: Final = "sqlite:///detente.sqlite"
#: The terminal is the mechanism's local operator (see the module docstring).
CLI_CALLER: Final = Caller(member="cli", party=SECRETARIAT, role=Role.SECRETARIAT)

#: Limits on a route given on the command line or in a file.
MAX_ROUTE_BYTES: Final = 5 * 1024 * 1024
MAX_ROUTE_POSITIONS: Final = 100_000
LINES: Final = ("LineString", "MultiLineString")

Db = Annotated[str, typer.Option(help="Database URL (an existing detente database).", envvar="DETENTE_DB")]


class Format(StrEnum):
    table = "table"
    json = "json"


# -- shared ----------------------------------------------------------------------


def _fail(exc: Exception, *, where: str = "feature") -> typer.Exit:
    """Report invalid input on stderr and leave with exit code 2; ``where`` names what a problem's index counts."""
    if isinstance(exc, InvalidInput):
        err.print(f"[bold red]invalid input[/]: {len(exc.problems)} problem(s)")
        for p in exc.problems:
            err.print(f"  - {_problem(p, where)}", markup=False)
    else:
        err.print(f"[bold red]error[/]: {escape(str(exc))}")
    return typer.Exit(code=2)


def _problem(p: Problem, where: str) -> str:
    at = [f"{where} {p.index}"] if p.index is not None else []
    if p.id is not None:
        at.append(f"id {p.id!r}")
    return f"{', '.join(at)}: [{p.rule}] {p.message}" if at else f"[{p.rule}] {p.message}"


def _json(value: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, datetime):
            return format_time(o)
        return str(o)

    return json.dumps(value, indent=2, default=default)


def _instant(name: str, text: str) -> tuple[datetime | None, list[Problem]]:
    """An ISO 8601 time with an explicit offset (``Z`` or ``+hh:mm``)."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        return None, [Problem("time", f"{name} {text!r} is not an ISO 8601 time (e.g. 2017-07-07T05:00:00Z)")]
    if t.utcoffset() is None:
        return None, [Problem("naive-time", f"{name} {text!r} needs an explicit UTC offset (e.g. {text}Z)")]
    return t, []


@contextmanager
def _store(db: str) -> Iterator[Store]:
    """An existing database: a SQLite file that is not there is refused rather than created."""
    url = normalise_url(db)
    path = url.database
    if url.get_backend_name() == "sqlite" and path not in (None, "", ":memory:") and not Path(path).exists():
        raise InvalidInput(
            [Problem("db", f"no database at {path}: create one with `detente init` or `detente import`")]
        )
    store = open_store(db)
    try:
        yield store
    finally:
        store.close()


def _mechanism(store: Store, clock: Clock | None = None) -> Mechanism:
    return Mechanism(store=store, clock=clock or SystemClock(), codec=ScenarioCodec())


# -- corridor: the route ----------------------------------------------------------


def read_route(arg: str) -> BaseGeometry:
    """The route ROUTE names: a GeoJSON file if ``arg`` is an existing file, else inline ``lon,lat;lon,lat``."""
    try:
        path = Path(arg)
        is_file, exists = path.is_file(), path.exists()
    except (OSError, ValueError):  # a name too long, or with a NUL: not a file
        is_file = exists = False
    if is_file:
        return _route_file(path)
    if exists:
        raise InvalidInput([Problem("route", f"{arg} is not a file")])
    return _inline_route(arg)


def _inline_route(text: str) -> BaseGeometry:
    if len(text) > MAX_ROUTE_BYTES:
        raise InvalidInput([Problem("size", f"the inline route is over {MAX_ROUTE_BYTES} bytes")])
    if "," not in text:
        raise InvalidInput(
            [Problem("route", f"{text!r} is neither an existing file nor an inline route lon,lat;lon,lat;...")]
        )
    pieces = [p.strip() for p in text.strip().strip(";").split(";")]
    if len(pieces) > MAX_ROUTE_POSITIONS:
        raise InvalidInput([Problem("size", f"{len(pieces)} points; the limit is {MAX_ROUTE_POSITIONS}")])
    problems: list[Problem] = []
    positions: list[list[float]] = []
    for n, piece in enumerate(pieces, start=1):
        parts = piece.split(",")
        try:
            if len(parts) != 2:
                raise ValueError
            positions.append([float(parts[0]), float(parts[1])])
        except ValueError:
            problems.append(Problem("route", f"point {n} {piece!r} is not lon,lat (two decimal numbers)"))
    if not problems and len(positions) < 2:
        problems.append(Problem("route", "an inline route has at least two points: lon,lat;lon,lat"))
    if problems:
        raise InvalidInput(problems)
    return _line({"type": "LineString", "coordinates": positions})


def _route_file(path: Path) -> BaseGeometry:
    size = path.stat().st_size
    if size > MAX_ROUTE_BYTES:
        raise InvalidInput([Problem("size", f"{path} is {size} bytes; the limit is {MAX_ROUTE_BYTES}")])
    with path.open("rb") as f:
        data = f.read(MAX_ROUTE_BYTES + 1)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidInput([Problem("json", f"{path} is not valid UTF-8 JSON: {exc}")]) from None
    return _line(_line_geometry(doc))


def _line_geometry(doc: Any) -> Any:
    """The line geometry of a geometry, a Feature, or a FeatureCollection with exactly one line feature."""
    kind = doc.get("type") if isinstance(doc, dict) else None
    if kind in LINES:
        return doc
    if kind == "Feature":
        geometry = doc.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") not in LINES:
            found = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise InvalidInput(
                [Problem("geometry_type", f"the Feature's geometry is {found!r}, not a LineString or MultiLineString")]
            )
        return geometry
    if kind == "FeatureCollection":
        features = doc.get("features")
        if not isinstance(features, list):
            raise InvalidInput([Problem("route-file", "the FeatureCollection has no features list")])
        lines = [
            f["geometry"]
            for f in features
            if isinstance(f, dict) and isinstance(f.get("geometry"), dict) and f["geometry"].get("type") in LINES
        ]
        if len(lines) != 1:
            raise InvalidInput(
                [
                    Problem(
                        "route-file",
                        f"the FeatureCollection holds {len(lines)} LineString/MultiLineString features; "
                        "the route is exactly one",
                    )
                ]
            )
        return lines[0]
    if isinstance(kind, str):
        raise InvalidInput([Problem("geometry_type", f"the route is a LineString or MultiLineString, not {kind!r}")])
    raise InvalidInput(
        [
            Problem(
                "route-file",
                "the route file holds a GeoJSON LineString or MultiLineString, a Feature of one, "
                "or a FeatureCollection with exactly one line feature",
            )
        ]
    )


def _line(geometry: Any) -> BaseGeometry:
    coords = geometry.get("coordinates")
    count = 0
    if isinstance(coords, list):
        parts = coords if geometry.get("type") == "MultiLineString" else [coords]
        count = sum(len(p) for p in parts if isinstance(p, list))
    if count > MAX_ROUTE_POSITIONS:
        raise InvalidInput([Problem("size", f"{count} positions; the limit is {MAX_ROUTE_POSITIONS}")])
    try:
        geom, messages = geometry_from_geojson(geometry, allowed=LINES)
    except (OverflowError, ValueError, TypeError, ShapelyError) as exc:
        geom, messages = None, [f"unreadable geometry: {exc}"]
    if messages or geom is None:
        raise InvalidInput([Problem("route", m) for m in messages or ["the route is not a usable line"]])
    return geom


def _window(start: str, end: str) -> TimeWindow:
    t0, p0 = _instant("--from", start)
    t1, p1 = _instant("--to", end)
    problems = p0 + p1
    if t0 is not None and t1 is not None:
        try:
            return TimeWindow(t0, t1)
        except ValueError as exc:
            problems.append(Problem("window", str(exc)))
    raise InvalidInput(problems)


# -- corridor: the command -----------------------------------------------------------


def corridor_cmd(
    route: Annotated[
        str,
        typer.Argument(
            help="The route: a GeoJSON file (LineString/MultiLineString, a Feature, or a FeatureCollection with "
            "one line feature), or inline 'lon,lat;lon,lat;...' text when no such file exists.",
            show_default=False,
        ),
    ],
    start: Annotated[str, typer.Option("--from", help="Start of the movement (ISO 8601 with offset).")],
    end: Annotated[str, typer.Option("--to", help="End of the movement (ISO 8601 with offset).")],
    corridor_m: Annotated[
        float, typer.Option("--corridor-m", help="Corridor half-width, metres.")
    ] = corridor.DEFAULT_CORRIDOR_M,
    db: Annotated[str | None, typer.Option(help="Check against this existing database's world.")] = None,
    scenario: Annotated[
        Path | None, typer.Option(help="Check against this scenario file's world (default: the demo).")
    ] = None,
    roads_file: Annotated[
        Path | None, typer.Option("--roads", help="Road network GeoJSON (default: the packaged demo network).")
    ] = None,
    plan: Annotated[bool, typer.Option("--plan/--no-plan", help="Propose the shortest clear road route.")] = True,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Is this route clear in this window?  Exit 0: clear; 1: hazards on it; 2: invalid input.

    Quote an inline route (the shell splits at ';').  A route that starts
    with '-' (a western longitude) goes last, after '--' and the options.
    """
    try:
        problems: list[Problem] = []
        route_geom = window = None
        try:
            route_geom = read_route(route)
        except InvalidInput as exc:
            problems.extend(exc.problems)
        try:
            window = _window(start, end)
        except InvalidInput as exc:
            problems.extend(exc.problems)
        if not (math.isfinite(corridor_m) and 0 < corridor_m <= corridor.MAX_CORRIDOR_M):
            limit = f"{corridor.MAX_CORRIDOR_M:g}"
            problems.append(Problem("corridor_m", f"--corridor-m is a half-width in metres, 0 < corridor_m <= {limit}"))
        if db is not None and scenario is not None:
            problems.append(Problem("usage", "give --db or --scenario, not both"))
        if problems or route_geom is None or window is None:
            raise InvalidInput(problems)
        query = corridor.Query(route_geom, window, corridor_m)
        network: RoadNetwork | None = None
        if plan:
            network = roads.demo_roads() if roads_file is None else roads.load_roads(roads_file)
        if db is not None:
            with _store(db) as store:
                with store.read() as tx:
                    if not tx.parties():
                        raise InvalidInput([Problem("db", f"{db} holds no world: import a scenario first")])
                result = corridor.check(_mechanism(store), CLI_CALLER, query, network)
        else:
            store = open_store("sqlite://")
            try:
                checking.import_world(store, load_scenario(scenario or DEMO_SCENARIO))
                result = corridor.check(_mechanism(store), CLI_CALLER, query, network)
            finally:
                store.close()
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
    if fmt is Format.json:
        print(_json(result))
    else:
        _corridor_table(result, planned=plan)
    raise typer.Exit(code=0 if result["clear"] else 1)


def _span(pair: list[str | None] | None) -> str:
    """``2017-07-07 05:00–06:30Z`` from a window's JSON ``[start, end]``."""
    if not pair:
        return "always"
    start, end = (None if t is None else datetime.fromisoformat(t) for t in pair)
    if start is None:
        return "always" if end is None else f"… – {end:%Y-%m-%d %H:%M}Z"
    if end is None:
        return f"{start:%Y-%m-%d %H:%M}Z – open"
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}Z"
    return f"{start:%Y-%m-%d %H:%M}Z – {end:%Y-%m-%d %H:%M}Z"


def _hazard_ref(h: dict[str, Any]) -> str:
    return str(h.get("id", "(intent: area and window only)"))


def _km(metres: float | None) -> str:
    return "—" if metres is None else f"{metres / 1000:,.1f} km"


def _corridor_table(result: dict[str, Any], *, planned: bool) -> None:
    title = f"Route check, {_span(result['window'])}, corridor ±{result['corridor_m']:,.0f} m"
    table = Table(title=title, title_justify="left", header_style="bold", pad_edge=False)
    for col in ("seg", "from → to", "length", "hazard", "id", "window (UTC)", "distance"):
        table.add_column(col, overflow="fold", no_wrap=col != "from → to")
    for seg in result["segments"]:
        where = [
            str(seg["index"]),
            f"{seg['from'][0]:.4f},{seg['from'][1]:.4f} → {seg['to'][0]:.4f},{seg['to'][1]:.4f}",
            _km(seg["length_m"]),
        ]
        if not seg["hazards"]:
            table.add_row(*where, "[green]clear[/]", "", "", "")
        for i, h in enumerate(seg["hazards"]):
            table.add_row(
                *(where if i == 0 else ["", "", ""]),
                f"[bold red]{h['kind']}[/]",
                escape(_hazard_ref(h)),
                _span(h["window"]),
                f"{h['distance_m']:,.0f} m",
            )
    out.print(table)
    on_route = sum(len(s["hazards"]) for s in result["segments"])
    if result["clear"]:
        out.print("[green]Clear[/]: no hazard lies on the route in the window.")
    else:
        hit = sum(1 for s in result["segments"] if not s["clear"])
        out.print(f"[bold red]Not clear[/]: {on_route} hazard(s) on {hit} of {len(result['segments'])} segment(s).")
    plan = result["route"]
    if plan is None:
        if not planned:
            out.print("No road route proposed (--no-plan).")
        return
    if plan["found"]:
        detour = "" if plan["detour_m"] is None else f", detour {_km(plan['detour_m'])}"
        out.print(
            f"[green]Proposed road route[/]: {_km(plan['length_m'])}{detour} "
            f"(shortest road route {_km(plan['shortest_length_m'])})"
        )
        out.print(f"  roads: {' → '.join(r or '(unnamed)' for r in plan['roads']) or '—'}", markup=False)
    else:
        out.print(f"[bold red]No clear road route[/]: {escape(str(plan['reason']))}")
    if plan["avoided"]:
        avoided = "; ".join(
            f"{h['kind']} {h.get('id', '(area and window only)')} {_span(h['window'])}" for h in plan["avoided"]
        )
        out.print(f"  hazards kept outside the corridor: {avoided}", markup=False)
    if plan["snap_m"]:
        snaps = " and ".join(f"{d:,.0f} m" for d in plan["snap_m"])
        out.print(f"  the route's ends are {snaps} from the road network", markup=False)


# -- notices --------------------------------------------------------------------------


@notices_app.command("tick")
def tick_cmd(
    db: Db = DEFAULT_DB,
    at: Annotated[str | None, typer.Option(help="Sweep as at this time (ISO 8601 with offset; default: now).")] = None,
) -> None:
    """Send the reminders and escalations due now (or at --at); prints what was sent."""
    try:
        clock: Clock = SystemClock()
        if at is not None:
            when, problems = _instant("--at", at)
            if when is None:
                raise InvalidInput(problems)
            clock = FixedClock(when)
        with _store(db) as store:
            swept = notices.tick(_mechanism(store, clock))
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
    print(f"reminded {swept.reminded}, escalated {swept.escalated}")


def _when(t: datetime | None) -> str:
    return "—" if t is None else f"{t.astimezone(UTC):%Y-%m-%d %H:%M}Z"


def all_notices(m: Mechanism, caller: Caller) -> list[dict[str, Any]]:
    """Every notice the caller may see, page by page."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = notices.listing(m, caller, after=after, limit=notices.MAX_PAGE)
        found.extend(page)
        if len(page) < notices.MAX_PAGE:
            return found
        after = page[-1]["id"]


@notices_app.command("list")
def list_cmd(
    db: Db = DEFAULT_DB,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
) -> None:
    """Every notice, with the military parties that acknowledged it and those overdue."""
    try:
        with _store(db) as store:
            found = all_notices(_mechanism(store), CLI_CALLER)
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
    if fmt is Format.json:
        print(_json(found))
        return
    table = Table(
        title="Notices", title_justify="left", header_style="bold", box=box.SIMPLE_HEAD, collapse_padding=True
    )
    columns = ("id", "kind", "object", "party", "action", "created", "deadline", "acknowledged", "overdue")
    # Party lists wrap between parties; an object id folds only past 24 characters.
    for col in columns:
        if col == "object":
            longest = max((len(n["object_id"]) for n in found), default=6)
            table.add_column(col, min_width=min(24, longest), overflow="fold")
        elif col in ("acknowledged", "overdue"):
            table.add_column(col, overflow="fold")
        else:
            table.add_column(col, no_wrap=True)
    for n in found:
        acknowledged = [
            r["party"] + (" (late)" if r["state"] == "acknowledged-late" else "")
            for r in n["recipients"]
            if r["state"].startswith("acknowledged")
        ]
        table.add_row(
            str(n["id"]),
            n["kind"],
            escape(n["object_id"]),
            n["party"],
            n["action"] + (" (urgent)" if n.get("urgent") else ""),
            _when(n["created_at"]),
            _when(n["deadline"]),
            ", ".join(acknowledged),
            f"[bold red]{', '.join(n['overdue'])}[/]" if n["overdue"] else "",
        )
    out.print(table)
    overdue = sum(1 for n in found if n["overdue"])
    out.print(f"{len(found)} notice(s), {overdue} with overdue parties (--format json: every party's state).")


# -- HXL ----------------------------------------------------------------------------------


@hxl_app.command("export")
def hxl_export_cmd(
    db: Db = DEFAULT_DB,
    output: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """Write every site and movement as HXL-tagged CSV."""
    try:
        with _store(db) as store:
            m = _mechanism(store)
            found = _sites_and_movements(m)
            with store.read() as tx:
                parties = tx.parties()
            text = hxl.write_hxl(found, parties)
        if output is None:
            sys.stdout.write(text)
        else:
            with output.open("w", encoding="utf-8", newline="") as handle:
                handle.write(text)
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc, where="object") from exc
    err.print(f"exported {len(found)} site(s) and movement(s)")


def _sites_and_movements(m: Mechanism) -> list[WorldObject]:
    found: list[WorldObject] = []
    after = None
    while True:
        page = objects.browse(m, CLI_CALLER, kinds=[Kind.SITE, Kind.MOVEMENT], after=after, limit=objects.MAX_PAGE)
        found.extend(page.objects)
        if page.next_after is None:
            return found
        after = page.next_after


@hxl_app.command("import")
def hxl_import_cmd(
    file: Annotated[Path, typer.Argument(help="HXL-tagged CSV (UTF-8).", show_default=False)],
    party: Annotated[str, typer.Option(help="The notifying party (an aid agency, or the secretariat).")],
    db: Db = DEFAULT_DB,
) -> None:
    """Notify (or amend) the file's sites and movements as PARTY: every row, or none (exit 2, per line)."""
    try:
        size = file.stat().st_size
        if size > hxl.MAX_BYTES:
            raise InvalidInput([Problem("hxl-size", f"{file} is {size} bytes; the limit is {hxl.MAX_BYTES}")])
        try:
            text = file.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput([Problem("hxl-encoding", f"the CSV is not UTF-8 (byte {exc.start})")]) from None
        with _store(db) as store:
            with store.read() as tx:
                parties = tx.parties()
            if party not in parties:
                known = ", ".join(sorted(parties)) or "none"
                raise InvalidInput([Problem("party", f"no party {party!r} (known: {known})")])
            found = hxl.read_hxl(text, parties)
            caller = Caller(member="cli", party=party, role=parties[party].role)
            try:
                sent = notices.notify_many(_mechanism(store), caller, found.objects, urgent=found.urgent, replace=None)
            except InvalidInput as refused:
                raise found.on_rows(refused) from None
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc, where="line") from exc
    for s in sent:
        conflicts = f", {len(s.conflicts)} filed intent(s) in conflict" if s.conflicts else ""
        deadline = f", acknowledge by {format_time(s.deadline)}" if s.deadline else ""
        out.print(
            f"notice {s.notice}: {s.action.value} {s.object_id} to {', '.join(s.recipients) or 'nobody'}"
            f"{deadline}{conflicts}",
            markup=False,
        )
    out.print(f"{len(sent)} notice(s) sent as {party}.", markup=False)
