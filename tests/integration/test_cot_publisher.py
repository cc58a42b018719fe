"""CoT out to a real TAK server: detente's CotPublisher publishes to taky, a second taky client receives it.

taky (https://github.com/tkuester/taky, PyPI) runs from a virtual environment of its own,
built by ``scripts/taky-venv.sh`` (run here; idempotent): it is never installed into
detente's environment, because it installs a top-level ``tests`` package that would shadow
ours.  Each test starts ``python -m taky.cot`` on a free loopback port with a config in its
temporary directory, over plain TCP and over TLS with client certificates (taky requires
them, from a CA the test makes).

A raw-socket "tablet" is the second taky client: its stream is cut with detente's
``EventSplitter`` and read with the hardened ``parse_event`` (and defusedxml for details).
Every wait is on a condition (a line in taky's log, an event received) with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as safe_et
import pytest
from tests.integration.test_cot_listener import _issue, _write, run

from detente.adapters.feeds.cot_bridge import CotBridge
from detente.adapters.feeds.cot_publisher import CotPublisher, client_ssl_context
from detente.adapters.interop.cot import EventSplitter, parse_event
from detente.adapters.interop.cot_out import event_uid, object_uid
from detente.adapters.interop.scenario import load_scenario
from detente.domain.model import Kind, Role, WorldObject
from detente.domain.tracks import Event, EventType, Other

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "src" / "detente" / "demo" / "syria-2017.geojson"
SCENARIO = load_scenario(DEMO)
PARTIES = SCENARIO.parties
# the demo's zones and sites have no end (the convoy of 7 July 2017 is over): drawn at the real "now",
# which taky needs (it keeps and relays what is not yet stale)
OBJECTS = list(SCENARIO.objects.values())
WAIT_S = 30.0


# -- taky ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def taky_python() -> Path:
    """The python of taky's own venv, built by scripts/taky-venv.sh if it is not there yet."""
    venv = Path(os.environ.get("DETENTE_TAKY_VENV", ROOT / ".cache" / "taky-venv"))
    env = {**os.environ, "DETENTE_TAKY_VENV": str(venv), "DETENTE_TAKY_PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "taky-venv.sh")], env=env, capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, f"scripts/taky-venv.sh failed:\n{done.stdout}\n{done.stderr}"
    python = venv / "bin" / "python"
    assert python.exists()
    return python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Taky:
    port: int
    log: Path
    tls: bool
    process: subprocess.Popen[bytes] | None = None
    pki: dict[str, tuple[str, str]] = field(default_factory=dict)

    def logged(self) -> str:
        return self.log.read_text(errors="replace")

    async def until_logged(self, text: str) -> None:
        async def poll() -> None:
            while text not in self.logged():
                assert self.process is not None and self.process.poll() is None, f"taky exited:\n{self.logged()}"
                await asyncio.sleep(0.02)

        try:
            await asyncio.wait_for(poll(), WAIT_S)
        except TimeoutError:
            pytest.fail(f"taky never logged {text!r}:\n{self.logged()}")

    async def until_listening(self) -> None:
        """Until taky accepts connections (a probe connection, closed at once)."""

        async def poll() -> None:
            while True:
                assert self.process is not None and self.process.poll() is None, f"taky exited:\n{self.logged()}"
                try:
                    _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                writer.close()
                return

        try:
            await asyncio.wait_for(poll(), WAIT_S)
        except TimeoutError:
            pytest.fail(f"taky never listened on {self.port}:\n{self.logged()}")

    def client_line(self, port: int) -> str:
        return f"New {'ssl' if self.tls else 'tcp'} cot client from 127.0.0.1:{port}"


@contextlib.contextmanager
def taky_server(python: Path, directory: Path, pki: dict[str, tuple[str, str]] | None = None) -> Iterator[Taky]:
    """taky's CoT server on 127.0.0.1 and a free port, its files and log in ``directory``; stopped on exit."""
    taky = Taky(free_port(), directory / "taky.log", tls=pki is not None, pki=pki or {})
    (directory / "dp").mkdir()
    config = [
        "[taky]",
        "bind_ip = 127.0.0.1",
        "hostname = localhost",
        f"root_dir = {directory}",
        "[cot_server]",
        f"port = {taky.port}",
        "[dp_server]",
        f"upload_path = {directory / 'dp'}",
        "[ssl]",
        f"enabled = {'true' if pki else 'false'}",
    ]
    if pki:
        config += [
            "client_cert_required = true",
            f"ca = {pki['ca'][0]}",
            f"cert = {pki['server'][0]}",
            f"key = {pki['server'][1]}",
            f"cert_db = {directory / 'cert-db.txt'}",
        ]
    (directory / "taky.conf").write_text("\n".join(config) + "\n")
    with taky.log.open("wb") as log:
        taky.process = subprocess.Popen(
            [str(python), "-m", "taky.cot", "-c", str(directory / "taky.conf"), "-l", "debug"],
            cwd=directory,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield taky
    finally:
        taky.process.send_signal(signal.SIGTERM)
        try:
            taky.process.wait(10)
        except subprocess.TimeoutExpired:
            taky.process.kill()
            taky.process.wait()


@pytest.fixture(scope="module")
def taky_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    d = tmp_path_factory.mktemp("taky-pki")
    ca = _issue("detente test CA", None, ca=True)
    return {
        "ca": _write(d, "ca", ca),
        "server": _write(d, "server", _issue("localhost", ca, server=True)),
        "detente": _write(d, "detente", _issue("detente-publisher", ca)),
        "tablet": _write(d, "tablet", _issue("tak-tablet-1", ca)),
    }


# -- the tablet: a raw taky client -----------------------------------------------------------------


class Tablet:
    """A TAK client of taky that only listens: every event received, the picture it draws (deletions applied)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.splitter = EventSplitter()
        self.received: list[bytes] = []
        self.picture: dict[str, bytes] = {}
        self.deleted: list[str] = []

    @property
    def port(self) -> int:
        return int(self.writer.get_extra_info("sockname")[1])

    def _take(self, data: bytes) -> None:
        event = parse_event(data)
        self.received.append(data)
        if event.type == "t-x-d-d":
            link = xml(data).find("detail/link")
            assert link is not None
            self.deleted.append(link.get("uid", ""))
            self.picture.pop(link.get("uid", ""), None)
        elif event.uid.startswith("detente."):
            self.picture[event.uid] = data

    async def until(self, condition: Callable[[Tablet], bool], what: str) -> None:
        async def poll() -> None:
            while not condition(self):
                data = await self.reader.read(64 * 1024)
                assert data, "taky closed the tablet's connection"
                for raw in self.splitter.feed(data):
                    self._take(raw)

        try:
            await asyncio.wait_for(poll(), WAIT_S)
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}; the tablet holds {sorted(self.picture)}")

    def close(self) -> None:
        self.writer.close()


def xml(data: bytes) -> Element:
    root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    assert isinstance(root, Element)
    return root


def value(data: bytes, name: str) -> str | None:
    element = xml(data).find(f"detail/{name}")
    return None if element is None else element.get("value")


def links(data: bytes) -> list[tuple[float, float]]:
    return [tuple(map(float, e.get("point", "").split(","))) for e in xml(data).findall("detail/link")]  # type: ignore[misc]


async def connect_tablet(taky: Taky) -> Tablet:
    ctx = None
    if taky.tls:
        ctx = ssl.create_default_context(cafile=taky.pki["ca"][0])
        ctx.load_cert_chain(*taky.pki["tablet"])
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", taky.port, ssl=ctx, server_hostname="localhost" if ctx else None
    )
    tablet = Tablet(reader, writer)
    await taky.until_logged(taky.client_line(tablet.port))  # taky has accepted it: it is relayed to from now on
    return tablet


def without(key: tuple[Kind, str]) -> list[WorldObject]:
    return [o for o in OBJECTS if o.key != key]


# -- the test --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tls", [False, True], ids=["tcp", "tls"])
def test_taky_relays_detentes_drawings_live_markers_and_deletions_to_a_tablet(
    tls: bool, taky_python: Path, taky_pki: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    async def go() -> None:
        with taky_server(taky_python, tmp_path, taky_pki if tls else None) as taky:
            await taky.until_listening()
            tablet = await connect_tablet(taky)
            ctx = client_ssl_context(taky_pki["ca"][0], *taky_pki["detente"]) if tls else None
            # the Russian desk's TAK server: agreed geography and the humanitarian sites (reads logged)
            publisher = CotPublisher(
                "127.0.0.1",
                taky.port,
                ssl_context=ctx,
                server_hostname="localhost",
                audience=(Role.MILITARY, "ru"),
                ping_interval_s=1.0,  # taky over TLS reads on by the next bytes that arrive (docs/cot.md)
                backoff_initial_s=0.1,
            )
            reads: list[tuple[str, list[WorldObject]]] = []
            bridge = CotBridge(publisher=publisher, on_reads=lambda party, objs: reads.append((party, objs)))
            await publisher.start()
            try:
                await bridge.world(OBJECTS, PARTIES)
                sent = publisher.current_picture
                kinds = {uid.split(".")[1] for uid in sent}
                assert kinds == {"nfz", "boundary", "line", "site"}  # the convoy's movement is over
                await tablet.until(lambda t: set(t.picture) == set(sent), "detente's picture through taky")
                types = {parse_event(d).type for d in tablet.picture.values()}
                assert types == {"u-d-f", "u-d-c-c", "b-m-p-s-m"}

                # a circle: centre and radius intact; a polygon: every vertex (taky writes <point> with 6 decimals)
                tanf = object_uid(Kind.NFZ, "tanf-55km", 0)
                got, ours = parse_event(tablet.picture[tanf]), parse_event(sent[tanf])
                assert got.type == "u-d-c-c"
                assert (round(got.lat, 5), round(got.lon, 5)) == (round(ours.lat, 5), round(ours.lon, 5))
                ellipse = xml(tablet.picture[tanf]).find("detail/shape/ellipse")
                assert ellipse is not None and float(ellipse.get("minor", "")) == 55_000.0
                assert value(tablet.picture[tanf], "strokeColor") == "-65536"
                sdf = object_uid(Kind.BOUNDARY, "aor-sdf", 0)
                assert parse_event(tablet.picture[sdf]).type == "u-d-f"
                assert links(tablet.picture[sdf]) == links(sent[sdf]) and len(links(sent[sdf])) > 3
                assert value(tablet.picture[sdf], "strokeColor") == "-16776961"
                # the sites were sent to the Russian desk's server: reads need-to-know logs (once per send)
                assert {p for p, _ in reads} == {"ru"}
                sites = {o.id for o in OBJECTS if o.kind is Kind.SITE}
                assert all({o.id for o in objs} == sites for _, objs in reads)

                # a live event concerning ru: its marker at the track's position
                now = datetime.now(UTC)
                jet = Event(
                    EventType.INCURSION, "ru-jet-1", "ru", Other("nfz", "tanf-55km", "coalition"), now, now, 0.0
                )
                await bridge.events([jet], {"ru-jet-1": (38.6, 33.5, 3000.0)})
                await tablet.until(lambda t: event_uid(jet) in t.picture, "the live event marker")
                marker = parse_event(tablet.picture[event_uid(jet)])
                assert (marker.type, marker.lon, marker.lat) == ("b-m-p-s-m", 38.6, 33.5)

                # the Rukban camp withdrawn: its circle and marker deleted on the tablet
                await bridge.world(without((Kind.SITE, "camp-rukban")), PARTIES)
                camp = object_uid(Kind.SITE, "camp-rukban", 0)
                await tablet.until(lambda t: {camp, f"{camp}.marker"} <= set(t.deleted), "the camp's deletions")
                assert set(tablet.picture) == (set(sent) - {camp, f"{camp}.marker"}) | {event_uid(jet)}
                assert publisher.stats.dropped == 0 and publisher.stats.connects == 1
            finally:
                await publisher.stop()
                tablet.close()

    run(go())
