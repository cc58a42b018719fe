"""Two parties file conflicting intents at the same moment, many times over, on SQLite and on PostGIS.

Each round both military parties (``blue`` and ``red``) read the world
version, are released together by a barrier, and file an intent over the
same square, altitude band and time window (each round has a window of its
own, so rounds never interact), both stating the version they read.
Exactly one outcome is possible each time: one filing wins, the other is
refused with :class:`StaleWorld` naming the winner, re-checks, and files
with an advisory separation conflict against the winner, who is told of it
("the second sees the first").  Nothing is lost or duplicated: the stored
intents, the filings, the world versions and the notifications are checked
after all rounds.

The race runs between two threads (one store each, like two workers) and
between two OS processes started with ``spawn`` (true parallelism), each
opening its own store on the same URL.
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from detente.adapters.interop.scenario import ScenarioCodec, parse_scenario
from detente.adapters.storage import open_store
from detente.adapters.storage.tables import FilingRow, VolumeRow
from detente.domain.accounts import Caller
from detente.domain.model import Kind, Role
from detente.services import accounts, filing
from detente.services.context import Mechanism, SystemClock
from detente.services.filing import StaleWorld

THREAD_ROUNDS = 50
PROCESS_ROUNDS = 10
PARTIES = ("blue", "red")
BARRIER_TIMEOUT = 60.0
T0 = datetime(2030, 1, 1, tzinfo=UTC)

Record = dict[str, Any]


# -- the world and the intents -------------------------------------------------


def _set_up(url: str) -> dict[str, str]:
    """A world of two military parties and nothing else; returns a member id per party."""
    doc = {
        "type": "FeatureCollection",
        "detente": {
            "version": 1,
            "name": "filing race",
            "parties": [{"id": p, "name": p.title(), "role": "military"} for p in PARTIES],
        },
        "features": [],
    }
    with open_store(url) as store:
        store.replace_world(parse_scenario(json.dumps(doc)))
        m = Mechanism(store=store, clock=SystemClock(), codec=ScenarioCodec())
        admin, _ = accounts.bootstrap(m)
        secretariat = Caller(admin.id, "secretariat", Role.SECRETARIAT)
        return {p: accounts.add_member(m, secretariat, party=p, name=f"{p} planner").id for p in PARTIES}


def _features(oid: str, party: str, k: int) -> list[dict[str, Any]]:
    """Round ``k``'s intent: the same square and band for both parties, a window of the round's own."""
    start = T0 + timedelta(hours=2 * k)
    end = start + timedelta(hours=1)
    lon, lat, size = 36.0, 35.0, 0.1
    ring = [[lon, lat], [lon + size, lat], [lon + size, lat + size], [lon, lat + size], [lon, lat]]
    return [
        {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {
                "kind": "intent",
                "id": oid,
                "party": party,
                "category": "air",
                "altitude_m": [3000, 6000],
                "time": [start.isoformat().replace("+00:00", "Z"), end.isoformat().replace("+00:00", "Z")],
            },
        }
    ]


def _conflicts(conflicts: list[Any]) -> list[tuple[str, str, str, str]]:
    return sorted((c.other_kind.value, c.other_id, c.type.value, c.severity.value) for c in conflicts)


# -- one party racing the other --------------------------------------------------


def _race(url: str, party: str, member: str, rounds: int, barrier: Any, report: Callable[[Record], None]) -> None:
    """File one intent per round for ``party``, released together with the other party by ``barrier``.

    The store is the worker's own (its own engine and connections).  A
    refused filing re-checks with a dry run and files again against the
    version it saw.  Any other error breaks the barrier so the other party
    does not wait for ever.
    """
    store = open_store(url, migrate=False)
    try:
        m = Mechanism(store=store, clock=SystemClock(), codec=ScenarioCodec())
        caller = Caller(member, party, Role.MILITARY)
        with store.read() as tx:
            parties = tx.parties()
        for k in range(rounds):
            oid = f"{party}-{k}"
            (intent,) = m.codec.objects(_features(oid, party, k), parties)
            barrier.wait()  # the round starts once the previous one is over
            with store.read() as tx:
                checked = tx.version()
            barrier.wait()  # both have read: file together
            record: Record = {"round": k, "party": party, "intent": oid, "checked": checked}
            try:
                won = filing.file(m, caller, intent, checked_version=checked)
            except StaleWorld as stale:
                record.update(
                    result="stale",
                    new=_conflicts(stale.new),
                    stale_conflicts=_conflicts(stale.conflicts),
                    stale_version=stale.world_version,
                )
                dry = filing.file(m, caller, intent, checked_version=None, dry_run=True)
                record.update(
                    dry_version=dry.world_version, dry_conflicts=_conflicts(dry.conflicts), dry_filed=dry.filed
                )
                again = filing.file(m, caller, intent, checked_version=dry.world_version)
                outcome = again
            else:
                record["result"] = "won"
                outcome = won
            record.update(
                filed=outcome.filed,
                version=outcome.world_version,
                conflicts=_conflicts(outcome.conflicts),
                filing_id=outcome.filing_id,
                notified=list(outcome.notified),
            )
            report(record)
    except BaseException:
        barrier.abort()
        raise
    finally:
        store.close()


def _process_main(url: str, party: str, member: str, rounds: int, barrier: Any, out: Any) -> None:
    """A spawned process: race, sending each round's record (or the error) back, then ``done``."""
    try:
        _race(url, party, member, rounds, barrier, out.put)
    except BaseException:
        out.put({"party": party, "error": traceback.format_exc()})
    finally:
        out.put({"party": party, "done": True})


