"""Offline verification of an audit export: an untouched log is intact, and each tampering is named.

Every test starts from the same realistic 40-entry log (a key rotation in
the middle, party keys registered and revoked, party-signed entries, a
head every five entries), exports it, tampers with the export the way an
insider with database (and sometimes key) access could, and checks that the
verifier says where.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from detente.audit.canonical import _fast, _plain, canonical
from detente.audit.heads import TreeHead, format_time, sign_head
from detente.audit.keys import PublicKey, Signer
from detente.audit.merkle import Appender, leaf_hash
from detente.audit.signing import sign_statement, signature_block
from detente.audit.verify import Finding, Report, render, verify_export, write_export

LOG = "log-syria-2026"
T0 = datetime(2026, 11, 24, 21, 48, 50, 123456, tzinfo=UTC)
RED = {"party": "red", "member": "alice"}
BLUE = {"party": "blue", "member": "bob"}


# --------------------------------------------------------------------------- building a log


@dataclass
class HeadSpec:
    """A head to sign: at which size, with which key, when. Roots are computed from whatever entries are given,
    so an attacker who holds the keys can be simulated by signing heads over tampered entries."""

    size: int
    signer: Signer
    at: datetime


@dataclass
class Builder:
    first_key: Signer = field(default_factory=Signer.generate)
    party_keys: dict[str, Signer] = field(default_factory=lambda: {"red": Signer.generate(), "blue": Signer.generate()})
    entries: list[dict[str, Any]] = field(default_factory=list)
    specs: list[HeadSpec] = field(default_factory=list)
    marks: dict[str, int] = field(default_factory=dict)
    head_every: int = 5

    def __post_init__(self) -> None:
        self.log_key = self.first_key
        self.add("audit.key", "log", actor=None, data={"key": self.log_key.public.to_json(), "previous": None})

    def add(
        self,
        kind: str,
        subject: str,
        *,
        actor: dict[str, str] | None = RED,
        state: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> int:
        index = len(self.entries)
        self.entries.append(
            {
                "v": 1,
                "at": format_time(T0 + timedelta(seconds=index)),
                "type": kind,
                "subject": subject,
                "actor": actor,
                "audience": ["blue", "red"],
                "state": state,
                "data": data or {},
            }
        )
        if len(self.entries) % self.head_every == 0:
            self.head()
        return index

    def head(self, signer: Signer | None = None) -> None:
        size = len(self.entries)
        self.specs.append(HeadSpec(size, signer or self.log_key, T0 + timedelta(seconds=size, milliseconds=500)))

    def rotate(self, *, previous: str | None = None) -> int:
        """A new log key. The old key signs the head that covers the rotation entry."""
        new = Signer.generate()
        index = self.add(
            "audit.key",
            "log",
            actor=None,
            data={"key": new.public.to_json(), "previous": previous or self.log_key.key_id},
        )
        if not self.specs or self.specs[-1].size != len(self.entries):
            self.head()
        self.log_key = new
        return index

    def register(self, party: str, signer: Signer) -> int:
        self.party_keys[party] = signer
        return self.add(
            "party.key.registered",
            f"party/{party}",
            data={"party": party, "key": signer.public.to_json()},
        )

    def signed(
        self, kind: str, subject: str, party: str, statement: dict[str, Any], signer: Signer | None = None
    ) -> int:
        """An entry carrying the party's signature over ``statement``."""
        signer = signer or self.party_keys[party]
        block = signature_block(party, signer.key_id, statement, sign_statement(signer, statement))
        actor = RED if party == "red" else BLUE
        return self.add(kind, subject, actor=actor, data={"signature": block})

    # ---- output

    def texts(self) -> list[bytes]:
        return [canonical(e) for e in self.entries]

    def heads(self, texts: list[bytes] | None = None) -> list[TreeHead]:
        texts = self.texts() if texts is None else texts
        tree, heads = Appender(), []
        for spec in self.specs:
            while tree.size < spec.size:
                tree.append(leaf_hash(texts[tree.size]))
            heads.append(sign_head(spec.signer, LOG, spec.size, tree.root(), spec.at))
        return heads

    def export(self, texts: list[bytes] | None = None, heads: list[TreeHead] | None = None) -> list[str]:
        """The export as its lines; leaves stored as each text's hash unless the texts are given separately."""
        texts = self.texts() if texts is None else texts
        heads = self.heads(texts) if heads is None else heads
        out = io.StringIO()
        rows = [(i, t, leaf_hash(t)) for i, t in enumerate(texts)]
        write_export(out, LOG, rows, heads, T0 + timedelta(hours=1))
        return out.getvalue().splitlines(keepends=True)


