"""A real HTTP server in a thread that records what it is sent: the far end of webhook tests."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Seen:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected in the timeout test


class Receiver:
    """An HTTP server in a background thread answering ``statuses`` in turn (then 200)."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.statuses: list[int] = []
        self.delay_s = 0.0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._answer(self)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        with self._lock:
            self.requests.append(
                Seen(handler.command, handler.path, {k.lower(): v for k, v in handler.headers.items()}, body)
            )
            status = self.statuses.pop(0) if self.statuses else 200
        if self.delay_s:
            time.sleep(self.delay_s)
        handler.send_response(status)
        if 300 <= status < 400:
            handler.send_header("Location", self.url + "/elsewhere")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)

    def wait_for(self, n: int, timeout_s: float = 10.0) -> list[Seen]:
        """The requests so far, once there are at least ``n`` (fails after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= n:
                    return list(self.requests)
            time.sleep(0.05)
        with self._lock:
            raise AssertionError(f"expected {n} request(s) within {timeout_s} s, got {len(self.requests)}")
