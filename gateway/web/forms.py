"""The link and edit forms: what a posted form means as a command, and which field an
error belongs next to. The secret is sealed here, server-side, exactly as the API seals
it, and it is never put back into a page."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from events.errors import CommandRejected, InsecureNotAllowed, InvalidInput
from events.messages import LinkRegistry, UpdateRegistry
from events.sealing import seal
from gateway.bootstrap import Container
from gateway.web.viewer import field as text
from store.tables import Registry

AUTH_TYPES = ("basic", "oauth2", "anonymous")
# A failed verification's reason, and the field the owner should look at to fix it.
REASON_FIELDS = {
    "unauthorized": "secret",
    "forbidden": "secret",
    "catalog_unsupported": "repositories",
    "repository_not_found": "repositories",
}
# What a refusal's message is about, first match wins: (words in the message, field).
MESSAGE_FIELDS = (
    ("version", None),
    ("a registry named", "name"),
    ("name", "name"),
    ("description", "description"),
    ("repositor", "repositories"),
    ("url", "url"),
    ("needs a username", "username"),
    ("password", "password"),
    ("token", "token"),
    ("auth", "auth"),
)


@dataclass
class RegistryForm:
    """What the owner typed, minus any secret: enough to show the form again."""

    name: str = ""
    description: str = ""
    url: str = ""
    auth: str = "basic"
    username: str = ""
    repositories: str = ""
    expected_version: int | None = None
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def posted(cls, form: FormData) -> RegistryForm:
        version = text(form, "expected_version")
        return cls(
            name=text(form, "name"),
            description=text(form, "description"),
            url=text(form, "url"),
            auth=text(form, "auth"),
            username=text(form, "username") if text(form, "auth") == "basic" else "",
            repositories=text(form, "repositories"),
            expected_version=int(version) if version.isdigit() else None,
        )

    @classmethod
    def of(cls, registry: Registry) -> RegistryForm:
        return cls(
            name=registry.name,
            description=registry.description,
            url=registry.url,
            auth=registry.auth,
            username=registry.username or "",
            repositories="\n".join(registry.repositories),
            expected_version=registry.version,
        )

    def repository_list(self) -> tuple[str, ...]:
        return tuple(line.strip() for line in self.repositories.splitlines() if line.strip())

    def refused(self, exc: CommandRejected) -> None:
        """Put a refusal next to the field it is about (or above the form)."""
        self.errors[_field_of(exc, self.auth) or "form"] = exc.message

    def failed(self, reason: str | None, message: str | None) -> None:
        """A failed verification, next to the field to fix."""
        concerned = REASON_FIELDS.get(reason or "", "url")
        if concerned == "secret":
            concerned = {"basic": "password", "oauth2": "token"}.get(self.auth, "auth")
        self.errors[concerned] = f"{reason}: {message}" if message else str(reason)


def _field_of(exc: CommandRejected, auth: str) -> str | None:
    if isinstance(exc, InsecureNotAllowed):
        return "url"
    if not isinstance(exc, InvalidInput) and "version" not in exc.message:
        return "name" if exc.message.startswith("a registry named") else None
    lowered = exc.message.lower()
    for words, concerned in MESSAGE_FIELDS:
        if words in lowered:
            return concerned
    return None


def _secret(form: FormData, auth: str) -> str | None:
    """Only the chosen type's secret counts: the hidden fields of other types are ignored."""
    chosen = {"basic": "password", "oauth2": "token"}.get(auth)
    value = form.get(chosen) if chosen else None
    return value if isinstance(value, str) and value else None


def _sealed(container: Container, secret: str | None, project: str) -> str | None:
    return seal(secret, container.keys.public, project=project) if secret else None


def link_command(
    container: Container, project: str, form: FormData, typed: RegistryForm
) -> LinkRegistry:
    try:
        return LinkRegistry(
            project=project,
            name=typed.name,
            url=typed.url,
            description=typed.description,
            auth=typed.auth,  # type: ignore[arg-type]
            username=typed.username or None,
            sealed_secret=_sealed(container, _secret(form, typed.auth), project),
            repositories=typed.repository_list(),
        )
    except ValidationError:
        raise InvalidInput(f"auth must be one of {', '.join(AUTH_TYPES)}") from None


def update_command(
    container: Container, project: str, registry: Registry, form: FormData, typed: RegistryForm
) -> UpdateRegistry:
    """The changes against what the form was opened on; `expected_version` refuses the
    update when someone else changed the registry since."""
    changes: dict[str, Any] = {
        "url": typed.url,
        "description": typed.description,
        "auth": typed.auth,
        "username": typed.username or None,
        "repositories": typed.repository_list(),
    }
    if typed.name != registry.name:
        changes["new_name"] = typed.name
    try:
        return UpdateRegistry(
            project=project,
            name=registry.name,
            sealed_secret=_sealed(container, _secret(form, typed.auth), project),
            expected_version=typed.expected_version,
            **changes,
        )
    except ValidationError:
        raise InvalidInput(f"auth must be one of {', '.join(AUTH_TYPES)}") from None
