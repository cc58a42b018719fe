"""Access control as a matrix: every endpoint, every role, own and other parties' objects.

Each :class:`Row` is one request (method, concrete path, body) made by one
actor, and the HTTP status it must get.  Paths name the objects of the test
world (``tests/api/world.py``) and those :func:`prepare` adds; ids made at
run time are written as ``<placeholders>`` (see :data:`PLACEHOLDERS`).

The rules the rows encode (``domain/access.py`` and the services):

- no token or a bad one: 401 everywhere but ``GET /health``;
- objects a party may not see answer 404, exactly like objects that do
  not exist (no existence leak): other parties' intents for everyone but
  the secretariat; humanitarian sites and movements for observers and for
  other humanitarian parties;
- writes the role may not do answer 403 (a humanitarian filing an intent,
  a military party declaring a site, anyone declaring a line or boundary
  directly, a party adding members to another party, ...);
- the secretariat sees everything; observers see zones, lines, boundaries
  and agreements; every read of a protected site or movement by another
  party is in the owner's access log.

The meta-tests fail when an endpoint of the app has no rows (or lacks a row
for one of :data:`ROLES`) and when a row names no endpoint, so a new
endpoint cannot be added without saying who may call it.

Some answers are recorded as they are, not as they would
ideally be: object and intent ids are one namespace for all parties, so a
POST with an id another party holds answers 409 (which tells the caller
that id is taken); a party that may see an agreement without being named
in it gets 409 ``agreement-not-a-party`` when it signs, rejects or
withdraws; the secretariat gets 404 when it cancels a party's intent.

Every row runs on fresh state, on SQLite: the world is prepared once per
module and put back (SQLite's backup API) before each row, the same
isolation as a fresh ``sqlite_api`` per row at a fraction of the cost.  The
read rows run again on each backend (``api``: SQLite and PostGIS), all in
one world, since reads change nothing another row looks at.
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import compile_path
from tests.api.world import NOW, T0, T1, Api, feature, intent, square, start_api

from detente.adapters.api.app import create_app
from detente.adapters.storage import open_store
from detente.audit.keys import Signer
from detente.audit.signing import sign_statement
from detente.domain.incidents import DEFAULT_PROTOCOLS
from detente.services.context import FixedClock

# -- actors -------------------------------------------------------------------

S, B, R, A, W = "secretariat", "blue", "red", "aid", "watch"
#: A second humanitarian party: aid's sites and movements are another party's to it.
RL = "relief"
NO_TOKEN, BAD_TOKEN, REVOKED = "no-token", "bad-token", "revoked-token"
#: Every endpoint has a row for each of these.
ROLES = (S, B, R, A, W, NO_TOKEN, BAD_TOKEN)
BAD_BEARER = {"Authorization": "Bearer dtk_0123456789ab.not-the-secret"}

#: FastAPI's own pages: not endpoints of detente.
FASTAPI_PAGES = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"})
STREAM = "/notifications/stream"
#: Ids that exist only once :func:`prepare` has run.
PLACEHOLDERS = (
    "<blue-member>",
    "<secretariat-member>",
    "<blue-token>",
    "<secretariat-token>",
    "<blue-webhook>",
    "<agreement>",
    "<blue-notification>",
    "<blue-entry>",
    "<audit-size>",
    "<watch-key>",
    "<aid-notice>",
    "<blue-event>",
    "<blue-incident>",
    "<watch-report>",
    "<watch-evidence>",
)


def key_registration(party: str, seed: int) -> dict[str, str]:
    """The body registering a fixed Ed25519 key for ``party``, with its proof of possession."""
    signer = Signer(Ed25519PrivateKey.from_private_bytes(bytes([seed] * 32)))
    proof = sign_statement(signer, {"type": "party.key", "party": party, "key_id": signer.key_id})
    return {"public_key": str(signer.public.to_json()["public_key"]), "proof": proof}


#: aid's protected objects: every read by another party is logged.
PROTECTED = (("site", "aid-hospital"), ("movement", "aid-convoy"), ("site", "aid-clinic"))


@dataclass(frozen=True)
class Row:
    """One request by one actor and the status it must get."""

    method: str
    path: str
    actor: str
    expected: int
    #: Which variant of the request, when the path does not say (e.g. the kind posted).
    target: str = ""
    body: Any = field(default=None, compare=False)

    @property
    def id(self) -> str:
        variant = f" ({self.target})" if self.target else ""
        return f"{self.method} {self.path}{variant} as {self.actor} -> {self.expected}"


def every(status: int) -> dict[str, int]:
    """The same status for every authenticated role."""
    return {S: status, B: status, R: status, A: status, W: status}


def rows(
    method: str,
    path: str,
    expected: dict[str, int],
    *,
    body: Any = None,
    target: str = "",
    unauthenticated: bool = True,
) -> list[Row]:
    """The rows of one request: one per actor, plus 401 without a token and with a bad one."""
    statuses = {NO_TOKEN: 401, BAD_TOKEN: 401, **expected} if unauthenticated else expected
    return [Row(method, path, actor, status, target, body) for actor, status in statuses.items()]


def also(method: str, path: str, expected: dict[str, int], **options: Any) -> list[Row]:
    """More rows of a request whose 401 rows are already there (another variant, or other actors)."""
    return rows(method, path, expected, unauthenticated=False, **options)


# -- bodies -------------------------------------------------------------------


def position(track: str, party: str, t: str, lon: float) -> dict[str, Any]:
    return {
        "track": track,
        "party": party,
        "category": "air",
        "purpose": "armed",
        "t": t,
        "lon": lon,
        "lat": 35.0,
        "alt_m": 5000,
    }


#: A blue and a red aircraft at one place and time: a loss of separation, and its incident.
CLOSE_PAIR = [
    position("blue-1", "blue", "2017-07-06T11:00:00Z", 30.0),
    position("red-1", "red", "2017-07-06T11:00:00Z", 30.0),
]
REPORT = {"type": "other", "parties": ["red"], "title": "shots heard", "started_at": "2017-07-06T11:00:00Z"}
DISPUTE = {"status": "disputed", "note": "not us"}
HOTLINE = {"text": "calling you now"}
PROTOCOLS = [p.to_json() for p in DEFAULT_PROTOCOLS]
OBSERVED = {
    "id": "w-1",
    "observer": {"lon": 36.1, "lat": 32.6},
    "start": "2017-07-06T10:00:00Z",
    "event_type": "impact",
    "observed_how": "heard",
    "bearing_deg": 90,
    "distance_m": [1000, 3000],
    "attributed_to": ["red"],
}
BLUE_POSITION = {"positions": [position("blue-2", "blue", "2017-07-06T11:05:00Z", 20.0)]}


def collection(*features: dict[str, Any]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def polygon(lon: float, lat: float, size: float = 0.1) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": square(lon, lat, size)}


def nfz(oid: str, lon: float = 30.0, lat: float = 30.0, **props: Any) -> dict[str, Any]:
    return collection(feature("nfz", oid, polygon(lon, lat), **props))


def site(oid: str, lon: float = 30.5, lat: float = 30.5, **props: Any) -> dict[str, Any]:
    return collection(feature("site", oid, {"type": "Point", "coordinates": [lon, lat]}, radius_m=500, **props))


def movement(oid: str, lon: float = 31.0, lat: float = 30.0, **props: Any) -> dict[str, Any]:
    geometry = {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.3, lat]]}
    return collection(feature("movement", oid, geometry, corridor_m=500, time=[T0, T1], **props))


def line(oid: str, lon: float = 32.0, lat: float = 30.0) -> dict[str, Any]:
    return collection(feature("line", oid, {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.5, lat]]}))


def boundary(oid: str, lon: float = 33.0, lat: float = 30.0) -> dict[str, Any]:
    return collection(feature("boundary", oid, polygon(lon, lat)))


def filing(oid: str, lon: float = 44.0, lat: float = 30.0, **props: Any) -> dict[str, Any]:
    """An intent to file (clear of everything), checked against world version 0."""
    return {"intent": intent(oid, lon, lat, **props), "world_version": 0}


MINIMA = {"air": {"horizontal_m": 5000, "vertical_m": 300}}


def agreement(*parties: str) -> dict[str, Any]:
    return {"kind": "separation", "title": "Minima", "parties": list(parties), "body": MINIMA}


NEW_PARTY = {"id": "newcomer", "name": "Newcomer", "role": "military"}
AMENDMENT = {"body": {"air": {"horizontal_m": 6000, "vertical_m": 300}}}
VERSION_1 = {"version": 1}
#: Made by :func:`prepare`: blue's filed intent, and the line and boundary of in-force agreements.
BLUE_INTENT, BLUE_INTENT_AT = "blue-plan", (40.0, 35.0)
LINE_ID, LINE_AT = "blue-red-line", (37.0, 36.0)
BOUNDARY_ID, BOUNDARY_AT = "blue-boundary", (38.0, 36.0)
# The world's objects as their owners would send them back (PUT); ``party`` is the caller's unless given.
BLUE_NFZ = collection(feature("nfz", "blue-nfz", polygon(36.0, 35.0, 0.2)))
BLUE_NFZ_FOR_BLUE = collection(feature("nfz", "blue-nfz", polygon(36.0, 35.0, 0.2), party="blue"))
AID_SITE = site("aid-hospital", 36.5, 35.5)
AID_MOVE = movement("aid-convoy", 36.6, 35.0)
BLUE_AMENDED = filing(BLUE_INTENT, *BLUE_INTENT_AT)
UNITS = {"units": [{"unit": "2nd battalion", "method": "relayed"}]}
OUTCOME = {"outcome": "facilitated", "reason": "arrived as notified"}
CORRIDOR = {
    "route": {"type": "LineString", "coordinates": [[36.6, 34.9], [36.7, 35.1]]},
    "start": T0,
    "end": T1,
    "plan": False,
}
HXL_HEADER = "Kind,Id,Org,Type,Lat,Lon,Radius\n#meta+kind,#meta+id,#org,#loc+type,#geo+lat,#geo+lon,#geo+radius\n"
AID_HXL = HXL_HEADER + "site,hxl-clinic,aid,hospital,30.9,30.9,300\n"
RELIEF_HXL = HXL_HEADER + "site,hxl-clinic,relief,hospital,30.9,30.9,300\n"


# -- the matrix ----------------------------------------------------------------

ROWS: list[Row] = [
    # service and accounts
    *rows("GET", "/health", {**every(200), NO_TOKEN: 200, BAD_TOKEN: 200}, unauthenticated=False),
    *rows("GET", "/me", {**every(200), REVOKED: 401}),
    *rows("GET", "/world", every(200)),
    *rows("GET", "/parties", every(200)),
    *rows("POST", "/parties", {**every(403), S: 201}, body=NEW_PARTY),
    *rows("GET", "/parties/blue/members", {**every(403), S: 200, B: 200}),
    *also("GET", "/parties/secretariat/members", {B: 403, A: 403, W: 403}),
    *rows("POST", "/parties/blue/members", {**every(403), S: 201, B: 201}, body={"name": "new"}),
    *also("POST", "/parties/secretariat/members", {B: 403, A: 403, W: 403}, body={"name": "new"}),
    *rows("GET", "/members/<blue-member>/tokens", {**every(404), S: 200, B: 200}),
    *rows("POST", "/members/<blue-member>/tokens", {**every(404), S: 201, B: 201}, body={}),
    *also("POST", "/members/<secretariat-member>/tokens", {**every(404), S: 201}, body={}),
    *rows("DELETE", "/tokens/<blue-token>", {**every(404), S: 204, B: 204}),
    *also("DELETE", "/tokens/<secretariat-token>", {B: 404, A: 404, W: 404}),
    # objects: listing (each protected read by the military parties and the secretariat is logged)
    *rows("GET", "/objects", every(200)),
    *also("GET", "/objects", {RL: 200}),
    # objects: declaring (only for oneself, only the kinds the role may declare)
    *rows("POST", "/objects", {**every(403), S: 201, B: 201, R: 201}, body=nfz("new-nfz"), target="nfz"),
    *rows("POST", "/objects", {B: 403, S: 403}, body=nfz("new-nfz", party="red"), target="nfz for red"),
    *rows("POST", "/objects", {**every(403), S: 201, A: 201, RL: 201}, body=site("new-site"), target="site"),
    *rows("POST", "/objects", {A: 403, S: 403}, body=site("new-site", party=RL), target="site for relief"),
    *rows("POST", "/objects", {**every(403), S: 201, A: 201}, body=movement("new-move"), target="movement"),
    *also("POST", "/objects", every(403), body=line("new-line"), target="line"),
    *also("POST", "/objects", every(403), body=boundary("new-area"), target="boundary"),
    *also("POST", "/objects", every(403), body=intent("new-plan", 44.0, 30.0), target="intent"),
    # objects: reading one
    *rows("GET", "/objects/nfz/blue-nfz", {**every(200), RL: 200}),
    *rows("GET", "/objects/site/aid-hospital", {**every(200), W: 404, RL: 404}),
    *rows("GET", "/objects/movement/aid-convoy", {**every(200), W: 404, RL: 404}),
    *also("GET", f"/objects/line/{LINE_ID}", {**every(200), RL: 200}),
    *also("GET", f"/objects/boundary/{BOUNDARY_ID}", {**every(200), RL: 200}),
    *also("GET", f"/objects/intent/{BLUE_INTENT}", {**every(404), S: 200, B: 200, RL: 404}),
    *also("GET", "/objects/site/no-such-site", {S: 404, R: 404, A: 404}),
    # objects: replacing one's own (another party's visible zone answers 409: the id is taken)
    *rows("PUT", "/objects/nfz/blue-nfz", {**every(403), B: 200, R: 409, S: 409}, body=BLUE_NFZ),
    *also("PUT", "/objects/nfz/blue-nfz", {R: 403, S: 403}, body=BLUE_NFZ_FOR_BLUE, target="for blue"),
    *also("PUT", "/objects/site/aid-hospital", {**every(403), A: 200, S: 409, RL: 404}, body=AID_SITE),
    *also("PUT", "/objects/movement/aid-convoy", {**every(403), A: 200, S: 409, RL: 404}, body=AID_MOVE),
    *also("PUT", "/objects/site/no-such-site", {A: 404, RL: 404}, body=site("no-such-site")),
    *also("PUT", f"/objects/line/{LINE_ID}", every(403), body=line(LINE_ID, *LINE_AT)),
    *also("PUT", f"/objects/boundary/{BOUNDARY_ID}", every(403), body=boundary(BOUNDARY_ID, *BOUNDARY_AT)),
    *also("PUT", f"/objects/intent/{BLUE_INTENT}", every(403), body=intent(BLUE_INTENT, *BLUE_INTENT_AT)),
    # objects: withdrawing one (the owner or the secretariat; hidden objects are 404)
    *rows("DELETE", "/objects/nfz/blue-nfz", {**every(403), B: 200, S: 200}),
    *also("DELETE", "/objects/site/aid-hospital", {**every(403), A: 200, S: 200, W: 404, RL: 404}),
    *also("DELETE", "/objects/movement/aid-convoy", {**every(403), A: 200, S: 200, W: 404, RL: 404}),
    *also("DELETE", f"/objects/line/{LINE_ID}", every(403)),
    *also("DELETE", f"/objects/boundary/{BOUNDARY_ID}", every(403)),
    *also("DELETE", f"/objects/intent/{BLUE_INTENT}", every(403)),
    # intents: filed by military parties for themselves, seen by their own party and the secretariat
    *rows("POST", "/intents", {**every(403), B: 201, R: 201, RL: 403}, body=filing("new-plan"), target="own"),
    *also("POST", "/intents", {B: 403}, body=filing("for-red", party="red"), target="for red"),
    # ids are one namespace: 409 tells red that some party holds an intent of that id (see the module doc)
    *also("POST", "/intents", {R: 409}, body=filing(BLUE_INTENT), target="id of blue's intent"),
    *also("POST", "/intents?dry_run=true", {S: 403, B: 200, A: 403, W: 403}, body=filing("dry"), target="dry run"),
    *rows("PUT", f"/intents/{BLUE_INTENT}", {**every(403), B: 200, R: 404, RL: 403}, body=BLUE_AMENDED),
    *rows("GET", f"/intents/{BLUE_INTENT}", {**every(404), S: 200, B: 200, RL: 404}),
    *also("GET", "/intents/no-such-intent", {S: 404, B: 404, R: 404}),
    *rows("DELETE", f"/intents/{BLUE_INTENT}", {**every(404), B: 200}),
    *rows("GET", "/disclosures", every(200)),
    # agreements: named parties act; the secretariat and observers see all, other parties none
    *rows("GET", "/agreements", every(200)),
    *rows("POST", "/agreements", {**every(403), S: 201, B: 201, R: 201}, body=agreement(B, R), target="blue+red"),
    *also("POST", "/agreements", {A: 201, B: 403, W: 403}, body=agreement(A, R), target="aid+red"),
    *rows("GET", "/agreements/<agreement>", {**every(200), A: 404, RL: 404}),
    *also("GET", "/agreements/<agreement>?version=1", {**every(200), A: 404}),
    *rows("PUT", "/agreements/<agreement>", {**every(200), A: 404, W: 403}, body=AMENDMENT),
    # one who may see the agreement but is not named in it gets 409 (agreement-not-a-party)
    *rows("POST", "/agreements/<agreement>/sign", {S: 409, B: 409, R: 200, A: 404, W: 409}, body=VERSION_1),
    *rows("POST", "/agreements/<agreement>/reject", {S: 409, B: 200, R: 200, A: 404, W: 409}, body=VERSION_1),
    *rows("POST", "/agreements/<agreement>/withdraw", {S: 409, B: 200, R: 200, A: 404, W: 409}, body={}),
    # notifications, webhooks and the access log: each party its own
    *rows("GET", "/notifications", every(200)),
    *rows("POST", "/notifications/read", every(200), body={"ids": [1, 2, 3]}),
    *rows("GET", STREAM, every(200)),
    *rows("GET", "/webhooks", every(200)),
    *rows("POST", "/webhooks", every(201), body={"url": "https://example.org/hook"}),
    *rows("DELETE", "/webhooks/<blue-webhook>", {**every(404), B: 204}),
    *rows("GET", "/webhooks/<blue-webhook>/deliveries", {**every(404), B: 200}),
    *rows("GET", "/access-log", every(200)),
    # the audit log: keys public; heads and consistency proofs for every party; entries for their audience
    *rows(
        "GET", "/.well-known/detente/audit-keys", {**every(200), NO_TOKEN: 200, BAD_TOKEN: 200}, unauthenticated=False
    ),
    *rows("GET", "/audit/head", every(200)),
    *rows("GET", "/audit/consistency?first=1&second=<audit-size>", every(200)),
    *rows("GET", "/audit/entries/0", every(200)),
    *also("GET", "/audit/entries/<blue-entry>", {**every(404), S: 200, B: 200}),
    *rows("GET", "/audit/entries/<blue-entry>/receipt", {**every(404), S: 200, B: 200}),
    *rows("GET", "/audit/entries/<blue-entry>/inclusion?size=<audit-size>", {**every(404), S: 200, B: 200}),
    *rows("GET", "/audit/about?subject=notification/<blue-notification>", every(200)),
    *rows("GET", "/notifications/<blue-notification>/receipt", {**every(404), B: 200}),
    *rows("GET", "/notifications/<blue-notification>/ack", {**every(404), B: 200}),
    *rows("POST", "/notifications/<blue-notification>/ack", {**every(404), B: 200}, body={}),
    *rows("GET", "/parties/blue/keys", every(200)),
    *rows("POST", "/parties/blue/keys", {**every(403), B: 201}, body=key_registration(B, 1)),
    *rows("DELETE", "/parties/watch/keys/<watch-key>", {**every(403), W: 204}),
    # humanitarian notices: the agency and the secretariat see all, each military party its own row
    *rows("GET", "/notices", every(200)),
    *also("GET", "/notices", {RL: 200}),
    *rows("GET", "/notices/<aid-notice>", {**every(200), W: 404, RL: 404}),
    *also("GET", "/notices/999999", {S: 404, B: 404, A: 404}),
    *rows("POST", "/notices/<aid-notice>/ack", {**every(404), B: 200, R: 200, RL: 404}, body={}),
    *rows("POST", "/notices/<aid-notice>/disseminations", {**every(404), B: 201, R: 201}, body=UNITS),
    *rows("GET", "/humanitarian/rules", every(200)),
    *rows("PUT", "/humanitarian/rules", {**every(403), S: 200}, body={"movement_lead_h": 12}),
    *rows("POST", "/humanitarian/timers", {**every(403), S: 200}),
    *rows("POST", "/movements/aid-convoy/outcome", {**every(404), A: 201, S: 201, RL: 404}, body=OUTCOME),
    *rows("GET", "/movements/aid-convoy/outcomes", {**every(404), A: 200, S: 200, RL: 404}),
    *rows("GET", "/humanitarian/stats", {**every(200), W: 403}),
    *rows("POST", "/corridor", {**every(200), W: 403}, body=CORRIDOR),
    *rows("POST", "/humanitarian/hxl", {**every(403), A: 201}, body=AID_HXL),
    *also("POST", "/humanitarian/hxl", {RL: 201, A: 403}, body=RELIEF_HXL, target="for relief"),
    *rows("GET", "/humanitarian/hxl", every(200)),
    # live monitoring: each party reports its own tracks (the secretariat runs feeds for all);
    # an episode and its incident are seen by the parties concerned and the secretariat
    *rows("POST", "/positions", {**every(422), S: 202, B: 202}, body=BLUE_POSITION),
    *rows("GET", "/tracks", every(200)),
    *rows("GET", "/monitor", every(200)),
    *rows("GET", "/track-events", every(200)),
    *rows("GET", "/track-events/<blue-event>", {**every(404), S: 200, B: 200, R: 200}),
    *rows("GET", "/incidents", every(200)),
    *rows("GET", "/incidents/<blue-incident>", {**every(404), S: 200, B: 200, R: 200}),
    # incidents: anyone may report one; the parties involved acknowledge, dispute and use the hotline
    *rows("POST", "/incidents", every(201), body=REPORT),
    *rows("POST", "/incidents/<blue-incident>/ack", {**every(404), S: 403, B: 200, R: 200}),
    *rows("POST", "/incidents/<blue-incident>/status", {**every(404), S: 200, B: 200, R: 200}, body=DISPUTE),
    *rows("POST", "/incidents/<blue-incident>/messages", {**every(404), S: 201, B: 201, R: 201}, body=HOTLINE),
    *rows("GET", "/incident-protocols", every(200)),
    *rows("PUT", "/incident-protocols", {**every(403), S: 200}, body=PROTOCOLS),
    # observers file reports and evidence; a report is seen by its mission, the secretariat and its incident's parties
    *rows("POST", "/observer-reports", {**every(403), W: 201, S: 201}, body={**OBSERVED, "id": "w-2"}),
    *rows("GET", "/observer-reports/<watch-report>", {**every(404), W: 200, S: 200, R: 200}),
    *rows(
        "POST",
        "/observer-reports/<watch-report>/evidence?filename=note.csv",
        {**every(404), W: 422, S: 403, R: 403},
        body="not,an,allowed,type\n",
    ),
    *rows("GET", "/evidence/<watch-evidence>", {**every(404), W: 200, S: 200, R: 200}),
    # reports: everyone gets the daily report and figures of what it may see
    *rows("GET", "/reports/daily?date=2017-07-06", every(200)),
    *rows("GET", "/reports/accountability?since=2017-07-01T00:00:00Z&until=2017-07-08T00:00:00Z", every(200)),
    *rows("GET", "/reports/compliance?since=2017-07-01T00:00:00Z&until=2017-07-08T00:00:00Z", every(200)),
]


def params(selected: list[Row]) -> list[Any]:
    return [pytest.param(row, id=row.id) for row in selected]


# -- the world every row starts from --------------------------------------------------------


def prepare(api: Api) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Add to the fixture world what the rows name; returns every actor's headers and the placeholders."""
    c, h = api.client, api.headers

    def ok(response: Any, status: int = 201) -> Any:
        assert response.status_code == status, response.text
        return response.json()

    ok(c.post("/parties", headers=h[S], json={"id": RL, "name": "Relief", "role": "humanitarian"}))
    relief = ok(c.post(f"/parties/{RL}/members", headers=h[S], json={"name": RL}))["id"]
    relief_token = ok(c.post(f"/members/{relief}/tokens", headers=h[S], json={}))["token"]
    revoked = ok(c.post(f"/members/{api.members[B]}/tokens", headers=h[B], json={}))
    assert c.delete(f"/tokens/{revoked['id']}", headers=h[B]).status_code == 204
    headers = {
        **h,
        RL: {"Authorization": f"Bearer {relief_token}"},
        NO_TOKEN: {},
        BAD_TOKEN: BAD_BEARER,
        REVOKED: {"Authorization": f"Bearer {revoked['token']}"},
    }

    ok(c.post("/intents", headers=h[B], json=filing(BLUE_INTENT, *BLUE_INTENT_AT)))
    for kind, body in (("line", line(LINE_ID, *LINE_AT)), ("boundary", boundary(BOUNDARY_ID, *BOUNDARY_AT))):
        proposed = ok(c.post("/agreements", headers=h[B], json={**agreement(B, R), "kind": kind, "body": body}))
        signed = ok(c.post(f"/agreements/{proposed['id']}/sign", headers=h[R], json=VERSION_1), 200)
        assert signed["status"] == "in_force", signed
    pending = ok(c.post("/agreements", headers=h[B], json=agreement(B, R)))
    spare = ok(c.post(f"/members/{api.members[B]}/tokens", headers=h[B], json={}))
    secretariat_tokens = ok(c.get(f"/members/{api.members[S]}/tokens", headers=h[S]), 200)
    webhook = ok(c.post("/webhooks", headers=h[B], json={"url": "https://example.org/blue"}))
    note = ok(c.get("/notifications", headers=h[B]), 200)["items"][0]["id"]
    entry = ok(c.get(f"/audit/about?subject=notification/{note}", headers=h[B]), 200)[0]["index"]
    watch_key = ok(c.post(f"/parties/{W}/keys", headers=h[W], json=key_registration(W, 7)))["key_id"]
    notified = ok(c.post("/objects", headers=h[A], json=site("aid-clinic", 36.8, 35.8)))["notice"]["id"]
    ok(c.post("/movements/aid-convoy/outcome", headers=h[A], json={**OUTCOME, "outcome": "impeded"}))
    met = ok(c.post("/positions", headers=h[S], json={"positions": CLOSE_PAIR}), 202)["events"]
    observed = ok(c.post("/observer-reports", headers=h[W], json=OBSERVED))["id"]
    evidence = ok(
        c.post(
            f"/observer-reports/{observed}/evidence?filename=crater.png",
            headers={**h[W], "Content-Type": "image/png"},
            content=b"\x89PNG\r\n\x1a\n" + bytes(64),
        )
    )["id"]
    size = ok(c.get("/audit/head", headers=h[S]), 200)["size"]
    ids = {
        "<blue-member>": api.members[B],
        "<secretariat-member>": api.members[S],
        "<blue-token>": spare["id"],
        "<secretariat-token>": secretariat_tokens[0]["id"],
        "<blue-webhook>": webhook["id"],
        "<agreement>": pending["id"],
        "<blue-notification>": str(note),
        "<blue-entry>": str(entry),
        "<audit-size>": str(size),
        "<watch-key>": watch_key,
        "<aid-notice>": str(notified),
        "<blue-event>": str(met[0]["id"]),
        "<blue-incident>": str(ok(c.get(f"/track-events/{met[0]['id']}", headers=h[S]), 200)["incident"]),
        "<watch-report>": str(observed),
        "<watch-evidence>": str(evidence),
    }
    assert set(ids) == set(PLACEHOLDERS)
    return headers, ids


