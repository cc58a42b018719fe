"""The demo scenario (Syria, July 2017) behind the real API, with a token for every party.

The clock starts on 4 July 2017 at 08:00 UTC, three days before the demo's
operations, and moves only when a test moves it (``api.clock.at``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tests.api.world import Api, start_api

from detente.adapters.cli.main import DEMO_SCENARIO

NOW = datetime(2017, 7, 4, 8, 0, tzinfo=UTC)
MILITARY = ("coalition", "ru", "sy", "sdf", "tr")
PARTIES = (*MILITARY, "ocha", "observers")

#: Real places (reference data) on the way from Damascus to Rukban camp along the M2.
DAMASCUS = (36.29, 33.51)
DUMAYR = (36.69, 33.64)
SABE_BIYAR = (37.67, 33.73)
TANF = (38.62, 33.50)
RUKBAN = (38.70, 33.29)


def start_demo_api(url: str) -> Iterator[Api]:
    """The API on the demo world, under the mechanism's default rules (48 h lead time for movements)."""
    yield from start_api(url, document=DEMO_SCENARIO.read_text(encoding="utf-8"), parties=PARTIES, now=NOW, rules=None)


def convoy(oid: str, start: str, end: str, *, route: list[tuple[float, float]] | None = None, **props: Any) -> Any:
    """A movement notified by OCHA, as the FeatureCollection ``POST /objects`` takes."""
    coords = [list(p) for p in (route or [DAMASCUS, DUMAYR, SABE_BIYAR, TANF, RUKBAN])]
    feature = {
        "type": "Feature",
        "geometry": {"type": "LineString", "coordinates": coords},
        "properties": {
            "kind": "movement",
            "id": oid,
            "corridor_m": 2000,
            "time": [start, end],
            "vehicles": 40,
            "cargo": "food, water, medicine",
            "name": "UN/SARC convoy Damascus - Rukban camp",
            **props,
        },
    }
    return {"type": "FeatureCollection", "features": [feature]}


def body(r: Any) -> Any:
    return json.loads(r.text)
