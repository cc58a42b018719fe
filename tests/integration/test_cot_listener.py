"""The CoT listener against real TAK clients (pytak) and hostile ones, over TCP and TLS with client certificates.

Every wait is on a condition with a timeout; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import warnings
from collections.abc import Awaitable, Callable, Coroutine
from configparser import ConfigParser
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from detente.adapters.feeds.cot_listener import CotListener, server_ssl_context
from detente.adapters.interop.feedmap import (
    Assignment,
    FeedMapping,
    Report,
)

with warnings.catch_warnings():  # pytak warns at import that aiohttp (for its Marti and enrolment clients) is missing
    warnings.simplefilter("ignore")
    import pytak

# pytak's TLS client sets the deprecated OP_NO_TLSv1* options
pytestmark = pytest.mark.filterwarnings("ignore:ssl.OP_NO:DeprecationWarning")

MAPPING = FeedMapping(
    "test-feed",
    by_uid={"medevac-1": Assignment("ua", "medevac")},
    by_callsign_prefix={"RU-": Assignment("ru"), "UA-": Assignment("ua")},
)
WAIT_S = 20.0


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 120))


async def until(condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    """Wait until ``condition()`` holds (checked every few milliseconds), failing after ``timeout``."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


async def closed_by_peer(reader: asyncio.StreamReader) -> bool:
    """Whether the listener closed this connection (EOF, or a reset: it aborts rather than flushing)."""
    try:
        return await asyncio.wait_for(reader.read(), WAIT_S) == b""
    except ConnectionError:
        return True


class Sink:
    """The ``on_reports`` callback: keeps every batch."""

    def __init__(self) -> None:
        self.batches: list[list[Report]] = []

    async def __call__(self, reports: list[Report]) -> None:
        self.batches.append(reports)

    @property
    def reports(self) -> list[Report]:
        return [r for b in self.batches for r in b]

    def uids(self) -> set[str]:
        return {r.track for r in self.reports}


# -- pytak clients ---------------------------------------------------------------------------------


class PytakClient:
    """A pytak CLITool (its TXWorker and RXWorker) connected to ``cot_url``."""

    def __init__(self, cot_url: str, **options: str) -> None:
        config = ConfigParser(interpolation=None)
        config["client"] = {"COT_URL": cot_url, **options}
        self.tool = pytak.CLITool(config["client"])
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PytakClient:
        await self.tool.setup()
        self.task = asyncio.create_task(self.tool.run())
        return self

    async def send(self, data: bytes | None) -> None:
        assert data is not None
        await self.tool.tx_queue.put(data)

    async def received(self) -> bytes:
        data: bytes = await asyncio.wait_for(self.tool.rx_queue.get(), WAIT_S)
        return data

    async def __aexit__(self, *exc: object) -> None:
        pending: list[asyncio.Future[Any]] = [*self.tool.running_tasks]
        if self.task is not None:
            pending.append(self.task)
        for future in pending:
            future.cancel()
            worker = getattr(future, "_pytak_worker", None)
            if isinstance(worker, pytak.TXWorker):
                worker.writer.close()
        await asyncio.gather(*pending, return_exceptions=True)


def track_event(uid: str, callsign: str, lat: float = 35.0, lon: float = 36.0, cot_type: str = "a-f-A-M-F") -> bytes:
    data = pytak.gen_cot(lat=lat, lon=lon, hae=3000, ce=10, le=10, uid=uid, cot_type=cot_type, callsign=callsign)
    assert data is not None
    return data


def ping_event(uid: str) -> bytes:
    data = pytak.gen_cot(lat=0.0, lon=0.0, hae=0, uid=uid, cot_type="t-x-c-t", stale=20)
    assert data is not None
    return data


def hostile_xxe() -> bytes:
    body = track_event("ru-xxe", "RU-XXE").split(b"?>", 1)[1]
    dtd = b'<!DOCTYPE event [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    return b'<?xml version="1.0"?>' + dtd + body.replace(b'uid="ru-xxe"', b'uid="&xxe;"')


def listener(sink: Callable[[list[Report]], Awaitable[None]], **options: Any) -> CotListener:
    return CotListener("127.0.0.1", 0, MAPPING, sink, **options)


# -- the tests -------------------------------------------------------------------------------------


