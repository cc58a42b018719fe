"""Accounts over HTTP: members, tokens (hashed, expiring, revocable) and ``detente init``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import text
from tests.api.world import Api
from typer.testing import CliRunner

from detente.adapters.api.app import create_app
from detente.adapters.cli.main import app as cli

BEARER = re.compile(r"^dtk_[0-9a-f]+\.[A-Za-z0-9_-]+$")


def bearer_of(headers: dict[str, str]) -> str:
    return headers["Authorization"].removeprefix("Bearer ")


def issue(api: Api, by: str, member: str, **body: float) -> tuple[dict[str, object], dict[str, str]]:
    r = api.client.post(f"/members/{member}/tokens", headers=api.headers[by], json=body)
    assert r.status_code == 201, r.text
    issued = r.json()
    return issued, {"Authorization": f"Bearer {issued['token']}"}


def problem_type(r: object) -> str:
    from httpx import Response

    assert isinstance(r, Response)
    assert r.headers["content-type"].startswith("application/problem+json")
    return str(r.json()["type"])


# -- tokens ---------------------------------------------------------------------------


def test_tokens_are_stored_only_as_hashes(api: Api) -> None:
    issued, _ = issue(api, "secretariat", api.members["blue"])
    bearers = [bearer_of(h) for h in api.headers.values()] + [str(issued["token"])]
    assert all(BEARER.match(b) for b in bearers)
    with api.store.engine.connect() as conn:
        rows = [tuple(str(v) for v in row) for row in conn.execute(text("SELECT * FROM tokens"))]
    assert len(rows) == len(bearers)
    stored = "\n".join("\t".join(row) for row in rows)
    for bearer in bearers:
        secret = bearer.partition(".")[2]
        assert len(secret) >= 40
        assert secret not in stored
        assert bearer not in stored
        # Nor any long piece of it.
        assert secret[:16] not in stored and secret[-16:] not in stored


def test_an_expired_token_is_refused(api: Api) -> None:
    _, headers = issue(api, "secretariat", api.members["red"], ttl_days=1)
    assert api.client.get("/me", headers=headers).status_code == 200
    api.clock.at += timedelta(days=1) - timedelta(seconds=1)
    assert api.client.get("/me", headers=headers).status_code == 200
    api.clock.at += timedelta(seconds=1)
    r = api.client.get("/me", headers=headers)
    assert r.status_code == 401
    assert problem_type(r) == "/problems/unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"
    assert "expired" in r.json()["detail"]
    # The party's longer-lived token still works.
    assert api.client.get("/me", headers=api.headers["red"]).status_code == 200
    api.clock.at += timedelta(days=90)
    assert api.client.get("/me", headers=api.headers["red"]).status_code == 401


def test_a_revoked_token_is_refused(api: Api) -> None:
    issued, headers = issue(api, "red", api.members["red"])
    assert api.client.get("/me", headers=headers).json()["party"] == "red"
    # Another party cannot revoke it (nor learn that it exists).
    assert api.client.delete(f"/tokens/{issued['id']}", headers=api.headers["blue"]).status_code == 404
    assert api.client.get("/me", headers=headers).status_code == 200
    assert api.client.delete(f"/tokens/{issued['id']}", headers=api.headers["red"]).status_code == 204
    r = api.client.get("/me", headers=headers)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    assert api.client.get("/me", headers=api.headers["red"]).status_code == 200
    listed = api.client.get(f"/members/{api.members['red']}/tokens", headers=api.headers["red"]).json()
    assert next(t for t in listed if t["id"] == issued["id"])["revoked_at"] is not None
    # The secretariat may revoke any party's token.
    other, other_headers = issue(api, "secretariat", api.members["aid"])
    assert api.client.delete(f"/tokens/{other['id']}", headers=api.headers["secretariat"]).status_code == 204
    assert api.client.get("/me", headers=other_headers).status_code == 401


def test_malformed_unknown_and_forged_tokens_are_refused(api: Api) -> None:
    real = bearer_of(api.headers["blue"])
    token_id = real.removeprefix("dtk_").partition(".")[0]
    for bearer in (
        "",
        "nonsense",
        "dtk_",
        "dtk_abc",
        f"dtk_{token_id}.wrong-secret",
        f"dtk_{'0' * 16}.{real.partition('.')[2]}",
        real + "x",
        "x" * 300,
    ):
        r = api.client.get("/me", headers={"Authorization": f"Bearer {bearer}"})
        assert r.status_code == 401, bearer
        assert problem_type(r) == "/problems/unauthenticated"
    assert api.client.get("/me").status_code == 401
    assert api.client.get("/me", headers={"Authorization": f"Basic {real}"}).status_code == 401


def test_listing_tokens_shows_no_secret(api: Api) -> None:
    issued, _ = issue(api, "blue", api.members["blue"])
    r = api.client.get(f"/members/{api.members['blue']}/tokens", headers=api.headers["blue"])
    assert r.status_code == 200, r.text
    listed = r.json()
    assert {t["id"] for t in listed} >= {issued["id"]}
    secrets = [bearer_of(api.headers["blue"]).partition(".")[2], str(issued["token"]).partition(".")[2]]
    for token in listed:
        assert set(token) == {"id", "member", "party", "created_at", "expires_at", "revoked_at"}
        assert token["party"] == "blue"
    assert not any(s in r.text for s in secrets)
    assert "secret" not in r.text and "dtk_" not in r.text
    # Another party's member's tokens are not listed to it.
    assert api.client.get(f"/members/{api.members['blue']}/tokens", headers=api.headers["red"]).status_code == 404


def test_token_lifetimes_are_bounded(api: Api) -> None:
    member = api.members["blue"]
    for ttl in (0, -1, 367, 0.0001):
        r = api.client.post(f"/members/{member}/tokens", headers=api.headers["blue"], json={"ttl_days": ttl})
        assert r.status_code == 422, (ttl, r.text)
    issued, _ = issue(api, "blue", member, ttl_days=366)
    assert issued["party"] == "blue"


# -- members ----------------------------------------------------------------------------


def test_a_member_adds_members_to_its_own_party_only(api: Api) -> None:
    made = api.client.post("/parties/blue/members", headers=api.headers["blue"], json={"name": "Blue ops officer"})
    assert made.status_code == 201, made.text
    assert made.json()["party"] == "blue"
    newcomer = made.json()["id"]
    _, headers = issue(api, "blue", newcomer)
    me = api.client.get("/me", headers=headers).json()
    assert me["party"] == "blue"
    assert me["member"] == newcomer

    r = api.client.post("/parties/red/members", headers=api.headers["blue"], json={"name": "an infiltrator"})
    assert r.status_code == 403
    assert problem_type(r) == "/problems/forbidden"
    reds = api.client.get("/parties/red/members", headers=api.headers["red"]).json()
    assert all(m["name"] != "an infiltrator" for m in reds)
    # Nor may blue issue a token for a red member, or list red's members.
    stolen = api.client.post(f"/members/{api.members['red']}/tokens", headers=api.headers["blue"], json={})
    assert stolen.status_code == 404
    assert api.client.get("/parties/red/members", headers=api.headers["blue"]).status_code == 403
    # The newcomer can do what blue members do, and only that.
    assert api.client.post("/parties/red/members", headers=headers, json={"name": "x"}).status_code == 403
    assert api.client.post("/parties/blue/members", headers=headers, json={"name": "y"}).status_code == 201


def test_only_the_secretariat_creates_parties(api: Api) -> None:
    body = {"id": "green", "name": "Green", "role": "military"}
    assert api.client.post("/parties", headers=api.headers["blue"], json=body).status_code == 403
    made = api.client.post("/parties", headers=api.headers["secretariat"], json=body)
    assert made.status_code == 201, made.text
    again = api.client.post("/parties", headers=api.headers["secretariat"], json=body)
    assert again.status_code == 409
    assert problem_type(again) == "/problems/already-exists"
    assert "green" in {p["id"] for p in api.client.get("/parties", headers=api.headers["aid"]).json()}
    bad = api.client.post("/parties", headers=api.headers["secretariat"], json={**body, "id": "no spaces"})
    assert bad.status_code == 422
    nobody = api.client.post("/parties/nobody/members", headers=api.headers["secretariat"], json={"name": "n"})
    assert nobody.status_code == 404


# -- detente init -----------------------------------------------------------------------


def test_init_prints_a_token_that_works_and_refuses_a_second_run(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'fresh.sqlite'}"
    runner = CliRunner()
    first = runner.invoke(cli, ["init", "--db", db])
    assert first.exit_code == 0, first.output
    bearer = first.stdout.strip()
    assert BEARER.match(bearer), first.stdout
    assert bearer not in first.stderr  # the token is on stdout alone, so it can be piped

    with TestClient(create_app(db, webhooks=False)) as client:
        me = client.get("/me", headers={"Authorization": f"Bearer {bearer}"})
        assert me.status_code == 200, me.text
        assert me.json()["party"] == "secretariat"
        assert me.json()["role"] == "secretariat"
        made = client.post(
            "/parties",
            headers={"Authorization": f"Bearer {bearer}"},
            json={"id": "blue", "name": "Blue", "role": "military"},
        )
        assert made.status_code == 201, made.text

    second = runner.invoke(cli, ["init", "--db", db])
    assert second.exit_code == 2, second.output
    assert "--again" in second.stderr
    assert not BEARER.search(second.stdout.strip() or "-")

    again = runner.invoke(cli, ["init", "--db", db, "--again"])
    assert again.exit_code == 0, again.output
    other = again.stdout.strip()
    assert BEARER.match(other) and other != bearer
    with TestClient(create_app(db, webhooks=False)) as client:
        for token in (bearer, other):
            assert client.get("/me", headers={"Authorization": f"Bearer {token}"}).json()["party"] == "secretariat"
        # The party made over the API survived the second init.
        assert "blue" in {p["id"] for p in client.get("/parties", headers={"Authorization": f"Bearer {other}"}).json()}
