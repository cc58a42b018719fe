"""Ceasefire observers over HTTP: reports (grouped into incidents as they come) and evidence files.

Evidence is served back only as a download (``application/octet-stream``,
``Content-Disposition: attachment``, ``nosniff``, a CSP that allows
nothing), whatever type it was filed as: detente never renders it.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Request, status
from fastapi.responses import Response

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import documented
from detente.adapters.api.schemas import MAX_ROW_ID
from detente.services import observers

router = APIRouter(responses=documented(401, 403, 404), tags=["observers"])

RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]

REPORT_EXAMPLE = {
    "heard near Daraa": {
        "value": {
            "id": "smm-2017-07-09-041",
            "observer": {"lon": 36.10, "lat": 32.62},
            "start": "2017-07-09T20:10:00Z",
            "end": "2017-07-09T20:25:00Z",
            "event_type": "impact",
            "observed_how": "heard",
            "weapon": "artillery",
            "bearing_deg": 135,
            "distance_m": [3000, 5000],
            "count": 12,
            "text": "12 undetermined explosions 3-5 km south-east",
            "attributed_to": ["sy"],
        }
    }
}


@router.post("/observer-reports", status_code=status.HTTP_201_CREATED, responses=documented(409, 422))
def file_report(
    m: Mech, who: Who, body: Annotated[dict[str, Any], Body(openapi_examples=REPORT_EXAMPLE)]
) -> dict[str, Any]:
    """An observer mission's report (the OSCE fields); it joins the incident of the reports close to it."""
    return observers.file_report(m, who, body)


@router.get("/observer-reports/{report_id}")
def show_report(m: Mech, who: Who, report_id: RowId) -> dict[str, Any]:
    return observers.show_report(m, who, report_id)


@router.post(
    "/observer-reports/{report_id}/evidence",
    status_code=status.HTTP_201_CREATED,
    responses=documented(409, 413, 422),
)
async def add_evidence(
    request: Request,
    m: Mech,
    who: Who,
    report_id: RowId,
    filename: Annotated[str, Query(min_length=1, max_length=128)],
) -> dict[str, Any]:
    """Attach a file (the request body, as sent, with its Content-Type); at most 16 MiB."""
    content = await request.body()
    media_type = request.headers.get("content-type", "")
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        observers.add_evidence, m, who, report_id, filename=filename, media_type=media_type, content=content
    )


@router.get("/evidence/{evidence_id}", response_class=Response)
def evidence_file(m: Mech, who: Who, evidence_id: RowId) -> Response:
    """The file, as a download only."""
    meta, content = observers.evidence_file(m, who, evidence_id)
    headers = {
        "Content-Disposition": f'attachment; filename="{meta["filename"]}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "X-Detente-SHA256": meta["sha256"],
        "X-Detente-Media-Type": meta["media_type"],
        "Cache-Control": "no-store",
    }
    return Response(content, media_type="application/octet-stream", headers=headers)
