"""A strike reported on a notified convoy's route carries the proof that every party had been told.

OCHA notifies the convoy to Rukban three days ahead; the coalition and
Russia acknowledge in time, Turkey after the deadline, Syria and the SDF
never.  On the day, a strike is reported at Al-Tanf, on the route, while the
convoy is under way: the incident is critical, OCHA is involved and told,
and the incident holds the notice and each party's acknowledgement as it
stood, with the notification each was sent (whose receipt proves it).  A
strike far from any notified object carries none.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.api.demo_world import TANF, convoy, start_demo_api
from tests.api.world import Api

from detente.adapters.storage.audit_check import verify_store

T = "2017-07-07T{}:00Z"


@pytest.fixture
def demo(url: str) -> Iterator[Api]:
    yield from start_demo_api(url)


def strike(api: Api, party: str, lon: float, lat: float, at: str) -> Any:
    body = {
        "type": "strike_near_protected",
        "severity": "high",
        "title": "Air strike reported on the M2 near Al-Tanf",
        "position": {"lon": lon, "lat": lat},
        "started_at": at,
    }
    answer = api.client.post("/incidents", headers=api.headers[party], json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_strike_on_a_notified_convoy_carries_every_partys_acknowledgement(demo: Api) -> None:
    c, h = demo.client, demo.headers
    made = c.post("/objects", headers=h["ocha"], json=convoy("convoy-rukban", T.format("06:00"), T.format("12:00")))
    assert made.status_code == 201, made.text
    notice = made.json()["notice"]
    for party, hours in (("coalition", 1), ("ru", 2)):
        demo.clock.at = datetime(2017, 7, 4, 8 + hours, 0, tzinfo=UTC)
        assert c.post(f"/notices/{notice['id']}/ack", headers=h[party], json={}).status_code == 200
    demo.clock.at = datetime(2017, 7, 5, 9, 0, tzinfo=UTC)  # an hour after the deadline
    assert c.post(f"/notices/{notice['id']}/ack", headers=h["tr"], json={}).status_code == 200

    demo.clock.at = datetime(2017, 7, 7, 9, 5, tzinfo=UTC)
    incident = strike(demo, "sdf", TANF[0], TANF[1], T.format("09:00"))
    assert incident["severity"] == "critical" and incident["protocol"]["id"] == "urgent"
    assert incident["parties"] == ["ocha", "sdf"]
    (proof,) = incident["notice_proof"]
    assert (proof["kind"], proof["id"], proof["party"], proof["notice"]) == (
        "movement",
        "convoy-rukban",
        "ocha",
        notice["id"],
    )
    assert proof["notified_at"] == "2017-07-04T08:00:00Z" and proof["deadline"] == "2017-07-05T08:00:00Z"
    told = {r["party"]: r for r in proof["recipients"]}
    assert sorted(told) == ["coalition", "ru", "sdf", "sy", "tr"]
    assert [p for p, r in sorted(told.items()) if r["acknowledged_in_time"]] == ["coalition", "ru"]
    assert told["tr"]["acked_at"] == "2017-07-05T09:00:00Z" and not told["tr"]["acknowledged_in_time"]
    assert told["sy"]["acked_at"] is None and told["sdf"]["acked_at"] is None
    # each party's notification is the one its receipt proves
    receipt = c.get(f"/notifications/{told['ru']['notification']}/receipt", headers=h["ru"])
    assert receipt.status_code == 200, receipt.text
    # OCHA, whose convoy it is, is told at once
    opened = c.get("/notifications", headers=h["ocha"], params={"limit": 500}).json()["items"]
    (note,) = [n for n in opened if n["type"] == "incident.opened"]
    assert note["body"]["notified"] == ["movement convoy-rukban"]
    report = verify_store(demo.store)
    assert report.intact, report.problems


def test_a_strike_far_from_anything_notified_carries_no_proof(demo: Api) -> None:
    demo.clock.at = datetime(2017, 7, 7, 9, 5, tzinfo=UTC)
    incident = strike(demo, "sdf", 40.0, 36.0, T.format("09:00"))
    assert incident["notice_proof"] is None and incident["severity"] == "high"
    assert incident["parties"] == ["sdf"]
