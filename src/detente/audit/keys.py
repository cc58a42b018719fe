"""Ed25519 keys: the log's signing keys and the parties' public keys.

Every signature in the audit log is Ed25519 through ``cryptography``: small
keys and signatures, no parameters to get wrong, and deterministic signing
(no per-signature randomness that a bad RNG could leak the key through).

A key is named by ``key_id_of(raw)``, a digest of its 32 raw bytes, so an id
can never point at two different keys: :class:`PublicKey` refuses a key id
that does not match its key.

The service's own log-signing keys live in a :class:`KeyDir`, on disk and
*not* in the database: an administrator who can rewrite rows must not also
hold the key that signs tree heads, or a rewritten history could be
re-signed and would look genuine.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

KEY_ID_PREFIX = "ed25519:"
ALGORITHM = "Ed25519"
RAW_KEY_BYTES = 32
SIGNATURE_BYTES = 64
_KEY_ID = re.compile(r"ed25519:[0-9a-f]{32}")


def key_id_of(raw: bytes) -> str:
    """The id of a raw Ed25519 public key: a digest, so ids cannot be forged onto other keys.

    >>> key_id_of(bytes(32))
    'ed25519:66687aadf862bd776c8fc18b8e9f8e20'
    """
    return KEY_ID_PREFIX + hashlib.sha256(raw).hexdigest()[:32]


def is_key_id(text: str) -> bool:
    """Whether ``text`` has the shape of a key id (checked before it becomes a file name)."""
    return _KEY_ID.fullmatch(text) is not None


def _b64decode(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"{what}: not base64") from None


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key and its id; the id is checked against the key on construction."""

    key_id: str
    raw: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.raw, bytes) or len(self.raw) != RAW_KEY_BYTES:
            got = len(self.raw) if isinstance(self.raw, bytes | bytearray) else type(self.raw).__name__
            raise ValueError(f"public key: an Ed25519 key is {RAW_KEY_BYTES} bytes, got {got}")
        if self.key_id != key_id_of(self.raw):
            raise ValueError(f"public key: key_id does not match the key (the key's id is {key_id_of(self.raw)})")

    @classmethod
    def of(cls, raw: bytes) -> PublicKey:
        """The key for ``raw`` with its id computed."""
        if len(raw) != RAW_KEY_BYTES:
            raise ValueError(f"public key: an Ed25519 key is {RAW_KEY_BYTES} bytes, got {len(raw)}")
        return cls(key_id_of(raw), bytes(raw))

    @classmethod
    def parse(cls, text: str | bytes) -> PublicKey:
        """A key as a person pastes it: base64 of the 32 raw bytes, or a PEM public key.

        Both forms are accepted because parties generate keys with different
        tools (``openssl`` writes PEM; most libraries print raw base64).
        """
        if isinstance(text, bytes):
            try:
                text = text.decode("ascii")
            except UnicodeDecodeError:
                raise ValueError("public key: not text (expected base64 or PEM)") from None
        stripped = text.strip()
        if not stripped:
            raise ValueError("public key: empty")
        if stripped.startswith("-----BEGIN"):
            if "PRIVATE KEY" in stripped.split("\n", 1)[0]:
                raise ValueError("public key: this is a PRIVATE key; give the public key only")
            try:
                loaded = serialization.load_pem_public_key(stripped.encode("ascii"))
            except (ValueError, UnsupportedAlgorithm):
                raise ValueError("public key: not a readable PEM public key") from None
            if not isinstance(loaded, Ed25519PublicKey):
                raise ValueError("public key: not an Ed25519 key")
            return cls.of(loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
        return cls.of(_b64decode(stripped, "public key"))

    @classmethod
    def from_json(cls, obj: object) -> PublicKey:
        """The key from :meth:`to_json`'s form; the stated id must match the key."""
        if not isinstance(obj, Mapping):
            raise ValueError("public key: expected an object with key_id, alg and public_key")
        for name in ("key_id", "alg", "public_key"):
            if not isinstance(obj.get(name), str):
                raise ValueError(f"public key: {name} is missing or not a string")
        if obj["alg"] != ALGORITHM:
            raise ValueError(f"public key: alg must be {ALGORITHM}, got {obj['alg']!r}")
        raw = _b64decode(obj["public_key"], "public key")
        if len(raw) != RAW_KEY_BYTES:
            raise ValueError(f"public key: an Ed25519 key is {RAW_KEY_BYTES} bytes, got {len(raw)}")
        if obj["key_id"] != key_id_of(raw):
            raise ValueError(f"public key: key_id does not match the key (the key's id is {key_id_of(raw)})")
        return cls(obj["key_id"], raw)

    def to_json(self) -> dict[str, Any]:
        return {"key_id": self.key_id, "alg": ALGORITHM, "public_key": base64.b64encode(self.raw).decode("ascii")}

    def to_pem(self) -> bytes:
        """SubjectPublicKeyInfo PEM, for tools (``openssl``) that want it."""
        key = Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Whether ``signature`` is this key's over ``message``.

        Never raises: a verifier walks through untrusted files, and a
        malformed signature is just one more signature that does not verify.
        """
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
            return False
        try:
            Ed25519PublicKey.from_public_bytes(self.raw).verify(signature, message)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True


class Signer:
    """An Ed25519 private key with its public half; the only thing that signs."""

    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.public = PublicKey.of(raw)

    @classmethod
    def generate(cls) -> Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> Signer:
        """A signer from an unencrypted PKCS8 PEM private key."""
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ValueError("private key: not a readable unencrypted PEM private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("private key: not an Ed25519 key")
        return cls(key)

    def to_pem(self) -> bytes:
        """Unencrypted PKCS8 PEM: the key file is protected by its mode (0600), not a passphrase
        the service would have to keep next to it anyway."""
        return self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @property
    def key_id(self) -> str:
        return self.public.key_id

    def __repr__(self) -> str:
        # Never the private key, even in a traceback.
        return f"Signer({self.public.key_id})"


class KeyStore(Protocol):
    """Where the service keeps its log-signing keys: a :class:`KeyDir` or :class:`EphemeralKeys`."""

    def current(self) -> Signer: ...

    def rotate(self) -> tuple[Signer, Signer]: ...

    def get(self, key_id: str) -> Signer | None: ...

    def public_keys(self) -> list[PublicKey]: ...


class EphemeralKeys:
    """Log-signing keys held in memory only: for tests and in-memory databases,
    whose log dies with the process anyway."""

    def __init__(self) -> None:
        self._keys: dict[str, Signer] = {}
        self._current: str | None = None

    def current(self) -> Signer:
        if self._current is None:
            signer = Signer.generate()
            self._keys[signer.key_id] = signer
            self._current = signer.key_id
        return self._keys[self._current]

    def rotate(self) -> tuple[Signer, Signer]:
        old = self.current()
        new = Signer.generate()
        self._keys[new.key_id] = new
        self._current = new.key_id
        return old, new

    def get(self, key_id: str) -> Signer | None:
        return self._keys.get(key_id)

    def public_keys(self) -> list[PublicKey]:
        return sorted((s.public for s in self._keys.values()), key=lambda k: k.key_id)


class KeyDirError(Exception):
    """The key directory is in a state the service must not paper over (a lost CURRENT, a tampered file)."""


class KeyDir:
    """The service's log-signing keys in a directory of PEM files.

    ``<hex>.pem`` holds the key whose id is ``ed25519:<hex>`` (mode 0600, the
    directory 0700); ``CURRENT`` names the key that signs new heads. Old keys
    stay so heads they signed can be re-checked and re-exported, and because
    the old key signs the head that covers its own rotation entry.

    Every write is a temporary file renamed into place, so a crash leaves
    either the old file or the new one, never half a key.

    The order of rotation is the log's business (its ``audit.key`` entries);
    this class only keeps the files. Callers serialise :meth:`rotate` with
    the write of its log entry.
    """

    CURRENT = "CURRENT"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._cache: dict[str, Signer] = {}

    def _file(self, key_id: str) -> Path:
        return self.path / f"{key_id.removeprefix(KEY_ID_PREFIX)}.pem"

    def _ensure_dir(self) -> None:
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.path, 0o700)

    def _write_new(self, target: Path, data: bytes) -> Path:
        """``data`` in a fresh 0600 temporary file next to ``target``, flushed to disk."""
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        return tmp

    def _sync_dir(self) -> None:
        fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _save(self, signer: Signer) -> None:
        tmp = self._write_new(self._file(signer.key_id), signer.to_pem())
        os.replace(tmp, self._file(signer.key_id))
        self._cache[signer.key_id] = signer

    def _read_current(self) -> str | None:
        try:
            text = (self.path / self.CURRENT).read_text("ascii").strip()
        except FileNotFoundError:
            return None
        if not is_key_id(text):
            raise KeyDirError(f"{self.path / self.CURRENT}: does not name a key id ({text[:80]!r})")
        return text

    def current(self) -> Signer:
        """The key that signs new heads; the first call on an empty directory creates it.

        A directory holding keys but no ``CURRENT`` is refused rather than
        given a fresh key: a silently new key would sign heads the log never
        introduced, and every later verification would fail.
        """
        key_id = self._read_current()
        if key_id is None:
            if self.path.is_dir() and any(self.path.glob("*.pem")):
                raise KeyDirError(f"{self.path}: holds keys but no {self.CURRENT} file; restore it by hand")
            self._ensure_dir()
            signer = Signer.generate()
            self._save(signer)
            tmp = self._write_new(self.path / self.CURRENT, (signer.key_id + "\n").encode("ascii"))
            try:
                # link, not replace: if another process created CURRENT first, its key wins.
                os.link(tmp, self.path / self.CURRENT)
            except FileExistsError:
                self._file(signer.key_id).unlink(missing_ok=True)
                self._cache.pop(signer.key_id, None)
            finally:
                tmp.unlink(missing_ok=True)
            self._sync_dir()
            key_id = self._read_current()
            assert key_id is not None
        found = self.get(key_id)
        if found is None:
            raise KeyDirError(f"{self.path}: {self.CURRENT} names {key_id}, but its key file is missing")
        return found

    def rotate(self) -> tuple[Signer, Signer]:
        """A new current key; the old one stays on disk. Returns ``(old, new)``."""
        old = self.current()
        new = Signer.generate()
        self._save(new)
        tmp = self._write_new(self.path / self.CURRENT, (new.key_id + "\n").encode("ascii"))
        os.replace(tmp, self.path / self.CURRENT)
        self._sync_dir()
        return old, new

    def get(self, key_id: str) -> Signer | None:
        """The key with this id, or None if this directory never held it."""
        if not is_key_id(key_id):
            return None  # also keeps a hostile id from becoming a path
        cached = self._cache.get(key_id)
        if cached is not None:
            return cached
        try:
            data = self._file(key_id).read_bytes()
        except FileNotFoundError:
            return None
        signer = Signer.from_pem(data)
        if signer.key_id != key_id:
            raise KeyDirError(f"{self._file(key_id)}: holds key {signer.key_id}, not {key_id}")
        self._cache[key_id] = signer
        return signer

    def public_keys(self) -> list[PublicKey]:
        """Every key in the directory, by id (not by age: the log records the order)."""
        if not self.path.is_dir():
            return []
        keys = []
        for file in sorted(self.path.glob("*.pem")):
            signer = self.get(KEY_ID_PREFIX + file.stem)
            if signer is not None:
                keys.append(signer.public)
        return keys
