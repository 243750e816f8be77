"""Who is calling: Bearer API tokens, looked up by hash."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from events.errors import Unauthenticated
from gateway.bootstrap import Container
from store.identity import authenticate

_bearer = HTTPBearer(auto_error=False)


def current_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    if credentials is None:
        raise Unauthenticated("an API token is required (Authorization: Bearer …)")
    container: Container = request.app.state.container
    with container.uow() as uow:
        user = authenticate(uow.session, credentials.credentials)
        if user is None:
            raise Unauthenticated("the API token is not valid")
        return user.name


User = Annotated[str, Depends(current_user)]
