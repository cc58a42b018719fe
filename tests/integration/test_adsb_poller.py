"""The ADS-B poller against a real HTTP(S) server on loopback, started here, that changes its snapshots and
misbehaves (huge bodies, gzip bombs, garbage, wrong shapes, hanging, trickling, lying about its length).

No mocks: the server is ``http.server`` in a thread, the client is httpx.  Every wait is on a condition
with a timeout; nothing asserts how long anything took.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import gzip
import ipaddress
import json
import logging
import os
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from detente.adapters.feeds.adsb_poller import AdsbPoller
from detente.adapters.interop.adsb import FEET
from detente.adapters.interop.feedmap import Assignment, FeedMapping, Report

MAPPING = FeedMapping(
    "amman-receiver",
    by_icao={"738A51": Assignment("coalition")},
    by_callsign_prefix={"RFF": Assignment("ru")},
)
NOW = 1499414400.0  # 2017-07-07T08:00:00Z
WAIT_S = 20.0
CAP = 256 * 1024  # the poller's max_bytes in the hostile tests
HUGE_TOTAL = 1024 * 1024 * 1024  # what the huge answer would send if nobody stopped reading


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, 180))


async def until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Wait until ``condition()`` holds (checked every few milliseconds), failing after ``timeout``."""

    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    try:
        await asyncio.wait_for(poll(), timeout)
    except TimeoutError:
        pytest.fail(f"timed out waiting for {what}")


def plane(hex_: str, lon: float, seen_pos: float, **fields: Any) -> dict[str, Any]:
    return {"hex": hex_, "lat": 33.5, "lon": lon, "alt_baro": 20000, "seen_pos": seen_pos, **fields}


def snapshot(now: float, *planes: dict[str, Any]) -> bytes:
    return json.dumps({"now": now, "messages": 1000, "aircraft": list(planes)}).encode()


class Sink:
    """The ``on_reports`` callback: keeps every batch; raises once if told to."""

    def __init__(self) -> None:
        self.batches: list[list[Report]] = []
        self.fail_next = False

    async def __call__(self, reports: list[Report]) -> None:
        self.batches.append(reports)
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("the consumer broke")

    def got(self) -> list[list[tuple[str, float, float]]]:
        return [[(r.track, round(r.t_epoch, 3), r.lon) for r in batch] for batch in self.batches]


# ---------------------------------------------------------------------------------------------
# The receiver: a real HTTP server whose answer the test changes


