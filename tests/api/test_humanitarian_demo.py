"""End to end on the demo scenario: a convoy to Rukban camp notified, acknowledged, escalated, protected.

OCHA notifies a convoy from Damascus to Rukban camp along the M2 three days
ahead.  The filed Russian intents it now conflicts with are found and Russia
is told at once.  Four military parties acknowledge (Russia with its own
signing key); the Syrian government does not, is reminded, and is escalated
to the secretariat when the deadline passes (the clock is injected: no
sleeping).  An intent filed afterwards through the convoy's corridor is
refused.  Every receipt verifies offline against the published log key,
and the whole database still verifies against its log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from tests.api.demo_world import MILITARY, NOW, body, convoy, start_demo_api
from tests.api.world import Api

from detente.adapters.storage.audit_check import verify_store
from detente.audit.keys import PublicKey, Signer
from detente.audit.receipts import Receipt
from detente.audit.signing import sign_statement

T = "2017-07-07T{}:00Z"


@pytest.fixture
def demo(url: str) -> Iterator[Api]:
    yield from start_demo_api(url)


def inbox(api: Api, party: str, type: str | None = None) -> list[dict[str, Any]]:
    r = api.client.get("/notifications", headers=api.headers[party], params={"limit": 500})
    assert r.status_code == 200, r.text
    return [n for n in r.json()["items"] if type is None or n["type"] == type]


def log_key(api: Api) -> PublicKey:
    keys = api.client.get("/.well-known/detente/audit-keys").json()["keys"]
    return PublicKey.from_json(keys[-1])


def offline(receipt: dict[str, Any], api: Api) -> dict[str, Any]:
    """The receipt checked as a party would, with nothing but the log key it trusts; returns its entry."""
    found = Receipt.from_json(receipt)
    assert found.check(trusted=[log_key(api)]) == [], found.check(trusted=[log_key(api)])
    entry: dict[str, Any] = json.loads(found.entry)
    return entry


def test_convoy_to_rukban_end_to_end(demo: Api) -> None:
    api, c, h = demo, demo.client, demo.headers
    ru_key = Signer.generate()
    proof = sign_statement(ru_key, {"type": "party.key", "party": "ru", "key_id": ru_key.key_id})
    public = str(ru_key.public.to_json()["public_key"])
    r = c.post("/parties/ru/keys", headers=h["ru"], json={"public_key": public, "proof": proof})
    assert r.status_code == 201, r.text

    # OCHA notifies the convoy, 70 hours ahead: more than the 48 h lead time.
    r = c.post("/objects", headers=h["ocha"], json=convoy("convoy-rukban", T.format("06:00"), T.format("12:00")))
    assert r.status_code == 201, r.text
    notice = body(r)["notice"]
    assert sorted(notice["recipients"]) == sorted(MILITARY)
    assert notice["deadline"] == "2017-07-05T08:00:00Z"  # 24 h to acknowledge, well before the start
    # The filed Russian intents it now conflicts with: Russia is told at once, and only Russia.
    assert notice["filed_intents_in_conflict"] == 2
    told = inbox(api, "ru", "notice.conflict")
    assert sorted(n["body"]["intent"] for n in told) == ["ru-airdrop-tanf", "ru-strike-tanf"]
    assert all(n["body"]["conflicts"][0]["type"] == "humanitarian_movement" for n in told)
    assert all(not inbox(api, p, "notice.conflict") for p in MILITARY if p != "ru")

    # Each military party has the notice in its inbox, with the deadline.
    messages = {p: inbox(api, p, "notice.notified") for p in MILITARY}
    assert all(len(m) == 1 and m[0]["body"]["ack_by"] == "2017-07-05T08:00:00Z" for m in messages.values())

    # Four parties acknowledge in the next hours; Russia signs its acknowledgement with its own key.
    receipts = {}
    for hours, party in enumerate(("coalition", "ru", "sdf", "tr"), start=1):
        api.clock.at = NOW + timedelta(hours=hours)
        payload: dict[str, Any] = {}
        if party == "ru":
            terms = c.get(f"/notifications/{messages['ru'][0]['id']}/ack", headers=h["ru"]).json()
            payload["signature"] = {"key_id": ru_key.key_id, "signature": sign_statement(ru_key, terms["statement"])}
        r = c.post(f"/notices/{notice['id']}/ack", headers=h[party], json=payload)
        assert r.status_code == 200, r.text
        receipts[party] = body(r)["receipt"]
        assert body(r)["signed"] is (party == "ru")
    # An acknowledgement is given once.
    assert c.post(f"/notices/{notice['id']}/ack", headers=h["coalition"], json={}).status_code == 409

    # Russia records that it passed the notice down to the units that fly near Al-Tanf.
    r = c.post(
        f"/notices/{notice['id']}/disseminations",
        headers=h["ru"],
        json={"units": [{"unit": "T4 strike group", "method": "unit-ack", "reference": "msg 4471"}]},
    )
    assert r.status_code == 201, r.text

    # Reminder: 6 h before the deadline the silent party is reminded, once.
    api.clock.at = NOW + timedelta(hours=18)
    assert c.post("/humanitarian/timers", headers=h["secretariat"]).json() == {"reminded": 1, "escalated": 0}
    assert c.post("/humanitarian/timers", headers=h["secretariat"]).json() == {"reminded": 0, "escalated": 0}
    assert [n["body"]["notice"] for n in inbox(api, "sy", "notice.reminder")] == [notice["id"]]

    # Just before the deadline nothing is escalated; at the deadline the silent party is.
    api.clock.at = NOW + timedelta(hours=24) - timedelta(seconds=1)
    assert c.post("/humanitarian/timers", headers=h["secretariat"]).json()["escalated"] == 0
    api.clock.at = NOW + timedelta(hours=24)
    assert c.post("/humanitarian/timers", headers=h["secretariat"]).json() == {"reminded": 0, "escalated": 1}
    assert c.post("/humanitarian/timers", headers=h["secretariat"]).json() == {"reminded": 0, "escalated": 0}
    for party in ("secretariat", "sy", "ocha"):
        overdue = inbox(api, party, "notice.overdue")
        assert [(n["body"]["notice"], n["body"]["party"]) for n in overdue] == [(notice["id"], "sy")], party
    assert not inbox(api, "coalition", "notice.overdue")

    # OCHA sees, per party, who acknowledged and when, who is overdue, and which units were told.
    status = c.get(f"/notices/{notice['id']}", headers=h["ocha"]).json()
    rows = {r["party"]: r for r in status["recipients"]}
    assert status["overdue"] == ["sy"]
    assert rows["sy"]["state"] == "overdue" and rows["sy"]["escalated_at"] == "2017-07-05T08:00:00Z"
    assert rows["coalition"]["state"] == "acknowledged" and rows["coalition"]["acked_at"] == "2017-07-04T09:00:00Z"
    assert rows["coalition"]["ack_seconds"] == 3600
    assert rows["ru"]["signed"] is True and rows["ru"]["units"][0]["unit"] == "T4 strike group"
    assert status["filed_intents_in_conflict"] == 2
    # A military party sees its own row only, and only its own conflicting intents.
    seen = c.get(f"/notices/{notice['id']}", headers=h["coalition"]).json()
    assert [r["party"] for r in seen["recipients"]] == ["coalition"] and seen["conflicts"] == []
    # An observer, who was not sent it, does not see it at all.
    assert c.get(f"/notices/{notice['id']}", headers=h["observers"]).status_code == 404

    # An intent filed afterwards through the convoy's corridor is refused.
    version = c.get("/world", headers=h["coalition"]).json()["world_version"]
    strike = {
        "type": "Feature",
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[37.0, 33.6], [37.2, 33.6], [37.2, 33.8], [37.0, 33.8], [37.0, 33.6]]],
        },
        "properties": {
            "kind": "intent",
            "id": "coalition-strike-m2",
            "category": "air",
            "altitude_m": [3000, 6000],
            "time": [T.format("08:00"), T.format("09:00")],
        },
    }
    r = c.post(
        "/intents",
        headers=h["coalition"],
        json={"intent": {"type": "FeatureCollection", "features": [strike]}, "world_version": version},
    )
    assert r.status_code == 409, r.text
    conflicts = body(r)["conflicts"]
    assert [(x["type"], x["other"]["id"]) for x in conflicts] == [("humanitarian_movement", "convoy-rukban")]

    # Every receipt verifies offline, against the log key alone; Russia's carries its signature.
    for party, receipt in receipts.items():
        found = offline(receipt, api)
        assert found["type"] == "notification.acked", party
    assert "signature" in offline(receipts["ru"], api)["data"]
    sent = c.get(f"/notifications/{messages['sy'][0]['id']}/receipt", headers=h["sy"]).json()
    assert offline(sent, api)["type"] == "notification.sent"

    # The outcome: the convoy was impeded, held at a checkpoint, attributed to the Syrian government.
    r = c.post(
        "/movements/convoy-rukban/outcome",
        headers=h["ocha"],
        json={"outcome": "impeded", "reason": "held 6 h at a checkpoint near Dumayr", "attributed_to": "sy"},
    )
    assert r.status_code == 201, r.text
    stats = c.get("/humanitarian/stats", headers=h["ocha"]).json()
    assert stats["acknowledgements"]["coalition"]["median_ack_s"] == 3600
    assert stats["acknowledgements"]["sy"] | {"median_ack_s": None} == {
        "notices": 1,
        "acknowledged": 0,
        "on_time": 0,
        "late": 0,
        "overdue": 1,
        "pending": 0,
        "escalated": 1,
        "median_ack_s": None,
        "p90_ack_s": None,
    }
    assert stats["outcomes"]["ocha"]["impeded"] == 1
    assert stats["attributed"] == {"sy": {"facilitated": 0, "impeded": 1, "denied": 0, "cancelled": 0}}
    assert [n["body"]["outcome"] for n in inbox(api, "sy", "movement.outcome")] == ["impeded"]

    # The database still agrees, row by row, with its signed log.
    report = verify_store(api.store)
    assert report.intact, report.problems
