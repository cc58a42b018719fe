"""The ``detente`` command: the composition root for the terminal.

Commands parse their input, call a service and render the result; they
never touch the database or the engine's internals directly.  Exit codes:
0 no conflict, 1 conflicts found, 2 invalid input (nothing stored).
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from detente.adapters.cli import demo_humanitarian, demo_monitor
from detente.adapters.cli.audit_cmd import audit_app, party_key_app
from detente.adapters.cli.humanitarian_cmd import corridor_cmd, hxl_app, notices_app
from detente.adapters.cli.monitor_cmd import monitor_cmd
from detente.adapters.cli.render import (
    conflict_table,
    conflicts_geojson,
    conflicts_json,
    print_summary,
)
from detente.adapters.cli.replay_cmd import replay_cmd
from detente.adapters.cli.report_cmd import report_cmd
from detente.adapters.interop.scenario import (
    MAX_SCENARIO_BYTES,
    load_scenario,
    objects_from_features,
    scenario_to_geojson,
)
from detente.adapters.storage import open_store
from detente.adapters.storage.audit_check import verify_store
from detente.domain.errors import DetenteError, InvalidInput, Problem
from detente.domain.model import Scenario
from detente.services import checking

app = typer.Typer(
    name="detente",
    help="A joint deconfliction mechanism: check planned operations against agreed zones, lines, "
    "protected sites, humanitarian movements and other parties' plans.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(audit_app, name="audit")
app.add_typer(party_key_app, name="party-key")
app.add_typer(notices_app, name="notices")
app.add_typer(hxl_app, name="hxl")
app.command("corridor")(corridor_cmd)
app.command("monitor")(monitor_cmd)
app.command("replay")(replay_cmd)
app.command("report")(report_cmd)
out = Console(width=max(120, Console().width))
err = Console(stderr=True)

DEMO_SCENARIO = Path(__file__).resolve().parents[2] / "demo" / "syria-2017.geojson"
DEFAULT_DB = "sqlite:///detente.sqlite"


class Format(StrEnum):
    table = "table"
    json = "json"
    geojson = "geojson"


def _fail(exc: Exception) -> typer.Exit:
    """Report invalid input on stderr and leave with exit code 2."""
    if isinstance(exc, InvalidInput):
        err.print(f"[bold red]invalid input[/]: {len(exc.problems)} problem(s)")
        for p in exc.problems:
            err.print(f"  - {p}", markup=False, highlight=False)
    else:
        err.print(f"[bold red]error[/]: {exc}", highlight=False)
    return typer.Exit(code=2)


def _read_intents(path: Path) -> list[Any]:
    """Intent features from a GeoJSON file: a FeatureCollection, or one Feature."""
    try:
        if path.stat().st_size > MAX_SCENARIO_BYTES:
            raise InvalidInput([Problem(rule="size", message=f"{path} is over {MAX_SCENARIO_BYTES} bytes")])
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInput([Problem(rule="json", message=f"{path}: {exc}")]) from exc
    features = raw.get("features") if isinstance(raw, dict) and raw.get("type") == "FeatureCollection" else [raw]
    if not isinstance(features, list) or not features:
        raise InvalidInput([Problem(rule="intent-file", message="expected a Feature or a FeatureCollection")])
    return features


def _emit(result: checking.CheckResult, fmt: Format, scenario: Scenario) -> None:
    if fmt is Format.json:
        print(conflicts_json(result.conflicts))
    elif fmt is Format.geojson:
        disc = checking.disclosures(scenario, result)
        print(conflicts_geojson(result.conflicts, disc))
    else:
        if result.conflicts:
            out.print(conflict_table(result.conflicts))
        print_summary(out, result.intents, result.conflicts)


@app.command()
def check(
    scenario: Annotated[Path | None, typer.Argument(help="Scenario file (GeoJSON, SCENARIO.md).")] = None,
    intent: Annotated[
        str | None,
        typer.Option(help="Intent id to check (with SCENARIO), or a file of intent features (with --db)."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.table,
    db: Annotated[str | None, typer.Option(help="Database URL: check against the stored world.")] = None,
) -> None:
    """Check intents for conflicts. Exit 0: none; 1: conflicts; 2: invalid input."""
    try:
        if db is not None:
            if intent is None:
                raise InvalidInput([Problem(rule="usage", message="--db needs --intent FILE")])
            store = open_store(db)
            world = store.load_world()
            objects = objects_from_features(_read_intents(Path(intent)), world.parties)
            result = checking.check_against_store(store, checking.intents_of(objects))
            _emit(result, fmt, world)
        else:
            if scenario is None:
                raise InvalidInput([Problem(rule="usage", message="give a SCENARIO file, or --db URL --intent FILE")])
            loaded = load_scenario(scenario)
            result = checking.check_scenario(loaded, intent_id=intent)
            _emit(result, fmt, loaded)
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
    raise typer.Exit(code=1 if result.conflicts else 0)


@app.command("import")
def import_(
    scenario: Annotated[Path, typer.Argument(help="Scenario file to store.")],
    db: Annotated[str, typer.Option(help="Database URL.")] = DEFAULT_DB,
) -> None:
    """Store a scenario in the database (replacing the stored world), all or nothing."""
    try:
        loaded = load_scenario(scenario)
        n = checking.import_world(open_store(db), loaded)
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
    err.print(f"stored {n} object(s) of {loaded.name!r} in {db}")


@app.command()
def export(db: Annotated[str, typer.Option(help="Database URL.")] = DEFAULT_DB) -> None:
    """Write the stored world as a scenario file to standard output."""
    try:
        scenario = checking.export_world(open_store(db))
    except (DetenteError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
    json.dump(scenario_to_geojson(scenario), sys.stdout, indent=1)
    sys.stdout.write("\n")


@app.command()
def demo(
    db: Annotated[str, typer.Option(help="Database URL for the demo world.")] = "sqlite:///detente-demo.sqlite",
) -> None:
    """Syria, July 2017: store the demo world, check a day of operations, then notify a convoy to Rukban."""
    scenario = load_scenario(DEMO_SCENARIO)
    store = open_store(db)
    checking.import_world(store, scenario)
    world = store.load_world()
    out.rule(f"[bold]{world.name}[/]")
    out.print(
        f"{len(world.parties)} parties, {len(world.objects)} objects stored in {db} "
        f"(world version {store.world_version()}); data: Natural Earth, OurAirports, GeoNames, GSHHG "
        "(see detente/demo/SOURCES.md)."
    )
    result = checking.check_scenario(world)
    for intent in result.intents:
        mine = [c for c in result.conflicts if c.intent == intent.id]
        label = f"{intent.id} ({intent.party}, {intent.category.value if intent.category else 'air'}"
        label += f", {intent.effective_purpose})"
        if mine:
            out.print(conflict_table(mine, title=label, with_intent=False))
        else:
            out.print(f"[green]✓[/] {label}: no conflict")
    print_summary(out, result.intents, result.conflicts)
    demo_humanitarian.run(store, out)
    demo_monitor.run(store, out)
    report = verify_store(store)
    verdict = "[green]intact[/]" if report.intact else "[bold red]BROKEN[/]"
    out.print(
        f"Audit log: {report.entries:,} entries, {report.heads:,} signed heads, {verdict} "
        f"(detente audit verify --db {db})."
    )


@app.command()
def init(
    db: Annotated[str, typer.Option(help="Database URL (created and migrated).")] = DEFAULT_DB,
    scenario: Annotated[Path | None, typer.Option(help="Scenario file to start the world from.")] = None,
    demo_world: Annotated[bool, typer.Option("--demo", help="Start from the Syria 2017 demo world.")] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Issue another secretariat credential on an initialised database.")
    ] = False,
) -> None:
    """Create the database and the secretariat's first credential; the token is printed once."""
    from detente.adapters.interop.scenario import ScenarioCodec
    from detente.services import accounts
    from detente.services.context import Mechanism, SystemClock

    try:
        store = open_store(db)
        mechanism = Mechanism(store=store, clock=SystemClock(), codec=ScenarioCodec())
        with store.read() as tx:
            initialised = any(tx.members("secretariat"))
        if initialised and not again:
            raise InvalidInput(
                [Problem("initialised", f"{db} is already initialised; pass --again for another secretariat token")]
            )
        source = DEMO_SCENARIO if demo_world else scenario
        if source is not None:
            if initialised:
                raise InvalidInput([Problem("initialised", "an initialised world is not replaced by init")])
            loaded = load_scenario(source)
            checking.import_world(store, loaded)
            err.print(f"stored {len(loaded.objects)} object(s) of {loaded.name!r}")
        member, bearer = accounts.bootstrap(mechanism)
    except (DetenteError, OSError, SQLAlchemyError) as exc:
        raise _fail(exc) from exc
    err.print(f"database ready: {db}; secretariat member {member.id}. The token (shown once, keep it safe):")
    print(bearer)