@dataclass(frozen=True)
class Matrix:
    """A client of the real app on the prepared world, every actor's headers and the placeholder ids."""

    client: TestClient
    headers: dict[str, dict[str, str]]
    ids: dict[str, str]
    #: Put the database back as :func:`prepare` left it.
    reset: Callable[[], None]


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """The world prepared once; the app runs on a live copy that :attr:`Matrix.reset` restores.

    One app and one store serve every row (a new app or engine costs far
    more than the request itself); restoring is SQLite's backup of the
    prepared file into the live one, through the store's own connection.
    """
    folder = tmp_path_factory.mktemp("access-matrix")
    prepared, live = folder / "prepared.sqlite", folder / "live.sqlite"
    started = start_api(f"sqlite:///{prepared}")
    api = next(started)
    try:
        headers, ids = prepare(api)
    finally:
        next(started, None)  # closes the client and the store
    with closing(sqlite3.connect(prepared)) as source:
        with closing(sqlite3.connect(live)) as target:
            source.backup(target)
        store = open_store(f"sqlite:///{live}", migrate=False)

        def reset() -> None:
            with store.engine.connect() as connection:
                source.backup(connection.connection.driver_connection)

        try:
            app = create_app(store, clock=FixedClock(NOW), webhooks=False)
            with TestClient(app, raise_server_exceptions=False) as client:
                yield Matrix(client, headers, ids, reset)
        finally:
            store.close()