# -- what must hold --------------------------------------------------------------


def _assert_rounds(url: str, records: list[Record], rounds: int) -> dict[str, int]:
    """Each round has exactly one outcome, and the store holds exactly what the rounds filed.

    Returns how many rounds each party won (either may win; not asserted).
    """
    by_round: dict[int, dict[str, Record]] = {}
    for r in records:
        assert r["party"] not in by_round.setdefault(r["round"], {}), r
        by_round[r["round"]][r["party"]] = r
    assert sorted(by_round) == list(range(rounds))
    wins = dict.fromkeys(PARTIES, 0)
    expected: dict[str, Record] = {}
    notes: set[tuple[str, str, int]] = set()
    previous: int | None = None
    for k in range(rounds):
        pair = by_round[k]
        assert set(pair) == set(PARTIES), (k, pair)
        results = sorted(r["result"] for r in pair.values())
        assert results == ["stale", "won"], (k, pair)
        winner = next(r for r in pair.values() if r["result"] == "won")
        loser = next(r for r in pair.values() if r["result"] == "stale")
        wins[winner["party"]] += 1
        v = winner["checked"]
        assert loser["checked"] == v, (k, pair)  # both checked the same world
        if previous is not None:
            assert v == previous + 2, (k, pair)  # nothing else changed the world between rounds
        previous = v
        on_winner = [("intent", winner["intent"], "separation", "advisory")]
        # The winner filed first, against a world without the loser's intent.
        assert winner["filed"] and winner["conflicts"] == [] and winner["notified"] == [], winner
        assert winner["version"] == v + 1, winner
        # The loser was refused: the winner's intent is new to it, at the winner's version.
        assert loser["new"] == on_winner and loser["stale_conflicts"] == on_winner, loser
        assert loser["stale_version"] == v + 1, loser
        # It re-checked, saw the winner, and filed with an advisory conflict the winner is told of.
        assert loser["dry_version"] == v + 1 and loser["dry_conflicts"] == on_winner and not loser["dry_filed"]
        assert loser["filed"] and loser["version"] == v + 2 and loser["conflicts"] == on_winner, loser
        assert loser["notified"] == [winner["party"]], loser
        expected[winner["intent"]] = {**winner, "checked_version": v}
        expected[loser["intent"]] = {**loser, "checked_version": v + 1}
        notes.add((winner["party"], loser["intent"], loser["filing_id"]))

    versions = [r["version"] for r in expected.values()]
    assert len(set(versions)) == len(versions) == 2 * rounds
    first = by_round[0]["blue"]["checked"]
    assert sorted(versions) == list(range(first + 1, first + 1 + 2 * rounds))  # one version per filing, no gaps
    assert len({r["filing_id"] for r in expected.values()}) == 2 * rounds

    with open_store(url, migrate=False) as store:
        world, final = store.load_world_with_version()
        assert final == max(versions)  # nothing changed the world after the last filing
        intents = {o.id: o.party for o in world.intents()}
        assert intents == {oid: r["party"] for oid, r in expected.items()}
        with store.read() as tx:
            session = tx.session
            rows = session.execute(
                select(VolumeRow.object_id, func.count())
                .where(VolumeRow.kind == Kind.INTENT.value)
                .group_by(VolumeRow.object_id)
            ).all()
            assert dict(rows) == dict.fromkeys(expected, 1)  # one volume each: none stored twice
            assert session.execute(select(func.count()).select_from(FilingRow)).scalar_one() == 2 * rounds
            for oid, r in expected.items():
                assert tx.get_object(Kind.INTENT, oid) is not None
                filings = tx.filings(oid)
                assert len(filings) == 1, (oid, filings)
                (f,) = filings
                assert (f["action"], f["party"], f["id"]) == ("filed", r["party"], r["filing_id"]), f
                assert (f["checked_version"], f["world_version"]) == (r["checked_version"], r["version"]), f
                assert [c["other"]["id"] for c in f["conflicts"]] == [c[1] for c in r["conflicts"]], f
            seen: set[tuple[str, str, int]] = set()
            for party in PARTIES:
                inbox = tx.notifications(party, after=0, unread=False, limit=10 * rounds + 10)
                for n in inbox:
                    assert n["type"] == "conflict.disclosed", n
                    body = n["body"]
                    key = (party, body["intent"], body["filing"])
                    assert key not in seen, n  # told once
                    seen.add(key)
                    loser = expected[body["intent"]]
                    assert body["filing_party"] == loser["party"] != party
                    assert body["world_version"] == loser["version"] and body["severity"] == "advisory"
                    winner_ids = [c[1] for c in loser["conflicts"]]
                    assert [d["concerns"]["id"] for d in body["disclosures"]] == winner_ids, body
            assert seen == notes
            assert len(tx.disclosures(None, 0, 10 * rounds + 10)) == rounds
    return wins


