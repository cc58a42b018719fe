"""CoT out to the TAK clients of detente's own listener: pytak tablets get the picture their party may see.

Real pytak clients (plain TCP, and TLS with client certificates naming their
party) connect to a :class:`CotListener`; a :class:`CotBridge` sends them the
demo world, its changes and deletions, and live event markers; a client that
never reads is dropped while the others keep receiving, its unsent bytes
never past the listener's bound.

Every wait is on a condition with a timeout; nothing asserts how long anything took.  That a
client was *not* sent something is shown by the order of its stream: the listener writes a
client's events in the order they were sent, so what came after a marker that was never sent
arrives without it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import defusedxml.ElementTree as safe_et
import pytest
from tests.integration.test_cot_listener import PytakClient, _issue, _write, run, until

from detente.adapters.feeds.cot_bridge import PUBLIC_KINDS, CotBridge
from detente.adapters.feeds.cot_listener import ANONYMOUS, CotListener, server_ssl_context
from detente.adapters.feeds.cot_publisher import picture
from detente.adapters.interop.cot import parse_event
from detente.adapters.interop.cot_out import event_uid, object_uid
from detente.adapters.interop.feedmap import FeedMapping, Report
from detente.adapters.interop.scenario import load_scenario
from detente.domain.model import Kind, WorldObject
from detente.domain.tracks import Event, EventType, Other

pytestmark = pytest.mark.filterwarnings("ignore:ssl.OP_NO:DeprecationWarning")

DEMO = Path(__file__).resolve().parents[2] / "src" / "detente" / "demo" / "syria-2017.geojson"
NOW = datetime(2017, 7, 7, 10, 0, tzinfo=UTC)
STALE = timedelta(minutes=10)  # the bridge's default
SCENARIO = load_scenario(DEMO)
OBJECTS = list(SCENARIO.objects.values())
PARTIES = SCENARIO.parties
RU_JET_EVENT = Event(EventType.INCURSION, "ru-jet-1", "ru", Other("nfz", "tanf-55km", "coalition"), NOW, NOW, 0.0)
POSITIONS = {"ru-jet-1": (38.6, 33.5, 3000.0)}


async def ignore(reports: list[Report]) -> None:
    return None


def clock() -> datetime:
    return NOW


def without(key: tuple[Kind, str]) -> list[WorldObject]:
    return [o for o in OBJECTS if o.key != key]


def expected(party: str, objects: list[WorldObject] = OBJECTS) -> set[str]:
    """The uids of the drawings a client of ``party`` may be sent: its party's picture, agreed geography if none."""
    if party == ANONYMOUS:
        public = [o for o in objects if o.kind in (Kind.NFZ, Kind.BOUNDARY, Kind.LINE)]
        return set(picture(public, now=NOW, stale=STALE))
    return set(picture(objects, now=NOW, stale=STALE, audience=(PARTIES[party].role, party)))


class Tablet:
    """A pytak client, and the picture it holds: every event it received, drawings by uid, deletions applied."""

    def __init__(self, client: PytakClient) -> None:
        self.client = client
        self.received: list[bytes] = []
        self.picture: dict[str, bytes] = {}
        self.deleted: list[str] = []

    def _take(self, data: bytes) -> None:
        event = parse_event(data)  # detente's hardened parser: every event it sends parses back
        self.received.append(data)
        if event.type == "t-x-d-d":
            root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
            link = root.find("detail/link")
            assert link is not None and root.find("detail/__forcedelete") is not None
            target = link.get("uid", "")
            self.deleted.append(target)
            self.picture.pop(target, None)
        elif event.type != "t-x-c-t-r":
            self.picture[event.uid] = data

    async def until(self, condition: Callable[[Tablet], bool], what: str) -> None:
        async def poll() -> None:
            while not condition(self):
                self._take(await self.client.tool.rx_queue.get())

        try:
            await asyncio.wait_for(poll(), 20.0)
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}; holds {sorted(self.picture)}")

    async def until_picture(self, uids: set[str], what: str) -> None:
        await self.until(lambda t: set(t.picture) == uids, what)

    async def until_received(self, n: int, what: str) -> None:
        await self.until(lambda t: len(t.received) >= n, what)

    def types(self) -> set[str]:
        return {parse_event(d).type for d in self.picture.values()}

    def kinds(self) -> set[str]:
        return {uid.split(".")[1] for uid in self.picture if uid.startswith("detente.") and ".event." not in uid}

    def markers(self) -> set[str]:
        return {uid for uid in self.picture if uid.startswith("detente.event.")}

    def ever_received(self, uid: str) -> bool:
        return any(parse_event(d).uid == uid for d in self.received)


# -- plain TCP: anonymous tablets ------------------------------------------------------------------