def realistic_log() -> Builder:
    """40 entries, heads at 5, 10, 15, 20, 21 (the old key's last), 25, 30, 35, 40."""
    b = Builder()
    b.marks["red key"] = b.register("red", b.party_keys["red"])  # 1
    b.register("blue", b.party_keys["blue"])  # 2
    for n in range(1, 6):  # 3..17
        b.add("object.put", f"zone/{n}", state={"id": f"zone/{n}", "kind": "zone", "version": 1})
        b.marks[f"sent {n}"] = b.add(
            "notification.sent", f"notification/{n}", actor=None, data={"to": ["blue"], "about": f"zone/{n}"}
        )
        b.marks[f"ack {n}"] = b.signed(
            "notification.acked", f"notification/{n}", "blue", {"party": "blue", "ack": f"notification/{n}"}
        )
    b.marks["decision 1"] = b.signed(
        "agreement.decided", "agreement/1", "red", {"party": "red", "agreement": "agreement/1", "decision": "accept"}
    )  # 18
    b.add("object.put", "zone/6", state={"id": "zone/6", "kind": "zone", "version": 1})  # 19
    b.marks["rotation"] = b.rotate()  # 20
    old_red = b.party_keys["red"]
    b.register("red", Signer.generate())  # 21
    b.marks["revocation"] = b.add("party.key.revoked", "party/red", data={"party": "red", "key_id": old_red.key_id})
    b.marks["decision 2"] = b.signed(
        "agreement.decided", "agreement/2", "red", {"party": "red", "agreement": "agreement/2", "decision": "reject"}
    )  # 23
    n = 7
    while len(b.entries) < 40:
        b.add("object.put", f"zone/{n}", state={"id": f"zone/{n}", "kind": "zone", "version": 2})
        n += 1
    b.old_red = old_red  # type: ignore[attr-defined]
    return b


@pytest.fixture
def log() -> Builder:
    return realistic_log()


# --------------------------------------------------------------------------- tampering helpers


def entry_row(lines: list[str], index: int) -> int:
    """The position in ``lines`` of entry ``index``'s line."""
    for row, line in enumerate(lines):
        if json.loads(line).get("index") == index:
            return row
    raise AssertionError(f"no entry {index}")


def edit_entry(lines: list[str], index: int, change: Any, *, recompute_leaf: bool = False) -> list[str]:
    """A copy of ``lines`` with entry ``index`` changed by ``change(entry_dict)``, re-canonicalised."""
    lines = list(lines)
    row = entry_row(lines, index)
    obj = json.loads(lines[row])
    entry = json.loads(obj["entry"])
    change(entry)
    text = canonical(entry)
    obj["entry"] = text.decode()
    if recompute_leaf:
        obj["leaf"] = leaf_hash(text).hex()
    lines[row] = json.dumps(obj) + "\n"
    return lines


def edited_texts(log: Builder, index: int, change: Any) -> list[bytes]:
    """The log's entry texts with entry ``index`` changed: for an attacker who also re-signs every head."""
    entries = json.loads(json.dumps(log.entries))
    change(entries[index])
    return [canonical(e) for e in entries]


def head_rows(lines: list[str]) -> dict[int, int]:
    """head size -> position in ``lines``."""
    return {json.loads(line)["head"]["size"]: row for row, line in enumerate(lines) if '"head"' in line[:10]}


def finding(report: Report, where: str, *words: str) -> Finding:
    """The problem at ``where`` whose text contains every word; fails listing what was found."""
    for f in report.problems:
        if f.where == where and all(w in f.what for w in words):
            return f
    listing = "\n".join(f"  {f}" for f in report.findings)
    raise AssertionError(f"no problem at {where!r} mentioning {words}; found:\n{listing}")