# -- the tests ---------------------------------------------------------------------


def test_threads_filing_at_once_have_exactly_one_outcome(url: str) -> None:
    members = _set_up(url)
    barrier = threading.Barrier(len(PARTIES), timeout=BARRIER_TIMEOUT)
    records: list[Record] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def report(record: Record) -> None:
        with lock:
            records.append(record)

    def run(party: str) -> None:
        try:
            _race(url, party, members[party], THREAD_ROUNDS, barrier, report)
        except BaseException as e:  # reported below, with the other thread's
            errors.append(e)

    threads = [threading.Thread(target=run, args=(p,), name=f"file-{p}") for p in PARTIES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=BARRIER_TIMEOUT * 3)
    assert not any(t.is_alive() for t in threads), "a filing thread hung"
    real = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
    assert not real, "".join(traceback.format_exception(real[0]))
    assert not errors, errors
    _assert_rounds(url, records, THREAD_ROUNDS)


def test_processes_filing_at_once_have_exactly_one_outcome(
    url: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    members = _set_up(url)
    # Spawned children import this module by its name (``tests.integration.test_filing_race``
    # under --import-mode=importlib): put the repository root on the path they inherit.
    monkeypatch.syspath_prepend(str(request.config.rootpath))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(PARTIES), timeout=BARRIER_TIMEOUT)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_process_main, args=(url, p, members[p], PROCESS_ROUNDS, barrier, out), name=f"file-{p}")
        for p in PARTIES
    ]
    for p in procs:
        p.start()
    records: list[Record] = []
    errors: list[str] = []
    done: set[str] = set()
    try:
        while done != set(PARTIES):
            try:
                msg = out.get(timeout=BARRIER_TIMEOUT * 2)
            except queue.Empty:
                pytest.fail(f"filing processes hung; done: {sorted(done)}")
            if msg.get("done"):
                done.add(msg["party"])
            elif "error" in msg:
                errors.append(f"{msg['party']}:\n{msg['error']}")
            else:
                records.append(msg)
    finally:
        for p in procs:
            p.join(timeout=BARRIER_TIMEOUT)
            if p.is_alive():
                p.kill()
                p.join()
    real = [e for e in errors if "BrokenBarrierError" not in e.splitlines()[-1]]
    assert not real, "\n".join(real)
    assert not errors, "\n".join(errors)
    assert [p.exitcode for p in procs] == [0, 0]
    _assert_rounds(url, records, PROCESS_ROUNDS)