@app.command()
def serve(
    db: Annotated[str, typer.Option(help="Database URL.", envvar="DETENTE_DB")] = DEFAULT_DB,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes (use PostgreSQL for more than one).")] = 1,
    cot_listen: Annotated[
        str | None, typer.Option(help="Serve TAK clients (CoT over TCP) on HOST:PORT.", envvar="DETENTE_COT_LISTEN")
    ] = None,
    cot_mapping: Annotated[
        str | None, typer.Option(help="The CoT feed's mapping table (JSON, docs/cot.md).", envvar="DETENTE_COT_MAPPING")
    ] = None,
    cot_tls: Annotated[
        str | None, typer.Option(help="CERT,KEY,CA: TLS with client certificates.", envvar="DETENTE_COT_TLS")
    ] = None,
    cot_cn_parties: Annotated[
        str | None,
        typer.Option(
            help="JSON of client-certificate CN -> party (what each tablet sees).", envvar="DETENTE_COT_CN_PARTIES"
        ),
    ] = None,
    adsb_url: Annotated[
        str | None, typer.Option(help="Poll readsb/dump1090 aircraft.json at this URL.", envvar="DETENTE_ADSB_URL")
    ] = None,
    adsb_mapping: Annotated[
        str | None, typer.Option(help="The ADS-B feed's mapping table (JSON).", envvar="DETENTE_ADSB_MAPPING")
    ] = None,
    adsb_interval: Annotated[
        float, typer.Option(help="Seconds between ADS-B polls.", envvar="DETENTE_ADSB_INTERVAL_S")
    ] = 1.0,
    tak_server: Annotated[
        str | None, typer.Option(help="Publish the picture to a TAK server at HOST:PORT.", envvar="DETENTE_TAK_SERVER")
    ] = None,
    tak_party: Annotated[
        str | None, typer.Option(help="Whose view the TAK server is sent.", envvar="DETENTE_TAK_PARTY")
    ] = None,
) -> None:
    """Run the HTTP API (OpenAPI at /docs) on the database at --db, with its live monitor and any feeds."""
    import os

    import uvicorn

    from detente.adapters.feeds.server_feeds import FeedSettings

    os.environ["DETENTE_DB"] = db
    given = {
        "DETENTE_COT_LISTEN": cot_listen,
        "DETENTE_COT_MAPPING": cot_mapping,
        "DETENTE_COT_TLS": cot_tls,
        "DETENTE_COT_CN_PARTIES": cot_cn_parties,
        "DETENTE_ADSB_URL": adsb_url,
        "DETENTE_ADSB_MAPPING": adsb_mapping,
        "DETENTE_ADSB_INTERVAL_S": str(adsb_interval),
        "DETENTE_TAK_SERVER": tak_server,
        "DETENTE_TAK_PARTY": tak_party,
    }
    for name, value in given.items():
        if value:
            os.environ[name] = value
    try:
        feeds = FeedSettings.from_env()
    except InvalidInput as exc:
        raise _fail(exc) from exc
    if workers > 1 and db.startswith("sqlite"):
        err.print("[yellow]note[/]: several workers on SQLite share one writer; PostgreSQL scales further")
    if workers > 1 and feeds.active:
        raise _fail(
            InvalidInput([Problem("workers", "feeds and the live monitor run in one process: use --workers 1")])
        )
    uvicorn.run(
        "detente.adapters.api.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="warning",
    )


def main() -> None:  # pragma: no cover - entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
