"""Offline verification of an audit log export: is this log intact, and if not, where was it broken?

An auditor runs this on a file, away from the server, trusting nothing in
the file but signatures by keys they trust. It streams: entry texts are
checked and dropped as they go by; only each entry's 32-byte leaf hash is
kept (a million entries: 32 MB), because heads come after the entries and
the root at every head's size is recomputed by replaying those leaves
through an :class:`~detente.audit.merkle.Appender`, once, in order.

What is checked, and why each check is there:

* each entry is canonical JSON of the v1 entry shape, and its text still
  hashes to the leaf hash stored with it (else: changed after logging);
* indices run 0, 1, 2, ... with no gap, repeat or reordering;
* every signed head's root equals the root recomputed from the stored
  leaves at its size (else: entries under that head were altered; the
  change lies after the last head that still matches);
* every head is signed by the log key in force at its size, as the log's
  own ``audit.key`` entries define it, and the first key is one the
  auditor trusts (else the whole log could be someone else's);
* no head is larger than the log (truncation), heads never shrink and
  their times never go backward;
* heads the auditor kept from earlier still match (else history was
  rewritten, even if the rewriter re-signed every head in the export);
* party signatures verify with a key registered to that party, earlier,
  and not revoked.

Findings name the entry or head, in plain words, for a reader who is not a
cryptographer. Entries after the last signed head are reported as a note:
nothing binds them yet, but nothing is broken either.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import pairwise
from typing import Any, TextIO, TypeGuard

from detente.audit.canonical import canonical, parse
from detente.audit.heads import TreeHead, format_time, parse_time
from detente.audit.keys import PublicKey
from detente.audit.merkle import HASH_SIZE, Appender, leaf_hash
from detente.audit.signing import SignedStatement

EXPORT_FORMAT = "detente-audit-export/1"
ENTRY_FIELDS = frozenset({"v", "at", "type", "subject", "actor", "audience", "state", "data"})
_MAX_GAP = 1_000_000  # an index further ahead than this is not stored (a garbled file must not exhaust memory)
_MAX_SAFE_INT = 2**53 - 1


# --------------------------------------------------------------------------- export


def _line(obj: Mapping[str, Any]) -> str:
    # ASCII-only lines: no U+2028 or similar that some line splitters treat as a newline.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":")) + "\n"


def export_lines(
    log: str,
    entries: Iterable[tuple[int, bytes, bytes]],
    heads: Iterable[TreeHead],
    exported_at: datetime,
    size: int,
) -> Iterator[str]:
    """An export's lines: a header stating ``size``, one per ``(index, entry, stored leaf)``, one per head.

    Streamed, so a live log can be checked (``verify_export(export_lines(...))``)
    or written without holding it.  The header states ``size`` as given: a
    log whose entries are fewer (one deleted) is for the verifier to name.
    """
    yield _line({"format": EXPORT_FORMAT, "log": log, "size": size, "exported_at": format_time(exported_at)})
    for index, entry, leaf in entries:
        try:
            text = entry.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"entry {index}: not UTF-8 text, so not a canonical entry") from None
        yield _line({"index": index, "entry": text, "leaf": leaf.hex()})
    for head in heads:
        yield _line({"head": head.to_json()})


def write_export(
    out: TextIO,
    log: str,
    entries: Iterable[tuple[int, bytes, bytes]],
    heads: Iterable[TreeHead],
    exported_at: datetime,
    *,
    size: int | None = None,
) -> int:
    """Write an export (see :func:`export_lines`); returns the number of entries written.

    Pass ``size`` (the number of entries) to stream ``entries`` without
    holding them: the header, written first, states it. Without it the
    entries are gathered into a list to count them.  Raises ValueError when
    the entries are not ``size`` in number.
    """
    rows: Iterable[tuple[int, bytes, bytes]] = entries
    if size is None:
        rows = list(entries)
        size = len(rows)
    written = 0

    def counted() -> Iterator[tuple[int, bytes, bytes]]:
        nonlocal written
        for row in rows:
            written += 1
            yield row

    out.writelines(export_lines(log, counted(), heads, exported_at, size))
    if written != size:
        raise ValueError(f"the export's header states {size} entries but {written} were written")
    return written


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Finding:
    """One thing found: ``where`` ("entry 17", "head at size 120", "key ed25519:…", "header")
    and ``what``, in plain words. A ``note`` informs without breaking the log.

    ``label`` says what an entry is ("notification.sent notification/5"),
    so a reader need not look it up; ``position`` is the entry index the
    finding is about, for ordering only.
    """

    where: str
    what: str
    note: bool = False
    label: str = ""
    position: int = field(default=-1, compare=False)

    def __str__(self) -> str:
        label = f" ({self.label})" if self.label else ""
        return f"{self.where}{label}: {self.what}"


@dataclass
class Report:
    """The verdict on one export.

    ``size`` is the number of entries the header states; ``entries`` the
    number of entry lines checked. ``latest_head`` is the largest head that
    checked out completely (key, signature and root).
    """

    log: str | None = None
    size: int = 0
    entries: int = 0
    heads: int = 0
    keys: int = 0
    party_signatures: int = 0
    latest_head: TreeHead | None = None
    trusted_checked: bool = False
    findings: list[Finding] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not any(not f.note for f in self.findings)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.note]

    @property
    def notes(self) -> list[Finding]:
        return [f for f in self.findings if f.note]


def render(report: Report) -> list[str]:
    """The report as lines for a terminal: the verdict first, then every problem and note."""
    counts = (
        f"{report.entries:,} entries, {report.heads:,} signed heads, {report.keys:,} log keys, "
        f"{report.party_signatures:,} party signatures checked"
    )
    lines: list[str] = []
    problems = report.problems
    if not problems:
        lines.append(f"INTACT: {counts}")
    else:
        lines.append(f"BROKEN at {problems[0]}")
        lines.append(f"{counts}; {len(problems):,} problem{'s' if len(problems) != 1 else ''}:")
        lines.extend(f"  - {p}" for p in problems)
    if report.log is not None:
        lines.append(f"log: {report.log}")
    head = report.latest_head
    if head is not None:
        lines.append(f"latest good head: size {head.size:,}, signed {format_time(head.at)} by {head.key_id}")
    lines.extend(f"note: {n}" for n in report.notes)
    if not report.trusted_checked:
        lines.append(
            "note: the log's first key was not compared with a key you trust, so this shows the log is "
            "consistent, not whose it is"
        )
    return lines


# --------------------------------------------------------------------------- verifier state


@dataclass
class _LogKey:
    """A log-signing key and the head sizes it may sign, from the log's own audit.key entries."""

    key: PublicKey
    introduced: int  # entry index
    superseded: int | None = None  # entry index of the rotation that replaced it

    def may_sign(self, size: int) -> bool:
        return size >= self.introduced + 1 and (self.superseded is None or size <= self.superseded + 1)

    def sizes(self) -> str:
        last = "any larger" if self.superseded is None else f"{self.superseded + 1:,}"
        return f"{self.introduced + 1:,} to {last}"


