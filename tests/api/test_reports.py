"""Reports on the demo world: the daily situation report (JSON, HTML, PDF), accountability, compliance.

* The demo day (its tracks fed through ``POST /positions``) plus an
  observer's report gives six incidents on 7 July, one the day before; the
  daily report counts them per area, party and type, against the day
  before, lists the open incidents and the acknowledgement steps that
  fired at 23:10; its PDF, turned into PNG with pdfium, carries the same
  figures.
* The HTML escapes an untrusted title.
* Accountability: exact times to acknowledge and resolve on a constructed
  sequence with the fixed clock, the overdue steps against each party and
  the notified site approached.
* A party not involved sees none of the others' incidents in its report.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageStat
from shapely.geometry import box
from tests.api.demo_world import start_demo_api
from tests.api.test_monitoring import DAY_END, feed_the_day
from tests.api.world import Api

from detente.adapters.api.routes_reports import router
from detente.domain.accounts import Caller
from detente.domain.model import Role
from detente.services import incidents, reports

DAY = "2017-07-07"
ADMIN = Caller("secretariat-member", "secretariat", Role.SECRETARIAT)


@pytest.fixture
def demo(url: str) -> Iterator[Api]:
    for api in start_demo_api(url):
        app: Any = api.client.app
        if not any(getattr(r, "path", None) == "/reports/daily" for r in app.routes):
            app.include_router(router)
        api.clock.at = DAY_END
        yield api


def at(minutes: float) -> datetime:
    return DAY_END + timedelta(minutes=minutes)


def get(api: Api, party: str, path: str, **params: Any) -> Any:
    answer = api.client.get(path, headers=api.headers[party], params=params)
    assert answer.status_code == 200, answer.text
    return answer


def post(api: Api, party: str, path: str, body: Any = None, expect: int = 200) -> Any:
    answer = api.client.post(path, headers=api.headers[party], json=body)
    assert answer.status_code == expect, answer.text
    return answer.json()


def by_type(api: Api, kind: str, containing: str = "") -> dict[str, Any]:
    listed = get(api, "secretariat", "/incidents").json()
    return next(i for i in listed if i["type"] == kind and containing in i["title"])


def the_day_and_the_day_before(api: Api) -> None:
    """The demo day's five incidents, an observer's report of aircraft over Rukban camp on 7 July, and an
    SDF report of a boundary crossing near al-Bab on 6 July."""
    feed_the_day(api)
    rukban = {
        "type": "proximity_to_protected",
        "severity": "high",
        "parties": ["ru"],
        "title": "Aircraft circling low over camp-rukban",
        "position": {"lon": 38.70, "lat": 33.30},
        "started_at": "2017-07-07T20:15:00Z",
    }
    post(api, "observers", "/incidents", rukban, 201)
    al_bab = {
        "type": "boundary_crossing",
        "severity": "medium",
        "parties": ["tr"],
        "title": "Patrol across the Euphrates Shield line near al-Bab",
        "position": {"lon": 37.52, "lat": 36.35},
        "started_at": "2017-07-06T10:00:00Z",
    }
    post(api, "sdf", "/incidents", al_bab, 201)


def stored_day(api: Api, day: date) -> list[dict[str, Any]]:
    with api.store.read() as tx:
        return [i for i in tx.incidents(limit=1000) if i["started_at"].astimezone(UTC).date() == day]


def pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    try:
        return " ".join(" ".join(pdf[i].get_textpage().get_text_range().split()) for i in range(len(pdf)))
    finally:
        pdf.close()


def test_the_daily_report_of_the_demo_day_counts_each_party_and_type_and_its_pdf_shows_them(
    demo: Api, tmp_path: Any
) -> None:
    the_day_and_the_day_before(demo)
    pair = by_type(demo, "loss_of_separation")
    incursion = by_type(demo, "airspace_incursion")
    demo.clock.at = at(5)
    post(demo, "coalition", f"/incidents/{pair['id']}/ack")
    post(demo, "coalition", f"/incidents/{incursion['id']}/ack")
    demo.clock.at = at(10)
    # the four high-severity incidents opened at 23:00 are due; none was acknowledged by all
    assert incidents.tick(demo.mechanism) == incidents.Swept(0, 4)
    demo.clock.at = at(12)
    post(demo, "sy", f"/incidents/{pair['id']}/ack")
    before = by_type(demo, "boundary_crossing", "al-Bab")
    post(demo, "secretariat", f"/incidents/{before['id']}/status", {"status": "resolved", "note": "a patrol, agreed"})
    demo.clock.at = at(30)

    report = get(demo, "secretariat", "/reports/daily", date=DAY, format="json").json()
    today, yesterday = stored_day(demo, date(2017, 7, 7)), stored_day(demo, date(2017, 7, 6))
    # the figures are the stored incidents', counted independently here ...
    expected_types = Counter(i["type"] for i in today)
    expected_parties: dict[str, Counter[str]] = defaultdict(Counter)
    for i in today:
        for p in i["parties"]:
            expected_parties[p][i["type"]] += 1
    totals = report["totals"]
    assert totals["by_type"] == dict(expected_types)
    assert totals["by_party"] == {p: dict(c) for p, c in expected_parties.items()}
    assert totals["incidents"] == len(today) and totals["previous"] == len(yesterday)
    # ... and they are what the demo day is known to hold
    assert totals["incidents"] == 6 and totals["previous"] == 1
    assert totals["by_type"] == {
        "airspace_incursion": 1,
        "boundary_crossing": 2,
        "loss_of_separation": 1,
        "proximity_to_protected": 2,
    }
    assert totals["previous_by_party"] == {"sdf": {"boundary_crossing": 1}, "tr": {"boundary_crossing": 1}}
    assert {p: sum(c.values()) for p, c in totals["by_party"].items()} == {
        "coalition": 2,
        "ocha": 3,  # the observer's report over Rukban camp involves OCHA, whose site it is
        "ru": 2,
        "sdf": 3,
        "sy": 2,
    }
    (everything, unlocated) = report["counts"]  # the demo world marks no ceasefire area
    assert everything["name"] == "all" and everything["incidents"] == 6 and everything["change"] == 5
    assert unlocated == {**unlocated, "name": "unlocated", "incidents": 0, "previous": 0}
    assert sorted(i["id"] for i in report["incidents"]) == sorted(i["id"] for i in today)
    assert all(i["position"] is not None for i in report["incidents"])
    # open: everything but the resolved al-Bab crossing; overdue: the four acknowledgement steps that fired
    assert sorted(i["id"] for i in report["open_incidents"]) == sorted(i["id"] for i in today)
    overdue = {s["incident"]: s for s in report["overdue_steps"]}
    assert set(overdue) == {i["id"] for i in today if i["severity"] == "high"}
    assert all(
        s["step"] == "acknowledge" and s["fired"] and s["due_at"] == "2017-07-07T23:10:00Z" for s in overdue.values()
    )
    assert overdue[pair["id"]]["late"] == ["sy"] and overdue[incursion["id"]]["late"] == ["ru"]
    proximity = by_type(demo, "proximity_to_protected", "hospital-raqqa")
    assert overdue[proximity["id"]]["late"] == ["ocha", "sdf"]

    # areas: each incident counts in every area covering it
    east = reports.Area("east-of-38.5", box(38.5, 30.0, 43.0, 38.0))
    split = reports.daily(demo.mechanism, ADMIN, date(2017, 7, 7), [east, reports.everywhere()])
    assert split.area("east-of-38.5").incidents == sum(1 for i in today if i["position"]["lon"] >= 38.5) == 3
    assert split.area("east-of-38.5").previous == 0 and split.area("all").previous == 1

    # the PDF, turned into PNG, carries the same figures
    answer = get(demo, "secretariat", "/reports/daily", date=DAY, format="pdf")
    assert answer.headers["content-type"] == "application/pdf" and answer.content.startswith(b"%PDF")
    text = pdf_text(answer.content)
    assert "Daily situation report, 2017-07-07 (UTC)" in text
    assert "all all parties 6 1 +5" in text
    for party, c in totals["by_party"].items():
        n, b = sum(c.values()), sum(totals["previous_by_party"].get(party, {}).values())
        assert f"all {party} {n} {b} {n - b:+d}" in text
    assert "all tr 0 1 -1" in text
    assert "all boundary_crossing 2 1 +1" in text and "all proximity_to_protected 2 0 +2" in text
    assert "6 incident(s) started this day, 1 the day before; 6 open, 4 overdue protocol step(s)" in text
    pdf = pdfium.PdfDocument(answer.content)
    try:
        page = pdf[0]
        assert (round(page.get_width()), round(page.get_height())) == (595, 842)  # A4 in points
        image = page.render(scale=2).to_pil()
    finally:
        pdf.close()
    png = tmp_path / "page1.png"
    image.save(png)
    with Image.open(png) as shown:
        assert shown.format == "PNG" and shown.size == (1191, 1684)
        gray = shown.convert("L")
        assert ImageStat.Stat(gray).stddev[0] > 20  # text, tables and a chart, not a blank page
        assert gray.getextrema() == (0, 255)

    # the HTML has the table, the two charts and the map
    html = get(demo, "secretariat", "/reports/daily", date=DAY, format="html")
    assert html.headers["content-type"].startswith("text/html")
    assert html.text.count("data:image/png;base64,") == 3
    assert re.search(r"<th>all</th><th>all parties</th><td class=\"n\">6</td><td class=\"n\">1</td>", html.text)

    # compliance over time
    series = get(demo, "secretariat", "/reports/compliance", since="2017-07-05", until="2017-07-07").json()
    assert series["periods"] == ["2017-07-05", "2017-07-06", "2017-07-07"]
    assert series["total"] == [0, 1, 6]
    assert series["parties"]["sdf"] == [0, 1, 3] and series["parties"]["tr"] == [0, 1, 0]


def test_the_html_report_shows_an_untrusted_title_escaped(demo: Api) -> None:
    hostile = {
        "type": "ceasefire_violation",
        "severity": "medium",
        "parties": ["ru"],
        "title": "<script>alert(1)</script>",
        "description": "<img src=x onerror=alert(2)>",
        "started_at": "2017-07-07T12:00:00Z",
    }
    post(demo, "sy", "/incidents", hostile, 201)
    page = get(demo, "sy", "/reports/daily", date=DAY, format="html").text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page and "onerror" not in page
    report = get(demo, "sy", "/reports/daily", date=DAY).json()
    (unlocated,) = [c for c in report["counts"] if c["name"] == "unlocated"]
    assert unlocated["by_party"] == {"ru": {"ceasefire_violation": 1}, "sy": {"ceasefire_violation": 1}}
    text = pdf_text(get(demo, "sy", "/reports/daily", date=DAY, format="pdf").content)
    assert "<script>alert(1)</script>" in text  # shown as text in the PDF, not read as markup


def test_accountability_gives_exact_times_to_acknowledge_and_resolve(demo: Api) -> None:
    feed_the_day(demo)  # the five incidents open at 23:00
    pair = by_type(demo, "loss_of_separation")
    incursion = by_type(demo, "airspace_incursion")
    demo.clock.at = at(5)
    post(demo, "coalition", f"/incidents/{pair['id']}/ack")
    demo.clock.at = at(7)
    post(demo, "coalition", f"/incidents/{incursion['id']}/ack")
    demo.clock.at = at(10)
    assert incidents.tick(demo.mechanism) == incidents.Swept(0, 3)
    demo.clock.at = at(12)
    post(demo, "sy", f"/incidents/{pair['id']}/ack")
    demo.clock.at = at(20)
    post(demo, "ru", f"/incidents/{incursion['id']}/ack")
    demo.clock.at = at(50)
    post(demo, "secretariat", f"/incidents/{pair['id']}/status", {"status": "resolved", "note": "finding agreed"})

    figures = get(demo, "secretariat", "/reports/accountability", since=DAY, until=DAY).json()
    assert {f["party"]: f for f in figures} == {
        "coalition": {
            "party": "coalition",
            "incidents": 2,
            "acknowledged": 2,
            "median_ack_s": 360.0,
            "p90_ack_s": 420.0,
            "resolved": 1,
            "median_resolve_s": 3000.0,
            "overdue_steps": 0,
            "sites_struck": 0,
            "sites": [],
        },
        "sy": {
            "party": "sy",
            "incidents": 2,
            "acknowledged": 1,
            "median_ack_s": 720.0,
            "p90_ack_s": 720.0,
            "resolved": 1,
            "median_resolve_s": 3000.0,
            "overdue_steps": 1,
            "sites_struck": 0,
            "sites": [],
        },
        "ru": {
            "party": "ru",
            "incidents": 1,
            "acknowledged": 1,
            "median_ack_s": 1200.0,
            "p90_ack_s": 1200.0,
            "resolved": 0,
            "median_resolve_s": None,
            "overdue_steps": 1,
            "sites_struck": 0,
            "sites": [],
        },
        "sdf": {
            "party": "sdf",
            "incidents": 3,
            "acknowledged": 0,
            "median_ack_s": None,
            "p90_ack_s": None,
            "resolved": 0,
            "median_resolve_s": None,
            "overdue_steps": 1,
            "sites_struck": 1,
            "sites": ["hospital-raqqa"],
        },
        "ocha": {
            "party": "ocha",
            "incidents": 2,
            "acknowledged": 0,
            "median_ack_s": None,
            "p90_ack_s": None,
            "resolved": 0,
            "median_resolve_s": None,
            "overdue_steps": 1,
            "sites_struck": 0,
            "sites": [],
        },
    }
    # a party gets its own figures only
    assert [f["party"] for f in get(demo, "ru", "/reports/accountability", since=DAY, until=DAY).json()] == ["ru"]
    assert get(demo, "tr", "/reports/accountability", since=DAY, until=DAY).json() == []
    # nothing started the day before
    assert get(demo, "secretariat", "/reports/accountability", since="2017-07-06", until="2017-07-06").json() == []
    bad = demo.client.get(
        "/reports/accountability", headers=demo.headers["secretariat"], params={"since": DAY, "until": "2017-07-01"}
    )
    assert bad.status_code == 422


def test_a_party_not_involved_sees_none_of_the_others_incidents(demo: Api) -> None:
    the_day_and_the_day_before(demo)
    demo.clock.at = at(10)
    incidents.tick(demo.mechanism)
    titles = [i["title"] for i in stored_day(demo, date(2017, 7, 7))]
    # Turkey is in none of the 7 July incidents, only in the al-Bab one of the day before
    mine = get(demo, "tr", "/reports/daily", date=DAY).json()
    assert mine["viewer"] == "tr"
    assert mine["incidents"] == [] and mine["overdue_steps"] == []
    assert mine["totals"]["incidents"] == 0 and mine["totals"]["by_party"] == {}
    assert mine["totals"]["previous_by_party"] == {"sdf": {"boundary_crossing": 1}, "tr": {"boundary_crossing": 1}}
    assert [i["title"] for i in mine["open_incidents"]] == ["Patrol across the Euphrates Shield line near al-Bab"]
    page = get(demo, "tr", "/reports/daily", date=DAY, format="html").text
    text = pdf_text(get(demo, "tr", "/reports/daily", date=DAY, format="pdf").content)
    for title in titles:
        assert title not in page and title not in text
    # Syria sees its own two, and counts the other parties only in those
    sy = get(demo, "sy", "/reports/daily", date=DAY).json()
    assert all("sy" in i["parties"] for i in sy["incidents"]) and len(sy["incidents"]) == 2
    assert {p: sum(c.values()) for p, c in sy["totals"]["by_party"].items()} == {"sy": 2, "coalition": 1, "sdf": 1}
    series = get(demo, "tr", "/reports/compliance", since="2017-07-06", until="2017-07-07").json()
    assert series["total"] == [1, 0] and set(series["parties"]) == {"sdf", "tr"}