def test_anonymous_pytak_tablets_get_the_public_picture_its_changes_and_deletions() -> None:
    public = expected(ANONYMOUS)
    assert {uid.split(".")[1] for uid in public} == {k.value for k in PUBLIC_KINDS} == {"nfz", "boundary", "line"}

    async def go() -> None:
        async with CotListener("127.0.0.1", 0, FeedMapping("tak"), ignore) as server:
            bridge = CotBridge(server, clock=clock)
            url = f"tcp://127.0.0.1:{server.port}"
            async with PytakClient(url, PYTAK_NO_HELLO="1") as c1:
                a = Tablet(c1)
                await until(lambda: server.audiences() == {ANONYMOUS}, what="the first tablet connected")
                await bridge.world(OBJECTS, PARTIES)
                await a.until(lambda t: set(t.picture) == public, "the public picture")
                # drawings: polygons and lines as u-d-f, the circular zones as u-d-c-c; no site, movement or intent
                assert a.types() == {"u-d-f", "u-d-c-c"}
                assert parse_event(a.picture[object_uid(Kind.NFZ, "tanf-55km", 0)]).type == "u-d-c-c"
                assert parse_event(a.picture[object_uid(Kind.BOUNDARY, "aor-sdf", 0)]).type == "u-d-f"
                assert b'<strokeColor value="-65536"' in a.picture[object_uid(Kind.NFZ, "tanf-55km", 0)]

                # a tablet connecting later gets the current picture first, with no world() call
                async with PytakClient(url, PYTAK_NO_HELLO="1") as c2:
                    b = Tablet(c2)
                    await b.until(lambda t: set(t.picture) == public, "the picture on connecting")
                    assert bridge.stats.welcomes == 2

                    # a live event: never sent to an anonymous tablet; then the Tanf zone is withdrawn
                    await bridge.events([RU_JET_EVENT], POSITIONS)
                    await bridge.world(without((Kind.NFZ, "tanf-55km")), PARTIES)
                    tanf = object_uid(Kind.NFZ, "tanf-55km", 0)
                    for t in (a, b):
                        await t.until(lambda t: tanf in t.deleted, "the withdrawn zone deleted")
                        assert set(t.picture) == public - {tanf}
                        assert not t.ever_received(event_uid(RU_JET_EVENT))
                    # nothing else changed, so nothing else was sent: one deletion after the picture
                    assert len(a.received) == len(public) + 1

                    # a zone coming back, and refreshed: sent again
                    await bridge.world(OBJECTS, PARTIES, refresh=True)
                    await a.until(lambda t: len(t.received) == 2 * len(public) + 1, "the refreshed picture")
                    assert set(a.picture) == public
            assert server.stats.clients_dropped == 0

    run(go())


# -- TLS: each tablet's party from its certificate -------------------------------------------------


@pytest.fixture(scope="module")
def tablets_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    d = tmp_path_factory.mktemp("pki")
    ca = _issue("detente test CA", None, ca=True)
    out = {"ca": _write(d, "ca", ca), "server": _write(d, "server", _issue("localhost", ca, server=True))}
    for cn in ("tak-ru", "tak-observers", "tak-sdf", "tak-stranger"):
        out[cn] = _write(d, cn, _issue(cn, ca))
    return out


