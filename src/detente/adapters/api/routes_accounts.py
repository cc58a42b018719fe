"""Who is who: parties, members, tokens, and the caller itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, status

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import AUTHED, documented
from detente.adapters.api.schemas import (
    MEMBER_EXAMPLES,
    PARTY_EXAMPLES,
    TOKEN_EXAMPLES,
    Health,
    IssuedToken,
    Me,
    MemberIn,
    MemberOut,
    PartyIn,
    PartyOut,
    TokenIn,
    TokenOut,
    WorldOut,
)
from detente.domain.accounts import Token
from detente.domain.model import Party
from detente.services import accounts

router = APIRouter(responses=AUTHED)
public = APIRouter()


@public.get("/health", tags=["service"], responses=documented())
def health(m: Mech) -> Health:
    with m.store.read() as tx:
        return Health(status="ok", world_version=tx.version())


@router.get("/me", tags=["accounts"])
def me(m: Mech, who: Who) -> Me:
    with m.store.read() as tx:
        version = tx.version()
    return Me(member=who.member, party=who.party, role=who.role, world_version=version)


@router.get("/world", tags=["objects"])
def world(m: Mech, who: Who) -> WorldOut:
    """The world version to check against, and the separation minima in force."""
    with m.store.read() as tx:
        minima, _ = tx.separation()
        return WorldOut(
            world_version=tx.version(),
            separation={
                c.value: {"horizontal_m": v.horizontal_m, "vertical_m": v.vertical_m} for c, v in minima.items()
            },
        )


@router.get("/parties", tags=["accounts"])
def list_parties(m: Mech, who: Who) -> list[PartyOut]:
    return [PartyOut(id=p.id, name=p.name, role=p.role) for p in accounts.list_parties(m)]


@router.post("/parties", tags=["accounts"], status_code=status.HTTP_201_CREATED, responses=documented(409))
def create_party(m: Mech, who: Who, body: Annotated[PartyIn, Body(openapi_examples=PARTY_EXAMPLES)]) -> PartyOut:
    """Add a party (secretariat only)."""
    party = accounts.add_party(m, who, Party(id=body.id, name=body.name, role=body.role))
    return PartyOut(id=party.id, name=party.name, role=party.role)


@router.get("/parties/{party}/members", tags=["accounts"])
def list_members(m: Mech, who: Who, party: str) -> list[MemberOut]:
    return [MemberOut(**vars(x)) for x in accounts.list_members(m, who, party)]


@router.post("/parties/{party}/members", tags=["accounts"], status_code=status.HTTP_201_CREATED)
def create_member(
    m: Mech, who: Who, party: str, body: Annotated[MemberIn, Body(openapi_examples=MEMBER_EXAMPLES)]
) -> MemberOut:
    """Add a member to a party (the secretariat, or a member of that party)."""
    return MemberOut(**vars(accounts.add_member(m, who, party=party, name=body.name)))


@router.get("/members/{member}/tokens", tags=["accounts"])
def list_tokens(m: Mech, who: Who, member: str) -> list[TokenOut]:
    return [_token(t) for t in accounts.list_tokens(m, who, member)]


@router.post("/members/{member}/tokens", tags=["accounts"], status_code=status.HTTP_201_CREATED)
def create_token(
    m: Mech, who: Who, member: str, body: Annotated[TokenIn, Body(openapi_examples=TOKEN_EXAMPLES)]
) -> IssuedToken:
    """Issue a token; the response holds the bearer string, shown only this once."""
    token, bearer = accounts.issue_token(m, who, member, timedelta(days=body.ttl_days))
    return IssuedToken(**_token(token).model_dump(), token=bearer)


@router.delete("/tokens/{token}", tags=["accounts"], status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(m: Mech, who: Who, token: str) -> None:
    accounts.revoke_token(m, who, token)


def _token(t: Token) -> TokenOut:
    fields: dict[str, Any] = {
        "id": t.id,
        "member": t.member,
        "party": t.party,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "revoked_at": t.revoked_at,
    }
    return TokenOut(**fields)