@pytest.fixture
def fresh(matrix: Matrix) -> Matrix:
    """The matrix on the prepared world, untouched by the rows before."""
    matrix.reset()
    return matrix


# -- making a row's request and checking its effects ---------------------------------------


def fill(text: str, ids: dict[str, str]) -> str:
    for name, value in ids.items():
        text = text.replace(name, value)
    return text


def request(row: Row, client: TestClient, headers: dict[str, dict[str, str]], ids: dict[str, str]) -> tuple[int, str]:
    path = fill(row.path, ids)
    if path.partition("?")[0] == STREAM:
        return stream_status(client.app, path, headers[row.actor]), ""
    if isinstance(row.body, str):  # a CSV upload
        sent = {**headers[row.actor], "Content-Type": "text/csv"}
        response = client.request(row.method, path, headers=sent, content=row.body.encode())
    else:
        response = client.request(row.method, path, headers=headers[row.actor], json=row.body)
    return response.status_code, response.text[:500]


def stream_status(app: FastAPI, path: str, headers: dict[str, str]) -> int:
    """The status of an endless Server-Sent Events response: disconnect after its first chunk.

    The TestClient waits for a response to end, which a stream never does,
    so the request is made straight to the ASGI app.
    """

    async def run() -> int:
        status = 0
        first_chunk = asyncio.Event()
        requested = False

        async def receive() -> dict[str, Any]:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await first_chunk.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                first_chunk.set()

        path_only, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path_only,
            "raw_path": path_only.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
            "client": ("testclient", 50000),
            "server": ("testserver", 80),
            "app": app,
        }
        await asyncio.wait_for(app(scope, receive, send), timeout=10)
        return status

    return asyncio.run(run())


