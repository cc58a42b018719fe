"""``detente monitor SCENARIO TRACKS``: check recorded position reports against a scenario's world.

Reads the scenario (SCENARIO.md) and a CSV or JSON Lines file of position
reports (:mod:`detente.adapters.interop.tracks`), refuses tracks of parties
the scenario does not know, and lists every episode the monitor finds
(SEMANTICS.md, "Conflicts found while monitoring tracks"): incursions,
boundary crossings, proximity and loss of separation.

Exit codes: 0 no event, 1 events found, 2 invalid input.  See ``docs/monitoring.md``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from detente.adapters.interop.scenario import load_scenario
from detente.adapters.interop.tracks import read_tracks
from detente.domain.errors import DetenteError, InvalidInput, Problem
from detente.domain.model import Scenario
from detente.domain.tracks import Event, EventType, Samples

out = Console(width=max(120, Console().width), highlight=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)

_TYPE_STYLE = {
    EventType.INCURSION: "bold red",
    EventType.SEPARATION: "bold red",
    EventType.BOUNDARY_CROSSING: "yellow",
    EventType.PROXIMITY: "yellow",
}


#: The table's columns.
COLUMNS = ("type", "track (party)", "other (kind id party)", "start (UTC)", "end (UTC)", "duration", "min distance")


class Format(StrEnum):
    table = "table"
    json = "json"


def monitor_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (GeoJSON, SCENARIO.md).")],
    tracks: Annotated[
        Path, typer.Argument(help="Position reports: CSV with a header row, or JSON Lines (.jsonl, .ndjson).")
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    types: Annotated[
        list[EventType] | None,
        typer.Option("--type", "-t", help="Report only events of this type (repeat for several)."),
    ] = None,
) -> None:
    """Check position reports against a scenario. Exit 0: no event; 1: events found; 2: invalid input."""
    try:
        world = load_scenario(scenario)
    except (DetenteError, OSError) as exc:
        raise _fail(exc, where="feature") from exc
    try:
        samples = read_tracks(tracks)
        _check_parties(world, samples)
    except (DetenteError, OSError) as exc:
        raise _fail(exc, where="line") from exc

    from detente.engine.monitor import monitor  # the engine loads only when there is work for it

    events = monitor(world, samples)
    if types:
        wanted = set(types)
        events = [e for e in events if e.type in wanted]
    if fmt is Format.json:
        print(json.dumps([e.to_json() for e in events], indent=2, ensure_ascii=False))
    else:
        if events:
            out.print(event_table(events))
        _summary(samples, events)
    raise typer.Exit(code=1 if events else 0)


def _check_parties(world: Scenario, samples: Samples) -> None:
    """Every track's party must be a party of the scenario."""
    unknown = [
        Problem("unknown-party", f"track {t.id!r}: party {t.party!r} is not a party of {world.name!r}", id=t.id)
        for t in samples.tracks
        if t.party not in world.parties
    ]
    if unknown:
        known = ", ".join(sorted(world.parties))
        unknown.append(Problem("unknown-party", f"the scenario's parties are: {known}"))
        raise InvalidInput(unknown)


def event_table(events: Iterable[Event], *, title: str = "Events") -> Table:
    """One row per episode."""
    table = Table(title=title, title_justify="left", header_style="bold", pad_edge=False)
    for col in COLUMNS:
        table.add_column(col, overflow="fold", no_wrap=col in ("type", "duration", "min distance"))
    for e in events:
        table.add_row(
            f"[{_TYPE_STYLE.get(e.type, 'bold')}]{e.type.value}[/]",
            escape(f"{e.track} ({e.party})"),
            escape(f"{e.other.kind} {e.other.id} ({e.other.party})"),
            _time(e.start),
            _time(e.end) if e.end.date() != e.start.date() else f"{e.end.astimezone(UTC):%H:%M:%S}Z",
            _duration((e.end - e.start).total_seconds()),
            f"{e.min_distance_m:,.0f} m",
        )
    return table


def _summary(samples: Samples, events: list[Event]) -> None:
    checked = f"{len(samples):,} position report(s) of {len(samples.tracks):,} track(s) checked"
    if not events:
        out.print(f"[green]No event:[/] {checked}.")
        return
    counts: dict[str, int] = {}
    for e in events:
        counts[e.type.value] = counts.get(e.type.value, 0) + 1
    by_type = ", ".join(f"{n} {t}" for t, n in sorted(counts.items()))
    tracks = len({e.track for e in events})
    out.print(f"{checked}: [bold red]{len(events)} event(s)[/] ({by_type}) in {tracks} track(s).")


def _time(t: datetime) -> str:
    return f"{t.astimezone(UTC):%Y-%m-%d %H:%M:%S}Z"


def _duration(seconds: float) -> str:
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def _fail(exc: Exception, *, where: str) -> typer.Exit:
    """Report invalid input on stderr and leave with exit code 2; ``where`` names what a problem's index counts."""
    if isinstance(exc, InvalidInput):
        err.print(f"[bold red]invalid input[/]: {len(exc.problems)} problem(s)")
        for p in exc.problems:
            at = [f"{where} {p.index}"] if p.index is not None else []
            if p.id is not None:
                at.append(f"track {p.id!r}" if where == "line" else f"id {p.id!r}")
            text = f"{', '.join(at)}: [{p.rule}] {p.message}" if at else f"[{p.rule}] {p.message}"
            err.print(f"  - {text}", markup=False)
    else:
        err.print(f"[bold red]error[/]: {escape(str(exc))}")
    return typer.Exit(code=2)
