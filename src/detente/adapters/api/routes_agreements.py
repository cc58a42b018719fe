"""Agreements: propose, sign, reject, amend, withdraw."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import documented
from detente.adapters.api.schemas import (
    AMEND_AGREEMENT_EXAMPLES,
    MAX_AGREEMENT_VERSION,
    PROPOSE_EXAMPLES,
    REJECT_EXAMPLES,
    SIGN_EXAMPLES,
    WITHDRAW_EXAMPLES,
    AgreementAmend,
    AgreementIn,
    AgreementOut,
    Decide,
    RejectIn,
    WithdrawIn,
)
from detente.domain.agreements import Agreement
from detente.services import agreements, audit

router = APIRouter(responses=documented(401, 403, 404, 409), tags=["agreements"])


@router.get("/agreements")
def list_agreements(
    m: Mech,
    who: Who,
    after: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[AgreementOut]:
    """Agreements naming the caller's party (all, for the secretariat and observers)."""
    return [_out(a) for a in agreements.browse(m, who, after=after, limit=limit)]


@router.post("/agreements", status_code=status.HTTP_201_CREATED)
def propose(m: Mech, who: Who, body: Annotated[AgreementIn, Body(openapi_examples=PROPOSE_EXAMPLES)]) -> AgreementOut:
    """Propose an agreement; the proposer's signature is recorded if it is a named party."""
    a = agreements.propose(m, who, kind=body.kind, title=body.title, parties=body.parties, body=body.body)
    return _out(a)


@router.get("/agreements/{agreement_id}")
def read_agreement(
    m: Mech, who: Who, agreement_id: str, version: Annotated[int | None, Query(ge=1, le=MAX_AGREEMENT_VERSION)] = None
) -> AgreementOut:
    a, decisions = agreements.show(m, who, agreement_id, version)
    return _out(a, decisions)


@router.put("/agreements/{agreement_id}")
def amend(
    m: Mech,
    who: Who,
    agreement_id: str,
    body: Annotated[AgreementAmend, Body(openapi_examples=AMEND_AGREEMENT_EXAMPLES)],
) -> AgreementOut:
    """A new version; the version in force stays in force until every party signs this one."""
    return _out(agreements.amend(m, who, agreement_id, title=body.title, body=body.body))


@router.post("/agreements/{agreement_id}/sign")
def sign(
    m: Mech, who: Who, agreement_id: str, body: Annotated[Decide, Body(openapi_examples=SIGN_EXAMPLES)]
) -> AgreementOut:
    """Sign one version; a party that registered a key signs the decision statement with it."""
    signature = None if body.signature is None else body.signature.model_dump()
    return _out(agreements.sign(m, who, agreement_id, body.version, signature))


@router.post("/agreements/{agreement_id}/reject")
def reject(
    m: Mech, who: Who, agreement_id: str, body: Annotated[RejectIn, Body(openapi_examples=REJECT_EXAMPLES)]
) -> AgreementOut:
    return _out(agreements.reject(m, who, agreement_id, body.version, body.reason))


@router.post("/agreements/{agreement_id}/withdraw")
def withdraw(
    m: Mech, who: Who, agreement_id: str, body: Annotated[WithdrawIn, Body(openapi_examples=WITHDRAW_EXAMPLES)]
) -> AgreementOut:
    """Suspend the agreement in force (or withdraw a pending proposal); everyone concerned is told."""
    return _out(agreements.withdraw(m, who, agreement_id, body.reason))


def _out(a: Agreement, decisions: list[dict[str, Any]] | None = None) -> AgreementOut:
    return AgreementOut(
        id=a.id,
        version=a.version,
        kind=a.kind,
        title=a.title,
        proposer=a.proposer,
        parties=list(a.parties),
        status=a.status.value,
        signed=sorted(a.signed),
        unsigned=list(a.unsigned),
        body=a.body,
        created_at=a.created_at,
        updated_at=a.updated_at,
        digest=audit.agreement_digest(a),
        decisions=decisions,
    )
