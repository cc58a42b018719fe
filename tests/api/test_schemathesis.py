"""Schemathesis against the app's own OpenAPI: no server error, no response that breaks the schema.

Every operation the app documents is called with generated requests (the
OpenAPI examples, then valid and invalid data), over a real app on a real
store (SQLite in a temporary directory, the small world of
``tests/api/world.py``), once as the secretariat and once as a military
party.  No response may be a 5xx, and each must have a documented status
code and content type, a body matching the documented schema and the
documented headers.

Random ids in paths would only ever meet 404s, so path parameters are
sometimes drawn from ids that exist (objects, an intent, an agreement,
webhooks, members, a spare token) to reach the answers about real things.

Generation is deterministic (``derandomize``) and bounded (a fixed number of
examples per operation), so every run makes the same requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tests.api.world import Api, intent, start_api

from detente.adapters.api.app import create_app
from detente.adapters.storage import open_store

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
PARTIES = ["secretariat", "blue"]

#: Path parameters that name something in the world, by the names of an operation's path
#: parameters; filled in by the ``world`` fixture before any case is generated.
KNOWN: dict[frozenset[str], list[dict[str, str]]] = {}


def _openapi_app() -> FastAPI:
    """The app, only to read its OpenAPI at collection time (its store is never connected to).

    The cases are sent to the ``world`` fixture's app (``app=`` in the test).
    ``schemathesis.pytest.from_fixture`` would load the schema from that
    fixture directly, but Schemathesis 4.32 fails with it under pytest 9.2
    ('Function' object has no attribute '_nodeid').
    """
    return create_app(open_store("sqlite://", migrate=False), webhooks=False)


# GET /notifications/stream is excluded: it is a Server-Sent Events stream that
# never ends (it polls the inbox until the client goes away), so a call to it
# would not return a response to check.
schema = schemathesis.openapi.from_asgi("/openapi.json", _openapi_app()).exclude(
    method="GET", path="/notifications/stream"
)


@schema.hook
def flatmap_path_parameters(context: schemathesis.HookContext, path_parameters: dict[str, Any]) -> Any:
    """The generated path parameters, or ones naming something that exists."""
    known = KNOWN.get(frozenset(path_parameters or {}), [])
    if not known:
        return st.just(path_parameters)
    return st.one_of(st.just(path_parameters), st.sampled_from(known).map(lambda ids: {**path_parameters, **ids}))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One real app over one SQLite file for the module; the calls change its world as they go."""
    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'detente.sqlite'}"
    for api in start_api(url):
        KNOWN.update(_seed(api))
        yield api
    KNOWN.clear()


def _seed(api: Api) -> dict[frozenset[str], list[dict[str, str]]]:
    """Things for the paths to name: an intent, an agreement, webhooks and spare tokens."""
    client, blue, secretariat = api.client, api.headers["blue"], api.headers["secretariat"]

    def made(response: Any) -> dict[str, Any]:
        assert response.status_code == 201, response.text
        return dict(response.json())

    made(client.post("/intents", headers=blue, json={"intent": intent("st-sortie", 40.0, 35.0), "world_version": 0}))
    agreement = made(
        client.post(
            "/agreements",
            headers=blue,
            json={
                "kind": "separation",
                "title": "Air separation",
                "parties": ["blue", "red"],
                "body": {"air": {"horizontal_m": 9260, "vertical_m": 305}},
            },
        )
    )
    webhooks = [
        made(client.post("/webhooks", headers=h, json={"url": "https://example.org/hook"})) for h in (blue, secretariat)
    ]
    # Spare tokens only: revoking the tokens the cases authenticate with would turn every later answer into 401.
    spare = [made(client.post(f"/members/{api.members[p]}/tokens", headers=secretariat, json={})) for p in PARTIES]
    objects = [("nfz", "blue-nfz"), ("site", "aid-hospital"), ("movement", "aid-convoy"), ("intent", "st-sortie")]
    return {
        frozenset({"kind", "object_id"}): [{"kind": k, "object_id": i} for k, i in objects],
        frozenset({"intent_id"}): [{"intent_id": "st-sortie"}],
        frozenset({"agreement_id"}): [{"agreement_id": agreement["id"]}],
        frozenset({"webhook_id"}): [{"webhook_id": w["id"]} for w in webhooks],
        frozenset({"token"}): [{"token": t["id"]} for t in spare],
        frozenset({"member"}): [{"member": m} for m in api.members.values()],
        frozenset({"party"}): [{"party": p} for p in api.members],
    }


@schema.parametrize()
@pytest.mark.parametrize("party", PARTIES)
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_api_conforms_to_its_openapi(case: schemathesis.Case, world: Api, party: str) -> None:
    case.call_and_validate(app=world.client.app, headers=world.headers[party], checks=CHECKS)