@dataclass
class _PartyKey:
    key: PublicKey
    registered: int
    revoked: int | None = None


@dataclass
class _Repeats:
    """Heads with the same problem after the first: counted, not listed, so a million heads make one line."""

    count: int = 0
    low: int = 0
    high: int = 0
    position: int = 0

    def add(self, size: int, position: int) -> None:
        if self.count == 0:
            self.low, self.position = size, position
        self.count += 1
        self.high = size

    def sizes(self) -> str:
        return f"size {self.low:,}" if self.count == 1 else f"sizes {self.low:,} to {self.high:,}"


@dataclass
class _Pending:
    """A head whose root did not match: the entries under it changed, or the head itself was forged.

    Which of the two is known only later: if a larger head matches, the
    entries are fine and this head was wrong.
    """

    head: TreeHead
    matched_before: int  # size of the last head that matched before it
    authentic: bool  # validly signed by the key in force at its size


def _label(value: object) -> str:
    if isinstance(value, dict):
        kind, subject = value.get("type"), value.get("subject")
        if isinstance(kind, str) and isinstance(subject, str):
            return f"{kind} {subject}"
    return ""


def _entry_shape_problem(value: object) -> str | None:
    """What is wrong with a parsed entry's shape (the v1 entry format), or None."""
    if not isinstance(value, dict):
        return "it is not a JSON object"
    missing = ENTRY_FIELDS - value.keys()
    if missing:
        return f"it lacks {', '.join(sorted(missing))}"
    extra = value.keys() - ENTRY_FIELDS
    if extra:
        return f"it has fields a v1 entry does not: {', '.join(sorted(extra))}"
    if value["v"] != 1 or isinstance(value["v"], bool):
        return f"its version is {value['v']!r}; this verifier knows version 1"
    at = value["at"]
    try:
        if format_time(parse_time(at)) != at:
            return f"its time {at!r} is not in the log's format (UTC, microseconds, Z)"
    except ValueError as e:
        return str(e)
    if not isinstance(value["type"], str) or not value["type"]:
        return "its type is not a non-empty string"
    if not isinstance(value["subject"], str):
        return "its subject is not a string"
    actor = value["actor"]
    if actor is not None and not (
        isinstance(actor, dict)
        and actor.keys() == {"party", "member"}
        and all(isinstance(v, str) for v in actor.values())
    ):
        return 'its actor is neither null nor {"party": ..., "member": ...}'
    audience = value["audience"]
    if not isinstance(audience, list) or not all(isinstance(p, str) for p in audience):
        return "its audience is not a list of party ids"
    if any(a >= b for a, b in pairwise(audience)):
        return "its audience is not sorted without repeats"
    if value["state"] is not None and not isinstance(value["state"], dict):
        return "its state is neither an object nor null"
    if not isinstance(value["data"], dict):
        return "its data is not an object"
    return None


