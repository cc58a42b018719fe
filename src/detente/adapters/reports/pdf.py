"""The daily report as a PDF (reportlab platypus, A4 portrait).

A title, the counts per area and party against the previous day with the
change, the counts per area and type, the charts and the map, the open
incidents and the overdue steps.  Untrusted text (titles) goes into
``Paragraph`` only escaped, so reportlab's mini-markup in a title is shown
as text.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from detente.adapters.reports.charts import figures
from detente.domain.geo.intervals import format_time
from detente.services.reports import DailyReport, IncidentLine, StepLine

_STYLES = getSampleStyleSheet()
_SMALL = ParagraphStyle("small", parent=_STYLES["BodyText"], fontSize=7.5, leading=9)
_GRID = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#999999")),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (2, 1), (4, -1), "RIGHT"),
    ]
)


def _change(now: int, before: int) -> str:
    return f"{now - before:+d}"


def _text(value: str) -> Paragraph:
    return Paragraph(escape(value), _SMALL)


def _image(png: bytes, width: float) -> Image:
    img = Image(io.BytesIO(png))
    scale = width / img.imageWidth
    img.drawWidth, img.drawHeight = width, img.imageHeight * scale
    return img


def _party_rows(report: DailyReport) -> list[list[str]]:
    rows = [["area", "party", "incidents", "previous day", "change"]]
    for c in report.counts:
        rows.append([c.name, "all parties", str(c.incidents), str(c.previous), _change(c.incidents, c.previous)])
        for p in c.parties():
            n, b = c.party_total(p), c.party_total(p, previous=True)
            rows.append([c.name, p, str(n), str(b), _change(n, b)])
    return rows


def _type_rows(report: DailyReport) -> list[list[str]]:
    rows = [["area", "type", "incidents", "previous day", "change"]]
    for c in report.counts:
        for t in report.types:
            n, b = c.by_type.get(t, 0), c.previous_by_type.get(t, 0)
            if n or b:
                rows.append([c.name, t, str(n), str(b), _change(n, b)])
    return rows


def _incident_rows(lines: tuple[IncidentLine, ...]) -> list[list[object]]:
    rows: list[list[object]] = [["id", "started", "type", "status", "parties", "title"]]
    for i in lines:
        rows.append([str(i.id), format_time(i.started_at), i.type, i.status, ", ".join(i.parties), _text(i.title)])
    return rows


def _step_rows(steps: tuple[StepLine, ...]) -> list[list[object]]:
    rows: list[list[object]] = [["incident", "step", "due", "state", "late", "title"]]
    for s in steps:
        state = "fired" if s.fired else "past due"
        rows.append([str(s.incident), s.step, format_time(s.due_at), state, ", ".join(s.late), _text(s.title)])
    return rows


def _table(rows: Sequence[Sequence[object]], widths: list[float] | None = None, numeric: int = 1) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1, hAlign="LEFT")
    table.setStyle(_GRID)
    if not numeric:
        table.setStyle(TableStyle([("ALIGN", (2, 1), (4, -1), "LEFT")]))
    return table


def daily_pdf(report: DailyReport) -> bytes:
    """The report as PDF bytes."""
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title=f"Daily situation report {report.day.isoformat()}",
        author="detente",
    )
    images = figures(report)
    viewer = report.viewer or "the secretariat (every incident)"
    summary = (
        f"Generated {format_time(report.generated_at)} for {escape(viewer)}. "
        f"{report.totals.incidents} incident(s) started this day, {report.totals.previous} the day before; "
        f"{len(report.open_incidents)} open, {len(report.overdue_steps)} overdue protocol step(s)."
    )
    half = (doc.width - 0.4 * cm) / 2
    story: list[Flowable] = [
        Paragraph(f"Daily situation report, {report.day.isoformat()} (UTC)", _STYLES["Title"]),
        Paragraph(summary, _STYLES["BodyText"]),
        Spacer(1, 0.3 * cm),
        Paragraph("Incidents per area and party", _STYLES["Heading2"]),
        _table(_party_rows(report), [3.5 * cm, 3.5 * cm, 2.2 * cm, 2.4 * cm, 1.8 * cm]),
        Paragraph("Incidents per area and type", _STYLES["Heading2"]),
        _table(_type_rows(report), [3.5 * cm, 4.5 * cm, 2.2 * cm, 2.4 * cm, 1.8 * cm]),
        Paragraph("Charts and map", _STYLES["Heading2"]),
        Table([[_image(images["parties"], half), _image(images["types"], half)]], hAlign="LEFT"),
        _image(images["map"], doc.width * 0.75),
        Paragraph("Open incidents", _STYLES["Heading2"]),
        _table(_incident_rows(report.open_incidents), [1 * cm, 3.2 * cm, 3.6 * cm, 2.2 * cm, 2.6 * cm, 5.4 * cm], 0),
        Paragraph("Overdue protocol steps", _STYLES["Heading2"]),
        _table(_step_rows(report.overdue_steps), [1.4 * cm, 2 * cm, 3.2 * cm, 1.6 * cm, 2.6 * cm, 7.2 * cm], 0),
    ]
    doc.build(story)
    return buffer.getvalue()