class Receiver:
    """``http.server`` on 127.0.0.1 in a thread, answering every GET as ``mode`` says."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.mode = "snapshot"
        self.body = snapshot(NOW)
        self.gzip = False
        self.requests = 0
        self.release = threading.Event()  # ends hanging and trickling answers
        #: For each huge answer: (bytes sent, whether the client closed the connection before the end).
        self.huge: list[tuple[int, bool]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False  # closing does not wait for answers the client gave up on
        self.server.receiver = self  # type: ignore[attr-defined]
        if ssl_context is not None:
            self.server.socket = ssl_context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.server.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server.server_address[1]}/data/aircraft.json"

    def serve(self, body: bytes, *, gzipped: bool = False) -> None:
        self.body, self.gzip, self.mode = body, gzipped, "snapshot"

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _head(self, status: int = 200, length: int | None = None, encoding: str | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if length is not None:
            self.send_header("Content-Length", str(length))
        if encoding is not None:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()

    def _send(self, body: bytes, status: int = 200, encoding: str | None = None) -> None:
        self._head(status, len(body), encoding)
        self.wfile.write(body)

    def do_GET(self) -> None:
        rx: Receiver = self.server.receiver
        rx.requests += 1
        mode = rx.mode
        try:
            if mode == "snapshot":
                if rx.gzip and "gzip" in self.headers.get("Accept-Encoding", ""):
                    self._send(gzip.compress(rx.body), encoding="gzip")
                else:
                    self._send(rx.body)
            elif mode == "status":
                self._send(b'{"error": "receiver restarting"}', status=503)
            elif mode == "garbage":
                self._send(b"<html><body>dump1090 is not running\x00\xff</body></html>")
            elif mode == "wrong-shape":
                self._send(b'{"now": 1499414400, "planes": [{"hex": "738a51"}]}')
            elif mode == "deep":
                self._send(b"[" * 100_000 + b"]" * 100_000)
            elif mode == "hang":
                rx.release.wait(60)
            elif mode == "trickle":
                self._head(length=100_000)  # under the cap: only the deadline stops it
                while not rx.release.wait(0.02):
                    self.wfile.write(b" ")
                    self.wfile.flush()
            elif mode == "liar":
                self._head(length=10**12)  # then nothing: refused on the header alone, never waited for
                rx.release.wait(60)
            elif mode == "huge":
                self._head()  # no length: the body ends when the connection does
                chunk, sent = b" " * 65536, 0
                try:
                    while sent < HUGE_TOTAL:
                        self.wfile.write(chunk)
                        sent += len(chunk)
                    rx.huge.append((sent, False))
                except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                    rx.huge.append((sent, True))
            elif mode == "bomb":
                self._send(_bomb(), encoding="gzip")
            elif mode == "brotli":
                self._send(b"\x1b\x03\x00\xf8\xa5\x40\x02", encoding="br")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the poller gave up on this answer, as it should have


@functools.cache
def _bomb() -> bytes:
    """64 MiB of spaces, gzipped to about 64 kB."""
    return gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rx = Receiver()
    yield rx
    rx.close()


# ---------------------------------------------------------------------------------------------
# Changing snapshots


def test_changing_snapshots_give_each_position_once(receiver: Receiver) -> None:
    """Snapshots change under the poller; every aircraft position is passed on once, whatever the polls."""

    async def go() -> None:
        sink = Sink()
        receiver.serve(
            snapshot(
                NOW,
                plane("738a51", 38.00, 0.4, flight="QID123  "),
                plane("155f21", 38.10, 1.0, flight="RFF7072 "),
                plane("4ca1fa", 38.20, 0.1),  # no rule covers it
                {"hex": "738a52"},  # no position
            )
        )
        poller = AdsbPoller(receiver.url, MAPPING, sink, interval_s=0.02)
        await poller.start()
        try:
            await until(lambda: len(sink.batches) == 1 and poller.stats.unchanged >= 3, "the first snapshot, polled")
            assert sink.got() == [[("ICAO-738A51", NOW - 0.4, 38.00), ("ICAO-155F21", NOW - 1.0, 38.10)]]
            first = sink.batches[0][0]
            assert (first.party, first.purpose, first.callsign, first.alt_ref) == (
                "coalition",
                "armed",
                "QID123",
                "baro",
            )
            assert first.alt_m == pytest.approx(20000 * FEET)

            # a second later: 738A51 not heard again (its position one second older), 155F21 moved; gzip this time
            receiver.serve(
                snapshot(NOW + 1, plane("738a51", 38.00, 1.4), plane("155f21", 38.11, 0.2, flight="RFF7072 ")),
                gzipped=True,
            )
            await until(lambda: len(sink.batches) == 2 and poller.stats.unchanged >= 6, "the second snapshot")
            assert sink.got()[1] == [("ICAO-155F21", NOW + 0.8, 38.11)]
            # the receiver's 0.1 s rounding: the same position dated 0.1 s apart is still the same position
            receiver.serve(
                snapshot(NOW + 2, plane("738a51", 38.00, 2.5), plane("155f21", 38.11, 1.3, flight="RFF7072"))
            )
            await until(lambda: poller.stats.snapshots >= 3 and poller.stats.unchanged >= 9, "the third snapshot")
            assert len(sink.batches) == 2
            receiver.serve(
                snapshot(NOW + 3, plane("738a51", 38.02, 0.0), plane("155f21", 38.11, 2.2, flight="RFF7072"))
            )
            await until(lambda: len(sink.batches) == 3, "the fourth snapshot")
            assert sink.got()[2] == [("ICAO-738A51", NOW + 3, 38.02)]
        finally:
            await poller.stop()
        stats = poller.stats
        every = [key for batch in sink.got() for key in batch]
        assert len(every) == len(set(every)) == 4
        assert stats.reports == 4 and stats.repeated == 4 and stats.older == 0
        assert stats.unmapped >= 1 and stats.ignored >= 1 and stats.drops["adsb-unmapped"] >= 1
        assert stats.failed == 0 and stats.bytes_read > 0 and not poller.running

    run(go())


def test_older_snapshot_skipped_and_clock_going_back_restarts(receiver: Receiver) -> None:
    async def go() -> None:
        sink = Sink()
        poller = AdsbPoller(receiver.url, MAPPING, sink, interval_s=0.02)
        receiver.serve(snapshot(NOW + 10, plane("738a51", 38.00, 0.0)))
        async with poller:
            await until(lambda: len(sink.batches) == 1, "the first snapshot")
            # a stale cache behind a balancer: an older snapshot, skipped
            receiver.serve(snapshot(NOW + 5, plane("738a51", 37.95, 0.0)))
            await until(lambda: poller.stats.older_snapshots >= 2, "the older snapshot, skipped")
            # a replay restarted an hour earlier: what was remembered is forgotten and positions flow again
            receiver.serve(snapshot(NOW - 3600, plane("738a51", 37.00, 0.0)))
            await until(lambda: len(sink.batches) == 2, "the restarted replay")
        assert sink.got() == [[("ICAO-738A51", NOW + 10, 38.00)], [("ICAO-738A51", NOW - 3600, 37.00)]]
        assert poller.stats.clock_resets == 1

    run(go())


# ---------------------------------------------------------------------------------------------
# Hostile answers


HOSTILE = [
    ("status", "http-status"),
    ("garbage", "json"),
    ("wrong-shape", "format"),
    ("deep", "json"),
    ("hang", "timeout"),
    ("trickle", "timeout"),
    ("liar", "too-large"),
    ("huge", "too-large"),
    ("bomb", "too-large"),
    ("brotli", "encoding"),
]


def test_hostile_answers_are_logged_counted_and_polling_goes_on(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="detente.adsb")

    async def go() -> None:
        sink = Sink()
        poller = AdsbPoller(receiver.url, MAPPING, sink, interval_s=0.02, timeout_s=0.5, max_bytes=CAP)
        receiver.serve(snapshot(NOW, plane("738a51", 38.00, 0.0)))
        async with poller:
            await until(lambda: len(sink.batches) == 1, "a first good snapshot")
            for k, (mode, reason) in enumerate(HOSTILE, start=1):
                before = poller.stats.errors[reason]
                receiver.mode = mode
                await until(lambda r=reason, b=before: poller.stats.errors[r] > b, f"{mode} counted as {reason}")
                # good again: the poller was not stopped by it
                receiver.serve(snapshot(NOW + k, plane("738a51", 38.00 + k / 100, 0.0)))
                await until(lambda n=k + 1: len(sink.batches) == n, f"a good snapshot after {mode}")
            assert receiver.huge, "the huge answer was served"
        stats = poller.stats
        assert {reason for _, reason in HOSTILE} <= set(stats.errors)
        assert stats.consecutive_errors == 0 and stats.last_error is None
        assert [len(b) for b in sink.batches] == [1] * (len(HOSTILE) + 1)
        # the huge answer: the client stopped reading once past the cap and closed the connection
        for sent, closed_by_client in receiver.huge:
            assert closed_by_client and sent < HUGE_TOTAL
        messages = [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "detente.adsb"]
        warned = " ".join(m for level, m in messages if level == logging.WARNING)
        for reason in ("[http-status]", "[json]", "[format]", "[timeout]", "[too-large]", "[encoding]"):
            assert reason in warned
        assert "HTTP 503" in warned and "reading stopped" in warned and "Content-Length" in warned
        assert any("again after" in m for level, m in messages if level == logging.INFO)

    run(go())


def test_bad_aircraft_entries_are_dropped_the_rest_reported(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="detente.adsb")

    async def go() -> None:
        sink = Sink()
        receiver.serve(
            snapshot(
                NOW,
                "not an object",  # type: ignore[arg-type]
                plane("zzzzzz", 38.0, 0.0),
                plane("738a51", 200.0, 0.0),
                plane("738a51", 38.0, 0.0, alt_baro="ground"),
                plane("155f21", 38.1, 90.0, flight="RFF1"),
                plane("155f22", 38.2, 0.3, flight="RFF2"),
            )
        )
        async with AdsbPoller(receiver.url, MAPPING, sink, interval_s=0.02) as poller:
            await until(lambda: len(sink.batches) == 1, "the snapshot")
        assert sink.got() == [[("ICAO-155F22", NOW - 0.3, 38.2)]]
        assert (poller.stats.invalid, poller.stats.refused) == (3, 2)
        assert poller.stats.drops == {
            "adsb-aircraft": 1,
            "adsb-hex": 1,
            "adsb-position": 1,
            "adsb-ground": 1,
            "adsb-stale": 1,
        }
        warned = [r.getMessage() for r in caplog.records if r.name == "detente.adsb"]
        assert sum("aircraft entry dropped" in m for m in warned) == 3

    run(go())


def test_a_failing_consumer_does_not_stop_the_poller(receiver: Receiver) -> None:
    async def go() -> None:
        sink = Sink()
        sink.fail_next = True
        receiver.serve(snapshot(NOW, plane("738a51", 38.0, 0.0)))
        async with AdsbPoller(receiver.url, MAPPING, sink, interval_s=0.02) as poller:
            await until(lambda: poller.stats.callback_errors == 1, "the consumer failing")
            receiver.serve(snapshot(NOW + 1, plane("738a51", 38.1, 0.0)))
            await until(lambda: len(sink.batches) == 2, "the next snapshot")
        assert sink.got()[1] == [("ICAO-738A51", NOW + 1, 38.1)]

    run(go())


def test_stop_cancels_a_hanging_poll_and_a_dead_receiver_is_counted(receiver: Receiver) -> None:
    async def go() -> None:
        receiver.mode = "hang"
        poller = AdsbPoller(receiver.url, MAPPING, Sink(), interval_s=0.02, timeout_s=60)
        await poller.start()
        await until(lambda: receiver.requests >= 1, "the poll to be under way")
        await asyncio.wait_for(poller.stop(), WAIT_S)
        assert not poller.running and poller.stats.failed == 0
        # nothing listens there any more
        port = receiver.server.server_address[1]
        receiver.close()
        dead = AdsbPoller(f"http://127.0.0.1:{port}/aircraft.json", MAPPING, Sink(), interval_s=0.02)
        async with dead:
            await until(lambda: dead.stats.errors["connect"] >= 2, "refused connections counted")
        assert dead.stats.consecutive_errors >= 2 and dead.stats.last_error == "connect"

    run(go())


def test_only_http_urls_or_paths() -> None:
    for url in ("ftp://example.org/aircraft.json", "file:///run/readsb/aircraft.json", "aircraft.json"):
        with pytest.raises(ValueError, match="http"):
            AdsbPoller(url, MAPPING, Sink())


# ---------------------------------------------------------------------------------------------
# HTTPS


def _pki(directory: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA and a server certificate for 127.0.0.1 signed by it: (the server's context, the CA file)."""
    now = dt.datetime.now(dt.UTC)

    def cert(
        subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[str, ec.EllipticCurvePrivateKey], ca: bool
    ) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer[0])]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()), critical=False)
        )
        if ca:
            usage = {"digital_signature": True, "key_cert_sign": True, "crl_sign": True}
        else:
            usage = {"digital_signature": True, "key_cert_sign": False, "crl_sign": False}
            san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
        flags = dict.fromkeys(
            ("content_commitment", "key_encipherment", "data_encipherment", "key_agreement", "encipher_only"), False
        )
        builder = builder.add_extension(x509.KeyUsage(**usage, **flags, decipher_only=False), critical=True)
        return builder.sign(issuer[1], hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = cert("test receiver CA", ca_key, ("test receiver CA", ca_key), ca=True)
    leaf = cert("127.0.0.1", key, ("test receiver CA", ca_key), ca=False)
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert_file, key_file)
    return server, ca_file


