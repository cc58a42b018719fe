"""A party's inbox, its live stream (Server-Sent Events), webhooks and the access log."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Body, Header, Query, Request, status
from fastapi.encoders import jsonable_encoder
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from detente.adapters.api.deps import Mech, Who
from detente.adapters.api.errors import AUTHED
from detente.adapters.api.schemas import (
    MAX_ROW_ID,
    READ_EXAMPLES,
    WEBHOOK_EXAMPLES,
    Inbox,
    Notification,
    ReadIn,
    ReadOut,
    WebhookCreated,
    WebhookIn,
    WebhookOut,
)
from detente.domain.errors import Unauthenticated
from detente.services import accounts, notifications
from detente.services.context import Mechanism

router = APIRouter(responses=AUTHED, tags=["notifications"])

#: How often the stream looks for new notifications, and sends a keep-alive comment.
POLL_S = 0.25
KEEPALIVE_S = 15.0


@router.get("/notifications")
def inbox(
    m: Mech,
    who: Who,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID)] = 0,
    unread: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Inbox:
    box = notifications.inbox(m, who, after=after, unread=unread, limit=limit)
    return Inbox(items=[Notification(**n) for n in box["items"]], unread=box["unread"])


@router.post("/notifications/read")
def mark_read(m: Mech, who: Who, body: Annotated[ReadIn, Body(openapi_examples=READ_EXAMPLES)]) -> ReadOut:
    return ReadOut(marked=notifications.mark_read(m, who, body.ids))


@router.get(
    "/notifications/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events, one per notification"}},
)
async def stream(
    request: Request,
    m: Mech,
    who: Who,
    after: Annotated[int, Query(ge=0, le=MAX_ROW_ID, description="Start after this notification id")] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """The party's notifications as they come (``id`` is the notification id).

    A client that reconnects sends ``Last-Event-ID`` and misses nothing:
    the stream reads the inbox table, so it sees notifications written by
    any process.
    """
    start = after
    if last_event_id is not None and last_event_id.isdigit():
        start = max(start, int(last_event_id))

    loop = asyncio.get_running_loop()
    wake = asyncio.Event()

    def ring() -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under a late commit
            loop.call_soon_threadsafe(wake.set)

    async def events() -> AsyncIterator[str]:
        last = start
        idle = 0.0
        stop_listening = m.store.on_notify(ring)
        try:
            yield ": detente notifications\n\n"
            async for chunk in _poll(last, idle):
                yield chunk
        finally:
            stop_listening()

    async def _poll(last: int, idle: float) -> AsyncIterator[str]:
        while not await request.is_disconnected():
            wake.clear()
            items = await run_in_threadpool(notifications.since, m, who.party, last)
            for item in items:
                last = item["id"]
                data = json.dumps(jsonable_encoder(item), separators=(",", ":"))
                yield f"id: {last}\nevent: {item['type']}\ndata: {data}\n\n"
            if items:
                idle = 0.0
                continue
            # woken at once by a commit in this process; other processes' commits are seen within POLL_S
            began = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), POLL_S)
            idle += loop.time() - began
            if idle >= KEEPALIVE_S:
                idle = 0.0
                if not await run_in_threadpool(_still_valid, m, request):
                    yield "event: token.invalid\ndata: {}\n\n"
                    return
                yield ": keep-alive\n\n"

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)


def _still_valid(m: Mechanism, request: Request) -> bool:
    """Whether the stream's token is still good: a revoked or expired token ends an open stream."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    try:
        accounts.authenticate(m, token if scheme.lower() == "bearer" else None)
    except Unauthenticated:
        return False
    return True


@router.get("/webhooks")
def list_webhooks(m: Mech, who: Who) -> list[WebhookOut]:
    return [WebhookOut(**w) for w in notifications.webhooks(m, who)]


@router.post("/webhooks", status_code=status.HTTP_201_CREATED)
def add_webhook(
    m: Mech, who: Who, body: Annotated[WebhookIn, Body(openapi_examples=WEBHOOK_EXAMPLES)]
) -> WebhookCreated:
    """Deliver the party's notifications to ``url``: POSTs signed with HMAC-SHA256, retried with backoff.

    Each delivery carries ``Idempotency-Key`` (the same on every retry),
    ``Detente-Event`` and ``Detente-Signature: t=<unix>,v1=<hex>`` where the
    hex is HMAC-SHA256(secret, "<t>." + body).
    """
    webhook_id, secret = notifications.add_webhook(m, who, body.url)
    return WebhookCreated(id=webhook_id, url=body.url, secret=secret)


@router.delete("/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_webhook(m: Mech, who: Who, webhook_id: str) -> None:
    notifications.remove_webhook(m, who, webhook_id)


@router.get("/webhooks/{webhook_id}/deliveries")
def deliveries(m: Mech, who: Who, webhook_id: str) -> list[dict[str, object]]:
    return notifications.deliveries(m, who, webhook_id)


@router.get("/access-log")
def access_log(m: Mech, who: Who, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict[str, object]]:
    """Who read the party's protected sites and movements, and when (all of them, for the secretariat)."""
    return notifications.access_log(m, who, limit)
