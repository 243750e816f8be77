"""`reglink admin`: projects, members, operators and API tokens, on the store directly (no
API token needed, so the first owner can be created before anyone holds one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from events.errors import CommandRejected
from gateway.cli_common import Json, emit, fail, settings

admin_app = typer.Typer(
    no_args_is_help=True,
    help="Projects, members, operators and tokens (works on the store directly).",
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


@admin_app.command("grant-operator")
def grant_operator(user: str, as_json: Json = False) -> None:
    """Make a user an operator: `reglink ops` and /v1/ops/* across every project."""
    _operator(user, True, as_json)


@admin_app.command("revoke-operator")
def revoke_operator(user: str, as_json: Json = False) -> None:
    """Take the operator role away again."""
    _operator(user, False, as_json)


def _operator(user: str, operator: bool, as_json: bool) -> None:
    from gateway.admin import set_operator

    try:
        document = set_operator(settings(), user, operator)
    except CommandRejected as exc:
        fail(exc)
    emit(document, as_json, f"{user} is {'now' if operator else 'no longer'} an operator")


@admin_app.command("issue-token")
def issue_token(
    user: str,
    expires_at: Annotated[
        datetime | None,
        typer.Option(
            formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d"],
            help="When the token stops working (e.g. 2027-01-31T00:00:00+00:00); UTC for a date.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Issue another API token for an existing user; prints it once."""
    from gateway.admin import issue_token as issue

    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    try:
        document = issue(settings(), user, expires_at)
    except CommandRejected as exc:
        fail(exc)
    until = f" (expires {document['expires_at']})" if document["expires_at"] else ""
    emit(document, as_json, f"token: {document['token']}{until}")


@admin_app.command("revoke-token")
def revoke_token(token_id: str, as_json: Json = False) -> None:
    """Revoke an API token by its id (`list-tokens`): it stops working at once."""
    from gateway.admin import revoke_token as revoke

    try:
        document = revoke(settings(), token_id)
    except CommandRejected as exc:
        fail(exc)
    emit(document, as_json, f"token {token_id} revoked")


@admin_app.command("list-tokens")
def list_tokens(as_json: Json = False) -> None:
    """Every API token's id, user, creation, expiry and revocation (never the token)."""
    from gateway.admin import list_tokens as listing

    document = listing(settings())
    lines = [
        f"{row['id']}  {row['user']:20} created {row['created_at']}  "
        f"expires {row['expires_at'] or '-'}  revoked {row['revoked_at'] or '-'}"
        for row in document["tokens"]
    ]
    emit(document, as_json, "\n".join(lines) or "no tokens")