def test_tls_tablets_get_what_their_party_may_see_and_the_live_events_that_concern_it(
    tablets_pki: dict[str, tuple[str, str]],
) -> None:
    pki = tablets_pki
    cns = {"tak-ru": "ru", "tak-observers": "observers", "tak-sdf": "sdf"}  # tak-stranger: not in the table
    reads: list[tuple[str, set[str]]] = []

    def tls(cn: str) -> dict[str, str]:
        return {
            "PYTAK_TLS_CLIENT_CERT": pki[cn][0],
            "PYTAK_TLS_CLIENT_KEY": pki[cn][1],
            "PYTAK_TLS_CLIENT_CAFILE": pki["ca"][0],
            "PYTAK_TLS_SERVER_EXPECTED_HOSTNAME": "localhost",
            "PYTAK_NO_HELLO": "1",
        }

    async def go() -> None:
        ctx = server_ssl_context(*pki["server"], pki["ca"][0])
        async with CotListener("127.0.0.1", 0, FeedMapping("tak"), ignore, ssl_context=ctx, parties_by_cn=cns) as srv:
            bridge = CotBridge(
                srv, clock=clock, on_reads=lambda party, objs: reads.append((party, {o.id for o in objs}))
            )
            url = f"tls://127.0.0.1:{srv.port}"
            async with (
                PytakClient(url, **tls("tak-ru")) as c_ru,
                PytakClient(url, **tls("tak-observers")) as c_obs,
                PytakClient(url, **tls("tak-sdf")) as c_sdf,
                PytakClient(url, **tls("tak-stranger")) as c_anon,
            ):
                ru, obs, sdf, anon = Tablet(c_ru), Tablet(c_obs), Tablet(c_sdf), Tablet(c_anon)
                await until(lambda: len(srv.connections()) == 4, what="four tablets connected")
                assert srv.audiences() == {"ru", "observers", "sdf", ANONYMOUS}
                await bridge.world(OBJECTS, PARTIES)
                for tablet, party in ((ru, "ru"), (obs, "observers"), (sdf, "sdf"), (anon, ANONYMOUS)):
                    await tablet.until_picture(expected(party), f"{party or 'anonymous'}'s picture")
                # a military party sees the humanitarian sites and movements (reads logged); an observer does not
                assert ru.kinds() == {"nfz", "boundary", "line", "site", "movement"}
                assert {"b-m-p-s-m", "u-d-c-c", "u-d-f"} == ru.types()
                assert obs.kinds() == anon.kinds() == {"nfz", "boundary", "line"}
                sites = {o.id for o in OBJECTS if o.kind in (Kind.SITE, Kind.MOVEMENT)}
                assert dict(reads) == {"ru": sites, "sdf": sites}

                # an incursion by a Russian jet into the coalition's zone: to ru, coalition and the observers
                await bridge.events([RU_JET_EVENT], POSITIONS)
                marker = event_uid(RU_JET_EVENT)
                for tablet in (ru, obs):
                    await tablet.until(lambda t: marker in t.picture, "the event marker")
                    jet = parse_event(tablet.picture[marker])
                    assert (jet.type, jet.lon, jet.lat) == ("b-m-p-s-m", 38.6, 33.5)
                # the camp is withdrawn: its drawings deleted where they were drawn; sdf and the stranger got no marker
                await bridge.world(without((Kind.SITE, "camp-rukban")), PARTIES)
                camp = object_uid(Kind.SITE, "camp-rukban", 0)
                for tablet in (ru, sdf):
                    await tablet.until(lambda t: {camp, f"{camp}.marker"} <= set(t.deleted), "the camp deleted")
                    assert not {camp, f"{camp}.marker"} & set(tablet.picture)
                assert not sdf.ever_received(marker)
                # the observers and the stranger never had the camp: the next thing they get is a refresh
                await bridge.world(without((Kind.SITE, "camp-rukban")), PARTIES, refresh=True)
                for tablet, party in ((obs, "observers"), (anon, ANONYMOUS)):
                    n = len(tablet.received)
                    await tablet.until_received(n + len(expected(party)), "a refresh")
                    assert camp not in tablet.deleted
                assert not anon.ever_received(marker)

                # a second Russian tablet connecting now gets the picture and the live marker first
                async with PytakClient(url, **tls("tak-ru")) as c_ru2:
                    ru2 = Tablet(c_ru2)
                    want = (expected("ru") - {camp, f"{camp}.marker"}) | {marker}
                    await ru2.until(lambda t: set(t.picture) == want, "the picture and marker on connecting")
                assert reads[-1] == ("ru", sites - {"camp-rukban"})
            assert srv.stats.clients_dropped == 0

    run(go())


# -- a tablet that never reads ---------------------------------------------------------------------


def test_a_client_that_never_reads_is_dropped_and_the_others_keep_receiving(caplog: pytest.LogCaptureFixture) -> None:
    cap = 256 * 1024

    async def go() -> None:
        caplog.set_level(logging.INFO, logger="detente.cot")
        async with CotListener("127.0.0.1", 0, FeedMapping("tak"), ignore, max_pending_write_bytes=cap) as server:
            bridge = CotBridge(server, clock=clock)
            public = expected(ANONYMOUS)
            async with PytakClient(f"tcp://127.0.0.1:{server.port}", PYTAK_NO_HELLO="1") as c:
                reader = Tablet(c)
                # the stuck client: a tiny receive buffer, and it never reads
                stuck = socket.socket()
                stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stuck.setblocking(False)
                await asyncio.get_running_loop().sock_connect(stuck, ("127.0.0.1", server.port))
                me = f"127.0.0.1:{stuck.getsockname()[1]}"
                await until(lambda: len(server.connections()) == 2, what="both connected")
                stuck_stats = next(conn for conn in server.connections() if conn.peer == me)
                peaks: list[int] = []
                rounds = 0
                while stuck_stats.closed is None:
                    rounds += 1
                    assert rounds < 1000, "the stuck client was never dropped"
                    await bridge.world(OBJECTS, PARTIES, refresh=True)
                    peaks.append(max(conn.peak_pending_write_bytes for conn in server.connections()))
                    # the reading tablet gets every refresh, while the stuck one piles up
                    await reader.until_received(rounds * len(public), f"refresh {rounds}")
                assert stuck_stats.closed == f"more than {cap} unsent bytes: the client does not read"
                assert stuck_stats.peak_pending_write_bytes <= cap
                assert max(peaks) <= cap
                assert server.stats.clients_dropped == 1
                assert any(
                    r.levelno == logging.WARNING and "dropped" in r.getMessage() and me in r.getMessage()
                    for r in caplog.records
                )
                await until(lambda: len(server.connections()) == 1, what="the stuck client gone")
                # and the reading tablet is still served: a withdrawal reaches it
                await bridge.world(without((Kind.NFZ, "undof-golan")), PARTIES)
                golan = object_uid(Kind.NFZ, "undof-golan", 0)
                await reader.until(lambda t: golan in t.deleted, "the deletion after the drop")
                assert set(reader.picture) == public - {golan}
                stuck.close()
            assert server.stats.clients_dropped == 1
            assert all(conn.peak_pending_write_bytes <= cap for conn in server.connections())

    run(go())
