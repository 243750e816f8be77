"""What a link or update request may hold: the fields, their published rules, and the
one secret each auth type takes. The rules between fields are published as JSON Schema
conditions and enforced in code, which says which rule a request broke."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from events.errors import InvalidInput
from events.messages import AuthType
from events.validation import DEFAULT_MAX_CA_BYTES
from gateway.api_params import (
    Description,
    Name,
    Repositories,
    Secret,
    Url,
    Username,
    Version,
)

_PRESENT = {"type": "string"}
_ABSENT = {"type": "null"}  # left out or null


def _when(auth: str, then: dict[str, Any]) -> dict[str, Any]:
    return {"if": {"properties": {"auth": {"const": auth}}, "required": ["auth"]}, "then": then}


# One secret at most, and the kind each auth type takes (what `secret_of` refuses).
SECRET_RULES: list[dict[str, Any]] = [
    {"not": {"properties": {"password": _PRESENT, "token": _PRESENT}}},
    _when("basic", {"properties": {"token": _ABSENT}}),
    _when("oauth2", {"properties": {"password": _ABSENT}}),
]
# A link's auth type with exactly the fields it needs (`events.validation.check_auth`);
# `auth` left out means anonymous.
LINK_AUTH_RULES: list[dict[str, Any]] = [
    {
        "if": {"properties": {"auth": {"const": "anonymous"}}},
        "then": {"properties": {"username": _ABSENT, "password": _ABSENT, "token": _ABSENT}},
    },
    _when(
        "basic",
        {"required": ["username", "password"], "properties": {"username": _PRESENT}},
    ),
    _when("oauth2", {"required": ["token"], "properties": {"token": _PRESENT}}),
]


def _link_rules(schema: dict[str, Any]) -> None:
    schema["allOf"] = SECRET_RULES + LINK_AUTH_RULES


def _update_rules(schema: dict[str, Any]) -> None:
    schema["allOf"] = SECRET_RULES


CaPem = Annotated[
    str,
    Field(
        max_length=DEFAULT_MAX_CA_BYTES,
        description="PEM certificates of the registry's private CA (trusted for it alone).",
    ),
]


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_link_rules)
    name: Name
    url: Url
    description: Description = ""
    auth: AuthType = "anonymous"
    username: Username | None = None
    password: Secret | None = None
    token: Secret | None = None
    repositories: Repositories = []
    expires_at: datetime | None = None
    ca_pem: CaPem | None = None


class UpdateBody(BaseModel):
    """Fields left out keep their value; the secret is write-only."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_update_rules)
    new_name: Name | None = None
    url: Url | None = None
    description: Description | None = None
    auth: AuthType | None = None
    username: Username | None = None
    password: Secret | None = None
    token: Secret | None = None
    repositories: Repositories | None = None
    expires_at: datetime | None = None
    ca_pem: CaPem | None = Field(
        default=None, description='PEM certificates of a private CA; "" drops the CA'
    )
    expected_version: Version | None = None


def secret_of(body: LinkBody | UpdateBody) -> str | None:
    """The one secret the auth type takes; the wrong kind is refused, not ignored."""
    if body.password is not None and body.token is not None:
        raise InvalidInput("give a password or a token, not both")
    if body.auth == "basic" and body.token is not None:
        raise InvalidInput("basic auth takes a password, not a token")
    if body.auth == "oauth2" and body.password is not None:
        raise InvalidInput("oauth2 auth takes a token, not a password")
    chosen = body.password or body.token
    return chosen.get_secret_value() if chosen is not None else None
