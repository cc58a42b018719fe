"""``detente replay TRACKS``: recorded position reports fed to a running server, paced by their times.

* The demo's day, replayed at full speed into a real server (uvicorn on a
  loopback port, the demo world, its clock at the end of 7 July 2017), gives
  the batch monitor's five episodes at ``GET /track-events``, whether the
  server checks reports in the request or queues them for its monitor.
* Pacing: the plan (:func:`schedule`) on hand-made times, and the requests a
  recording server sees for a slice of the demo at a high speed; ``--now``
  stamps reports with the time they are sent.
* Refusals stop the replay (exit 1) with the server's problems: a party
  replaying another party's tracks (422), an unknown token (401); a busy
  server (503) is retried after its Retry-After; a server that never answers
  is given up on.  A bad file is refused with ``detente monitor``'s messages
  (exit 2).
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from typer.testing import CliRunner

from detente.adapters.api.app import create_app
from detente.adapters.cli.main import DEMO_SCENARIO, app
from detente.adapters.cli.replay_cmd import _retry_after, schedule
from detente.adapters.interop.scenario import ScenarioCodec, load_scenario
from detente.adapters.interop.tracks import read_tracks
from detente.adapters.storage import Store, open_store
from detente.engine.monitor import monitor
from detente.services import accounts, checking
from detente.services.context import FixedClock, Mechanism

runner = CliRunner()

DEMO_TRACKS = DEMO_SCENARIO.with_name("syria-2017-tracks.csv")
#: The end of the demo's day: none of its reports is in the server's future.
DAY_END = datetime(2017, 7, 7, 23, 0, tzinfo=UTC)
#: A slice of the demo: the Su-24 towards Al-Tanf and the convoy, reports every 10 s.
SLICE = ("2017-07-07T08:40:00Z", "2017-07-07T08:49:59Z")


def replay(*args: str, token: str | None = None) -> Any:
    env = {"DETENTE_TOKEN": token} if token is not None else {"DETENTE_TOKEN": ""}
    return runner.invoke(app, ["replay", *args], env=env)


def summary(result: Any) -> Any:
    return json.loads(result.stdout)


# -- a real server ----------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    store: Store
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, party: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[party]}"}

    def add_party_token(self, party: str) -> str:
        """A member of ``party`` and a token for it, made by the secretariat over the API."""
        with httpx.Client(base_url=self.url, headers=self.headers("secretariat")) as c:
            member = c.post(f"/parties/{party}/members", json={"name": f"{party} feed"})
            assert member.status_code == 201, member.text
            token = c.post(f"/members/{member.json()['id']}/tokens", json={})
            assert token.status_code == 201, token.text
        self.tokens[party] = token.json()["token"]
        return self.tokens[party]

    def get(self, path: str, party: str = "secretariat", **params: Any) -> Any:
        answer = httpx.get(f"{self.url}{path}", headers=self.headers(party), params=params)
        assert answer.status_code == 200, answer.text
        return answer.json()


@contextmanager
def serving(tmp_path: Path, *, queued: bool = False) -> Iterator[Server]:
    """The API on the demo world under uvicorn on a loopback port; ``queued``: with its monitor thread."""
    store = open_store(f"sqlite:///{tmp_path / 'replay.sqlite'}")
    checking.import_world(store, load_scenario(DEMO_SCENARIO))
    clock = FixedClock(DAY_END)
    _, admin = accounts.bootstrap(Mechanism(store=store, clock=clock, codec=ScenarioCodec()))
    api = create_app(store, clock=clock, webhooks=False, monitor=queued)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(api, log_level="warning", lifespan="on", timeout_graceful_shutdown=2))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            assert time.monotonic() < deadline, "the server did not start within 10 s"
            time.sleep(0.02)
        yield Server(f"http://127.0.0.1:{port}", store, {"secretariat": admin})
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
        store.close()
        assert not thread.is_alive(), "the server did not stop"


def spans(found: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str]]:
    """Episodes as (type, track, other, start, end), a separation's pair in order, times in UTC."""
    out = []
    for e in found:
        track, other = e["track"], e["other"]["id"]
        if e["type"] == "separation":
            track, other = sorted((track, other))
        out.append((e["type"], track, other, _utc(e["start"]), _utc(e["end"])))
    return sorted(out)


