"""Parties, members and API tokens; who a request acts for."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

from detente.domain.accounts import Caller, Member, Token, hash_secret, new_token_secret, secret_matches, split_token
from detente.domain.errors import AlreadyExists, Forbidden, InvalidInput, NotFound, Problem, Unauthenticated
from detente.domain.model import Party, Role
from detente.services.context import Mechanism
from detente.services.ports import Tx

SECRETARIAT = "secretariat"
DEFAULT_TOKEN_TTL = timedelta(days=90)
MAX_TOKEN_TTL = timedelta(days=366)
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


def check_id(value: str, what: str) -> None:
    """Ids appear in URLs, logs and CoT: a short, plain alphabet only."""
    if not _ID.match(value):
        raise InvalidInput([Problem(f"{what}-id", f"{what} id {value!r} must match {_ID.pattern}")])


def authenticate(m: Mechanism, bearer: str | None) -> Caller:
    """The caller a bearer token stands for; :class:`Unauthenticated` otherwise."""
    if not bearer:
        raise Unauthenticated("an API token is required: send 'Authorization: Bearer dtk_...'")
    parts = split_token(bearer)
    if parts is None:
        raise Unauthenticated("the API token is malformed (expected dtk_<id>.<secret>)")
    token_id, secret = parts
    now = m.clock.now()
    with m.store.read() as tx:
        token = tx.token(token_id)
        if token is None or not secret_matches(secret, token.secret_hash):
            raise Unauthenticated("the API token is not known")
        if token.revoked_at is not None:
            raise Unauthenticated("the API token was revoked")
        if not token.is_valid(now):
            raise Unauthenticated("the API token has expired")
        party = tx.party(token.party)
    if party is None:
        raise Unauthenticated(f"the token's party {token.party!r} no longer exists")
    return Caller(member=token.member, party=token.party, role=party.role)


def bootstrap(m: Mechanism, *, member_name: str = "admin", ttl: timedelta = DEFAULT_TOKEN_TTL) -> tuple[Member, str]:
    """Create the secretariat party (if missing) and a first member with a token.

    Returns the member and the bearer token, which is shown once and never stored.
    """
    now = m.clock.now()
    with m.store.write() as tx:
        if tx.party(SECRETARIAT) is None:
            tx.add_party(Party(SECRETARIAT, "Secretariat of the mechanism", Role.SECRETARIAT))
            tx.bump()
        member = Member(id=_new_member_id(), party=SECRETARIAT, name=member_name, created_at=now)
        tx.add_member(member)
        _, bearer = _issue(tx, member, now, ttl)
    return member, bearer


def add_party(m: Mechanism, caller: Caller, party: Party) -> Party:
    _secretariat_only(caller, "create parties")
    check_id(party.id, "party")
    with m.store.write(by=caller) as tx:
        if tx.party(party.id) is not None:
            raise AlreadyExists(f"party {party.id!r} already exists")
        tx.add_party(party)
        tx.bump()
    return party


def list_parties(m: Mechanism) -> list[Party]:
    with m.store.read() as tx:
        return list(tx.parties().values())


def add_member(m: Mechanism, caller: Caller, *, party: str, name: str) -> Member:
    """A new member of ``party``: by the secretariat, or by a member of that party."""
    _same_party_or_secretariat(caller, party, "add members to")
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        if tx.party(party) is None:
            raise NotFound(f"no party {party!r}")
        member = Member(id=_new_member_id(), party=party, name=name, created_at=now)
        tx.add_member(member)
    return member


def list_members(m: Mechanism, caller: Caller, party: str) -> list[Member]:
    _same_party_or_secretariat(caller, party, "list the members of")
    with m.store.read() as tx:
        if tx.party(party) is None:
            raise NotFound(f"no party {party!r}")
        return tx.members(party)


def issue_token(m: Mechanism, caller: Caller, member_id: str, ttl: timedelta = DEFAULT_TOKEN_TTL) -> tuple[Token, str]:
    """A new token for a member; the bearer string is returned once, only its hash is kept."""
    if not timedelta(minutes=1) <= ttl <= MAX_TOKEN_TTL:
        raise InvalidInput([Problem("token-ttl", f"a token lives between 1 minute and {MAX_TOKEN_TTL.days} days")])
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        member = _visible_member(tx, caller, member_id)
        return _issue(tx, member, now, ttl)


def list_tokens(m: Mechanism, caller: Caller, member_id: str) -> list[Token]:
    with m.store.read() as tx:
        _visible_member(tx, caller, member_id)
        return tx.tokens(member_id)


def revoke_token(m: Mechanism, caller: Caller, token_id: str) -> None:
    now = m.clock.now()
    with m.store.write(world=False, by=caller) as tx:
        token = tx.token(token_id)
        if token is None or (caller.role is not Role.SECRETARIAT and token.party != caller.party):
            raise NotFound(f"no token {token_id!r}")
        tx.revoke_token(token_id, now)


def _issue(tx: Tx, member: Member, now: datetime, ttl: timedelta) -> tuple[Token, str]:
    """Store a new token for ``member``; returns it and the bearer string (never stored)."""
    token_id, secret, bearer = new_token_secret()
    token = Token(
        id=token_id,
        member=member.id,
        party=member.party,
        secret_hash=hash_secret(secret),
        created_at=now,
        expires_at=now + ttl,
    )
    tx.add_token(token)
    return token, bearer


def _visible_member(tx: Tx, caller: Caller, member_id: str) -> Member:
    member = tx.member(member_id)
    if member is None or (caller.role is not Role.SECRETARIAT and member.party != caller.party):
        raise NotFound(f"no member {member_id!r}")
    return member


def _new_member_id() -> str:
    return f"m-{secrets.token_hex(6)}"


def _secretariat_only(caller: Caller, what: str) -> None:
    if caller.role is not Role.SECRETARIAT:
        raise Forbidden(f"only the secretariat may {what}")


def _same_party_or_secretariat(caller: Caller, party: str, what: str) -> None:
    if caller.role is not Role.SECRETARIAT and caller.party != party:
        raise Forbidden(f"{caller.party} may not {what} party {party!r}")