def logged(row: Row) -> set[tuple[str, str, str, str]] | None:
    """The access-log entries (reader, kind, id, via) a row must add, or None when it is not a protected read."""
    if row.method != "GET":
        return None
    readers = {S, B, R}  # the military parties and the secretariat see aid's data, each read logged
    if row.path == "/objects":
        return {(row.actor, k, i, "list") for k, i in PROTECTED} if row.actor in readers else set()
    for kind, oid in PROTECTED:
        if row.path == f"/objects/{kind}/{oid}":
            return {(row.actor, kind, oid, "read")} if row.actor in readers and row.expected == 200 else set()
    return None


def access_log(client: TestClient, headers: dict[str, dict[str, str]]) -> list[dict[str, Any]]:
    response = client.get("/access-log", params={"limit": 500}, headers=headers[A])
    assert response.status_code == 200, response.text
    return list(response.json())


def check(row: Row, client: TestClient, headers: dict[str, dict[str, str]], ids: dict[str, str]) -> list[str]:
    """What is wrong with the answer to ``row`` (and with the access log it leaves); empty when right."""
    wanted = logged(row)
    before = access_log(client, headers) if wanted is not None else []
    status, text = request(row, client, headers, ids)
    problems = [] if status == row.expected else [f"{row.id}: got {status} {text}"]
    if wanted is not None:
        after = access_log(client, headers)
        new = after[: len(after) - len(before)]
        got = {(e["party"], e["kind"], e["id"], e["via"]) for e in new}
        if got != wanted:
            problems.append(f"{row.id}: GET /access-log as aid shows {sorted(got)}, expected {sorted(wanted)}")
    return problems


