"""Members and API tokens: who is acting, for which party.

A token is ``dtk_<id>.<secret>``: the id finds the row, the secret is
checked against its stored SHA-256 (the secret is 256 random bits, so a
fast hash is the right one; a password hash would only slow every request).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from detente.domain.model import Role

TOKEN_PREFIX = "dtk_"


@dataclass(frozen=True)
class Caller:
    """The member making a request and the one party it acts for."""

    member: str
    party: str
    role: Role


@dataclass(frozen=True)
class Member:
    id: str
    party: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class Token:
    """A stored token: never the secret, only its hash."""

    id: str
    member: str
    party: str
    secret_hash: str
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def is_valid(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at


def new_token_secret() -> tuple[str, str, str]:
    """A fresh ``(token id, secret, full bearer token)``."""
    token_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return token_id, secret, f"{TOKEN_PREFIX}{token_id}.{secret}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def split_token(bearer: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a well-formed bearer token, else None.

    >>> split_token("dtk_ab12.s3cret")
    ('ab12', 's3cret')
    >>> split_token("Basic xyz") is None
    True
    """
    if not bearer.startswith(TOKEN_PREFIX) or len(bearer) > 200:
        return None
    token_id, dot, secret = bearer[len(TOKEN_PREFIX) :].partition(".")
    if not dot or not token_id or not secret:
        return None
    return token_id, secret


def secret_matches(secret: str, secret_hash: str) -> bool:
    """Constant-time comparison of a presented secret with a stored hash."""
    return hmac.compare_digest(hash_secret(secret), secret_hash)
