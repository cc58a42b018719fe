"""A running API on each backend, with a member and a token for every party.

The world is a small one of our own (not the demo), so each test knows
exactly what is in it:

- parties: ``secretariat`` (secretariat), ``blue`` and ``red`` (military),
  ``aid`` (humanitarian), ``watch`` (observer);
- ``blue-nfz``: blue's no-fly zone over [36.0, 36.2] x [35.0, 35.2], all altitudes;
- ``aid-hospital``: aid's protected site at (36.5, 35.5), radius 2 km;
- ``aid-convoy``: aid's movement along (36.6, 35.0)-(36.9, 35.0), corridor 1 km,
  2017-07-07 06:00-12:00 UTC.

``api.client`` is a Starlette TestClient over the real app (real storage,
real services); ``api.headers[party]`` carries that party's bearer token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient

from detente.adapters.api.app import create_app
from detente.adapters.interop.scenario import ScenarioCodec, parse_scenario
from detente.adapters.storage import Store, open_store
from detente.services import accounts
from detente.services.context import FixedClock, Mechanism

NOW = datetime(2017, 7, 6, 12, 0, tzinfo=UTC)
T0, T1 = "2017-07-07T06:00:00Z", "2017-07-07T12:00:00Z"
#: Lead times short enough for the world's convoy (tests of the lead time set their own).
TEST_RULES = {"movement_lead_h": 6, "urgent_movement_lead_h": 3}
PARTIES = {
    "blue": "military",
    "red": "military",
    "aid": "humanitarian",
    "watch": "observer",
}


def square(lon: float, lat: float, size: float) -> list[list[list[float]]]:
    return [[[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]]


def feature(kind: str, oid: str, geometry: dict[str, Any], **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry, "properties": {"kind": kind, "id": oid, **props}}


def intent(
    oid: str,
    lon: float,
    lat: float,
    *,
    size: float = 0.1,
    altitude: tuple[float, float] = (3000, 6000),
    time: tuple[str, str] = (T0, T1),
    **props: Any,
) -> dict[str, Any]:
    """An air intent over a small square, as the FeatureCollection the API takes."""
    geometry = {"type": "Polygon", "coordinates": square(lon, lat, size)}
    f = feature("intent", oid, geometry, category="air", altitude_m=list(altitude), time=list(time), **props)
    return {"type": "FeatureCollection", "features": [f]}


def world_document() -> dict[str, Any]:
    parties = [{"id": p, "name": p.title(), "role": r} for p, r in PARTIES.items()]
    features = [
        feature(
            "nfz",
            "blue-nfz",
            {"type": "Polygon", "coordinates": square(36.0, 35.0, 0.2)},
            party="blue",
            altitude_m=[None, None],
            time=[None, None],
        ),
        feature(
            "site",
            "aid-hospital",
            {"type": "Point", "coordinates": [36.5, 35.5]},
            party="aid",
            radius_m=2000,
            altitude_m=[None, None],
            time=[None, None],
        ),
        feature(
            "movement",
            "aid-convoy",
            {"type": "LineString", "coordinates": [[36.6, 35.0], [36.9, 35.0]]},
            party="aid",
            corridor_m=1000,
            altitude_m=[None, None],
            time=[T0, T1],
        ),
    ]
    return {
        "type": "FeatureCollection",
        "detente": {"version": 1, "name": "api tests", "parties": parties},
        "features": features,
    }


@dataclass
class Api:
    client: TestClient
    headers: dict[str, dict[str, str]]
    members: dict[str, str]
    mechanism: Mechanism
    store: Store
    clock: FixedClock

    def version(self) -> int:
        return int(self.client.get("/world", headers=self.headers["secretariat"]).json()["world_version"])


def start_api(
    url: str,
    *,
    document: str | None = None,
    parties: Iterable[str] = PARTIES,
    now: datetime = NOW,
    rules: dict[str, Any] | None = TEST_RULES,
) -> Iterator[Api]:
    """The API on ``url`` over a world (default: this module's), with a member and token for each party."""
    store = open_store(url)
    store.replace_world(parse_scenario(document or _dumps(world_document())))
    clock = FixedClock(now)
    mechanism = Mechanism(store=store, clock=clock, codec=ScenarioCodec())
    admin, admin_token = accounts.bootstrap(mechanism)
    app = create_app(store, clock=clock, webhooks=False)
    headers = {"secretariat": {"Authorization": f"Bearer {admin_token}"}}
    members = {"secretariat": admin.id}
    with TestClient(app, raise_server_exceptions=False) as client:
        for party in parties:
            made = client.post(f"/parties/{party}/members", headers=headers["secretariat"], json={"name": party})
            assert made.status_code == 201, made.text
            members[party] = made.json()["id"]
            issued = client.post(f"/members/{members[party]}/tokens", headers=headers["secretariat"], json={})
            assert issued.status_code == 201, issued.text
            headers[party] = {"Authorization": f"Bearer {issued.json()['token']}"}
        if rules is not None:
            # The convoy of this world starts 18 h after NOW: its rules let it (the default lead time is 48 h).
            answer = client.put("/humanitarian/rules", headers=headers["secretariat"], json=rules)
            assert answer.status_code == 200, answer.text
        yield Api(client, headers, members, mechanism, store, clock)
    store.close()


def _dumps(doc: dict[str, Any]) -> str:
    import json

    return json.dumps(doc)
