"""``detente audit ...`` and ``detente party-key ...``: the audit log from the terminal.

Exit codes: 0 intact (or done), 1 a break was found, 2 invalid input.
``verify FILE`` needs neither a database nor a server: it is what a party
runs on an export it was handed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from sqlalchemy.exc import SQLAlchemyError

from detente.adapters.cli.witness import Seen, WitnessError, witness
from detente.adapters.storage import open_store
from detente.adapters.storage.audit_check import export, verify_store
from detente.adapters.storage.audit_log import Pending, consistency, inclusion, latest_head, receipt
from detente.audit.heads import TreeHead
from detente.audit.keys import PublicKey, Signer
from detente.audit.receipts import Receipt
from detente.audit.signing import sign_statement
from detente.audit.verify import Report, render, verify_export
from detente.domain.errors import DetenteError

audit_app = typer.Typer(help="The tamper-evident audit log: export, verify, proofs, receipts, witnessing.")
party_key_app = typer.Typer(help="A party's own signing key: make one, sign a statement with it.")
out = Console(width=max(120, Console().width), highlight=False)
err = Console(stderr=True, highlight=False)

DEFAULT_DB = "sqlite:///detente.sqlite"
Db = Annotated[str, typer.Option(help="Database URL.", envvar="DETENTE_DB")]
Trust = Annotated[
    list[Path] | None,
    typer.Option("--trust", help="A log key you trust (base64, PEM or a key JSON file); repeatable."),
]


def _fail(message: str) -> typer.Exit:
    err.print(f"[bold red]error[/]: {message}")
    return typer.Exit(code=2)


def _keys(paths: list[Path] | None) -> list[PublicKey] | None:
    if not paths:
        return None
    keys = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
            keys.append(
                PublicKey.from_json(json.loads(text)) if text.lstrip().startswith("{") else PublicKey.parse(text)
            )
        except (OSError, ValueError) as exc:
            raise _fail(f"{path}: {exc}") from None
    return keys


def _heads(paths: list[Path] | None) -> list[TreeHead]:
    heads = []
    for path in paths or []:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            # A head file, a witness state file or a receipt: take the head in it.
            heads.append(TreeHead.from_json(raw.get("head", raw) if isinstance(raw, dict) else raw))
        except (OSError, ValueError, AttributeError) as exc:
            raise _fail(f"{path}: not a tree head ({exc})") from None
    return heads


def _show(report: Report) -> None:
    for i, line in enumerate(render(report)):
        style = "bold green" if report.intact else "bold red"
        out.print(f"[{style}]{line}[/]" if i == 0 else line, markup=i == 0)
    raise typer.Exit(code=0 if report.intact else 1)


@audit_app.command("export")
def export_cmd(
    db: Db = DEFAULT_DB,
    output: Annotated[Path | None, typer.Option("--out", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """Write the whole log and its signed heads (JSON Lines) for anyone to verify offline."""
    try:
        store = open_store(db)
        if output is None:
            count = export(store, sys.stdout)
        else:
            with output.open("w", encoding="utf-8") as handle:
                count = export(store, handle)
    except (DetenteError, SQLAlchemyError, OSError) as exc:
        raise _fail(str(exc)) from exc
    err.print(f"exported {count:,} entries")


@audit_app.command("verify")
def verify_cmd(
    file: Annotated[Path | None, typer.Argument(help="An export to check offline (no database, no server).")] = None,
    db: Annotated[str | None, typer.Option(help="Check this live database instead, tables included.")] = None,
    trust: Trust = None,
    head: Annotated[
        list[Path] | None, typer.Option("--head", help="A head you kept (head, receipt or witness file); repeatable.")
    ] = None,
) -> None:
    """Recompute the log, check every signature; say it is intact or exactly where it breaks."""
    if (file is None) == (db is None):
        raise _fail("give an export FILE or --db URL (one of them)")
    trusted, known = _keys(trust), _heads(head)
    if db is not None:
        try:
            report = verify_store(open_store(db, migrate=False), trusted=trusted, known_heads=known)
        except (DetenteError, SQLAlchemyError) as exc:
            raise _fail(str(exc)) from exc
    else:
        assert file is not None
        try:
            with file.open(encoding="utf-8") as handle:
                report = verify_export(handle, trusted=trusted, known_heads=known)
        except (OSError, UnicodeDecodeError) as exc:
            raise _fail(f"{file}: {exc}") from exc
    _show(report)


@audit_app.command("proof")
def proof_cmd(
    first: Annotated[int, typer.Argument(help="Entry index (inclusion) or the old size (with SECOND).")],
    second: Annotated[int | None, typer.Argument(help="The new size: a consistency proof FIRST -> SECOND.")] = None,
    size: Annotated[int | None, typer.Option(help="Tree size for an inclusion proof (default: latest head).")] = None,
    db: Db = DEFAULT_DB,
) -> None:
    """An inclusion proof of entry FIRST, or a consistency proof between sizes FIRST and SECOND (JSON)."""
    try:
        store = open_store(db, migrate=False)
        with store.read() as tx:
            top = latest_head(tx.session)
            if top is None:
                raise _fail("the log has no signed head yet")
            if second is None:
                at = size or top.size
                hashes = inclusion(tx.session, first, at)
                document = {"index": first, "size": at, "proof": [h.hex() for h in hashes]}
            else:
                hashes = consistency(tx.session, first, second)
                document = {"first": first, "second": second, "proof": [h.hex() for h in hashes]}
    except (ValueError, DetenteError, SQLAlchemyError) as exc:
        raise _fail(str(exc)) from exc
    print(json.dumps(document, indent=1))


@audit_app.command("receipt")
def receipt_cmd(index: Annotated[int, typer.Argument(help="Entry index.")], db: Db = DEFAULT_DB) -> None:
    """The receipt of one entry (JSON), against the latest signed head."""
    try:
        store = open_store(db, migrate=False)
        with store.read() as tx:
            found = receipt(tx.session, index)
    except (DetenteError, SQLAlchemyError) as exc:
        raise _fail(str(exc)) from exc
    print(json.dumps(found.to_json(), indent=1))


@audit_app.command("check-receipt")
def check_receipt_cmd(file: Annotated[Path, typer.Argument(help="A receipt (JSON).")], trust: Trust = None) -> None:
    """Check a receipt offline: the entry is in the log the signed head commits to."""
    try:
        raw = json.loads(file.read_text(encoding="utf-8"))
        found = Receipt.from_json(raw.get("receipt", raw) if isinstance(raw, dict) else raw)
    except (OSError, ValueError) as exc:
        raise _fail(f"{file}: {exc}") from exc
    problems = found.check(_keys(trust))
    if problems:
        out.print(f"[bold red]NOT PROVEN[/]: {found.summary()}")
        for problem in problems:
            out.print(f"  - {problem}", markup=False)
        raise typer.Exit(code=1)
    out.print(f"[bold green]PROVEN[/]: {found.summary()}")
    if not trust:
        out.print("note: pass --trust with the log's published key, else this proves consistency, not authorship")


@audit_app.command("witness")
def witness_cmd(
    api: Annotated[str, typer.Option(help="The detente server's base URL.", envvar="DETENTE_API")],
    token: Annotated[str, typer.Option(help="Your API token.", envvar="DETENTE_TOKEN")],
    state: Annotated[Path, typer.Option(help="Where this witness keeps the last head it saw.")] = Path(
        "detente-witness.json"
    ),
    trust: Trust = None,
) -> None:
    """Check the server's log still extends the last head you saw (consistency proof); remember the new head."""
    try:
        seen = Seen.load(state)
        with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            new, said = witness(client, seen, _keys(trust))
    except WitnessError as exc:
        out.print(f"[bold red]HISTORY NOT CONSISTENT[/]: {exc}", markup=True)
        out.print(f"your last head is kept in {state} as evidence")
        raise typer.Exit(code=1) from None
    except httpx.HTTPError as exc:
        raise _fail(f"{api}: {exc}") from exc
    for line in said:
        out.print(line, markup=False)
    new.save(state)
    out.print(f"[bold green]CONSISTENT[/]: head at size {new.head.size if new.head else 0:,} kept in {state}")


