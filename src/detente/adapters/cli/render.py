"""How conflicts look in a terminal, as JSON and as GeoJSON."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table
from shapely.geometry import mapping

from detente.domain.conflicts import Conflict, Disclosure
from detente.domain.model import WorldObject

_SEVERITY_STYLE = {"blocking": "bold red", "advisory": "yellow"}


def _fmt_time(c: Conflict) -> str:
    """``2017-07-07 15:00–16:30Z``: compact, UTC, the date once when it is one day."""
    start, end = c.time.start, c.time.end
    if start is None:
        return f"… – {end:%Y-%m-%d %H:%M}Z" if end else "always"
    if end is None:
        return f"{start:%Y-%m-%d %H:%M}Z – open"
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}–{end:%H:%M}Z"
    return f"{start:%Y-%m-%d %H:%M}Z – {end:%Y-%m-%d %H:%M}Z"


def _fmt_alt(c: Conflict) -> str:
    if c.altitude is None:
        return f"gap {c.vertical_gap_m:.0f} m" if c.vertical_gap_m else "—"
    lo, hi = c.altitude.to_json()
    return f"{'SFC' if lo is None else f'{lo:.0f}'}–{'UNL' if hi is None else f'{hi:.0f}'} m"


def conflict_table(conflicts: list[Conflict], *, title: str = "Conflicts", with_intent: bool = True) -> Table:
    """One row per conflict; ``with_intent=False`` when the title names the intent."""
    table = Table(title=title, title_justify="left", header_style="bold", pad_edge=False)
    columns = ["intent", "vol"] if with_intent else ["vol"]
    columns += ["type", "severity", "other (party)", "window (UTC)", "altitude", "distance", "notify"]
    for col in columns:
        table.add_column(col, overflow="fold", no_wrap=col in ("type", "severity", "distance"))
    for c in conflicts:
        row = [c.intent, str(c.volume)] if with_intent else [str(c.volume)]
        row += [
            c.type.value,
            f"[{_SEVERITY_STYLE[c.severity.value]}]{c.severity.value}[/]",
            f"{c.other_kind.value} {c.other_id}#{c.other_volume} ({c.other_party})",
            _fmt_time(c),
            _fmt_alt(c),
            f"{c.distance_m:,.0f} m",
            ", ".join(c.notify),
        ]
        table.add_row(*row)
    return table


def print_summary(console: Console, intents: list[WorldObject], conflicts: list[Conflict]) -> None:
    blocking = sum(1 for c in conflicts if c.severity.value == "blocking")
    clear = [i.id for i in intents if not any(c.intent == i.id for c in conflicts)]
    console.print(
        f"{len(intents)} intent(s) checked: {len(conflicts)} conflict(s), "
        f"[bold red]{blocking} blocking[/], [yellow]{len(conflicts) - blocking} advisory[/]."
    )
    if clear:
        console.print(f"[green]No conflict:[/] {', '.join(clear)}")


def conflicts_json(conflicts: list[Conflict]) -> str:
    return json.dumps([c.to_json() for c in conflicts], indent=2)


def conflicts_geojson(conflicts: list[Conflict], disclosures: list[Disclosure]) -> str:
    """One feature per conflict: the clipped area that concerns the other party."""
    areas: dict[tuple[str, str, str], Any] = {}
    for d in disclosures:
        areas.setdefault((d.type.value, d.other_kind.value, d.other_id), d.area)
    features = []
    for c in conflicts:
        area = areas.get((c.type.value, c.other_kind.value, c.other_id))
        features.append(
            {
                "type": "Feature",
                "geometry": None if area is None else dict(mapping(area)),
                "properties": c.to_json(),
            }
        )
    return json.dumps({"type": "FeatureCollection", "features": features}, indent=2)