def test_pytak_clients_hostile_client_and_a_client_that_never_reads() -> None:
    async def go() -> None:
        sink = Sink()
        async with listener(sink) as server:
            url = f"tcp://127.0.0.1:{server.port}"
            async with PytakClient(url) as a, PytakClient(url, PYTAK_NO_HELLO="1") as b:
                # two pytak clients at once, mapped to parties by callsign prefix and uid
                for i in range(5):
                    await a.send(track_event(f"ru-jet-{i}", f"RU-{i}", lat=35 + i / 10))
                    await b.send(track_event(f"ua-heli-{i}", f"UA-{i}", lat=34 + i / 10, cot_type="a-h-A-M-H"))
                await b.send(track_event("medevac-1", "Angel", cot_type="a-f-G-U-C-I"))
                await b.send(track_event("stranger", "ZZ-1"))  # unmapped: dropped, counted
                await until(lambda: len(sink.reports) == 11, what="11 reports")
                by_track = {r.track: r for r in sink.reports}
                assert {by_track[f"ru-jet-{i}"].party for i in range(5)} == {"ru"}
                assert {by_track[f"ua-heli-{i}"].party for i in range(5)} == {"ua"}
                medevac = by_track["medevac-1"]
                assert (medevac.party, medevac.purpose, medevac.category) == ("ua", "medevac", "ground")
                assert by_track["ru-jet-0"].callsign == "RU-0"
                assert by_track["ru-jet-0"].alt_ref in {"msl", "hae-as-msl"}
                await until(lambda: server.stats.unmapped == 1, what="the unmapped track counted")
                assert server.stats.drops["cot-not-a-track"] == 1  # a's pytak hello (t-x-d-d) is ignored

                # pytak's RXWorker gets the pong to its ping
                await a.send(ping_event("a-ping"))
                pong = await a.received()
                assert b'type="t-x-c-t-r"' in pong

                # a hostile raw client: XXE, garbage, then a 10 MB event; it is dropped, its events refused
                reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
                writer.write(hostile_xxe() + b"\x00\xffGARBAGE" * 100)
                big = track_event("ru-big", "RU-BIG")
                writer.write(big[: big.index(b"</detail>")] + b"<remarks>")  # and 10 MB of remarks
                with contextlib.suppress(ConnectionError):
                    for _ in range(10 * 1024 // 64):
                        writer.write(b"A" * 64 * 1024)
                        await asyncio.wait_for(writer.drain(), WAIT_S)
                    writer.write(b"</remarks></detail></event>")
                    await writer.drain()
                await until(lambda: server.stats.clients_dropped == 1, what="the hostile client dropped")
                assert await closed_by_peer(reader)
                writer.close()
                # in a stream the DOCTYPE lies between events: discarded as garbage, never parsed;
                # the event that uses its entity is then not well-formed
                assert server.stats.drops["cot-xml"] == 1
                assert server.stats.drops["cot-size"] == 1
                assert "bad bytes" in next(iter(server.stats.closes))
                assert not {"ru-xxe", "ru-big"} & sink.uids()
                assert server.stats.peak_buffered <= server.max_buffer_bytes

                # a client that sends pings and never reads the pongs: it does not hold up the others
                stuck = socket.socket()
                stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                stuck.setblocking(False)
                await asyncio.get_running_loop().sock_connect(stuck, ("127.0.0.1", server.port))
                _, s_writer = await asyncio.open_connection(sock=stuck)
                me = f"127.0.0.1:{stuck.getsockname()[1]}"

                def stuck_stats() -> Any:
                    return next((c for c in server.connections() if c.peer == me), None)

                await until(lambda: stuck_stats() is not None, what="the stuck client connected")

                def answered(n: int) -> Callable[[], bool]:
                    return lambda: (c := stuck_stats()) is None or c.pings == n

                sent = 0
                while (c := stuck_stats()) is not None and c.pending_write_bytes == 0:
                    s_writer.write(ping_event("stuck-ping") * 10)  # until its pongs pile up in the listener
                    sent += 10
                    await until(answered(sent), what="pings answered")
                assert stuck_stats() is not None, "dropped before its pongs were seen to pile up"
                for i in range(5):
                    await a.send(track_event(f"ru-late-{i}", f"RU-L{i}"))
                    await b.send(track_event(f"ua-late-{i}", f"UA-L{i}"))
                await until(lambda: len(sink.reports) == 21, what="reports while a client does not read")
                with contextlib.suppress(ConnectionError):
                    while stuck_stats() is not None:
                        s_writer.write(ping_event("stuck-ping") * 50)
                        await asyncio.wait_for(s_writer.drain(), WAIT_S)
                await until(lambda: server.stats.clients_dropped == 2, what="the stuck client dropped")
                assert any("does not read" in reason for reason in server.stats.closes)
                s_writer.close()

                # and the pytak clients are still served
                await a.send(track_event("ru-last", "RU-LAST"))
                await b.send(track_event("ua-last", "UA-LAST"))
                await until(lambda: {"ru-last", "ua-last"} <= sink.uids(), what="the last reports")
                assert server.stats.clients == 2
                assert server.stats.peak_buffered <= server.max_buffer_bytes
                for conn in server.connections():
                    assert conn.peak_buffered <= server.max_buffer_bytes
                    assert conn.buffered <= server.max_event_bytes
            assert server.stats.events_ok == 23

    run(go())


def test_many_clients_at_once_with_events_split_anywhere() -> None:
    async def go() -> None:
        sink = Sink()
        async with listener(sink) as server:

            async def client(k: int) -> None:
                _, writer = await asyncio.open_connection("127.0.0.1", server.port)
                data = b"".join(track_event(f"ua-{k}-{i}", f"UA-{k}") for i in range(20))
                step = 37 + k  # events cut at arbitrary points across writes
                for j in range(0, len(data), step):
                    writer.write(data[j : j + step])
                    await writer.drain()
                await until(lambda: sum(r.track.startswith(f"ua-{k}-") for r in sink.reports) == 20)
                writer.close()

            await asyncio.gather(*(client(k) for k in range(40)))
            assert len(sink.uids()) == 800
            assert server.stats.connections == 40
            assert server.stats.invalid == server.stats.discarded_bytes == 0

    run(go())


def test_too_many_clients_refused_and_callback_errors_survived() -> None:
    async def go() -> None:
        calls = 0

        async def failing(reports: list[Report]) -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("downstream is down")

        async with listener(failing, max_clients=1) as server:
            _, w1 = await asyncio.open_connection("127.0.0.1", server.port)
            await until(lambda: server.stats.clients == 1)
            r2, w2 = await asyncio.open_connection("127.0.0.1", server.port)
            assert await closed_by_peer(r2)
            assert server.stats.refused_connections == 1
            w1.write(track_event("ru-1", "RU-1"))
            await until(lambda: server.stats.callback_errors == 1)
            w1.write(track_event("ru-2", "RU-2"))
            await until(lambda: calls == 2, what="the connection to survive a failing callback")
            for w in (w1, w2):
                w.close()
        assert server.stats.clients == 0

    run(go())


def test_stop_closes_connections() -> None:
    async def go() -> None:
        server = listener(Sink())
        port = await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await until(lambda: server.stats.clients == 1)
        await server.stop()
        assert await closed_by_peer(reader)
        assert server.stats.clients == 0
        writer.close()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

    run(go())


# -- TLS with client certificates ------------------------------------------------------------------


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _issue(
    subject: str,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (_name(subject), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = dict.fromkeys(
            ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement"),
            False,
        )
        builder = builder.add_extension(
            x509.KeyUsage(**usage, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False),
            critical=True,
        ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    else:
        eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        if issuer:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key())
            builder = builder.add_extension(aki, critical=False)
    if server:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(signing_key, hashes.SHA256()), key


def _write(directory: Path, name: str, pair: tuple[x509.Certificate, ec.EllipticCurvePrivateKey]) -> tuple[str, str]:
    cert, key = pair
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    d = tmp_path_factory.mktemp("pki")
    ca = _issue("detente test CA", None, ca=True)
    rogue = _issue("rogue CA", None, ca=True)
    return {
        "ca": _write(d, "ca", ca),
        "server": _write(d, "server", _issue("localhost", ca, server=True)),
        "client": _write(d, "client", _issue("tak-client-1", ca)),
        "rogue": _write(d, "rogue", _issue("tak-client-rogue", rogue)),
    }


async def _refused(port: int, ca_file: str, cert: tuple[str, str] | None) -> bool:
    """Whether a TLS client (with ``cert`` or none) is refused: its handshake fails or it is cut off unread."""
    ctx = ssl.create_default_context(cafile=ca_file)
    if cert is not None:
        ctx.load_cert_chain(*cert)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ctx, server_hostname="localhost")
    except (ssl.SSLError, ConnectionError):
        return True
    try:
        writer.write(track_event("ru-intruder", "RU-INTRUDER"))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), WAIT_S) == b""
    except (ssl.SSLError, ConnectionError):
        return True
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def test_tls_requires_a_client_certificate_from_the_ca(pki: dict[str, tuple[str, str]]) -> None:
    async def go() -> None:
        sink = Sink()
        ca_file = pki["ca"][0]
        ctx = server_ssl_context(*pki["server"], ca_file)
        assert ctx.verify_mode == ssl.CERT_REQUIRED
        async with listener(sink, ssl_context=ctx) as server:
            options = {
                "PYTAK_TLS_CLIENT_CERT": pki["client"][0],
                "PYTAK_TLS_CLIENT_KEY": pki["client"][1],
                "PYTAK_TLS_CLIENT_CAFILE": ca_file,
                "PYTAK_TLS_SERVER_EXPECTED_HOSTNAME": "localhost",
                "PYTAK_NO_HELLO": "1",
            }
            async with PytakClient(f"tls://127.0.0.1:{server.port}", **options) as client:
                await client.send(track_event("ru-tls-1", "RU-TLS"))
                await until(lambda: sink.uids() == {"ru-tls-1"}, what="the report over TLS")
                await client.send(ping_event("tls-ping"))
                assert b"t-x-c-t-r" in await client.received()

                assert await _refused(server.port, ca_file, None)  # no certificate
                assert await _refused(server.port, ca_file, pki["rogue"])  # a certificate from another CA
                assert sink.uids() == {"ru-tls-1"}
                assert server.stats.connections == 1  # the refused never got past the handshake

    run(go())
