"""The request constraints the server enforces, as types the OpenAPI document publishes
(and the one rule no type can say: no query parameter a route does not take).

The rules themselves live in `events.validation` (the actors apply them too); here they
become patterns and lengths on path parameters and body fields, so a client generated
from `/openapi.json` never builds a request the server would refuse for its shape.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Header, Path, Query, Request
from fastapi.dependencies.models import Dependant
from pydantic import Field, SecretStr

from events.broker import QUEUES
from events.errors import InvalidInput
from events.urls import DEFAULT_MAX_URL_LENGTH
from events.validation import (
    DEFAULT_MAX_DESCRIPTION_LENGTH,
    DEFAULT_MAX_NAME_LENGTH,
    DEFAULT_MAX_REPOSITORY_LENGTH,
    NAME_PATTERN,
    REPOSITORY_PATTERN,
)
from gateway.submit import IDEMPOTENCY_KEY_PATTERN

DEFAULT_MAX_REPOSITORIES = 1000  # repositories a registry link may be limited to
DEFAULT_MAX_SECRET_LENGTH = 8192  # a password or token; OAuth2 refresh tokens can be long
DEFAULT_MAX_USERNAME_LENGTH = 256  # OCIR's `tenancy/user` and e-mail addresses fit
DEFAULT_MAX_VERSION = 2**31 - 1  # versions are 32-bit integers in the store
DEFAULT_MAX_REPLAY_IDS = 10_000  # dead letters one replay request may name
DEFAULT_MAX_CORRELATION_ID = 100  # what the envelope's `correlationid` holds
# text the store can hold (PostgreSQL refuses NUL) and that prints as it is
PRINTABLE_PATTERN = r"^[^\x00-\x1f\x7f]*$"
# http(s), a host (bracketed for IPv6) without userinfo, a numeric port, no query or
# fragment: the shape `check_url` accepts, surrounding spaces included
URL_SHAPE_PATTERN = (
    r"^[^\S\x00-\x1f\x7f]*[Hh][Tt][Tt][Pp][Ss]?://"
    r"(?:\[[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*(?:%[^\]]*)?\]|[^/?#@\[\]:\x00-\x1f\x7f]+)"
    r"(?::[0-9]*)?(?:/[^?#\x00-\x1f\x7f]*)?[^\S\x00-\x1f\x7f]*$"
)
# Basic auth joins user and password with ':', so a user name cannot contain one
USERNAME_PATTERN = r"^[^\x00-\x1f\x7f:]+$"
# a queue of the contract, or its delay (`.DQ`) or dead-letter (`.XQ`) queue
QUEUE_PATTERN = rf"^(?:{'|'.join(QUEUES)})(?:\.DQ|\.XQ)?$"

_NAME_RULE = f"Letters, digits, '.', '_' and '-', not only dots; at most {DEFAULT_MAX_NAME_LENGTH}."


def _name_field(what: str) -> object:
    return Field(
        min_length=1,
        max_length=DEFAULT_MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
        description=f"The {what}. {_NAME_RULE}",
    )


def _name_path(what: str) -> object:
    return Path(
        min_length=1,
        max_length=DEFAULT_MAX_NAME_LENGTH,
        pattern=NAME_PATTERN,
        description=f"The {what}. {_NAME_RULE}",
    )


# path parameters
ProjectPath = Annotated[str, _name_path("project's name")]
RegistryPath = Annotated[str, _name_path("registry's name in the project")]
JobPath = Annotated[str, _name_path("build job's name in the project")]
UserPath = Annotated[str, _name_path("user's name")]


def _absent_not_null(schema: dict[str, Any]) -> None:
    """An optional header or query parameter is left out, never sent as null: publish
    the string it is when present (pydantic would say `anyOf: [string, null]`)."""
    variants = schema.pop("anyOf", [])
    schema.update(next(v for v in variants if v.get("type") != "null"))


QueueQuery = Annotated[
    str | None,
    Query(
        pattern=QUEUE_PATTERN,
        description="One queue; all when left out.",
        json_schema_extra=_absent_not_null,
    ),
]
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Sending the same key again is the same command (8-100 characters).",
        json_schema_extra=_absent_not_null,
    ),
]
CorrelationIdHeader = Annotated[
    str | None,
    Header(
        max_length=DEFAULT_MAX_CORRELATION_ID,
        description="Ties the command's journey (logs, events) to the caller's own.",
        json_schema_extra=_absent_not_null,
    ),
]

# body fields
Name = Annotated[str, _name_field("name, unique in the project (case-insensitively)")]
Url = Annotated[
    str,
    Field(
        min_length=1,
        max_length=DEFAULT_MAX_URL_LENGTH,
        pattern=PRINTABLE_PATTERN,
        # published, and enforced by `events.validation.check_url` with a reason per rule
        json_schema_extra={"pattern": URL_SHAPE_PATTERN},
        description="https:// (http:// only for hosts in REGLINK_INSECURE_HOSTS); a host; "
        "no credentials, query or fragment.",
    ),
]
Description = Annotated[
    str, Field(max_length=DEFAULT_MAX_DESCRIPTION_LENGTH, pattern=r"^[^\x00]*$")
]
Username = Annotated[
    str, Field(min_length=1, max_length=DEFAULT_MAX_USERNAME_LENGTH, pattern=USERNAME_PATTERN)
]
Secret = Annotated[
    SecretStr,
    Field(min_length=1, max_length=DEFAULT_MAX_SECRET_LENGTH, description="Write-only."),
]
Repository = Annotated[
    str, Field(max_length=DEFAULT_MAX_REPOSITORY_LENGTH, pattern=REPOSITORY_PATTERN)
]
Repositories = Annotated[
    list[Repository],
    Field(
        max_length=DEFAULT_MAX_REPOSITORIES,
        description="Limit the link to these repositories; empty means all.",
    ),
]
Version = Annotated[int, Field(ge=1, le=DEFAULT_MAX_VERSION)]
QueueName = Annotated[str, Field(pattern=QUEUE_PATTERN)]
MessageId = Annotated[str, Field(min_length=1, max_length=100, pattern=PRINTABLE_PATTERN)]
ReplayIds = Annotated[list[MessageId], Field(max_length=DEFAULT_MAX_REPLAY_IDS)]


def reject_unknown_query(request: Request) -> None:
    """A query parameter the route does not take is refused, as unknown body fields are:
    a misspelt `?forse=true` must not pass for a request without it."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    unknown = sorted(set(request.query_params) - _query_names(dependant))
    if unknown:
        raise InvalidInput(f"unknown query parameter {unknown[0]!r}")


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


# every /v1 router: what it refuses before its routes run
STRICT_QUERY = [Depends(reject_unknown_query)]