def _utc(value: str) -> str:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC).isoformat()


def expected_episodes() -> list[tuple[str, str, str, str, str]]:
    events = monitor(load_scenario(DEMO_SCENARIO), read_tracks(DEMO_TRACKS))
    assert len(events) == 5
    return spans([e.to_json() for e in events])


# -- the demo's day, into a real server ------------------------------------------------------------


def test_the_demo_day_replayed_at_full_speed_gives_the_five_episodes(tmp_path: Path) -> None:
    samples = read_tracks(DEMO_TRACKS)
    with serving(tmp_path) as server:
        result = replay(
            str(DEMO_TRACKS),
            "--url",
            server.url,
            "--speed",
            "max",
            "--format",
            "json",
            token=server.tokens["secretariat"],
        )
        assert result.exit_code == 0, result.output
        stored = server.get("/track-events", limit=500)
        tracks = server.get("/tracks")
    assert spans(stored) == expected_episodes()
    assert all(not e["open"] for e in stored)
    done = summary(result)
    assert done["complete"] and done["error"] is None
    assert (done["reports"], done["sent"], done["accepted"], done["stale"]) == (
        len(samples),
        len(samples),
        len(samples),
        0,
    )
    assert done["requests"] == math.ceil(len(samples) / 1000)  # --max-batch 1000, nothing to wait for
    assert done["episodes"] == {"opened": 5, "closed": 5, "open": 0}
    assert spans(done["events"]) == expected_episodes()
    # every track's latest position is its last recorded report
    last = {
        info.id: max(float(t) for k, t in zip(samples.track, samples.t, strict=True) if k == i)
        for i, info in enumerate(samples.tracks)
    }
    assert {t["track"]: datetime.fromisoformat(t["t"].replace("Z", "+00:00")).timestamp() for t in tracks} == last
    # the progress told of each episode as the server reported it
    assert result.stderr.count("opened ") == 5 and result.stderr.count("closed ") == 5


def test_a_server_that_queues_reports_is_watched_for_its_episodes(tmp_path: Path) -> None:
    with serving(tmp_path, queued=True) as server:
        result = replay(
            str(DEMO_TRACKS), "--url", server.url, "--speed", "max", "-f", "json", token=server.tokens["secretariat"]
        )
        assert result.exit_code == 0, result.output
        stored = server.get("/track-events", limit=500)
    done = summary(result)
    assert done["accepted"] == 0 and done["queued"] == done["sent"] == done["reports"]
    assert done["monitor_caught_up"] is True
    assert spans(done["events"]) == spans(stored) == expected_episodes()
    assert done["episodes"] == {"opened": 5, "closed": 5, "open": 0}


