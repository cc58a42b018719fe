"""The report's figures as PNG bytes: incidents per party (the day against the day before), per type, and a map.

matplotlib with the Agg backend (no display, no network: the map draws the
areas and incident positions on a plain graticule, no tiles).
"""

from __future__ import annotations

import io
import math
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from shapely.geometry.base import BaseGeometry

from detente.services.reports import DailyReport

#: Plain, Natural Earth-like colours.
LAND = "#f4f1e8"
EDGE = "#6b6b6b"
AREA_FILL = "#e6c9a8"
POINT = "#b2182b"
TODAY = "#2166ac"
BEFORE = "#bdbdbd"
DPI = 110


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    return buffer.getvalue()


def parties_chart(report: DailyReport) -> bytes:
    """Incidents per party involved (all areas and unlocated), the day against the day before."""
    parties = report.parties()
    today = [report.totals.party_total(p) for p in parties]
    before = [report.totals.party_total(p, previous=True) for p in parties]
    fig = Figure(figsize=(5.2, 2.8))
    ax = fig.add_subplot()
    xs = list(range(len(parties)))
    ax.bar([x - 0.2 for x in xs], before, width=0.4, color=BEFORE, label="previous day")
    ax.bar([x + 0.2 for x in xs], today, width=0.4, color=TODAY, label=report.day.isoformat())
    ax.set_xticks(xs, parties)
    ax.set_ylabel("incidents")
    ax.set_title("Incidents per party involved")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def types_chart(report: DailyReport) -> bytes:
    """Incidents of the day per type (every located and unlocated incident)."""
    counts = report.totals.by_type
    types = [t for t in report.types if counts.get(t)]
    fig = Figure(figsize=(5.2, 2.8))
    ax = fig.add_subplot()
    ax.barh(types or ["(none)"], [counts[t] for t in types] or [0], color=TODAY)
    ax.invert_yaxis()
    ax.set_xlabel("incidents")
    ax.set_title("Incidents of the day by type")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.spines[["top", "right"]].set_visible(False)
    return _png(fig)


def _polygons(geometry: BaseGeometry) -> list[Any]:
    if geometry.geom_type == "Polygon":
        return [geometry]
    return list(getattr(geometry, "geoms", []))


def map_png(report: DailyReport) -> bytes:
    """The ceasefire areas and the day's incidents, numbered by incident id, on a plain graticule."""
    fig = Figure(figsize=(6.0, 4.6))
    ax = fig.add_subplot()
    ax.set_facecolor(LAND)
    xs: list[float] = []
    ys: list[float] = []
    for area in report.areas:
        if area.everywhere:
            continue
        for poly in _polygons(area.geometry):
            x, y = poly.exterior.xy
            ax.fill(list(x), list(y), facecolor=AREA_FILL, edgecolor=EDGE, linewidth=0.8, alpha=0.7)
            xs += list(x)
            ys += list(y)
        c = area.geometry.representative_point()
        ax.annotate(area.name, (c.x, c.y), fontsize=7, color="#4d4d4d", ha="center", style="italic")
    located = [i for i in report.incidents if i.lon is not None and i.lat is not None]
    for line in located:
        assert line.lon is not None and line.lat is not None
        ax.plot(line.lon, line.lat, "o", color=POINT, markersize=5, markeredgecolor="white", markeredgewidth=0.6)
        ax.annotate(str(line.id), (line.lon, line.lat), xytext=(4, 3), textcoords="offset points", fontsize=7)
        xs.append(line.lon)
        ys.append(line.lat)
    if xs:
        pad = 0.5
        x0, x1, y0, y1 = min(xs) - pad, max(xs) + pad, min(ys) - pad, max(ys) + pad
    else:  # nothing to show: Syria and around
        x0, x1, y0, y1 = 35.5, 42.5, 32.0, 37.5
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    # degrees of longitude shrink with latitude: keep the map's shapes true at its middle
    ax.set_aspect(1 / max(0.2, math.cos(math.radians((y0 + y1) / 2))), adjustable="box")
    ax.grid(True, color="white", linewidth=0.8)
    ax.set_xlabel("longitude (°E)", fontsize=8)
    ax.set_ylabel("latitude (°N)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(f"Incidents of {report.day.isoformat()} ({len(located)} located)", fontsize=9)
    return _png(fig)


def figures(report: DailyReport) -> dict[str, bytes]:
    return {"parties": parties_chart(report), "types": types_chart(report), "map": map_png(report)}
