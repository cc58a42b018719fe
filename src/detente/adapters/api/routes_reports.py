"""Reports over HTTP: the daily situation report (JSON, HTML, PDF), accountability figures, compliance.

The secretariat's reports count every incident; a party's only those it is
involved in.  The daily report's areas are the world's boundaries and zones
whose properties say ``"ceasefire_area": true``, and ``all``.  See
``docs/reports.md``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import documented
from detente.adapters.reports import daily_html, daily_pdf
from detente.domain.errors import InvalidInput, Problem
from detente.services import reports

router = APIRouter(responses=documented(401, 422), tags=["reports"])


class ReportFormat(StrEnum):
    json = "json"
    html = "html"
    pdf = "pdf"


class Bucket(StrEnum):
    day = "day"
    week = "week"


Day = Annotated[date, Query(description="A UTC day, YYYY-MM-DD")]


def _period(since: date, until: date) -> tuple[datetime, datetime]:
    """``since`` to ``until``, both days included, as a half-open UTC interval."""
    if until < since:
        raise InvalidInput([Problem("period", "until must not come before since")])
    return datetime.combine(since, time(0), tzinfo=UTC), datetime.combine(
        until + timedelta(days=1), time(0), tzinfo=UTC
    )


@router.get(
    "/reports/daily",
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/html": {}, "application/pdf": {}}}},
)
def daily_report(m: Mech, who: Who, date: Day, format: ReportFormat = ReportFormat.json) -> Response:
    """The situation report of one UTC day: incidents per area and party against the day before, the day's
    incidents, the open ones and the overdue protocol steps."""
    report = reports.daily(m, who, date, reports.ceasefire_areas(m))
    if format is ReportFormat.html:
        return HTMLResponse(daily_html(report))
    if format is ReportFormat.pdf:
        name = f"detente-daily-{date.isoformat()}.pdf"
        return Response(
            daily_pdf(report),
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{name}"'},
        )
    return JSONResponse(report.to_json())


@router.get("/reports/accountability")
def accountability_report(m: Mech, who: Who, since: Day, until: Day) -> list[dict[str, Any]]:
    """Per party (the caller's own, for a party): incidents, times to acknowledge and to resolve, overdue
    steps, notified sites struck; over the incidents that started from ``since`` to ``until`` (both included)."""
    start, end = _period(since, until)
    return [f.to_json() for f in reports.accountability(m, who, start, end)]


@router.get("/reports/compliance")
def compliance_report(m: Mech, who: Who, since: Day, until: Day, by: Bucket = Bucket.day) -> dict[str, Any]:
    """Incidents per party per day (or week), from ``since`` to ``until`` (both included)."""
    start, end = _period(since, until)
    return reports.compliance(m, who, start, end, by=by.value)
