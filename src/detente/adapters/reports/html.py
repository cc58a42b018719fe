"""The daily report as one self-contained HTML page (charts and map embedded as base64 PNG).

Titles and descriptions are untrusted text: the jinja2 environment escapes
every value (``autoescape=True``) and the template marks nothing safe, so a
title like ``<script>`` is shown, never run.
"""

from __future__ import annotations

import base64

from jinja2 import Environment, StrictUndefined

from detente.adapters.reports.charts import figures
from detente.domain.geo.intervals import format_time
from detente.services.reports import DailyReport

_ENV = Environment(autoescape=True, undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_ENV.filters["time"] = format_time

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>Daily situation report {{ r.day.isoformat() }}</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: left; }
td.n { text-align: right; }
th { background: #eee; }
.up { color: #b2182b; } .down { color: #1a9850; }
figure { display: inline-block; margin: 0.5em; }
</style>
</head>
<body>
<h1>Daily situation report, {{ r.day.isoformat() }} (UTC)</h1>
<p>Generated {{ r.generated_at | time }} for {{ r.viewer or "the secretariat (every incident)" }}.
{{ r.totals.incidents }} incident(s) started this day, {{ r.totals.previous }} the day before;
{{ r.open_incidents | length }} open, {{ r.overdue_steps | length }} overdue protocol step(s).</p>

<h2>Incidents per area and party</h2>
<table id="counts">
<tr><th>area</th><th>party</th><th>incidents</th><th>previous day</th><th>change</th>
{% for t in types %}<th>{{ t }}</th>{% endfor %}</tr>
{% for c in r.counts %}
<tr><th>{{ c.name }}</th><th>all parties</th><td class="n">{{ c.incidents }}</td><td class="n">{{ c.previous }}</td>
{% set d = c.incidents - c.previous %}
<td class="n {{ 'up' if d > 0 else 'down' if d < 0 else '' }}">{{ "%+d" % d }}</td>
{% for t in types %}<td class="n">{{ c.by_type.get(t, 0) }}</td>{% endfor %}</tr>
{% for p in c.parties() %}
{% set n = c.party_total(p) %}{% set b = c.party_total(p, previous=True) %}
<tr><td>{{ c.name }}</td><td>{{ p }}</td><td class="n">{{ n }}</td><td class="n">{{ b }}</td>
<td class="n">{{ "%+d" % (n - b) }}</td>
{% for t in types %}<td class="n">{{ c.by_party.get(p, {}).get(t, 0) }}</td>{% endfor %}</tr>
{% endfor %}
{% endfor %}
</table>

<h2>Charts and map</h2>
{% for name, label in captions %}
<figure><img alt="{{ label }}" src="data:image/png;base64,{{ images[name] }}">
<figcaption>{{ label }}</figcaption></figure>
{% endfor %}

<h2>Incidents of the day</h2>
<table id="incidents">
<tr><th>id</th><th>started</th><th>type</th><th>severity</th><th>status</th><th>parties</th><th>position</th>
<th>areas</th><th>title</th></tr>
{% for i in r.incidents %}
<tr><td>{{ i.id }}</td><td>{{ i.started_at | time }}</td><td>{{ i.type }}</td><td>{{ i.severity }}</td>
<td>{{ i.status }}</td><td>{{ i.parties | join(", ") }}</td>
<td>{% if i.lon is not none %}{{ "%.4f, %.4f" % (i.lat, i.lon) }}{% else %}unlocated{% endif %}</td>
<td>{{ i.areas | join(", ") }}</td><td>{{ i.title }}</td></tr>
{% endfor %}
</table>

<h2>Open incidents</h2>
<table id="open">
<tr><th>id</th><th>started</th><th>type</th><th>status</th><th>parties</th><th>title</th></tr>
{% for i in r.open_incidents %}
<tr><td>{{ i.id }}</td><td>{{ i.started_at | time }}</td><td>{{ i.type }}</td><td>{{ i.status }}</td>
<td>{{ i.parties | join(", ") }}</td><td>{{ i.title }}</td></tr>
{% endfor %}
</table>

<h2>Overdue protocol steps</h2>
<table id="overdue">
<tr><th>incident</th><th>step</th><th>due</th><th>state</th><th>late</th><th>title</th></tr>
{% for s in r.overdue_steps %}
<tr><td>{{ s.incident }}</td><td>{{ s.step }}</td><td>{{ s.due_at | time }}</td>
<td>{{ "fired" if s.fired else "past due" }}</td><td>{{ s.late | join(", ") }}</td><td>{{ s.title }}</td></tr>
{% endfor %}
</table>
</body>
</html>
"""

_TEMPLATE = _ENV.from_string(TEMPLATE)
CAPTIONS = (("parties", "Incidents per party"), ("types", "Incidents by type"), ("map", "Map of the day's incidents"))


def daily_html(report: DailyReport) -> str:
    """The report as a standalone HTML page; every value from the store is escaped."""
    images = {name: base64.b64encode(png).decode("ascii") for name, png in figures(report).items()}
    return _TEMPLATE.render(r=report, types=_types(report), images=images, captions=CAPTIONS)


def _types(report: DailyReport) -> list[str]:
    """The incident types with an incident on the day or the day before (columns of the table)."""
    seen = {*report.totals.by_type, *report.totals.previous_by_type}
    return [t for t in report.types if t in seen]
