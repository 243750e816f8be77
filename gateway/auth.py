"""Who is calling: Bearer API tokens, looked up by hash; operators; a command's caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from events.errors import Forbidden, Unauthenticated
from gateway.api_params import CorrelationIdHeader, IdempotencyKeyHeader
from gateway.bootstrap import Container
from store.identity import authenticate, is_operator

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


def current_operator(request: Request, user: User) -> str:
    """The caller, if they hold the operator role (not merely a project's ownership)."""
    container: Container = request.app.state.container
    with container.uow() as uow:
        if not is_operator(uow.session, user):
            raise Forbidden(
                "only operators may see the broker across projects; project owners: "
                "/v1/projects/{project}/dead-letters"
            )
    return user


Operator = Annotated[str, Depends(current_operator)]


@dataclass(frozen=True)
class CommandCaller:
    """Who sends a command, with the optional ids they chose for it."""

    user: str
    idempotency_key: str | None
    correlation_id: str | None

    def submit_args(self) -> dict[str, Any]:
        return {
            "actor": self.user,
            "idempotency_key": self.idempotency_key,
            "correlation_id": self.correlation_id,
        }


def command_caller(
    user: User,
    idempotency_key: IdempotencyKeyHeader = None,
    x_correlation_id: CorrelationIdHeader = None,
) -> CommandCaller:
    """`Idempotency-Key` makes a retried request the same command; `X-Correlation-Id` ties
    the command's journey to the caller's own."""
    return CommandCaller(user, idempotency_key, x_correlation_id)


Caller = Annotated[CommandCaller, Depends(command_caller)]
