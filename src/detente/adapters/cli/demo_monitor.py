"""The demo's third act: a simulated day of tracks over the demo world, checked by the track monitor.

Reads the position reports shipped with the demo (``syria-2017-tracks.csv``,
built by :mod:`detente.demo.build_tracks`: coalition and Russian sorties, a
Syrian Su-22 across the Euphrates line, an SDF patrol, the OCHA convoy) and
prints every episode :func:`detente.engine.monitor.monitor` finds in them
(SEMANTICS.md, "Conflicts found while monitoring tracks").
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from detente.adapters.interop.scenario import ScenarioCodec
from detente.adapters.interop.tracks import parse_tracks
from detente.domain.tracks import Event, EventType, Other, Samples
from detente.engine.live import Row
from detente.services.context import FixedClock, Mechanism
from detente.services.live import LiveMonitor
from detente.services.ports import Storage

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


def run(store: Storage, out: Console) -> None:
    """Feed the demo's day of tracks to the live monitor over ``store`` (the demo world) and print what it raised.

    The reports go in as a feed delivers them (time order, a minute at a
    time), through the same :class:`LiveMonitor` as ``POST /positions``, so
    the episodes are stored, open incidents and reach the parties' inboxes.
    """
    samples = demo_tracks()
    out.rule("[bold]A day of tracks[/]")
    names = ", ".join(t.id for t in samples.tracks)
    out.print(f"{len(samples):,} simulated position reports of {len(samples.tracks)} tracks on 7 July 2017: {names}.")
    m = Mechanism(store=store, clock=FixedClock(datetime(2017, 7, 7, 23, 0, tzinfo=UTC)), codec=ScenarioCodec())
    live = LiveMonitor(m, sync=True)
    with store.read() as tx:  # a second run of the demo on the same file shows only its own
        seen = tx.track_events(party=None, limit=100_000)
        before = max((e["id"] for e in seen), default=0)
        before_incident = max((i["id"] for i in tx.incidents(limit=100_000)), default=0)
    rows = sorted(_rows(samples), key=lambda r: (r[4], r[0]))
    start = rows[0][4]
    minute: list[Row] = []
    for row in rows:
        if minute and int((row[4] - start) // 60) != int((minute[0][4] - start) // 60):
            live.submit(minute, None)
            minute = []
        minute.append(row)
    live.submit(minute, None)
    live.sweep(rows[-1][4] + 3600)  # the day is over: every track has fallen silent
    with store.read() as tx:
        stored = tx.track_events(party=None, after=before, limit=500)
        incidents = tx.incidents(after=before_incident, limit=500)
    events = [_event(e) for e in stored]
    if stored:
        out.print(incident_table(stored, incidents))
    out.print(summary(events))
    told = Counter(p for e in stored for p in _told(store, e["id"]))
    out.print(
        f"{len(incidents)} incidents opened (an episode of the same pair within 15 minutes of the last reopens its "
        "incident); alerts sent to the parties concerned and the secretariat: "
        + ", ".join(f"{party} {n}" for party, n in sorted(told.items()))
        + "."
    )
    if any(e.other.id == "convoy-rukban" for e in events):
        out.print(
            "The Su-24 circling Al-Tanf keeps crossing the corridor of the convoy notified in the second act: "
            "Russia and OCHA are told at once, each time, and it is all one incident."
        )
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


def _rows(samples: Samples) -> list[Row]:
    out = []
    for k, t, lon, lat, alt in zip(samples.track, samples.t, samples.lon, samples.lat, samples.alt, strict=True):
        info = samples.tracks[int(k)]
        out.append(
            (info.id, info.party, info.category.value, info.purpose, float(t), float(lon), float(lat), float(alt))
        )
    return out


def _event(row: dict[str, Any]) -> Event:
    other = row["other"]
    return Event(
        EventType(row["type"]),
        row["track"],
        row["party"],
        Other(other["kind"], other["id"], other["party"]),
        row["start"],
        row["end"],
        float(row["min_distance_m"]),
    )


def _told(store: Storage, event_id: int) -> list[str]:
    """The parties the opening of this track event was sent to (from the audit log's entry for it)."""
    with store.read() as tx:
        entries = tx.audit_about(f"track-event/{event_id}", "track-event.opened")
    return sorted({p for entry in entries for p in entry.get("audience", [])})


def incident_table(stored: list[dict[str, Any]], incidents: list[dict[str, Any]]) -> Table:
    """One row per incident: its type, the track and what it came near, its episodes, span and least distance."""
    table = Table(title="Incidents opened by the live monitor", title_justify="left", header_style="bold")
    for column in ("#", "type", "track (party)", "other (party)", "episodes", "first–last (UTC)", "min dist."):
        table.add_column(
            column,
            no_wrap=column != "track (party)",
            justify="right" if column in ("episodes", "min dist.") else "left",
        )
    for incident in incidents:
        mine = [e for e in stored if e["incident"] == incident["id"]]
        if not mine:
            continue
        first, kind = mine[0], EventType(mine[0]["type"])
        other = first["other"]
        table.add_row(
            str(incident["id"]),
            f"[{_STYLE[kind]}]{kind.value}[/]",
            escape(f"{first['track']} ({first['party']})"),
            escape(f"{other['id']} ({other['party']})"),
            str(len(mine)),
            f"{_hms(min(e['start'] for e in mine))}–{_hms(max(e['end'] for e in mine))}",
            f"{min(e['min_distance_m'] for e in mine):,.0f} m",
        )
    return table


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
