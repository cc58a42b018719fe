"""The demo's third act: a simulated day of tracks over the demo world, checked by the track monitor.

Reads the position reports shipped with the demo (``syria-2017-tracks.csv``,
built by :mod:`detente.demo.build_tracks`: coalition and Russian sorties, a
Syrian Su-22 across the Euphrates line, an SDF patrol, the OCHA convoy) and
prints every episode :func:`detente.engine.monitor.monitor` finds in them
(SEMANTICS.md, "Conflicts found while monitoring tracks").
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from detente.adapters.interop.tracks import parse_tracks
from detente.domain.model import Scenario
from detente.domain.tracks import Event, EventType, Samples

#: The demo's position reports, in the package ``detente.demo``.
TRACKS_RESOURCE = "syria-2017-tracks.csv"

_STYLE = {
    EventType.INCURSION: "bold red",
    EventType.SEPARATION: "bold red",
    EventType.BOUNDARY_CROSSING: "yellow",
    EventType.PROXIMITY: "yellow",
}
#: Summary order and wording, singular and plural.
_NAMES = {
    EventType.INCURSION: ("incursion", "incursions"),
    EventType.BOUNDARY_CROSSING: ("boundary crossing", "boundary crossings"),
    EventType.SEPARATION: ("loss of separation", "losses of separation"),
    EventType.PROXIMITY: ("proximity", "proximity"),
}


def demo_tracks() -> Samples:
    """The simulated day of position reports shipped with the demo."""
    text = resources.files("detente.demo").joinpath(TRACKS_RESOURCE).read_text(encoding="utf-8")
    return parse_tracks(text, name=TRACKS_RESOURCE)


def run(scenario: Scenario, out: Console) -> None:
    """Monitor the demo's day of tracks against ``scenario`` (the demo world) and print the episodes."""
    from detente.engine.monitor import monitor

    samples = demo_tracks()
    out.rule("[bold]A day of tracks[/]")
    names = ", ".join(t.id for t in samples.tracks)
    out.print(f"{len(samples):,} simulated position reports of {len(samples.tracks)} tracks on 7 July 2017: {names}.")
    events = monitor(scenario, samples)
    if events:
        out.print(event_table(events))
    out.print(summary(events))
    crossings = {e.party for e in events if e.type is EventType.BOUNDARY_CROSSING}
    if "sy" in crossings:
        out.print(
            "Tracks raise no event for crossing a line as such: the Su-22's crossing of the Euphrates line "
            "shows as its boundary crossing into the SDF's area of responsibility."
        )
    if "ocha" in crossings:
        out.print(
            "The notified convoy raises no proximity (it is humanitarian), but a boundary crossing: "
            "the rule concerns a position of any party inside another party's area."
        )


def event_table(events: list[Event]) -> Table:
    """One row per episode: type, track (party), other, start-end, min distance."""
    table = Table(title="Episodes found by the monitor", title_justify="left", header_style="bold")
    for column in ("type", "track (party)", "other", "start–end (UTC)", "min distance"):
        table.add_column(column, no_wrap=column != "other", justify="right" if column == "min distance" else "left")
    for e in events:
        table.add_row(
            f"[{_STYLE[e.type]}]{e.type.value}[/]",
            escape(f"{e.track} ({e.party})"),
            escape(f"{e.other.kind} {e.other.id} ({e.other.party})"),
            f"{_hms(e.start)}–{_hms(e.end)}",
            f"{e.min_distance_m:,.0f} m",
        )
    return table


def summary(events: list[Event]) -> str:
    """``N episodes: a incursion, b boundary crossings, ...`` (types in a fixed order, absent ones left out)."""
    if not events:
        return "[green]No episode.[/]"
    parts = []
    for kind, (one, many) in _NAMES.items():
        n = sum(1 for e in events if e.type is kind)
        if n:
            parts.append(f"{n} {one if n == 1 else many}")
    noun = "episode" if len(events) == 1 else "episodes"
    return f"{len(events)} {noun}: {', '.join(parts)}."


def _hms(t: datetime) -> str:
    return f"{t.astimezone(UTC):%H:%M:%S}"