def _is_canonical_value(value: object, data: bytes) -> bool:
    """Whether ``data`` is the canonical encoding of ``value`` (parsed from it); ValueError if it has none."""
    return canonical(value) == data


def _is_count(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _span(lo: int, hi: int) -> str:
    """'entry 5 is' / 'entries 5–9 are' for the inclusive range lo..hi."""
    return f"entry {lo:,} is" if lo == hi else f"entries {lo:,}–{hi:,} are"


class _Verifier:
    """The state of one pass over an export; see :func:`verify_export`."""

    def __init__(self, trusted: Sequence[PublicKey] | None, known_heads: Sequence[TreeHead]) -> None:
        self.trusted = trusted
        self.known_heads = known_heads
        self.report = Report(trusted_checked=trusted is not None)
        self.header_size: int | None = None
        # The stored leaf hash of every position, 32 bytes each; positions in `holes` were never filled.
        self.leaves = bytearray()
        self.count = 0
        self.holes: list[tuple[int, int]] = []  # sorted, disjoint, [lo, hi)
        self.previous_index: int | None = None
        self.seen_head = False
        # Log keys and party keys as the entries read so far define them.
        self.keys: dict[str, _LogKey] = {}
        self.current_key: str | None = None
        self.party_keys: dict[tuple[str, str], _PartyKey] = {}
        # Heads.
        self.replay = Appender()
        self.previous_head: TreeHead | None = None
        self.matched = 0  # size of the largest head whose root matched
        self.pending: list[_Pending] = []
        self.truncated = _Repeats()
        self.uncheckable = _Repeats()

    def find(self, where: str, what: str, position: int, *, label: str = "", note: bool = False) -> None:
        self.report.findings.append(Finding(where, what, note=note, label=label, position=position))

    # ---- lines

    def header(self, line: str) -> bool:
        """Read the header line; False when the input is not an export at all."""
        try:
            obj = parse(line)
        except ValueError as e:
            self.find("header", f"the first line is not JSON ({e}); this is not a detente audit export", -1)
            return False
        if not isinstance(obj, dict) or obj.get("format") != EXPORT_FORMAT:
            got = obj.get("format") if isinstance(obj, dict) else None
            self.find("header", f"not a detente audit export (format {got!r}, expected {EXPORT_FORMAT!r})", -1)
            return False
        log = obj.get("log")
        if isinstance(log, str) and log:
            self.report.log = log
        else:
            self.find("header", "it names no log", -1)
        size = obj.get("size")
        if _is_count(size):
            self.header_size = self.report.size = size
        else:
            self.find("header", f"its size {size!r} is not a number of entries", -1)
        exported_at = obj.get("exported_at")
        try:
            if not isinstance(exported_at, str):
                raise ValueError("missing")
            parse_time(exported_at)
        except ValueError as e:
            self.find("header", f"its exported_at is unreadable: {e}", -1)
        return True

    def line(self, lineno: int, line: str) -> None:
        try:
            obj = parse(line)
        except ValueError as e:
            self.find(f"line {lineno:,}", f"not JSON ({e}); whatever it held cannot be checked", self.next_index())
            return
        if isinstance(obj, dict) and "head" in obj:
            self.head_line(lineno, obj["head"])
        elif isinstance(obj, dict) and "index" in obj:
            self.entry_line(lineno, obj)
        else:
            self.find(f"line {lineno:,}", "neither an entry nor a tree head", self.next_index())

    def next_index(self) -> int:
        return 0 if self.previous_index is None else self.previous_index + 1

    # ---- entries

    def entry_line(self, lineno: int, obj: dict[str, Any]) -> None:
        index = obj.get("index")
        if not _is_count(index):
            self.find(f"line {lineno:,}", f"an entry line whose index {index!r} is not a number", self.next_index())
            return
        where = f"entry {index:,}"
        self.report.entries += 1
        if self.seen_head:
            self.find(where, "comes after the tree heads; an export lists every entry first", index)
        text = obj.get("entry")
        if not isinstance(text, str):
            self.find(where, "its line holds no entry text", index)
            return
        try:
            data = text.encode("utf-8")
        except UnicodeEncodeError:
            self.find(where, "its text is not valid Unicode, so it cannot be the logged entry", index)
            return
        value: Any = None
        try:
            value = parse(data)
        except ValueError as e:
            self.find(where, f"its text is not valid JSON ({e})", index)
        label = _label(value)
        if value is not None:
            try:
                reason = "" if _is_canonical_value(value, data) else "not in RFC 8785 form"
            except ValueError as e:
                reason = str(e)
            if reason:
                self.find(
                    where,
                    f"its text is not canonical JSON ({reason}), so its hash cannot be rebuilt from its content",
                    index,
                    label=label,
                )
        stored = _hash_or_none(obj.get("leaf"))
        computed = leaf_hash(data)
        if stored is None:
            self.find(where, "its stored leaf hash is missing or not 64 hex characters", index, label=label)
        elif stored != computed:
            self.find(
                where,
                "its content was changed after it was logged (the text no longer matches its stored leaf hash)",
                index,
                label=label,
            )
        # The tree is rebuilt from the *stored* leaves: a changed text is caught just above, a changed
        # stored leaf at the first head covering it, and the two stories stay apart.
        if not self.place(index, stored if stored is not None else computed, where, label):
            return
        if value is None:
            return
        problem = _entry_shape_problem(value)
        if problem is not None:
            self.find(where, f"not a well-formed entry: {problem}", index, label=label)
            return
        self.meaning(index, where, label, value)

    def place(self, index: int, leaf: bytes, where: str, label: str) -> bool:
        """Store ``leaf`` at ``index``, reporting repeats and reordering (gaps: at the end). False if not stored."""
        previous = self.previous_index
        self.previous_index = index
        if index == self.count:
            self.leaves += leaf
            self.count += 1
            return True
        if index > self.count:
            if index - self.count > _MAX_GAP and index > (self.header_size or 0):
                self.find(where, "its index is far beyond the log's size; it was not checked", index, label=label)
                return False
            self.holes.append((self.count, index))
            self.leaves += bytes(HASH_SIZE * (index - self.count)) + leaf
            self.count = index + 1
            return True
        for i, (lo, hi) in enumerate(self.holes):
            if lo <= index < hi:
                self.holes[i : i + 1] = [r for r in ((lo, index), (index + 1, hi)) if r[0] < r[1]]
                self.leaves[index * HASH_SIZE : (index + 1) * HASH_SIZE] = leaf
                after = "the start" if previous is None else f"entry {previous:,}"
                self.find(where, f"out of order: it comes after {after} in the export", index, label=label)
                return True
        kept = bytes(self.leaves[index * HASH_SIZE : (index + 1) * HASH_SIZE])
        differs = "" if kept == leaf else ", with a different leaf hash"
        self.find(where, f"appears twice{differs}; the first one was kept", index, label=label)
        return False

    def meaning(self, index: int, where: str, label: str, entry: dict[str, Any]) -> None:
        """The entries the verifier interprets: log keys, party keys, party signatures."""
        kind, data = entry["type"], entry["data"]
        if index == 0 and kind != "audit.key":
            self.find(where, "the log must begin with an audit.key entry introducing its signing key", 0, label=label)
        # The signature first: it must verify with keys as they stood *before* this entry, so a
        # registration cannot vouch for itself and a revocation signed by the revoked key still counts.
        if "signature" in data:
            self.party_signature(index, where, label, data["signature"])
        if kind == "audit.key":
            self.log_key(index, where, label, data)
        elif kind == "party.key.registered":
            self.party_key_registered(index, where, label, data)
        elif kind == "party.key.revoked":
            self.party_key_revoked(index, where, label, data)

    def log_key(self, index: int, where: str, label: str, data: dict[str, Any]) -> None:
        try:
            key = PublicKey.from_json(data.get("key"))
        except ValueError as e:
            self.find(where, f"its key is unreadable: {e}", index, label=label)
            return
        previous = data.get("previous")
        if key.key_id in self.keys:
            self.find(where, f"introduces key {key.key_id} again; a log key is introduced once", index, label=label)
            return
        if index == 0:
            if previous is not None:
                self.find(where, f"the log's first key names a previous key ({previous!r})", index, label=label)
            if self.trusted is not None and key not in self.trusted:
                self.find(
                    f"key {key.key_id}",
                    "the log's first key is not one you trust: whoever holds it could have written this whole log",
                    index,
                )
        elif self.current_key is None:
            self.find(where, "rotates the log key, but no key was in force before it", index, label=label)
        elif previous != self.current_key:
            self.find(
                where,
                f"rotates the log key from {previous!r}, but the key in force was {self.current_key}",
                index,
                label=label,
            )
        if self.current_key is not None:
            self.keys[self.current_key].superseded = index
        self.keys[key.key_id] = _LogKey(key=key, introduced=index)
        self.current_key = key.key_id
        self.report.keys += 1

    def party_key_registered(self, index: int, where: str, label: str, data: dict[str, Any]) -> None:
        party = data.get("party")
        if not isinstance(party, str) or not party:
            self.find(where, "registers a key for no party", index, label=label)
            return
        try:
            key = PublicKey.from_json(data.get("key"))
        except ValueError as e:
            self.find(where, f"registers an unreadable key for party {party}: {e}", index, label=label)
            return
        self.party_keys[(party, key.key_id)] = _PartyKey(key=key, registered=index)

    def party_key_revoked(self, index: int, where: str, label: str, data: dict[str, Any]) -> None:
        party, key_id = data.get("party"), data.get("key_id")
        held = self.party_keys.get((party, key_id)) if isinstance(party, str) and isinstance(key_id, str) else None
        if held is None or held.revoked is not None:
            self.find(
                where, f"revokes key {key_id!r} of party {party!r}, a key that party did not hold", index, label=label
            )
            return
        held.revoked = index

    def party_signature(self, index: int, where: str, label: str, block: object) -> None:
        self.report.party_signatures += 1
        try:
            signed = SignedStatement.from_block(block)
        except ValueError as e:
            self.find(where, f"its party signature cannot be read: {e}", index, label=label)
            return
        held = self.party_keys.get((signed.party, signed.key_id))
        if held is None:
            others = sorted(p for p, k in self.party_keys if k == signed.key_id)
            whose = f" (it is registered to {', '.join(others)})" if others else ""
            self.find(
                where,
                f"signed with key {signed.key_id}, which party {signed.party} "
                f"had not registered before this entry{whose}",
                index,
                label=label,
            )
            return
        if held.revoked is not None:
            self.find(
                where,
                f"signed with key {signed.key_id}, which party {signed.party} had revoked at entry {held.revoked:,}",
                index,
                label=label,
            )
            return
        problem = signed.problem(held.key)
        if problem is not None:
            self.find(where, problem, index, label=label)

    # ---- heads

    def first_missing(self, size: int) -> int | None:
        """The first missing entry below ``size``, or None if entries ``0..size-1`` are all here."""
        if self.holes and self.holes[0][0] < size:
            return self.holes[0][0]
        return None

    def root(self, size: int) -> bytes:
        """The root of the stored leaves ``0..size-1``, continuing the replay when sizes grow."""
        if size < self.replay.size:  # heads out of order: start again (a broken export, so rare)
            self.replay = Appender()
        for i in range(self.replay.size, size):
            self.replay.append(bytes(self.leaves[i * HASH_SIZE : (i + 1) * HASH_SIZE]))
        return self.replay.root()

    def head_line(self, lineno: int, obj: object) -> None:
        self.seen_head = True
        self.report.heads += 1
        try:
            head = TreeHead.from_json(obj)
        except ValueError as e:
            self.find(f"line {lineno:,}", f"a tree head that cannot be read: {e}", self.count)
            return
        where = f"head at size {head.size:,}"
        pos = max(head.size - 1, 0)
        good, authentic = self.head_signature(head, where, pos)
        if head.size > self.count:
            if self.truncated.count == 0:
                self.find(
                    where,
                    f"log truncated: a head at size {head.size:,} was signed but only {self.count:,} entries remain",
                    self.count,
                )
            self.truncated.add(head.size, self.count)
            return
        missing = self.first_missing(head.size)
        if missing is not None:
            self.uncheckable.add(head.size, missing)
            return
        if self.root(head.size) != head.root:
            self.pending.append(_Pending(head=head, matched_before=self.matched, authentic=authentic))
            return
        self.settle([p for p in self.pending if p.head.size <= head.size], later=head)
        self.pending = [p for p in self.pending if p.head.size > head.size]
        self.matched = max(self.matched, head.size)
        if good and (self.report.latest_head is None or head.size >= self.report.latest_head.size):
            self.report.latest_head = head

    def head_signature(self, head: TreeHead, where: str, pos: int) -> tuple[bool, bool]:
        """Check everything about a head but its root: log, order, time, key in force, signature.

        Returns (good: nothing wrong, authentic: validly signed by the key in force).
        """
        good = True
        if self.report.log is not None and head.log != self.report.log:
            self.find(where, f"signed for log {head.log!r}, not this log {self.report.log!r}", pos)
            good = False
        previous, self.previous_head = self.previous_head, head
        if previous is not None and head.size < previous.size:
            self.find(
                where, f"comes after a head at size {previous.size:,}: heads out of order, or the log shrank", pos
            )
            good = False
        if previous is not None and head.at < previous.at:
            self.find(
                where,
                f"signed at {format_time(head.at)}, before the previous head ({format_time(previous.at)}): "
                "time went backward",
                pos,
            )
            good = False
        log_key = self.keys.get(head.key_id)
        if log_key is None:
            self.find(where, f"signed by key {head.key_id}, which this log never introduced", pos)
            return False, False
        authentic = True
        if not log_key.may_sign(head.size):
            self.find(
                where,
                f"signed by key {head.key_id}, which was not in force at this size "
                f"(it may sign heads of sizes {log_key.sizes()})",
                pos,
            )
            authentic = False
        if not head.valid(log_key.key):
            self.find(
                where, f"its signature does not verify with key {head.key_id}: the head was altered or forged", pos
            )
            authentic = False
        return good and authentic, authentic

    def settle(self, mismatched: list[_Pending], later: TreeHead | None) -> None:
        """Report heads whose root did not match the entries; ``later`` is a larger head that does, if any.

        A head that matches no later head means the entries under it changed
        after it was signed; the change lies between the last head that
        still matches and this one. If a later head does match, a head that
        is not authentic was itself altered or forged; an authentic one
        means the key holder signed two histories: the entries were
        rewritten and the later heads signed over the rewrite.
        """
        forged = [p for p in mismatched if later is not None and not p.authentic]
        for p in forged:
            assert later is not None
            self.find(
                f"head at size {p.head.size:,}",
                f"its root does not match entries 0–{p.head.size - 1:,}, yet the later head at size "
                f"{later.size:,} matches them: this head was altered or forged, not the entries",
                p.head.size - 1,
            )
        rest = [p for p in mismatched if p not in forged]
        if not rest:
            return
        first, others = rest[0], rest[1:]
        lo, hi = first.matched_before, first.head.size - 1
        span = f"entry {lo:,} was" if lo == hi else f"entries {lo:,}–{hi:,} were"
        since = f"the head at size {lo:,} still matches" if lo else "no earlier head matches"
        if later is not None:
            since += f"; the later head at size {later.size:,} was signed over the rewritten entries"
        elif not first.authentic:
            since += "; or, as this head's signature is not valid either, the head itself was altered"
        self.find(
            f"head at size {first.head.size:,}",
            f"its root does not match the log: {span} altered, removed or reordered after it was signed ({since})",
            lo if first.authentic else hi,
        )
        if others:
            many = len(others) > 1
            sizes = f"{others[0].head.size:,}" + (f" to {others[-1].head.size:,}" if many else "")
            self.find(
                f"head{'s' if many else ''} at size{'s' if many else ''} {sizes}",
                f"{len(others):,} later head{'s do' if many else ' does'} not match either: they cover the same change",
                others[0].head.size - 1,
            )

    # ---- end

    def finish(self) -> Report:
        for lo, hi in self.holes:
            where = f"entry {lo:,}" if hi - lo == 1 else f"entries {lo:,}–{hi - 1:,}"
            self.find(where, "missing from the export (deleted?)", lo)
        self.settle(self.pending, later=None)
        if self.truncated.count > 1:
            self.find(
                f"heads at {self.truncated.sizes()}",
                f"{self.truncated.count:,} signed heads reach beyond the {self.count:,} entries left",
                self.count,
            )
        if self.uncheckable.count:
            self.find(
                f"head{'s' if self.uncheckable.count > 1 else ''} at {self.uncheckable.sizes()}",
                f"cannot be checked: entry {self.uncheckable.position:,} is missing",
                self.uncheckable.position,
            )
        if self.header_size is not None and self.header_size != self.count:
            self.find(
                "header",
                f"it states {self.header_size:,} entries, but the export holds {self.count:,}",
                min(self.header_size, self.count),
            )
        self.compare_known_heads()
        if self.count > self.matched and not (self.holes or self.pending or self.truncated.count):
            self.find(
                "end of log",
                f"{_span(self.matched, self.count - 1)} not covered by a signed head yet, "
                "so only their form was checked",
                self.count,
                note=True,
            )
        order = {id(f): i for i, f in enumerate(self.report.findings)}
        self.report.findings.sort(key=lambda f: (f.position, order[id(f)]))
        return self.report

    def compare_known_heads(self) -> None:
        """Heads the auditor kept earlier must still match: the one check a full re-signing cannot pass."""
        for kept in sorted(self.known_heads, key=lambda h: h.size):
            where = f"the head you kept at size {kept.size:,}"
            pos = max(kept.size - 1, 0)
            if self.report.log is not None and kept.log != self.report.log:
                self.find(where, f"it is for log {kept.log!r}, not {self.report.log!r}; not compared", pos, note=True)
                continue
            if kept.size > self.count:
                self.find(
                    where,
                    f"log truncated: you kept a head at size {kept.size:,} but only {self.count:,} entries remain",
                    self.count,
                )
                continue
            missing = self.first_missing(kept.size)
            if missing is not None:
                self.find(where, f"cannot be compared: entry {missing:,} is missing", missing)
                continue
            if self.root(kept.size) != kept.root:
                self.find(
                    where,
                    "it does not match this log: history rewritten (the entries under it are not the ones it signed)",
                    pos,
                )
                continue
            log_key = self.keys.get(kept.key_id)
            if log_key is None:
                self.find(
                    where, f"it matches, but its key {kept.key_id} is not one this log introduces", pos, note=True
                )
            elif not kept.valid(log_key.key):
                self.find(
                    where, "it matches, but its own signature does not verify, so it proves nothing", pos, note=True
                )


def _hash_or_none(value: object) -> bytes | None:
    if not isinstance(value, str) or len(value) != 2 * HASH_SIZE:
        return None
    try:
        return bytes.fromhex(value)
    except ValueError:
        return None


def verify_export(
    lines: Iterable[str],
    *,
    trusted: Sequence[PublicKey] | None = None,
    known_heads: Sequence[TreeHead] = (),
) -> Report:
    """Check an export (its lines, e.g. an open text file) and say whether the log is intact.

    ``trusted``: the log keys you trust (at least its first key); without
    them the verdict is "consistent", not "genuine". ``known_heads``: heads
    you kept from earlier (from receipts, say); each must still match.
    """
    verifier = _Verifier(trusted, known_heads)
    started = False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        if started:
            verifier.line(lineno, line)
        elif verifier.header(line):
            started = True
        else:
            return verifier.report
    if not started:
        verifier.find("header", "the export is empty", -1)
        return verifier.report
    return verifier.finish()
