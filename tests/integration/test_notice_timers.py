"""The acknowledgement timers under concurrency: two servers sweeping at once send each escalation once.

Every API worker runs the timers every minute, so on PostgreSQL several
sweeps meet; each due recipient must be reminded and escalated exactly
once (its rows are claimed with ``SKIP LOCKED``; SQLite has one writer).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from shapely.geometry import LineString

from detente.adapters.cli.main import DEMO_SCENARIO
from detente.adapters.interop.scenario import ScenarioCodec, load_scenario
from detente.adapters.storage import open_store
from detente.domain.accounts import Caller
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Kind, Role, WorldObject
from detente.services import accounts, checking, notices
from detente.services.context import FixedClock, Mechanism

SENT = datetime(2017, 7, 4, 8, 0, tzinfo=UTC)
OCHA = Caller("m-ocha", "ocha", Role.HUMANITARIAN)


def convoy(oid: str) -> WorldObject:
    window = TimeWindow(datetime(2017, 7, 7, 6, tzinfo=UTC), datetime(2017, 7, 7, 12, tzinfo=UTC))
    route = LineString([(36.29, 33.51), (36.69, 33.64)])
    return WorldObject(Kind.MOVEMENT, oid, "ocha", (Volume4D(Footprint(route, 1000.0), AltitudeBand(), window),))


def test_two_sweeps_at_once_escalate_each_party_once(url: str) -> None:
    store = open_store(url)
    try:
        checking.import_world(store, load_scenario(DEMO_SCENARIO))
        clock = FixedClock(SENT)
        m = Mechanism(store=store, clock=clock, codec=ScenarioCodec())
        accounts.bootstrap(m)
        for i in range(20):
            notices.notify(m, OCHA, convoy(f"convoy-{i}"))
        clock.at = SENT + timedelta(hours=24)
        totals: list[int] = []
        start = threading.Barrier(2)

        def sweep() -> None:
            start.wait()
            swept = notices.tick(m)
            totals.append(swept.escalated)

        threads = [threading.Thread(target=sweep) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        # 20 notices x 5 military parties, none acknowledged: 100 escalations, each exactly once.
        assert sum(totals) == 100
        assert notices.tick(m).escalated == 0
        with store.read() as tx:
            secretariat = tx.notifications("secretariat", after=0, unread=False, limit=500)
        overdue = [(n["body"]["notice"], n["body"]["party"]) for n in secretariat if n["type"] == "notice.overdue"]
        assert len(overdue) == len(set(overdue)) == 100
    finally:
        store.close()
