"""The server with its feeds, as ``detente serve --cot-listen ... --adsb-url ...`` runs it, on the demo world.

A real uvicorn server (its monitor on its own thread) with a CoT listener
and an ADS-B poller; a pytak-made CoT event over TCP and an aircraft.json
served over HTTP on loopback each put a Russian aircraft inside the
coalition's Al-Tanf zone, and the incursions appear as track events, in
the coalition's inbox, with the aircraft's latest position.  A TAK client
that connects (without a certificate: anonymous) is sent the zones.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytak
import pytest
import uvicorn

from detente.adapters.api.app import create_app
from detente.adapters.cli.main import DEMO_SCENARIO
from detente.adapters.feeds.server_feeds import FeedSettings
from detente.adapters.interop.feedmap import FeedMapping
from detente.adapters.interop.scenario import ScenarioCodec, parse_scenario
from detente.adapters.storage import open_store
from detente.domain.errors import InvalidInput
from detente.services import accounts
from detente.services.context import Mechanism, SystemClock

#: Inside the coalition's Al-Tanf zone (a 55 km circle round the garrison).
TANF = (38.62, 33.50)
WAIT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


class Files(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def aircraft_json(tmp_path: Path) -> Iterator[str]:
    folder = tmp_path / "readsb"
    folder.mkdir()
    now = time.time()
    plane = {"hex": "4b1805", "flight": "RSD093 ", "lat": TANF[1], "lon": TANF[0], "alt_baro": 20000, "seen_pos": 0.4}
    (folder / "aircraft.json").write_text(json.dumps({"now": now, "messages": 10, "aircraft": [plane]}))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: Files(*a, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/aircraft.json"
    server.shutdown()


def test_cot_and_adsb_reports_reach_the_monitor_and_tak_clients_get_the_zones(
    tmp_path: Path, aircraft_json: str
) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'feeds.sqlite'}")
    store.replace_world(parse_scenario(DEMO_SCENARIO.read_text(encoding="utf-8")))
    _, admin = accounts.bootstrap(Mechanism(store=store, clock=SystemClock(), codec=ScenarioCodec()))
    cot_port = free_port()
    feeds = FeedSettings(
        cot_listen=("127.0.0.1", cot_port),
        cot_mapping=FeedMapping.from_dict({"feed": "tak", "callsign_prefix": {"RU-": {"party": "ru"}}}),
        adsb_url=aircraft_json,
        adsb_mapping=FeedMapping.from_dict({"feed": "adsb", "icao": {"4B1805": {"party": "ru"}}}),
        adsb_interval_s=0.5,
    )
    app = create_app(store, webhooks=False, timers=False, monitor=True, feeds=feeds)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {admin}"}, timeout=10) as http_:
            until(lambda: server.started, "the server to start")
            drawings = asyncio.run(_tak_client(cot_port))
            assert any(b'type="u-d-c-c"' in d and b"tanf-55km" in d for d in drawings), drawings[:3]
            found = until(
                lambda: (
                    [e for e in http_.get("/track-events").json() if e["other"]["id"] == "tanf-55km"]
                    if len(http_.get("/track-events").json()) >= 2
                    else None
                ),
                "both incursions",
            )
            tracks = {e["track"]: e for e in found}
            assert set(tracks) == {"RU-SU24-9", "ICAO-4B1805"}
            assert all(e["type"] == "incursion" and e["party"] == "ru" for e in found)
            latest = {t["track"]: t for t in http_.get("/tracks").json()}
            assert latest["RU-SU24-9"]["lon"] == pytest.approx(TANF[0])
            assert latest["ICAO-4B1805"]["alt_m"] == pytest.approx(20000 * 0.3048, abs=1)
            status = http_.get("/monitor").json()
            assert status["threaded"] and status["tracks"] == 2
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        store.close()
    assert not thread.is_alive()


async def _tak_client(port: int) -> list[bytes]:
    """A TAK client: sends one aircraft inside Al-Tanf, and returns the drawings the server sent it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    event = pytak.gen_cot(
        lat=TANF[1], lon=TANF[0], hae=6000, uid="RU-SU24-9", callsign="RU-SU24-9", cot_type="a-h-A-M-F"
    )
    assert event is not None
    writer.write(event)
    await writer.drain()
    received = b""
    deadline = time.monotonic() + WAIT_S
    while b"tanf-55km" not in received and time.monotonic() < deadline:
        chunk = await asyncio.wait_for(reader.read(65536), WAIT_S)
        if not chunk:
            break
        received += chunk
    writer.close()
    return [b"<event" + part for part in received.split(b"<event")[1:]]


def test_feed_settings_from_the_environment_name_what_is_wrong(tmp_path: Path) -> None:
    mapping = tmp_path / "map.json"
    mapping.write_text(json.dumps({"feed": "tak", "default": {"party": "ru"}}))
    ok = FeedSettings.from_env({"DETENTE_COT_LISTEN": ":8089", "DETENTE_COT_MAPPING": str(mapping)})
    assert ok.cot_listen == ("127.0.0.1", 8089) and ok.cot_mapping is not None and ok.active
    with pytest.raises(InvalidInput) as bad:
        FeedSettings.from_env(
            {
                "DETENTE_COT_LISTEN": "8089",
                "DETENTE_ADSB_URL": "http://x/aircraft.json",
                "DETENTE_TAK_SERVER": "tak:8087",
                "DETENTE_ADSB_INTERVAL_S": "-1",
                "DETENTE_COT_TLS": "a,b",
            }
        )
    named = {p.rule for p in bad.value.problems}
    assert named == {
        "DETENTE_COT_LISTEN",
        "DETENTE_ADSB_MAPPING",
        "DETENTE_TAK_PARTY",
        "DETENTE_ADSB_INTERVAL_S",
        "DETENTE_COT_TLS",
    }
    assert not FeedSettings.from_env({}).active
