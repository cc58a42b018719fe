"""The daily report rendered: HTML (jinja2, autoescaped) and PDF (reportlab), charts and map by matplotlib.

See ``docs/reports.md``.
"""

from __future__ import annotations

from detente.adapters.reports.html import daily_html
from detente.adapters.reports.pdf import daily_pdf

__all__ = ["daily_html", "daily_pdf"]
