"""RFC 9457 problem details for every error, and the request size limit.

Each error a service raises on purpose maps to one status and one problem
``type`` (a relative URI under ``/problems/``); the body says what is wrong
and, for invalid input, lists every problem found.  An unexpected error is
a 500 problem that names nothing internal.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from detente.domain.agreements import NotAllowed
from detente.domain.errors import AlreadyExists, Busy, DetenteError, Forbidden, InvalidInput, NotFound, Unauthenticated
from detente.services.filing import BlockingConflicts, StaleWorld

log = logging.getLogger("detente.api")

PROBLEM_JSON = "application/problem+json"
PROBLEM_REF = "#/components/schemas/ProblemDetail"

#: Default limit of a request body: 2 MiB (a large intent is tens of kB).
MAX_BODY_BYTES = 2 * 1024 * 1024


class ProblemDetail(BaseModel):
    """An RFC 9457 problem; extra members carry the details (errors, conflicts, world_version)."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


def problem(
    status: int, slug: str, title: str, detail: str | None, request: Request | None, **extra: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": None if request is None else request.url.path,
    }
    body.update(extra)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(jsonable_encoder(body), status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _detente_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, InvalidInput):
        errors = [{"rule": p.rule, "message": p.message, "index": p.index, "id": p.id} for p in exc.problems]
        detail = f"{len(errors)} problem(s) found; nothing was stored"
        return problem(422, "invalid-input", "Invalid input", detail, request, errors=errors)
    if isinstance(exc, Unauthenticated):
        return problem(401, "unauthenticated", "Not authenticated", str(exc), request)
    if isinstance(exc, Forbidden):
        return problem(403, "forbidden", "Forbidden", str(exc), request)
    if isinstance(exc, NotFound):
        return problem(404, "not-found", "Not found", str(exc), request)
    if isinstance(exc, Busy):
        response = problem(503, "busy", "Busy", str(exc), request)
        response.headers["Retry-After"] = "1"
        return response
    if isinstance(exc, AlreadyExists):
        return problem(409, "already-exists", "Already exists", str(exc), request)
    if isinstance(exc, NotAllowed):
        return problem(409, f"agreement-{exc.rule}", "Not allowed in the agreement's state", str(exc), request)
    if isinstance(exc, StaleWorld):
        return problem(
            409,
            "stale-world",
            "The world changed since your check",
            str(exc),
            request,
            world_version=exc.world_version,
            new_conflicts=[c.to_json() for c in exc.new],
            conflicts=[c.to_json() for c in exc.conflicts],
        )
    if isinstance(exc, BlockingConflicts):
        return problem(
            409,
            "blocking-conflicts",
            "Blocking conflicts",
            str(exc),
            request,
            world_version=exc.world_version,
            conflicts=[c.to_json() for c in exc.conflicts],
        )
    return problem(400, "bad-request", "Bad request", str(exc), request)


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"rule": str(e.get("type", "invalid")), "message": str(e.get("msg", "")), "location": list(e.get("loc", ()))}
        for e in exc.errors()
    ]
    return problem(
        422, "invalid-request", "Invalid request", f"{len(errors)} problem(s) in the request", request, errors=errors
    )


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = {400: "bad-request", 404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
        exc.status_code, "http-error"
    )
    return problem(exc.status_code, slug, str(exc.detail), str(exc.detail), request)


def _busy(request: Request, exc: Exception) -> JSONResponse:
    """The database gave up waiting for its write lock: nothing was stored, try again shortly.

    A 503 with ``Retry-After`` tells a client it is safe to re-send, where a
    500 would leave it unsure whether its filing went through.
    """
    log.warning("database busy on %s %s: %s", request.method, request.url.path, exc)
    response = problem(503, "busy", "Busy", "the database is busy; nothing was stored, retry shortly", request)
    response.headers["Retry-After"] = "1"
    return response


def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value (PostgreSQL: a NUL character in text); the transaction rolled back."""
    log.info("unstorable value on %s %s: %s", request.method, request.url.path, exc)
    detail = "a value cannot be stored (text must not contain NUL characters); nothing was stored"
    return problem(422, "unstorable-value", "Invalid input", detail, request)


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem(500, "internal", "Internal error", "an unexpected error; it was logged", request)


def install(app: FastAPI, max_body_bytes: int = MAX_BODY_BYTES) -> None:
    app.add_exception_handler(DetenteError, _detente_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _busy)
    app.add_exception_handler(DataError, _unstorable)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    _document_problems(app)


def _document_problems(app: FastAPI) -> None:
    """Put the ProblemDetail schema in the OpenAPI components, where every error response refers to it."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # built once, then cached by FastAPI
        schemas = schema.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault("ProblemDetail", ProblemDetail.model_json_schema(mode="serialization"))
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


class BodyLimit:
    """Refuse a request body over ``max_bytes`` with 413, before it is parsed.

    A declared ``Content-Length`` over the limit is refused at once; a
    chunked body is counted as it arrives and cut off at the limit.
    """

    #: Paths (by their last segment) that take larger bodies: evidence files (photos, video) of observers.
    LARGER: ClassVar[Mapping[str, int]] = {"evidence": 16 * 1024 * 1024}

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.default_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        last = str(scope.get("path", "")).rstrip("/").rpartition("/")[2]
        limit = max(self.default_bytes, self.LARGER.get(last, 0))
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = limit + 1
                if declared > limit:
                    await self._refuse(scope, receive, send, limit)
                    return
        seen = 0
        too_large = False

        async def counting_receive() -> Message:
            nonlocal seen, too_large
            if too_large:
                return {"type": "http.request", "body": b"", "more_body": False}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # Hand the app an empty, finished body; its answer is replaced below.
                    too_large = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        refused = False

        async def guarded_send(message: Message) -> None:
            nonlocal refused
            if too_large:
                if not refused:
                    refused = True
                    await self._refuse(scope, receive, send, limit)
                return
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(
            413, "too-large", "Request body too large", f"the limit is {limit} bytes; nothing was stored", None
        )
        await response(scope, receive, send)