# -- the matrix, on fresh state per row ------------------------------------------------------


@pytest.mark.parametrize("row", params(ROWS))
def test_access(row: Row, fresh: Matrix) -> None:
    problems = check(row, fresh.client, fresh.headers, fresh.ids)
    assert not problems, "\n".join(problems)


#: Reads change nothing a row looks at, so they can share one world: they run again on each backend.
READ_ROWS = [row for row in ROWS if row.method == "GET" and row.path != STREAM]


def test_reads_on_each_backend(api: Api) -> None:
    headers, ids = prepare(api)
    problems = [problem for row in READ_ROWS for problem in check(row, api.client, headers, ids)]
    assert not problems, f"{len(problems)} of {len(READ_ROWS)} read rows are wrong:\n" + "\n".join(problems)


# -- the meta-tests: every endpoint has rows, every row an endpoint ---------------------------


@pytest.fixture(scope="module")
def bare_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    store = open_store(f"sqlite:///{tmp_path_factory.mktemp('access-matrix-app') / 'routes.sqlite'}")
    try:
        yield create_app(store, webhooks=False)
    finally:
        store.close()


def routes(app: FastAPI) -> list[tuple[str, set[str]]]:
    """(path template, methods) of every route of the app, included routers flattened, FastAPI's pages left out."""
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)  # FastAPI keeps included routers nested
    found = flatten(app.routes) if flatten is not None else app.routes
    return [
        (str(route.path), set(route.methods or ()))
        for route in found
        if getattr(route, "path", None) and route.path not in FASTAPI_PAGES
    ]