def test_the_table_summary_names_the_episodes(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        token_file = tmp_path / "token"
        token_file.write_text(server.tokens["secretariat"] + "\n", encoding="utf-8")
        result = replay(str(DEMO_TRACKS), "--url", server.url, "--speed", "0", "--token-file", str(token_file))
    assert result.exit_code == 0, result.output
    assert "Replayed 6,551 of 6,551 position report(s) of 8 track(s)" in result.stdout
    assert "5 opened, 5 closed, 0 still open" in result.stdout
    assert "ru-su24-tanf" in result.stdout and "tanf-55km" in result.stdout


# -- refusals ----------------------------------------------------------------------------------------


def test_a_party_replaying_another_partys_tracks_is_refused_with_the_servers_problems(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        sy = server.add_party_token("sy")
        result = replay(str(DEMO_TRACKS), "--url", server.url, "--speed", "max", "-f", "json", token=sy)
        kept = server.get("/tracks")
    assert result.exit_code == 1, result.output
    assert "422" in result.stderr and "request 1 " in result.stderr
    assert "'sy' reports its own tracks only, not 'ru''s" in result.stderr
    assert "track 'ru-su35-cap' of 'ru'" in result.stderr  # the first report of the day, named
    assert kept == []  # nothing of the refused request was kept
    done = summary(result)
    assert not done["complete"] and done["sent"] == 0
    assert done["error"]["status"] == 422
    assert all(p["party"] != "sy" for p in done["error"]["problems"])


def test_an_unknown_token_is_refused(tmp_path: Path) -> None:
    with serving(tmp_path) as server:
        result = replay(str(DEMO_TRACKS), "--url", server.url, "--speed", "max", token="not-a-token")
    assert result.exit_code == 1, result.output
    assert "401" in result.stderr and "--token-file" in result.stderr
    assert "Stopped after sending 0 of 6,551" in result.stdout


def test_a_bad_file_is_refused_with_the_monitors_messages(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "track,party,category,purpose,t,lon,lat,alt_m\n"
        "X-1,ru,air,armed,2017-07-07T08:00:00,38.0,33.5,5000\n"
        "X-1,ru,sea,armed,2017-07-07T08:00:10Z,38.0,33.5,5000\n",
        encoding="utf-8",
    )
    result = replay(str(bad), "--url", "http://127.0.0.1:9", token="unused")
    assert result.exit_code == 2, result.output
    assert "line 2" in result.stderr and "explicit UTC offset" in result.stderr and "line 3" in result.stderr
    checked = runner.invoke(app, ["monitor", str(DEMO_SCENARIO), str(bad)])
    assert checked.exit_code == 2
    assert result.stderr == checked.stderr
    missing = replay(str(tmp_path / "nowhere.csv"), token="unused")
    assert missing.exit_code == 2 and "nowhere.csv" in missing.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--speed", "fast"], "'fast' is not a number"),
        (["--speed", "-2"], "give a factor > 0"),
        (["--now", "--speed", "max"], "give a finite speed"),
        (["--from", "2017-07-07T08:00:00"], "explicit UTC offset"),
        (["--from", "2017-07-07T10:00Z", "--until", "2017-07-07T09:00Z"], "is after --until"),
        (["--from", "2018-01-01T00:00Z"], "no position report between 2018-01-01 00:00:00Z and the end"),
        (["--max-batch", "10001"], "--max-batch"),
        (["--url", "localhost:8000"], "give the server's http:// or https:// URL"),
    ],
)
def test_bad_options_are_refused(args: list[str], words: str) -> None:
    result = replay(str(DEMO_TRACKS), "--dry-run", *args)
    assert result.exit_code == 2, result.output
    assert words in " ".join(result.output.replace("│", " ").split()), result.output


def test_without_a_token_nothing_is_sent(tmp_path: Path) -> None:
    result = replay(str(DEMO_TRACKS), "--url", "http://127.0.0.1:9")
    assert result.exit_code == 2 and "DETENTE_TOKEN" in result.stderr
    empty = tmp_path / "empty-token"
    empty.write_text("\n", encoding="utf-8")
    result = replay(str(DEMO_TRACKS), "--token-file", str(empty))
    assert result.exit_code == 2 and "holds no token" in result.stderr


# -- a recording server ----------------------------------------------------------------------------


@dataclass
class Posted:
    positions: list[dict[str, Any]]
    authorization: str | None
    arrived: datetime


class Recorder:
    """A real HTTP server answering ``POST /positions`` as detente does (202), after ``busy`` 503s; else 404."""

    def __init__(self, busy: int = 0, retry_after: str = "1") -> None:
        self.posted: list[Posted] = []
        self.busy = busy
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                arrived = datetime.now(UTC)
                recorder.posted.append(Posted(body["positions"], self.headers.get("Authorization"), arrived))
                if recorder.busy:
                    recorder.busy -= 1
                    self._send(
                        503,
                        {"type": "/problems/busy", "title": "Busy", "status": 503, "detail": "queue full"},
                        {"Retry-After": retry_after},
                    )
                    return
                n = len(body["positions"])
                self._send(202, {"received": n, "accepted": n, "stale": 0, "queued": 0, "events": []})

            def do_GET(self) -> None:
                self._send(404, {"status": 404, "title": "Not found"})

            def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Recorder:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def slice_times() -> list[float]:
    """The recorded times of the demo's reports in SLICE, in time order."""
    samples = read_tracks(DEMO_TRACKS)
    lo, hi = (datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() for s in SLICE)
    return sorted(float(t) for t in samples.t if lo <= t <= hi)