@audit_app.command("rotate-key")
def rotate_key_cmd(db: Db = DEFAULT_DB) -> None:
    """Make a new log-signing key; the old key signs the entry that introduces it, then retires."""
    try:
        store = open_store(db)
        rotate = getattr(store.keys, "rotate", None)
        if rotate is None:
            raise _fail("this store's keys cannot be rotated")
        old, new = rotate()
        with store.write(world=False) as tx:
            tx.pending.append(
                Pending("audit.note", "audit", ["*"], None, {"note": f"log key rotated: {old.key_id} -> {new.key_id}"})
            )
    except (DetenteError, SQLAlchemyError, OSError) as exc:
        raise _fail(str(exc)) from exc
    out.print(f"log key {old.key_id} retired; new key {new.key_id} (published at /.well-known/detente/audit-keys)")


@party_key_app.command("new")
def party_key_new(
    key_file: Annotated[Path, typer.Argument(help="Where to write the private key (PEM, mode 0600).")],
    party: Annotated[str, typer.Option(help="Your party's id: the output is then the body to register the key.")],
) -> None:
    """Make a party's Ed25519 key pair; prints the body of POST /parties/{party}/keys (key and proof)."""
    if key_file.exists():
        raise _fail(f"{key_file} exists; not overwriting a private key")
    signer = Signer.generate()
    descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(signer.to_pem())
    proof = sign_statement(signer, {"type": "party.key", "party": party, "key_id": signer.key_id})
    err.print(f"key {signer.key_id} written to {key_file}; register it with this body:")
    print(json.dumps({"public_key": signer.public.to_json()["public_key"], "proof": proof}))


@party_key_app.command("sign")
def party_key_sign(
    key_file: Annotated[Path, typer.Argument(help="The party's private key (PEM).")],
    statement: Annotated[str, typer.Argument(help="The statement (JSON text, or @file).")],
) -> None:
    """Sign a statement's RFC 8785 JSON; prints {"key_id", "signature"} to send with the request."""
    try:
        signer = Signer.from_pem(key_file.read_bytes())
        text = Path(statement[1:]).read_text(encoding="utf-8") if statement.startswith("@") else statement
        value = json.loads(text)
        if isinstance(value, dict) and "statement" in value:
            value = value["statement"]  # the answer of GET /notifications/{id}/ack as it is
        if not isinstance(value, dict):
            raise ValueError("a statement is a JSON object")
        signature = sign_statement(signer, value)
    except (OSError, ValueError) as exc:
        raise _fail(str(exc)) from exc
    print(json.dumps({"key_id": signer.public.key_id, "signature": signature}))
