"""Ceasefire observers over the API: reports grouped into incidents as they arrive, and evidence files.

* The 30 reports of three real barrages (southwest Syria, July 2017) plus
  noise, filed one by one in time order by the observers' mission, end up
  in exactly three barrage incidents (each barrage's reports in one) and
  one incident per noise report, typed ceasefire_violation, with the
  parties the reports attribute fire to, told to them and the secretariat.
* Evidence: stored with its SHA-256, refused when too large, of a type not
  allowed, or with a hostile file name; served back only as a download.
* Who may file and see what.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.api.demo_world import start_demo_api
from tests.api.world import Api

from detente.adapters.storage.audit_check import verify_store

BARRAGES = json.loads((Path(__file__).resolve().parent.parent / "data" / "barrages.json").read_text())


@pytest.fixture
def demo(url: str) -> Iterator[Api]:
    for api in start_demo_api(url):
        api.clock.at = datetime(2017, 7, 26, 0, 0, tzinfo=UTC)
        yield api


def reports() -> list[tuple[str, dict[str, Any]]]:
    """(barrage id or 'noise:<id>', report) in the order observers would file them (by time)."""
    out = [(b["id"], r) for b in BARRAGES["barrages"] for r in b["reports"]]
    out += [(f"noise:{n['id']}", n["report"]) for n in BARRAGES["noise"]]
    return sorted(out, key=lambda x: (x[1]["start"], x[1]["id"]))


def file(api: Api, report: dict[str, Any], party: str = "observers", **extra: Any) -> Any:
    body = {k: v for k, v in report.items() if k != "party"} | extra
    return api.client.post("/observer-reports", headers=api.headers[party], json=body)


def test_thirty_reports_of_three_real_barrages_make_three_incidents(demo: Api) -> None:
    filed = reports()
    assert len(filed) == 30
    for group, report in filed:
        answer = file(demo, report, attributed_to=["sy"] if not group.startswith("noise") else [])
        assert answer.status_code == 201, answer.text
        assert answer.json()["incident"] is not None
    # read back: a report's incident may have been decided by a later report of its cluster
    listed = demo.client.get("/incidents", headers=demo.headers["secretariat"], params={"limit": 500}).json()
    by_incident: dict[int, set[str]] = {}
    with demo.store.read() as tx:
        for group, report in filed:
            row = next(
                r
                for r in tx.observer_reports(
                    since=datetime(2017, 1, 1, tzinfo=UTC), until=datetime(2018, 1, 1, tzinfo=UTC)
                )
                if r["ref"] == report["id"]
            )
            by_incident.setdefault(row["incident"], set()).add(group)
    groups = sorted(sorted(g) for g in by_incident.values())
    barrage_ids = sorted(b["id"] for b in BARRAGES["barrages"])
    noise_ids = sorted(f"noise:{n['id']}" for n in BARRAGES["noise"])
    # each incident holds one barrage or one noise report; each barrage is in exactly one incident
    assert groups == sorted([[b] for b in barrage_ids] + [[n] for n in noise_ids])
    violations = [i for i in listed if i["type"] == "ceasefire_violation"]
    assert len(violations) == 3 + len(noise_ids)
    corroborated = [i for i in violations if i["severity"] == "high"]
    assert len(corroborated) == 3 and all("sy" in i["parties"] for i in corroborated)
    # a barrage within a protected site's radius also involves the site's agency
    assert all(set(i["parties"]) <= {"sy", *(p["party"] for p in i.get("notice_proof") or [])} for i in corroborated)
    # Syria, named as firing, is told of the barrages; the observers see what they reported
    opened = [
        n
        for n in demo.client.get("/notifications", headers=demo.headers["sy"], params={"limit": 500}).json()["items"]
        if n["type"] == "incident.opened"
    ]
    assert len(opened) >= 3
    assert len(demo.client.get("/incidents", headers=demo.headers["observers"], params={"limit": 500}).json()) == len(
        violations
    )
    assert demo.client.get("/incidents", headers=demo.headers["ru"]).json() == []
    report = verify_store(demo.store)
    assert report.intact, report.problems


def test_a_report_is_filed_once_and_hostile_input_is_refused(demo: Api) -> None:
    _, first = reports()[0]
    assert file(demo, first).status_code == 201
    again = file(demo, first)
    assert again.status_code == 409
    assert file(demo, first, party="ru").status_code == 403
    bad = file(demo, first | {"id": "x2", "start": "2017-07-09T20:10:00", "bearing_deg": 400, "observed_how": "smelt"})
    assert bad.status_code == 422
    messages = " ".join(e["message"] for e in bad.json()["errors"])
    assert "offset" in messages or "timezone" in messages
    assert "bearing" in messages and "smelt" in messages
    unknown = file(demo, first | {"id": "x3"}, attributed_to=["xx"])
    assert unknown.status_code == 422 and "attributed_to" in unknown.text


def test_evidence_is_kept_with_its_hash_and_only_ever_downloaded(demo: Api) -> None:
    _, first = reports()[0]
    rid = file(demo, first).json()["id"]
    photo = b"\xff\xd8\xff\xe0" + b"JFIF" + bytes(range(256)) * 40
    headers = demo.headers["observers"] | {"Content-Type": "image/jpeg"}
    made = demo.client.post(
        f"/observer-reports/{rid}/evidence", params={"filename": "crater 1.jpg"}, headers=headers, content=photo
    )
    assert made.status_code == 201, made.text
    assert made.json()["sha256"] == hashlib.sha256(photo).hexdigest() and made.json()["size"] == len(photo)
    got = demo.client.get(f"/evidence/{made.json()['id']}", headers=demo.headers["observers"])
    assert got.status_code == 200 and got.content == photo
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"] == 'attachment; filename="crater 1.jpg"'
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["x-detente-sha256"] == hashlib.sha256(photo).hexdigest()
    # the same file twice, a script, a hostile name, an empty file, one too large
    post = demo.client.post
    assert (
        post(
            f"/observer-reports/{rid}/evidence", params={"filename": "again.jpg"}, headers=headers, content=photo
        ).status_code
        == 409
    )
    html = demo.headers["observers"] | {"Content-Type": "text/html"}
    assert (
        post(
            f"/observer-reports/{rid}/evidence", params={"filename": "x.html"}, headers=html, content=b"<script>"
        ).status_code
        == 422
    )
    assert (
        post(
            f"/observer-reports/{rid}/evidence",
            params={"filename": "../../etc/passwd"},
            headers=headers,
            content=photo + b"1",
        ).status_code
        == 422
    )
    assert (
        post(
            f"/observer-reports/{rid}/evidence", params={"filename": "e.jpg"}, headers=headers, content=b""
        ).status_code
        == 422
    )
    big = post(
        f"/observer-reports/{rid}/evidence",
        params={"filename": "big.mp4"},
        headers=demo.headers["observers"] | {"Content-Type": "video/mp4"},
        content=b"0" * (16 * 1024 * 1024 + 1),
    )
    assert big.status_code == 413
    # only the mission attaches; a party not concerned sees nothing
    assert (
        post(
            f"/observer-reports/{rid}/evidence",
            params={"filename": "r.jpg"},
            headers=demo.headers["secretariat"] | {"Content-Type": "image/jpeg"},
            content=photo + b"2",
        ).status_code
        == 403
    )
    assert demo.client.get(f"/evidence/{made.json()['id']}", headers=demo.headers["tr"]).status_code == 404
    assert demo.client.get(f"/observer-reports/{rid}", headers=demo.headers["tr"]).status_code == 404
    shown = demo.client.get(f"/observer-reports/{rid}", headers=demo.headers["secretariat"]).json()
    assert [e["sha256"] for e in shown["evidence"]] == [hashlib.sha256(photo).hexdigest()]
    with demo.store.read() as tx:
        logged = tx.audit_about(f"evidence/{made.json()['id']}")
    assert [e["type"] for e in logged] == ["evidence.filed"]
