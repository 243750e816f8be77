"""The one error model every route answers with, as the OpenAPI document declares it.

Declaring it per status code, with the same shape the exception handlers send, is what
lets a generated client decode a refusal instead of guessing; declaring 422 here also
keeps FastAPI from publishing its own `HTTPValidationError`, which the server never sends.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

# what each refusal means, as the OpenAPI document says it
ERROR_MEANINGS = {
    400: "The request body could not be read (not UTF-8 JSON).",
    401: "No valid API token (`Authorization: Bearer rlk_…`).",
    403: "The caller's role does not allow this.",
    404: "No such project, registry, job or command, or it is not visible to the caller.",
    409: "The name is taken, or the state moved on (version, build jobs using it).",
    413: "The request body is too large.",
    422: "A field, parameter or header breaks the rules; `message` says which.",
    503: "The broker could not take the command; nothing was applied, try again.",
}


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str  # stable and machine-readable (`invalid_input`, `not_found`, `conflict` …)
    message: str  # for people; never echoes a secret


class ErrorResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


UNAVAILABLE = "unavailable"  # the broker or the database is away for now (503)


def error_body(code: str, message: str) -> dict[str, Any]:
    """The JSON every refusal carries."""
    return {"error": {"code": code, "message": message}}


def refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: the error model under each status it may answer with."""
    return {
        status: {"model": ErrorResponse, "description": ERROR_MEANINGS[status]}
        for status in statuses
    }


# the refusals that routes share, by what the route does
READ = (401, 404, 422)  # a project's data, for its members
WRITE = (401, 403, 404, 409, 422)  # a project's data, for its owners
COMMAND = (*WRITE, 503)  # a write that goes through the broker
BODY = (400, 413)  # a route that reads a JSON body