def test_https_with_a_trusted_ca_and_refused_without(tmp_path: Path) -> None:
    server_ctx, ca_file = _pki(tmp_path)
    receiver = Receiver(server_ctx)

    async def go() -> None:
        assert receiver.url.startswith("https://")
        receiver.serve(snapshot(NOW, plane("738a51", 38.0, 0.0)))
        untrusted = AdsbPoller(receiver.url, MAPPING, Sink(), interval_s=0.02)
        async with untrusted:  # its own client trusts the system's CAs only
            await until(lambda: untrusted.stats.errors["connect"] >= 1, "the certificate refused")
        sink = Sink()
        async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=str(ca_file))) as client:
            poller = AdsbPoller(receiver.url, MAPPING, sink, interval_s=0.02, client=client)
            async with poller:
                await until(lambda: len(sink.batches) == 1, "the snapshot over TLS")
            assert not client.is_closed  # the caller's client is the caller's to close
        assert sink.got() == [[("ICAO-738A51", NOW, 38.0)]]

    try:
        run(go())
    finally:
        receiver.close()


# ---------------------------------------------------------------------------------------------
# A local file (readsb --write-json writes /run/readsb/aircraft.json)


def test_a_local_file_rewritten_by_the_receiver(tmp_path: Path) -> None:
    target = tmp_path / "aircraft.json"

    def write(body: bytes) -> None:  # as readsb does: a temporary file renamed over the old one
        part = tmp_path / "aircraft.json.tmp"
        part.write_bytes(body)
        os.replace(part, target)

    async def go() -> None:
        sink = Sink()
        poller = AdsbPoller(target, MAPPING, sink, interval_s=0.02, max_bytes=CAP)
        async with poller:
            await until(lambda: poller.stats.errors["file"] >= 1, "the missing file counted")
            write(snapshot(NOW, plane("738a51", 38.0, 0.5)))
            await until(lambda: len(sink.batches) == 1, "the first snapshot")
            write(b"{" * 10)
            await until(lambda: poller.stats.errors["json"] >= 1, "a broken file counted")
            write(b" " * (CAP + 1))
            await until(lambda: poller.stats.errors["too-large"] >= 1, "an oversized file counted")
            write(snapshot(NOW + 1, plane("738a51", 38.0, 1.5), plane("155f21", 38.3, 0.0, flight="RFF9")))
            await until(lambda: len(sink.batches) == 2, "the second snapshot")
        assert sink.got() == [[("ICAO-738A51", NOW - 0.5, 38.0)], [("ICAO-155F21", NOW + 1, 38.3)]]

    run(go())


def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "aircraft.json"
    os.mkfifo(fifo)

    async def go() -> None:
        poller = AdsbPoller(fifo, MAPPING, Sink(), interval_s=0.02)
        async with poller:
            await until(lambda: poller.stats.errors["file"] >= 2, "the FIFO refused")
        assert poller.stats.polls >= 2

    run(go())
    time.sleep(0)  # nothing left running: the FIFO was never opened for a blocking read


def test_one_poll_without_the_loop(receiver: Receiver) -> None:
    async def go() -> None:
        sink = Sink()
        receiver.serve(snapshot(NOW, plane("738a51", 38.0, 0.0)))
        poller = AdsbPoller(receiver.url, MAPPING, sink)
        got = await poller.poll()
        assert [r.track for r in got] == ["ICAO-738A51"] and sink.batches == [got]
        assert await poller.poll() == [] and poller.stats.unchanged == 1
        await poller.stop()  # closes the client the poll made
        assert poller.stats.polls == 2 and not poller.running

    run(go())
