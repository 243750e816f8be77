"""`reglink admin`: projects, members, operators and API tokens, on the store directly (no
API token needed, so the first owner can be created before anyone holds one)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from events.errors import ApiUnreachable, CommandRejected, Misconfigured
from gateway import instance
from gateway.cli_common import Json, emit, fail, settings
from gateway.client import ApiClient
from gateway.settings import Settings

admin_app = typer.Typer(
    no_args_is_help=True,
    help="Projects, members, operators and tokens (works on the store directly).",
)


@admin_app.command("create-project")
def create_project(
    project: Annotated[str, typer.Argument(help="The new project's name, e.g. demo.")],
    owner: Annotated[str, typer.Option(help="The first owner.")],
    as_json: Json = False,
) -> None:
    """Create a project with its first owner; prints the owner's API token when the user is new."""
    from gateway.admin import create_project as create

    current = admin_settings()
    try:
        document = create(current, project, owner)
    except CommandRejected as exc:
        fail(exc)
    token = accepted_token(current, project, document.get("token"))
    human = f"project {project} created, owner {owner}" + (f"\ntoken: {token}" if token else "")
    emit(document, as_json, human)


@admin_app.command("add-member")
def add_member(
    project: Annotated[str, typer.Argument(help="The project.")],
    user: Annotated[str, typer.Argument(help="The user (created, with a token, if new).")],
    role: Annotated[str, typer.Option(help="owner or member")] = "member",
    as_json: Json = False,
) -> None:
    """Add a user to a project (or change their role); prints a new user's API token."""
    from gateway.admin import add_member as add

    current = admin_settings()
    try:
        document = add(current, project, user, role)
    except CommandRejected as exc:
        fail(exc)
    token = accepted_token(current, project, document.get("token"))
    human = f"{user} is {role} of {project}" + (f"\ntoken: {token}" if token else "")
    emit(document, as_json, human)


@admin_app.command("grant-operator")
def grant_operator(
    user: Annotated[str, typer.Argument(help="The user who becomes an operator.")],
    as_json: Json = False,
) -> None:
    """Make a user an operator: `reglink ops` and /v1/ops/* across every project."""
    _operator(user, True, as_json)


@admin_app.command("revoke-operator")
def revoke_operator(
    user: Annotated[str, typer.Argument(help="The operator who stops being one.")],
    as_json: Json = False,
) -> None:
    """Take the operator role away again."""
    _operator(user, False, as_json)


def _operator(user: str, operator: bool, as_json: bool) -> None:
    from gateway.admin import set_operator

    try:
        document = set_operator(admin_settings(), user, operator)
    except CommandRejected as exc:
        fail(exc)
    emit(document, as_json, f"{user} is {'now' if operator else 'no longer'} an operator")


@admin_app.command("issue-token")
def issue_token(
    user: Annotated[str, typer.Argument(help="An existing user.")],
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
        document = issue(admin_settings(), user, expires_at)
    except CommandRejected as exc:
        fail(exc)
    until = f" (expires {document['expires_at']})" if document["expires_at"] else ""
    emit(document, as_json, f"token: {document['token']}{until}")


@admin_app.command("revoke-token")
def revoke_token(
    token_id: Annotated[str, typer.Argument(help="The token's id, from `list-tokens`.")],
    as_json: Json = False,
) -> None:
    """Revoke an API token by its id (`list-tokens`): it stops working at once."""
    from gateway.admin import revoke_token as revoke

    try:
        document = revoke(admin_settings(), token_id)
    except CommandRejected as exc:
        fail(exc)
    emit(document, as_json, f"token {token_id} revoked")


@admin_app.command("list-tokens")
def list_tokens(as_json: Json = False) -> None:
    """Every API token's id, user, creation, expiry and revocation (never the token)."""
    from gateway.admin import list_tokens as listing

    document = listing(admin_settings())
    lines = [
        f"{row['id']}  {row['user']:20} created {row['created_at']}  "
        f"expires {row['expires_at'] or '-'}  revoked {row['revoked_at'] or '-'}"
        for row in document["tokens"]
    ]
    emit(document, as_json, "\n".join(lines) or "no tokens")


# -- remove-member, list-projects, and the checks every admin command makes -------------


@admin_app.command("remove-member")
def remove_member(
    project: Annotated[str, typer.Argument(help="The project.")],
    user: Annotated[str, typer.Argument(help="The user whose role goes.")],
    as_json: Json = False,
) -> None:
    """Take a user's role in a project away (the last owner stays)."""
    from gateway.admin import remove_member as remove

    try:
        document = remove(admin_settings(), project, user)
    except CommandRejected as exc:
        fail(exc)
    emit(document, as_json, f"{user} is no longer a member of {project}")


@admin_app.command("list-projects")
def list_projects(as_json: Json = False) -> None:
    """Every project in the store."""
    from gateway.admin import list_projects as listing

    document = listing(admin_settings())
    emit(document, as_json, "\n".join(row["name"] for row in document["projects"]))


def admin_settings() -> Settings:
    """The running `reglink up`'s store; when no store is there yet, say plainly that a
    new one is being created, and where."""
    current = settings()
    found = instance.running()
    if found is not None and found.external_database and current.database_url is None:
        fail(
            Misconfigured(
                f"the running `reglink up` (pid {found.pid}) keeps its data in the database "
                "REGLINK_DATABASE_URL names, and REGLINK_DATABASE_URL is unset here",
                "set REGLINK_DATABASE_URL as it is set for `reglink up`",
            )
        )
    database = current.data_dir / "reglink.db"
    if current.database_url is None and not database.exists():
        typer.echo(
            f"note: no reglink data at {current.data_dir.resolve()}: creating a new store there "
            "(set REGLINK_DATA_DIR to use another, or start `reglink up` first)",
            err=True,
        )
    return current


def accepted_token(current: Settings, project: str, token: str | None) -> str | None:
    """The new token, once the running API (if any) accepts it: a token from another
    store than the API's would only be refused later."""
    if token is None:
        return None
    try:
        ApiClient(current.api_url, token).request("GET", f"/v1/projects/{project}/registries")
    except ApiUnreachable:
        return token  # no API running: nothing to check against
    except CommandRejected:
        fail(
            Misconfigured(
                f"the reglink API at {current.api_url} does not accept the new token: it uses "
                f"another store than {current.data_dir.resolve()}",
                "run this command with the REGLINK_DATA_DIR (and REGLINK_DATABASE_URL) that "
                "`reglink up` uses, or point REGLINK_API_URL at the API of this store",
            )
        )
    return token
