"""The published contract (docs/asyncapi.json) as validators: what tests hold every
webhook reglink sends and every command the workers accept to."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

PUBLISHED = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"
BASE = "urn:reglink:asyncapi"


@cache
def published() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(PUBLISHED.read_text())
    return document


@cache
def _registry() -> Registry:
    resource = Resource.from_contents(published(), default_specification=DRAFT202012)
    return Registry().with_resource(BASE, resource)


def _message(name: str) -> dict[str, Any]:
    message: dict[str, Any] = published()["components"]["messages"][name]
    return message


def problems(reference: str, instance: Any) -> list[str]:
    """Why `instance` does not match the schema at `reference` (a `$ref` into the
    document); empty when it does."""
    validator = Draft202012Validator({"$ref": BASE + reference}, registry=_registry())
    errors = validator.iter_errors(instance)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def webhook_problems(headers: dict[str, str], event: dict[str, Any]) -> list[str]:
    """A delivery against the message its CloudEvent `type` names."""
    for message in published()["components"]["messages"].values():
        if message["name"] == event.get("type") and "headers" in message:
            return problems(message["headers"]["$ref"], headers) + problems(
                message["payload"]["$ref"], event
            )
    return [f"no published webhook of type {event.get('type')!r}"]


def command_problems(message: dict[str, Any]) -> list[str]:
    """A dramatiq message on the commands queue against the command its envelope names."""
    try:
        type_ = message["args"][0]["type"]
    except (KeyError, IndexError, TypeError):
        return ["not a dramatiq message holding an envelope"]
    for name, candidate in published()["components"]["messages"].items():
        if candidate["name"] == type_ and "headers" not in candidate:
            return problems(_message(name)["payload"]["$ref"], message)
    return [f"no published command of type {type_!r}"]
