"""Request-scoped dependencies: the mechanism and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from detente.domain.accounts import Caller
from detente.services import accounts
from detente.services.context import Mechanism

bearer = HTTPBearer(auto_error=False, description="An API token: dtk_<id>.<secret>")


def mechanism(request: Request) -> Mechanism:
    mech: Mechanism = request.app.state.mechanism
    return mech


def caller(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    """The member and party a request acts for (401 when the token is missing or bad)."""
    token = None if credentials is None else credentials.credentials
    return accounts.authenticate(mechanism(request), token)


Mech = Annotated[Mechanism, Depends(mechanism)]
Who = Annotated[Caller, Depends(caller)]
