"""`GET /v1/asyncapi.json`: the AsyncAPI 3.0 document of the broker command channel and
the webhook deliveries, for programs that publish commands or receive deliveries. Public,
like `/openapi.json`: it describes the contract, not anyone's data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import RootModel

from events.asyncapi import document


class AsyncApiDocument(RootModel[dict[str, Any]]):
    """An AsyncAPI 3.0 document (https://www.asyncapi.com/docs/reference/specification/v3.0.0)."""


def asyncapi_router() -> APIRouter:
    router = APIRouter(prefix="/v1")
    built = document()  # the models do not change while the process runs

    @router.get("/asyncapi.json", operation_id="getAsyncApi", response_model=AsyncApiDocument)
    def asyncapi() -> dict[str, Any]:
        return built

    return router
