"""A party's witness of the audit log: keep the last head seen, prove the next one extends it.

Whoever runs the server could rewrite the log and re-sign it.  A party
that keeps the last signed head it saw, and on each visit asks for a
consistency proof from that head to the current one, notices: a rewritten
history has no such proof.  Keys are pinned on first use; a new log key is
accepted only when the log shows the pinned key endorsing it (the rotation
entry, proven included in a head the old key signed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from detente.audit.canonical import parse
from detente.audit.heads import TreeHead
from detente.audit.keys import PublicKey
from detente.audit.merkle import leaf_hash, verify_consistency, verify_inclusion


class WitnessError(Exception):
    """The log cannot be shown to extend what this witness saw before: history may have been rewritten."""


@dataclass
class Seen:
    """What a witness keeps between visits (a small JSON file)."""

    log: str | None = None
    head: TreeHead | None = None
    keys: dict[str, PublicKey] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Seen:
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            keys = {k["key_id"]: PublicKey.from_json(k) for k in raw.get("keys", [])}
            head = TreeHead.from_json(raw["head"]) if raw.get("head") else None
            return cls(raw.get("log"), head, keys)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WitnessError(f"{path}: not a witness state file ({exc})") from None

    def save(self, path: Path) -> None:
        document = {
            "log": self.log,
            "head": None if self.head is None else self.head.to_json(),
            "keys": [k.to_json() for k in self.keys.values()],
        }
        temporary = path.with_suffix(path.suffix + ".tmp")
        temporary.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
        temporary.replace(path)


def witness(client: httpx.Client, seen: Seen, trusted: list[PublicKey] | None = None) -> tuple[Seen, list[str]]:
    """Check the server's current head against what was seen; returns the new state and what was checked.

    Raises :class:`WitnessError` naming what does not hold; the caller must
    then keep its old state (it is the evidence).  A refused token (401,
    403) or a failing server (5xx) says nothing about the log: that raises
    ``httpx.HTTPStatusError`` instead.
    """
    said: list[str] = []
    published = _get(client, "/.well-known/detente/audit-keys")
    log = str(published["log"])
    if seen.log is not None and log != seen.log:
        raise WitnessError(f"the server now serves log {log}, not the log {seen.log} you witnessed")
    keys = dict(seen.keys)
    if not keys:
        for key in trusted or []:
            keys[key.key_id] = key
    current = TreeHead.from_json(_get(client, "/audit/head"))
    if current.log != log:
        raise WitnessError(f"the head names log {current.log}, the server's keys log {log}")
    if current.key_id not in keys:
        if not keys:  # first use, nothing trusted: pin what the server publishes
            for item in published["keys"]:
                key = PublicKey.from_json(item)
                keys[key.key_id] = key
            said.append(f"pinned {len(keys)} log key(s) on first use: {', '.join(keys)}")
        else:
            _follow_rotation(client, keys, published["keys"], current.key_id, said)
    signing = keys.get(current.key_id)
    if signing is None or not current.valid(signing):
        raise WitnessError(f"the head at size {current.size} is not validly signed by a key you pinned")
    said.append(f"head at size {current.size:,} signed {current.at.isoformat()} by {current.key_id}: signature good")
    old = seen.head
    if old is not None:
        if current.size < old.size:
            raise WitnessError(
                f"the log shrank: you saw {old.size:,} entries, the server now shows {current.size:,}: "
                "history rewritten"
            )
        if current.size == old.size:
            if current.root != old.root:
                raise WitnessError(f"two different roots were signed for size {old.size:,}: history rewritten")
            said.append("no new entries since your last visit; same root")
        else:
            proof = _get(client, f"/audit/consistency?first={old.size}&second={current.size}")
            hashes = [bytes.fromhex(h) for h in proof["proof"]]
            if not verify_consistency(old.size, current.size, old.root, current.root, hashes):
                raise WitnessError(
                    f"the log at {current.size:,} entries does not extend the log you saw at {old.size:,}: "
                    "history rewritten"
                )
            said.append(f"consistency proof {old.size:,} -> {current.size:,}: the new log extends the one you saw")
    return Seen(log, current, keys), said


def _follow_rotation(
    client: httpx.Client, keys: dict[str, PublicKey], published: list[dict[str, Any]], key_id: str, said: list[str]
) -> None:
    """Accept ``key_id`` if the log shows a pinned key endorsing it (possibly through several rotations)."""
    chain = sorted(published, key=lambda k: int(k["introduced_at"]))
    for item in chain:
        new = PublicKey.from_json(item)
        if new.key_id in keys:
            continue
        index = int(item["introduced_at"])
        entry = _get(client, f"/audit/entries/{index}")
        data = parse(str(entry["entry"])).get("data", {})
        previous = data.get("previous")
        if data.get("key", {}).get("key_id") != new.key_id or previous not in keys:
            raise WitnessError(f"key {new.key_id} is not endorsed by a key you pinned (entry {index})")
        endorsing = TreeHead.from_json(_get(client, f"/audit/head?size={index + 1}"))
        if endorsing.key_id != previous or not endorsing.valid(keys[previous]):
            raise WitnessError(f"the head covering the rotation to {new.key_id} is not signed by {previous}")
        proof = _get(client, f"/audit/entries/{index}/inclusion?size={index + 1}")
        hashes = [bytes.fromhex(h) for h in proof["proof"]]
        if not verify_inclusion(leaf_hash(str(entry["entry"]).encode()), index, index + 1, hashes, endorsing.root):
            raise WitnessError(f"the rotation entry {index} is not in the head {previous} signed")
        keys[new.key_id] = new
        said.append(f"accepted key {new.key_id}: endorsed by {previous} in entry {index}")
        if new.key_id == key_id:
            return


def _get(client: httpx.Client, path: str) -> Any:
    response = client.get(path)
    if response.status_code in (401, 403) or response.status_code >= 500:
        # Not evidence about the log: the witness could not ask (bad token, server down or busy).
        response.raise_for_status()
    if response.status_code != 200:
        raise WitnessError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
    return response.json()
