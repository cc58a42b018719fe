"""``detente report``: the daily situation report of a database, as JSON, HTML or PDF.

The terminal is the mechanism's local operator (as for ``detente notices``):
the report is the secretariat's, counting every incident.  Its areas are
the world's boundaries and zones with ``"ceasefire_area": true``, and
``all``.  Exit codes: 0 written, 2 invalid input.  See ``docs/reports.md``.
"""

from __future__ import annotations

import json
import sys
from datetime import date as Date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from detente.adapters.cli.humanitarian_cmd import CLI_CALLER, DEFAULT_DB, Db, _fail, _mechanism, _store
from detente.adapters.reports import daily_html, daily_pdf
from detente.domain.errors import DetenteError, InvalidInput, Problem
from detente.services import reports


class ReportFormat(StrEnum):
    json = "json"
    html = "html"
    pdf = "pdf"


def report_cmd(
    db: Db = DEFAULT_DB,
    date: Annotated[str, typer.Option("--date", help="The UTC day to report on, YYYY-MM-DD.")] = "",
    format: Annotated[ReportFormat, typer.Option("--format", "-f", help="Output format.")] = ReportFormat.html,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write here (default: standard output; a PDF needs --out).")
    ] = None,
) -> None:
    """The daily situation report: incidents per area and party against the day before, open incidents,
    overdue protocol steps, charts and map."""
    try:
        try:
            day = Date.fromisoformat(date)
        except ValueError:
            raise InvalidInput([Problem("date", f"--date {date!r} is not a day (YYYY-MM-DD)")]) from None
        if format is ReportFormat.pdf and out is None and sys.stdout.isatty():
            raise InvalidInput([Problem("out", "a PDF goes to a file: give --out report.pdf")])
        with _store(db) as store:
            m = _mechanism(store)
            report = reports.daily(m, CLI_CALLER, day, reports.ceasefire_areas(m))
        if format is ReportFormat.pdf:
            data = daily_pdf(report)
        elif format is ReportFormat.html:
            data = daily_html(report).encode("utf-8")
        else:
            data = (json.dumps(report.to_json(), indent=2) + "\n").encode("utf-8")
        if out is None:
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            out.write_bytes(data)
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
