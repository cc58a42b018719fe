"""The problem responses each route documents, so the OpenAPI tells clients (and Schemathesis) the truth."""

from __future__ import annotations

from typing import Any

from detente.adapters.api.problems import PROBLEM_JSON, PROBLEM_REF


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    described = {
        400: "Bad request",
        401: "Missing, unknown, expired or revoked token",
        403: "The caller's party may not do this",
        404: "Not found (or not visible to the caller's party)",
        409: "Conflict with the current state",
        413: "Request body too large",
        422: "Invalid input: every problem is listed",
        503: "Busy: nothing was taken; send again after Retry-After seconds",
    }
    out: dict[int | str, dict[str, Any]] = {}
    for status in (*statuses, 400, 413, 422):
        # No "model": FastAPI would document it as application/json too, which errors never are.
        # The ProblemDetail component is added to the OpenAPI by problems.install.
        out[status] = {
            "description": described[status],
            "content": {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}},
        }
        if status == 401:
            out[status]["headers"] = {
                "WWW-Authenticate": {
                    "description": "The scheme to authenticate with (RFC 9110 §11.6.1)",
                    "required": True,
                    "schema": {"type": "string", "const": "Bearer"},
                }
            }
    return out


AUTHED = documented(401, 403, 404)