def broken(report: Report) -> Report:
    assert not report.intact, "\n".join(render(report))
    return report


# --------------------------------------------------------------------------- an untouched log


def test_untouched_log_is_intact(log: Builder) -> None:
    report = verify_export(log.export(), trusted=[log.first_key.public])
    assert report.intact, "\n".join(render(report))
    assert report.findings == []
    assert (report.log, report.size, report.entries) == (LOG, 40, 40)
    assert report.heads == 9
    assert report.keys == 2
    assert report.party_signatures == 7
    assert report.latest_head is not None and report.latest_head.size == 40
    assert render(report)[0] == "INTACT: 40 entries, 9 signed heads, 2 log keys, 7 party signatures checked"


def test_export_reads_from_a_file(log: Builder, tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with path.open("w", encoding="utf-8") as out:
        write_export(out, LOG, [(i, t, leaf_hash(t)) for i, t in enumerate(log.texts())], log.heads(), T0, size=40)
    with path.open(encoding="utf-8") as lines:
        assert verify_export(lines).intact


def test_without_trusted_keys_the_verdict_says_so(log: Builder) -> None:
    lines = render(verify_export(log.export()))
    assert lines[0].startswith("INTACT")
    assert any("not compared with a key you trust" in line for line in lines)


def test_entries_after_the_last_head_are_a_note_not_a_break(log: Builder) -> None:
    log.add("object.put", "zone/99")
    log.add("object.put", "zone/100")
    report = verify_export(log.export(), trusted=[log.first_key.public])
    assert report.intact
    assert [str(n) for n in report.notes] == [
        "end of log: entries 40–41 are not covered by a signed head yet, so only their form was checked"
    ]


def test_non_ascii_entries_survive_the_export(log: Builder) -> None:
    log.add("object.put", "zone/حلب", state={"name": "حلب", "note": "line\u2028separator"})
    log.head()
    assert verify_export(log.export()).intact


# --------------------------------------------------------------------------- tampering with entries


def change_about(entry: dict[str, Any]) -> None:
    entry["data"]["about"] = "zone/2"


def test_entry_changed_but_its_stored_leaf_kept(log: Builder) -> None:
    index = log.marks["sent 5"]
    report = broken(verify_export(edit_entry(log.export(), index, change_about)))
    f = finding(report, f"entry {index}", "content was changed after it was logged")
    assert f.label == "notification.sent notification/5"
    assert render(report)[0] == (
        f"BROKEN at entry {index} (notification.sent notification/5): its content was changed after it was logged "
        "(the text no longer matches its stored leaf hash)"
    )
    assert all(f.where == f"entry {index}" for f in report.problems)  # the heads still vouch for the stored leaves


def test_entry_changed_and_its_leaf_recomputed(log: Builder) -> None:
    index = log.marks["sent 5"]  # 16: heads at 15 match, the one at 20 does not
    report = broken(verify_export(edit_entry(log.export(), index, change_about, recompute_leaf=True)))
    assert report.problems[0].where == "head at size 20"
    finding(report, "head at size 20", "entries 15–19 were altered", "head at size 15 still matches")
    finding(report, "heads at sizes 21 to 40", "later heads do not match either")


def test_entry_not_canonical(log: Builder) -> None:
    lines = log.export()
    row = entry_row(lines, 7)
    obj = json.loads(lines[row])
    obj["entry"] = json.dumps(json.loads(obj["entry"]), indent=1)
    lines[row] = json.dumps(obj) + "\n"
    report = broken(verify_export(lines))
    finding(report, "entry 7", "not canonical JSON")


def test_entry_not_json(log: Builder) -> None:
    lines = log.export()
    row = entry_row(lines, 7)
    obj = json.loads(lines[row])
    obj["entry"] = obj["entry"][:-1]
    lines[row] = json.dumps(obj) + "\n"
    finding(broken(verify_export(lines)), "entry 7", "not valid JSON")


def test_entry_deleted(log: Builder) -> None:
    lines = log.export()
    del lines[entry_row(lines, 17)]
    report = broken(verify_export(lines))
    finding(report, "entry 17", "missing")
    finding(report, "heads at sizes 20 to 40", "cannot be checked: entry 17 is missing")


def test_entry_lines_swapped(log: Builder) -> None:
    lines = log.export()
    a, b = entry_row(lines, 17), entry_row(lines, 18)
    lines[a], lines[b] = lines[b], lines[a]
    report = broken(verify_export(lines))
    finding(report, "entry 17", "out of order", "after entry 18")


def test_entry_contents_swapped_in_place(log: Builder) -> None:
    """Two rows' contents exchanged, indices and stored leaves left where they were: each shows as changed."""
    lines = log.export()
    a, b = entry_row(lines, 17), entry_row(lines, 18)
    first, second = json.loads(lines[a]), json.loads(lines[b])
    first["entry"], second["entry"] = second["entry"], first["entry"]
    lines[a], lines[b] = json.dumps(first) + "\n", json.dumps(second) + "\n"
    report = broken(verify_export(lines))
    finding(report, "entry 17", "content was changed")
    finding(report, "entry 18", "content was changed")


def test_entry_duplicated(log: Builder) -> None:
    lines = log.export()
    row = entry_row(lines, 9)
    lines.insert(row + 1, lines[row])
    finding(broken(verify_export(lines)), "entry 9", "appears twice")


def test_last_entries_truncated(log: Builder) -> None:
    lines = log.export()
    del lines[entry_row(lines, 35) : entry_row(lines, 39) + 1]
    report = broken(verify_export(lines))
    finding(report, "head at size 40", "log truncated: a head at size 40 was signed but only 35 entries remain")
    finding(report, "header", "states 40 entries, but the export holds 35")


def test_truncation_hidden_from_the_export_is_caught_by_a_kept_head(log: Builder) -> None:
    kept = log.heads()[-1]  # a party kept the head at size 40
    texts = log.texts()[:30]
    shortened = log.export(texts, [h for h in log.heads() if h.size <= 30])
    assert verify_export(shortened).intact  # consistent on its own...
    report = broken(verify_export(shortened, known_heads=[kept]))  # ...but not with what the party kept
    finding(report, "the head you kept at size 40", "log truncated", "only 30 entries remain")


def test_history_rewritten_and_re_signed_is_caught_by_a_kept_head(log: Builder) -> None:
    """An insider with the database *and* the key directory rewrites entry 16 and re-signs every head."""
    kept = log.heads()[4]  # size 21, kept from a receipt
    texts = edited_texts(log, log.marks["sent 5"], change_about)
    rewritten = log.export(texts, log.heads(texts))
    assert verify_export(rewritten, trusted=[log.first_key.public]).intact
    report = broken(verify_export(rewritten, known_heads=[kept]))
    finding(report, "the head you kept at size 21", "does not match this log: history rewritten")


# --------------------------------------------------------------------------- tampering with heads


def test_head_root_replaced(log: Builder) -> None:
    lines = log.export()
    row = head_rows(lines)[20]
    obj = json.loads(lines[row])
    obj["head"]["root"] = "00" * 32
    lines[row] = json.dumps(obj) + "\n"
    report = broken(verify_export(lines))
    finding(report, "head at size 20", "signature does not verify")
    finding(report, "head at size 20", "this head was altered or forged, not the entries")


def test_head_re_signed_with_a_foreign_key(log: Builder) -> None:
    lines = log.export()
    row = head_rows(lines)[25]
    head = TreeHead.from_json(json.loads(lines[row])["head"])
    forged = sign_head(Signer.generate(), LOG, head.size, head.root, head.at)
    lines[row] = json.dumps({"head": forged.to_json()}) + "\n"
    finding(broken(verify_export(lines)), "head at size 25", f"signed by key {forged.key_id}", "never introduced")


def test_head_signed_by_the_old_key_after_rotation(log: Builder) -> None:
    lines = log.export()
    row = head_rows(lines)[30]
    head = TreeHead.from_json(json.loads(lines[row])["head"])
    stale = sign_head(log.first_key, LOG, head.size, head.root, head.at)
    lines[row] = json.dumps({"head": stale.to_json()}) + "\n"
    finding(broken(verify_export(lines)), "head at size 30", "not in force at this size", "sizes 1 to 21")


def test_heads_out_of_order(log: Builder) -> None:
    lines = log.export()
    rows = head_rows(lines)
    lines[rows[25]], lines[rows[30]] = lines[rows[30]], lines[rows[25]]
    report = broken(verify_export(lines))
    finding(report, "head at size 25", "comes after a head at size 30")
    finding(report, "head at size 25", "time went backward")


# --------------------------------------------------------------------------- tampering with keys


def test_first_key_not_trusted(log: Builder) -> None:
    stranger = Signer.generate().public
    report = broken(verify_export(log.export(), trusted=[stranger]))
    finding(report, f"key {log.first_key.key_id}", "not one you trust")


def test_a_whole_log_forged_under_a_new_key_is_caught_by_trust(log: Builder) -> None:
    forger = Builder(first_key=Signer.generate())
    forger.add("object.put", "zone/1")
    forger.head()
    assert verify_export(forger.export()).intact
    finding(broken(verify_export(forger.export(), trusted=[log.first_key.public])), f"key {forger.first_key.key_id}")


def swap_rotation_key(attacker: Signer) -> Any:
    def change(entry: dict[str, Any]) -> None:
        entry["data"]["key"] = attacker.public.to_json()

    return change


def test_rotation_key_swapped_leaf_kept(log: Builder) -> None:
    attacker = Signer.generate()
    index = log.marks["rotation"]
    report = broken(verify_export(edit_entry(log.export(), index, swap_rotation_key(attacker))))
    assert finding(report, f"entry {index}", "content was changed").label == "audit.key log"
    finding(report, "head at size 25", f"signed by key {log.log_key.key_id}", "never introduced")


def test_rotation_key_swapped_and_later_heads_re_signed_by_the_attacker(log: Builder) -> None:
    attacker = Signer.generate()
    index = log.marks["rotation"]
    texts = edited_texts(log, index, swap_rotation_key(attacker))
    for spec in log.specs:
        if spec.size > index + 1:
            spec.signer = attacker
    # The heads up to 20 keep their original signatures; the one covering the rotation cannot be re-signed
    # without the old key, so the attacker keeps it and it no longer matches.
    heads = log.heads(texts)
    heads[4] = log.heads(log.texts())[4]
    report = broken(verify_export(log.export(texts, heads)))
    finding(report, "head at size 21", "entry 20 was altered", "head at size 20 still matches")


def test_rotation_that_names_the_wrong_previous_key() -> None:
    b = Builder()
    b.add("object.put", "zone/1")
    b.rotate(previous="ed25519:" + "ab" * 16)
    report = broken(verify_export(b.export()))
    finding(report, "entry 2", "rotates the log key from", f"the key in force was {b.first_key.key_id}")


def test_log_not_starting_with_its_key() -> None:
    b = Builder()
    b.entries[0] = {**b.entries[0], "type": "object.put", "subject": "zone/1", "data": {}}
    b.head()
    report = broken(verify_export(b.export()))
    finding(report, "entry 0", "must begin with an audit.key entry")


# --------------------------------------------------------------------------- party signatures


def test_party_signature_forged(log: Builder) -> None:
    """The statement is changed after signing (and the attacker re-signs every head): the party's
    signature is what still gives it away."""
    index = log.marks["ack 3"]

    def change(entry: dict[str, Any]) -> None:
        entry["data"]["signature"]["statement"]["ack"] = "notification/4"

    texts = edited_texts(log, index, change)
    report = broken(verify_export(log.export(texts, log.heads(texts)), trusted=[log.first_key.public]))
    f = finding(report, f"entry {index}", "party blue's signature does not verify")
    assert f.label == "notification.acked notification/3"


def test_party_signature_by_an_unregistered_key() -> None:
    b = Builder()
    b.signed("notification.acked", "notification/1", "blue", {"party": "blue", "ack": "notification/1"})
    b.head()
    finding(broken(verify_export(b.export())), "entry 1", "which party blue had not registered before this entry")


def test_party_signature_by_a_revoked_key(log: Builder) -> None:
    old_red: Signer = log.old_red  # type: ignore[attr-defined]
    index = log.signed("agreement.decided", "agreement/3", "red", {"party": "red", "agreement": "agreement/3"}, old_red)
    log.head()
    report = broken(verify_export(log.export()))
    finding(report, f"entry {index}", "which party red had revoked at entry 22")


def test_a_party_may_sign_its_own_revocation_with_the_key_it_revokes() -> None:
    b = Builder()
    b.register("red", b.party_keys["red"])
    statement = {"party": "red", "revoke": b.party_keys["red"].key_id}
    signer = b.party_keys["red"]
    block = signature_block("red", signer.key_id, statement, sign_statement(signer, statement))
    b.add("party.key.revoked", "party/red", data={"party": "red", "key_id": signer.key_id, "signature": block})
    b.head()
    report = verify_export(b.export())
    assert report.intact and report.party_signatures == 1


def test_a_registration_cannot_vouch_for_itself() -> None:
    b = Builder()
    newcomer = Signer.generate()
    statement = {"party": "red", "key": newcomer.key_id}
    block = signature_block("red", newcomer.key_id, statement, sign_statement(newcomer, statement))
    b.add(
        "party.key.registered", "party/red", data={"party": "red", "key": newcomer.public.to_json(), "signature": block}
    )
    b.head()
    finding(broken(verify_export(b.export())), "entry 1", "had not registered before this entry")


def test_party_signature_passed_off_as_another_party(log: Builder) -> None:
    statement = {"party": "red", "agreement": "agreement/3", "decision": "accept"}
    blue = log.party_keys["blue"]
    block = signature_block("blue", blue.key_id, statement, sign_statement(blue, statement))
    index = log.add("agreement.decided", "agreement/3", actor=BLUE, data={"signature": block})
    log.head()
    finding(broken(verify_export(log.export())), f"entry {index}", "names party 'red' but is signed as party 'blue'")


# --------------------------------------------------------------------------- not an export at all


def test_not_an_export() -> None:
    report = broken(verify_export(['{"format": "something-else"}\n']))
    finding(report, "header", "not a detente audit export")
    finding(broken(verify_export([])), "header", "empty")
    finding(broken(verify_export(["<html>\n"])), "header", "not JSON")


def test_garbage_line_in_the_middle(log: Builder) -> None:
    lines = log.export()
    lines.insert(5, "}{\n")
    finding(broken(verify_export(lines)), "line 6", "not JSON")


def test_malformed_entry_shape(log: Builder) -> None:
    def naive_time(entry: dict[str, Any]) -> None:
        entry["at"] = "2026-11-24T21:48:50"

    lines = edit_entry(log.export(), 12, naive_time, recompute_leaf=True)
    finding(broken(verify_export(lines)), "entry 12", "not a well-formed entry", "no UTC offset")


def test_known_head_of_another_log_is_only_a_note(log: Builder) -> None:
    other = replace(log.heads()[0], log="another-log")
    report = verify_export(log.export(), known_heads=[other])
    assert report.intact
    assert any("another-log" in n.what for n in report.notes)


def test_public_key_type_is_used_for_trust(log: Builder) -> None:
    report = verify_export(log.export(), trusted=[PublicKey.from_json(log.first_key.public.to_json())])
    assert report.intact and report.trusted_checked


# --------------------------------------------------------------------------- the fast canonical check

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([1e-5, 1e-7, 1e16, 1e21, 1.0, -0.0, 5e-324, 0.1, 123456789012345.6, 2.0**53])
    | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text() | st.sampled_from(["\ue000", "\U0001f600", "a\uffff"]), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
@settings(max_examples=500, derandomize=True)
def test_fast_canonical_path_agrees_with_rfc8785(value: Any) -> None:
    """canonical() takes the standard library's path where it provably agrees with RFC 8785: it must."""
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        with pytest.raises(ValueError):
            canonical(value)
        return
    assert canonical(value) == expected
    if _plain(value):
        fast = json.dumps(_fast(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert fast == expected
