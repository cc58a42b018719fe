"""Sign-in and the fixture world: each party acts for itself."""

from __future__ import annotations

from tests.api.world import Api, intent


def test_each_token_acts_for_its_party(api: Api) -> None:
    for party, headers in api.headers.items():
        me = api.client.get("/me", headers=headers)
        assert me.status_code == 200
        assert me.json()["party"] == party


def test_filing_an_intent_clear_of_everything(api: Api) -> None:
    version = api.version()
    r = api.client.post(
        "/intents", headers=api.headers["red"], json={"intent": intent("r1", 40.0, 35.0), "world_version": version}
    )
    assert r.status_code == 201, r.text
    assert r.json()["filed"] is True
    assert r.json()["conflicts"] == []
    assert r.json()["world_version"] == version + 1
