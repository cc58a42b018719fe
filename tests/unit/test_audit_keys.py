"""Log-signing keys on disk and public keys as parties paste them."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from detente.audit.keys import EphemeralKeys, KeyDir, KeyDirError, PublicKey, Signer, key_id_of


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---- Signer and PublicKey


def test_a_signature_verifies_only_for_its_message_and_key() -> None:
    signer, other = Signer.generate(), Signer.generate()
    signature = signer.sign(b"hello")
    assert signer.public.verify(signature, b"hello")
    assert not signer.public.verify(signature, b"hello!")
    assert not other.public.verify(signature, b"hello")


def test_verify_never_raises_on_garbage() -> None:
    key = Signer.generate().public
    assert not key.verify(b"", b"m")
    assert not key.verify(b"x" * 63, b"m")
    assert not key.verify(b"x" * 64, b"m")


def test_key_id_is_a_digest_of_the_raw_key() -> None:
    signer = Signer.generate()
    assert signer.key_id == key_id_of(signer.public.raw)
    assert signer.key_id.startswith("ed25519:") and len(signer.key_id) == len("ed25519:") + 32


def test_signer_round_trips_through_pem() -> None:
    signer = Signer.generate()
    again = Signer.from_pem(signer.to_pem())
    assert again.public == signer.public
    assert signer.public.verify(again.sign(b"m"), b"m")
    assert "PRIVATE" not in repr(signer)


def test_signer_refuses_a_key_that_is_not_ed25519() -> None:
    ec = generate_private_key(SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        Signer.from_pem(ec)
    with pytest.raises(ValueError, match="not a readable"):
        Signer.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


def test_public_key_json_round_trip() -> None:
    key = Signer.generate().public
    as_json = key.to_json()
    assert as_json["alg"] == "Ed25519"
    assert base64.b64decode(as_json["public_key"]) == key.raw
    assert PublicKey.from_json(as_json) == key


def test_public_key_parses_base64_and_pem() -> None:
    key = Signer.generate().public
    assert PublicKey.parse(base64.b64encode(key.raw).decode()) == key
    assert PublicKey.parse("  " + base64.b64encode(key.raw).decode() + "\n") == key
    assert PublicKey.parse(key.to_pem()) == key
    assert PublicKey.parse(key.to_pem().decode()) == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not base64 at all!", "public key: not base64"),
        (base64.b64encode(bytes(31)).decode(), "public key: an Ed25519 key is 32 bytes, got 31"),
        ("", "public key: empty"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", "not a readable PEM public key"),
    ],
)
def test_public_key_parse_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PublicKey.parse(text)


def test_public_key_parse_refuses_private_and_non_ed25519_keys() -> None:
    with pytest.raises(ValueError, match="PRIVATE key"):
        PublicKey.parse(Signer.generate().to_pem())
    ec_public = (
        generate_private_key(SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        PublicKey.parse(ec_public)


def test_public_key_json_errors() -> None:
    key = Signer.generate().public
    other = Signer.generate().public
    with pytest.raises(ValueError, match="key_id does not match the key"):
        PublicKey.from_json({**key.to_json(), "key_id": other.key_id})
    with pytest.raises(ValueError, match="alg must be Ed25519"):
        PublicKey.from_json({**key.to_json(), "alg": "RSA"})
    with pytest.raises(ValueError, match="public_key is missing"):
        PublicKey.from_json({"key_id": key.key_id, "alg": "Ed25519"})
    with pytest.raises(ValueError, match="key_id does not match the key"):
        PublicKey(other.key_id, key.raw)


# ---- KeyDir


def test_first_use_creates_one_key_with_private_modes(tmp_path: Path) -> None:
    keys = KeyDir(tmp_path / "keys")
    signer = keys.current()
    key_file = tmp_path / "keys" / f"{signer.key_id.removeprefix('ed25519:')}.pem"
    assert key_file.exists()
    assert mode(key_file) == 0o600
    assert mode(tmp_path / "keys") == 0o700
    assert (tmp_path / "keys" / "CURRENT").read_text().strip() == signer.key_id
    assert keys.current().public == signer.public  # stable: no new key on the second call
    assert [p.name for p in (tmp_path / "keys").iterdir() if p.name.startswith(".")] == []  # no temp files left


def test_keys_survive_a_restart(tmp_path: Path) -> None:
    signer = KeyDir(tmp_path).current()
    reopened = KeyDir(tmp_path)
    assert reopened.current().public == signer.public
    assert signer.public.verify(reopened.current().sign(b"m"), b"m")


def test_rotation_keeps_the_old_key_and_switches_current(tmp_path: Path) -> None:
    keys = KeyDir(tmp_path)
    first = keys.current()
    old, new = keys.rotate()
    assert old.public == first.public
    assert new.public != old.public
    reopened = KeyDir(tmp_path)
    assert reopened.current().public == new.public
    found = reopened.get(old.key_id)
    assert found is not None and found.public == old.public
    assert {k.key_id for k in reopened.public_keys()} == {old.key_id, new.key_id}
    assert all(mode(p) == 0o600 for p in tmp_path.glob("*.pem"))


def test_get_unknown_or_malformed_ids(tmp_path: Path) -> None:
    keys = KeyDir(tmp_path)
    keys.current()
    assert keys.get("ed25519:" + "0" * 32) is None
    assert keys.get("../../etc/passwd") is None


def test_a_directory_with_keys_but_no_current_is_refused(tmp_path: Path) -> None:
    KeyDir(tmp_path).current()
    (tmp_path / "CURRENT").unlink()
    with pytest.raises(KeyDirError, match="no CURRENT"):
        KeyDir(tmp_path).current()


def test_a_key_file_holding_another_key_is_refused(tmp_path: Path) -> None:
    keys = KeyDir(tmp_path)
    signer = keys.current()
    file = tmp_path / f"{signer.key_id.removeprefix('ed25519:')}.pem"
    file.write_bytes(Signer.generate().to_pem())
    with pytest.raises(KeyDirError, match="holds key"):
        KeyDir(tmp_path).current()


def test_ephemeral_keys_behave_like_a_key_dir() -> None:
    keys = EphemeralKeys()
    first = keys.current()
    assert keys.current() is first
    old, new = keys.rotate()
    assert old is first and keys.current() is new
    assert keys.get(old.key_id) is old
    assert keys.get("ed25519:" + "0" * 32) is None
    assert {k.key_id for k in keys.public_keys()} == {old.key_id, new.key_id}
