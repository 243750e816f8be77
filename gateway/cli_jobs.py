"""`reglink jobs`: build jobs, the registries they may use, and their deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli_common import Json, Name, Project, call, client, emit

jobs_app = typer.Typer(no_args_is_help=True, help="Build jobs and the registries they use.")
Job = Annotated[str, typer.Argument(help="The build job's name in the project.")]


@jobs_app.command("add")
def jobs_add(
    project: Project,
    job: Job,
    webhook: Annotated[str, typer.Option(help="Where deliveries go.")],
    as_json: Json = False,
) -> None:
    """Register a build job; prints its signing secret (whsec_…) once."""
    document = call(
        client(), "POST", f"/v1/projects/{project}/jobs", json={"name": job, "webhook": webhook}
    )
    emit(document, as_json, f"job {job} added\nsecret: {document['secret']}")


@jobs_app.command("use")
def jobs_use(project: Project, job: Job, name: Name, as_json: Json = False) -> None:
    """Let a build job use a verified registry; it receives the current details at once."""
    document = call(client(), "PUT", f"/v1/projects/{project}/jobs/{job}/registries/{name}")
    emit(document, as_json, f"{job} uses {name} (version {document['version']})")


@jobs_app.command("drop")
def jobs_drop(project: Project, job: Job, name: Name) -> None:
    """Stop a build job from using a registry."""
    call(client(), "DELETE", f"/v1/projects/{project}/jobs/{job}/registries/{name}")
    typer.echo(f"{job} no longer uses {name}")


@jobs_app.command("list")
def jobs_list(project: Project, as_json: Json = False) -> None:
    """List build jobs and the registries they use."""
    document = call(client(), "GET", f"/v1/projects/{project}/jobs")
    lines = []
    for row in document["jobs"]:
        uses = ", ".join(r["name"] for r in row["registries"]) or "-"
        lines.append(f"{row['name']:20} {row['webhook']}  uses: {uses}")
    emit(document, as_json, "\n".join(lines))


@jobs_app.command("deliveries")
def jobs_deliveries(project: Project, job: Job, as_json: Json = False) -> None:
    """A build job's deliveries, newest first, dead letters included."""
    document = call(client(), "GET", f"/v1/projects/{project}/jobs/{job}/deliveries")
    lines = [
        f"{d['id']}  {d['registry']:16} v{d['version']:<4} {d['kind']:22} {d['status']:10} "
        f"tries={d['attempts']} {d['last_error'] or ''}"
        for d in document["deliveries"]
    ]
    emit(document, as_json, "\n".join(lines))


@jobs_app.command("redeliver")
def jobs_redeliver(
    project: Project,
    job: Job,
    delivery_id: Annotated[str, typer.Argument(help="From `reglink jobs deliveries`.")],
) -> None:
    """Send a dead delivery again."""
    call(client(), "POST", f"/v1/projects/{project}/jobs/{job}/deliveries/{delivery_id}/retry")
    typer.echo(f"delivery {delivery_id} queued again")


@jobs_app.command("delete")
def jobs_delete(project: Project, job: Job, as_json: Json = False) -> None:
    """Delete a build job: no more deliveries; its secret and history are destroyed."""
    call(client(), "DELETE", f"/v1/projects/{project}/jobs/{job}")
    emit({"job": job, "deleted": True}, as_json, f"job {job} deleted")


@jobs_app.command("rotate-secret")
def jobs_rotate_secret(project: Project, job: Job, as_json: Json = False) -> None:
    """Give a build job a new signing secret (printed once); the old one stops at once."""
    document = call(client(), "POST", f"/v1/projects/{project}/jobs/{job}/secret")
    emit(document, as_json, f"job {job}: new secret\nsecret: {document['secret']}")