def seconds(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_reports_due_within_batch_s_go_in_one_request(tmp_path: Path) -> None:
    times = slice_times()
    # at 600x, 0.05 s of sending is 30 s of recorded time: three instants of reports every 10 s
    with Recorder() as recorder:
        result = replay(
            str(DEMO_TRACKS), "--url", recorder.url, "--from", SLICE[0], "--until", SLICE[1],
            "--speed", "600", "--batch-s", "0.05", "-f", "json", token="feed-token",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    posted = recorder.posted
    assert all(p.authorization == "Bearer feed-token" for p in posted)
    sent = [seconds(r["t"]) for p in posted for r in p.positions]
    assert sent == times  # every report once, in time order, with its recorded time
    # each request: the reports of 30 s of recorded time from its first, and the next one starts after them
    groups: list[list[float]] = []
    for t in times:
        if groups and t - groups[-1][0] < 30:
            groups[-1].append(t)
        else:
            groups.append([t])
    assert [[seconds(r["t"]) for r in p.positions] for p in posted] == groups
    assert len(groups) == 20 and {len({t for t in g}) for g in groups} == {3}
    assert [len(b) for b in schedule(times, speed=600, batch_s=0.05)] == [len(g) for g in groups]
    assert summary(result)["requests"] == 20


def test_at_full_speed_requests_are_split_at_max_batch() -> None:
    times = slice_times()
    with Recorder() as recorder:
        result = replay(
            str(DEMO_TRACKS), "--url", recorder.url, "--from", SLICE[0], "--until", SLICE[1],
            "--speed", "max", "--max-batch", "50", token="t",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    sizes = [len(p.positions) for p in recorder.posted]
    assert sizes == [50] * (len(times) // 50) + ([len(times) % 50] if len(times) % 50 else [])


def test_now_stamps_each_report_with_the_time_it_is_sent() -> None:
    samples = read_tracks(DEMO_TRACKS)
    lo, hi = (seconds(s) for s in SLICE)
    recorded: dict[str, list[float]] = {}  # each track's recorded times in the slice, in order
    for k, t in zip(samples.track, samples.t, strict=True):
        if lo <= t <= hi:
            recorded.setdefault(samples.tracks[int(k)].id, []).append(float(t))
    t0 = min(min(ts) for ts in recorded.values())
    with Recorder() as recorder:
        before = datetime.now(UTC)
        result = replay(
            str(DEMO_TRACKS), "--url", recorder.url, "--from", SLICE[0], "--until", SLICE[1],
            "--speed", "600", "--now", token="t",
        )  # fmt: skip
        after = datetime.now(UTC)
    assert result.exit_code == 0, result.output
    reports = [(r, p.arrived) for p in recorder.posted for r in p.positions]
    assert len(reports) == sum(len(ts) for ts in recorded.values())
    first = datetime.fromisoformat(reports[0][0]["t"].replace("Z", "+00:00"))
    assert before <= first <= after  # the first report is stamped with the time the replay began
    nth: dict[str, int] = {}
    for r, arrived in reports:
        stamped = datetime.fromisoformat(r["t"].replace("Z", "+00:00"))
        k = nth[r["track"]] = nth.get(r["track"], -1) + 1
        was = recorded[r["track"]][k]
        assert stamped - first == timedelta(microseconds=round((was - t0) * 1e6 / 600))  # recorded spacing / speed
        assert stamped <= arrived  # sent no earlier than the time it carries: never ahead of the clock


def test_a_busy_server_is_asked_again_after_its_retry_after() -> None:
    with Recorder(busy=1, retry_after="1") as recorder:
        result = replay(
            str(DEMO_TRACKS), "--url", recorder.url, "--from", SLICE[0], "--until", SLICE[0],
            "--speed", "max", "-f", "json", token="t",
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    first, again = recorder.posted
    assert first.positions == again.positions and len(first.positions) > 0
    assert "the server is busy (503: queue full); again in 1.0 s" in " ".join(result.stderr.split())
    done = summary(result)
    assert (done["retries"], done["requests"], done["sent"]) == (1, 1, len(first.positions))


def test_a_server_busy_through_every_retry_is_given_up() -> None:
    with Recorder(busy=10, retry_after="0") as recorder:
        result = replay(str(DEMO_TRACKS), "--url", recorder.url, "--speed", "max", "--retries", "2", token="t")
    assert result.exit_code == 1, result.output
    assert len(recorder.posted) == 3
    assert "gave up after 3 attempt(s)" in result.stderr


def test_a_server_that_is_not_there_is_given_up_after_the_retries() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = replay(str(DEMO_TRACKS), "--url", f"http://127.0.0.1:{port}", "--retries", "1", token="t")
    assert result.exit_code == 1, result.output
    assert "no answer from the server (ConnectError" in result.stderr and "gave up after 2 attempt(s)" in result.stderr


# -- the plan ----------------------------------------------------------------------------------------


def plan(times: Sequence[float], **kw: Any) -> list[tuple[int, int, float]]:
    return [(b.start, b.stop, b.send_at) for b in schedule(times, **kw)]


def test_the_schedule_groups_reports_by_their_send_time() -> None:
    times: list[float] = [0, 10, 20, 30, 40, 40, 40, 100]
    # at 10x a report recorded d s after the first is due d/10 s after the start; a request holds 2 s
    assert plan(times, speed=10, batch_s=2) == [(0, 2, 1.0), (2, 4, 3.0), (4, 7, 4.0), (7, 8, 10.0)]
    # batch_s 0: only reports due at one instant share a request
    assert plan(times, speed=10, batch_s=0) == [(0, 1, 0.0), (1, 2, 1.0), (2, 3, 2.0), (3, 4, 3.0), (4, 7, 4.0),
                                                (7, 8, 10.0)]  # fmt: skip
    # max_batch cuts a group; the rest starts a request of its own
    assert plan(times, speed=10, batch_s=10, max_batch=3) == [(0, 3, 2.0), (3, 6, 4.0), (6, 8, 10.0)]
    # as fast as possible: everything at once, max_batch at a time
    assert plan(times, speed=math.inf, max_batch=5) == [(0, 5, 0.0), (5, 8, 0.0)]
    # a speed of 1 keeps recorded time
    assert plan([1_499_414_400.0, 1_499_414_401.5], speed=1, batch_s=1) == [(0, 1, 0.0), (1, 2, 1.5)]
    assert schedule([], speed=60) == []


def test_the_schedule_refuses_what_it_cannot_plan() -> None:
    with pytest.raises(ValueError, match="ascending"):
        schedule([10, 0], speed=1)
    with pytest.raises(ValueError, match="speed"):
        schedule([0], speed=0)
    with pytest.raises(ValueError, match="max_batch"):
        schedule([0], speed=1, max_batch=0)


def test_retry_after_is_read_as_seconds_or_a_date_and_bounded() -> None:
    assert _retry_after("2") == 2.0
    assert _retry_after("3600") == 60.0
    assert _retry_after("-5") == 0.0
    assert _retry_after("soon") is None and _retry_after(None) is None
    later = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    wait = _retry_after(later)
    assert wait is not None and 0 < wait <= 30


def test_a_dry_run_prints_the_plan_and_sends_nothing() -> None:
    samples = read_tracks(DEMO_TRACKS)
    times = sorted(float(t) for t in samples.t)
    result = replay(str(DEMO_TRACKS), "--url", "http://127.0.0.1:9", "--dry-run", "-f", "json")
    assert result.exit_code == 0, result.output
    doc = summary(result)
    expected = schedule(times, speed=60, batch_s=1.0, max_batch=1000)
    assert doc["requests"] == len(expected) and [b["reports"] for b in doc["batches"]] == [len(b) for b in expected]
    assert (doc["reports"], doc["tracks"], doc["first"]) == (len(samples), 8, "2017-07-07T04:00:00Z")
    assert doc["duration_s"] == pytest.approx((times[-1] - times[0]) / 60)
    text = replay(str(DEMO_TRACKS), "--dry-run", "--speed", "max")
    assert text.exit_code == 0 and "Would send 6,551 position report(s) of 8 track(s)" in text.stdout
    assert "as fast as the server takes them" in " ".join(text.stdout.split())
