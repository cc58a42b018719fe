"""Filing intents: check and file in one step, against a stated world version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, Response, status

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import AUTHED, documented
from detente.adapters.api.routes_objects import parse_one
from detente.adapters.api.schemas import (
    AMEND_INTENT_EXAMPLES,
    FILE_EXAMPLES,
    MAX_ROW_ID,
    Conflict,
    FilingOut,
    IntentIn,
    IntentOut,
    WorldChange,
)
from detente.domain.model import Kind
from detente.domain.rules import Severity
from detente.services import filing, notifications
from detente.services.filing import Outcome

router = APIRouter(responses=AUTHED, tags=["intents"])


@router.post(
    "/intents",
    status_code=status.HTTP_201_CREATED,
    responses={
        **documented(409),
        200: {"model": FilingOut, "description": "With ``dry_run``: the check only, nothing filed or told"},
    },
)
def file_intent(
    m: Mech,
    who: Who,
    body: Annotated[IntentIn, Body(openapi_examples=FILE_EXAMPLES)],
    response: Response,
    dry_run: Annotated[bool, Query(description="Check only: nothing is filed or told")] = False,
) -> FilingOut:
    """Check an intent and file it in one step.

    409 ``stale-world``: the world changed since ``world_version`` in a way
    that adds conflicts (listed); re-check and file again.  409
    ``blocking-conflicts``: refused unless ``override.justification`` is
    given, which is recorded and sent to the parties concerned.  Advisory
    conflicts file and are disclosed to the parties they concern.
    """
    intent = parse_one(m, who, body.intent, kind=Kind.INTENT)
    outcome = filing.file(
        m,
        who,
        intent,
        checked_version=body.world_version,
        justification=None if body.override is None else body.override.justification,
        dry_run=dry_run,
    )
    if dry_run:
        response.status_code = status.HTTP_200_OK
    return _out(outcome)


@router.put("/intents/{intent_id}", responses=documented(409))
def amend_intent(
    m: Mech, who: Who, intent_id: str, body: Annotated[IntentIn, Body(openapi_examples=AMEND_INTENT_EXAMPLES)]
) -> FilingOut:
    """Replace a filed intent with a new version, re-checked like a new filing."""
    intent = parse_one(m, who, body.intent, kind=Kind.INTENT, object_id=intent_id)
    outcome = filing.file(
        m,
        who,
        intent,
        checked_version=body.world_version,
        justification=None if body.override is None else body.override.justification,
        amend=True,
    )
    return _out(outcome)


@router.get("/intents/{intent_id}")
def read_intent(m: Mech, who: Who, intent_id: str) -> IntentOut:
    """A filed intent and its filing history (its own party and the secretariat only)."""
    obj, filings = filing.show(m, who, intent_id)
    collection = None if obj is None else {"type": "FeatureCollection", "features": m.codec.features(obj)}
    return IntentOut(intent=collection, filings=filings)


@router.delete("/intents/{intent_id}")
def cancel_intent(m: Mech, who: Who, intent_id: str) -> WorldChange:
    """Cancel a filed intent; the parties told of its conflicts are told it is gone."""
    return WorldChange(world_version=filing.cancel(m, who, intent_id))


@router.get("/disclosures")
def list_disclosures(
    m: Mech,
    who: Who,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="Only disclosures after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, object]]:
    """What the caller's party was told of other parties' filings: clipped area, window, severity, filer."""
    return notifications.disclosures(m, who, after=after, limit=limit)


def _out(outcome: Outcome) -> FilingOut:
    return FilingOut(
        intent=outcome.intent.id,
        filed=outcome.filed,
        world_version=outcome.world_version,
        filing=outcome.filing_id,
        overridden=outcome.overridden,
        notified=list(outcome.notified),
        blocking=sum(c.severity is Severity.BLOCKING for c in outcome.conflicts),
        conflicts=[Conflict(**c.to_json()) for c in outcome.conflicts],
    )
