"""`reglink admin`: projects and members, on the store directly (no API token needed,
so the first owner can be created before anyone holds one)."""

from __future__ import annotations

from typing import Annotated

import typer

from events.errors import CommandRejected
from gateway.cli_common import Json, emit, fail, settings

admin_app = typer.Typer(
    no_args_is_help=True, help="Projects and members (works on the store directly)."
)


@admin_app.command("create-project")
def create_project(
    project: str,
    owner: Annotated[str, typer.Option(help="The first owner.")],
    as_json: Json = False,
) -> None:
    """Create a project with its first owner; prints the owner's API token when the user is new."""
    from gateway.admin import create_project as create

    try:
        document = create(settings(), project, owner)
    except CommandRejected as exc:
        fail(exc)
    token = document.get("token")
    human = f"project {project} created, owner {owner}" + (f"\ntoken: {token}" if token else "")
    emit(document, as_json, human)


@admin_app.command("add-member")
def add_member(
    project: str,
    user: str,
    role: Annotated[str, typer.Option(help="owner or member")] = "member",
    as_json: Json = False,
) -> None:
    """Add a user to a project (or change their role); prints a new user's API token."""
    from gateway.admin import add_member as add

    try:
        document = add(settings(), project, user, role)
    except CommandRejected as exc:
        fail(exc)
    token = document.get("token")
    human = f"{user} is {role} of {project}" + (f"\ntoken: {token}" if token else "")
    emit(document, as_json, human)
