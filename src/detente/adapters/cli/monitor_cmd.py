"""``detente monitor SCENARIO TRACKS``: check recorded position reports against a scenario's world.

Reads the scenario (SCENARIO.md) and position reports
(:mod:`detente.adapters.interop.tracks`): a CSV or JSON Lines file of track
rows, a file of Cursor-on-Target events, or recorded ADS-B ``aircraft.json``
snapshots (a file, JSON Lines of them, or a directory), the last two mapped
to parties with a feed mapping (``--mapping``).  It refuses tracks of parties
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
from detente.adapters.interop.tracks import (
    TrackInput,
    detect_format,
    read_adsb_files,
    read_cot_file,
    read_mapping,
    read_tracks,
)
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


class InputFormat(StrEnum):
    auto = "auto"
    csv = "csv"
    jsonl = "jsonl"
    cot = "cot"
    adsb = "adsb"


#: What each input format is, in messages.
_INPUT_NAMES = {
    "csv": "a CSV file of track rows",
    "jsonl": "a JSON Lines file of track rows",
    "cot": "Cursor-on-Target events",
    "adsb": "ADS-B aircraft.json snapshots",
}


def monitor_cmd(
    scenario: Annotated[Path, typer.Argument(help="Scenario file (GeoJSON, SCENARIO.md).")],
    tracks: Annotated[
        Path,
        typer.Argument(
            help="Position reports: CSV with a header row, JSON Lines (.jsonl, .ndjson), CoT XML events "
            "(.xml, .cot), or ADS-B aircraft.json snapshots (a .json file, JSON Lines of snapshots, a directory)."
        ),
    ],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    types: Annotated[
        list[EventType] | None,
        typer.Option("--type", "-t", help="Report only events of this type (repeat for several)."),
    ] = None,
    input_format: Annotated[
        InputFormat,
        typer.Option(
            "--input-format",
            "-i",
            help="What TRACKS is; auto: by extension, then by content (a directory is ADS-B).",
        ),
    ] = InputFormat.auto,
    mapping: Annotated[
        Path | None,
        typer.Option(
            "--mapping",
            "-m",
            help="The feed mapping (JSON, or .toml) giving CoT and ADS-B tracks their party (docs/cot.md).",
        ),
    ] = None,
) -> None:
    """Check position reports against a scenario. Exit 0: no event; 1: events found; 2: invalid input."""
    try:
        world = load_scenario(scenario)
    except (DetenteError, OSError) as exc:
        raise fail_input(exc, where="feature") from exc
    try:
        read = _read_input(tracks, input_format, mapping)
        _check_parties(world, read.samples)
    except (DetenteError, OSError) as exc:
        raise fail_input(exc, where="line") from exc
    samples = read.samples
    for note in read.notes:
        err.print(f"[dim]note[/]: {escape(note)}")

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


def _read_input(tracks: Path, input_format: InputFormat, mapping_file: Path | None) -> TrackInput:
    """The position reports in ``tracks``, read as ``input_format`` says (or as its extension and content do)."""
    kind = detect_format(tracks) if input_format is InputFormat.auto else input_format.value
    what = _INPUT_NAMES[kind]
    if kind in ("csv", "jsonl"):
        if mapping_file is not None:
            message = (
                f"{tracks.name} is read as {what}, whose rows name their party: --mapping applies to CoT and "
                "ADS-B input only (--input-format cot or adsb)"
            )
            raise InvalidInput([Problem("tracks-mapping", message)])
        return TrackInput(read_tracks(tracks, fmt=kind), kind)
    if mapping_file is None:
        message = (
            f"{tracks.name} is read as {what}, which name no party: give the feed's mapping table with "
            "--mapping FILE (docs/cot.md, 'The mapping table of a feed'), or --input-format csv|jsonl"
        )
        raise InvalidInput([Problem("tracks-mapping", message)])
    mapping = read_mapping(mapping_file)
    return read_cot_file(tracks, mapping) if kind == "cot" else read_adsb_files(tracks, mapping)


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
            duration_text((e.end - e.start).total_seconds()),
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


def duration_text(seconds: float) -> str:
    """``1h02m03s`` or ``2m03s``."""
    s = round(seconds)
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}h{m:02d}m{sec:02d}s" if h else f"{m}m{sec:02d}s"


def fail_input(exc: Exception, *, where: str) -> typer.Exit:
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
