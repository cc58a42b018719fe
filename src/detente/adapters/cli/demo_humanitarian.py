"""The demo's second act: a convoy to Rukban camp, notified, acknowledged, escalated, protected.

Runs the real services on the demo database with a clock set to 4 July
2017, moved by hand (the same code the API's timers run): OCHA notifies a
convoy from Damascus to Rukban; the Russian intents already filed across
its corridor are found and Russia told; four military parties acknowledge,
the Syrian government does not and is escalated at the deadline; an
intent filed afterwards through the corridor is refused; the
acknowledgement receipts are checked offline; and the corridor check finds
a detour around a filed sortie, and says when no road is clear.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console
from rich.table import Table
from shapely.geometry import LineString, Polygon

from detente.adapters.interop.roads import demo_roads
from detente.adapters.interop.scenario import ScenarioCodec
from detente.audit.keys import PublicKey
from detente.audit.receipts import Receipt
from detente.domain.accounts import Caller
from detente.domain.geo.footprint import Footprint
from detente.domain.geo.intervals import AltitudeBand, TimeWindow
from detente.domain.geo.volume import Volume4D
from detente.domain.model import Category, Kind, Role, WorldObject
from detente.services import accounts, audit, corridor, filing, notices
from detente.services.context import FixedClock, Mechanism
from detente.services.ports import Storage

START = datetime(2017, 7, 4, 8, 0, tzinfo=UTC)
#: Damascus, Dumayr, al-Sabe' Biyar, al-Tanf, Rukban camp: the M2 and the track to the camp.
M2_TO_RUKBAN = [(36.29, 33.51), (36.69, 33.64), (37.67, 33.73), (38.62, 33.50), (38.70, 33.29)]


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime(2017, 7, 7, hour, minute, tzinfo=UTC)


def run(store: Storage, out: Console) -> None:
    """Play the convoy story on ``store`` (which holds the demo world) and print what happens."""
    clock = FixedClock(START)
    m = Mechanism(store=store, clock=clock, codec=ScenarioCodec())
    accounts.bootstrap(m)  # the secretariat, to whom overdue acknowledgements are escalated
    ocha = Caller("demo-ocha", "ocha", Role.HUMANITARIAN)
    out.rule("[bold]A convoy to Rukban camp[/]")
    convoy = WorldObject(
        kind=Kind.MOVEMENT,
        id="convoy-rukban",
        party="ocha",
        volumes=(Volume4D(Footprint(LineString(M2_TO_RUKBAN), 2000.0), AltitudeBand(), TimeWindow(_at(6), _at(12))),),
        extra=({"name": "UN/SARC convoy Damascus - Rukban camp", "vehicles": 40, "cargo": "food, water, medicine"},),
    )
    sent = notices.notify(m, ocha, convoy)
    out.print(
        f"4 Jul 08:00Z  OCHA notifies {convoy.id} (7 Jul 06:00–12:00Z, 40 vehicles), notice {sent.notice}: "
        f"{len(sent.recipients)} military parties must acknowledge by {sent.deadline:%d %b %H:%MZ}."
    )
    for found in sent.conflicts:
        out.print(f"              filed intent {found['intent']} crosses its corridor: {found['party']} told at once")

    receipts = []
    for hours, party in enumerate(("coalition", "ru", "sdf", "tr"), start=1):
        clock.at = START + timedelta(hours=hours)
        caller = Caller(f"demo-{party}", party, Role.MILITARY)
        acked = audit.ack(m, caller, notices.inbox_message(m, caller, sent.notice))
        receipts.append(Receipt.from_json(acked["receipt"]))
    clock.at = START + timedelta(hours=18)
    reminded = notices.tick(m).reminded
    clock.at = sent.deadline or START
    escalated = notices.tick(m).escalated
    out.print(
        f"              reminders sent 6 h before the deadline: {reminded}; escalated at the deadline: {escalated}"
    )
    status = notices.show(m, Caller("demo-secretariat", "secretariat", Role.SECRETARIAT), sent.notice)
    table = Table(title=f"Notice {sent.notice}: acknowledgements", title_justify="left", header_style="bold")
    for column in ("party", "state", "acknowledged", "escalated"):
        table.add_column(column)
    for row in status["recipients"]:
        style = "bold red" if row["state"] == "overdue" else "green"
        acked_at = "" if row["acked_at"] is None else f"{row['acked_at']:%d %b %H:%MZ}"
        escalated_at = "" if row["escalated_at"] is None else f"{row['escalated_at']:%d %b %H:%MZ} to the secretariat"
        table.add_row(row["party"], f"[{style}]{row['state']}[/]", acked_at, escalated_at)
    out.print(table)
    published = [PublicKey.from_json(k) for k in audit.keys(m)]
    proven = sum(1 for r in receipts if not r.check(trusted=published))
    out.print(f"{proven} of {len(receipts)} acknowledgement receipts verify offline against the log's key.")

    strike = WorldObject(
        kind=Kind.INTENT,
        id="coalition-strike-m2",
        party="coalition",
        volumes=(
            Volume4D(
                Footprint(Polygon([(37.0, 33.6), (37.2, 33.6), (37.2, 33.8), (37.0, 33.8)])),
                AltitudeBand(3000, 6000),
                TimeWindow(_at(8), _at(9)),
            ),
        ),
        category=Category.AIR,
    )
    with store.read() as tx:
        version = tx.version()
    try:
        filing.file(m, Caller("demo-coalition", "coalition", Role.MILITARY), strike, checked_version=version)
        out.print("[bold red]the strike across the convoy's corridor was filed[/]")
    except filing.BlockingConflicts as refused:
        kinds = sorted({c.type.value for c in refused.conflicts if c.severity.value == "blocking"})
        out.print(f"A coalition strike over the M2 at 08:00–09:00Z is refused: blocking {', '.join(kinds)}.")

    out.rule("[bold]Is this route clear?[/]")
    roads = demo_roads()
    for label, route, window in (
        ("Homs → Hama, 05:00–06:30Z", [(36.72559, 34.72405), (36.75783, 35.13179)], TimeWindow(_at(5), _at(6, 30))),
        ("Damascus → Rukban, 09:00–10:30Z", M2_TO_RUKBAN, TimeWindow(_at(9), _at(10, 30))),
    ):
        answer = corridor.check(m, ocha, corridor.Query(LineString(route), window, 1000.0), roads)
        hazards = sum(len(s["hazards"]) for s in answer["segments"])
        plan = answer["route"]
        if plan["found"]:
            verdict = (
                f"clear road route {plan['length_m'] / 1000:.0f} km via {', '.join(plan['roads'])} "
                f"(+{plan['detour_m'] / 1000:.0f} km)"
            )
        else:
            verdict = f"[bold red]no clear route[/]: {plan['reason']}"
        out.print(f"{label}: {hazards} hazard(s) on the asked route; {verdict}")