def endpoints(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path template) of the app."""
    return {(method, path) for path, methods in routes(app) for method in methods}


def endpoint_of(app: FastAPI, row: Row) -> tuple[str, str] | None:
    """The (method, path template) of the first route that answers ``row``, if any."""
    path = re.sub(r"<[^>]+>", "x1", row.path).partition("?")[0]
    for template, methods in routes(app):
        regex, _, _ = compile_path(template)
        if regex.match(path) and row.method in methods:
            return row.method, template
    return None


def test_every_endpoint_has_a_row_for_every_role(bare_app: FastAPI) -> None:
    covered: dict[tuple[str, str], set[str]] = {}
    for row in ROWS:
        endpoint = endpoint_of(bare_app, row)
        if endpoint is not None:
            covered.setdefault(endpoint, set()).add(row.actor)
    missing = {
        f"{method} {path}": sorted(set(ROLES) - covered.get((method, path), set()))
        for method, path in sorted(endpoints(bare_app))
        if not set(ROLES) <= covered.get((method, path), set())
    }
    assert not missing, f"endpoints without rows for these roles (add them to ROWS): {missing}"


def test_every_row_names_an_endpoint(bare_app: FastAPI) -> None:
    unknown = [row.id for row in ROWS if endpoint_of(bare_app, row) is None]
    assert not unknown, f"rows naming no endpoint of the app: {unknown}"


def test_rows_are_well_formed() -> None:
    ids = [row.id for row in ROWS]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    actors = {S, B, R, A, W, RL, NO_TOKEN, BAD_TOKEN, REVOKED}
    assert {row.actor for row in ROWS} <= actors
    named = {m for row in ROWS for m in re.findall(r"<[^>]+>", row.path)}
    assert named <= set(PLACEHOLDERS), named - set(PLACEHOLDERS)
