"""What a link or update request may hold: the fields, their published rules, and the
one secret each auth type takes."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

from events.errors import InvalidInput
from events.messages import AuthType
from gateway.api_params import (
    Description,
    Name,
    Repositories,
    Secret,
    Url,
    Username,
    Version,
)


class LinkBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    url: Url
    description: Description = ""
    auth: AuthType = "anonymous"
    username: Username | None = None
    password: Secret | None = None
    token: Secret | None = None
    repositories: Repositories = []
    expires_at: datetime | None = None


class UpdateBody(BaseModel):
    """Fields left out keep their value; the secret is write-only."""

    model_config = ConfigDict(extra="forbid")
    new_name: Name | None = None
    url: Url | None = None
    description: Description | None = None
    auth: AuthType | None = None
    username: Username | None = None
    password: Secret | None = None
    token: Secret | None = None
    repositories: Repositories | None = None
    expires_at: datetime | None = None
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
