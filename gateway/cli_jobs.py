"""`reglink jobs`: build jobs, the registries they may use, and their deliveries."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli_common import Json, call, client, emit

jobs_app = typer.Typer(no_args_is_help=True, help="Build jobs and the registries they use.")


@jobs_app.command("add")
def jobs_add(
    project: str,
    job: str,
    webhook: Annotated[str, typer.Option(help="Where deliveries go.")],
    as_json: Json = False,
) -> None:
    """Register a build job; prints its signing secret (whsec_…) once."""
    document = call(
        client(), "POST", f"/v1/projects/{project}/jobs", json={"name": job, "webhook": webhook}
    )
    emit(document, as_json, f"job {job} added\nsecret: {document['secret']}")


@jobs_app.command("use")
def jobs_use(project: str, job: str, name: str, as_json: Json = False) -> None:
    """Let a build job use a verified registry; it receives the current details at once."""
    document = call(client(), "PUT", f"/v1/projects/{project}/jobs/{job}/registries/{name}")
    emit(document, as_json, f"{job} uses {name} (version {document['version']})")


@jobs_app.command("drop")
def jobs_drop(project: str, job: str, name: str) -> None:
    """Stop a build job from using a registry."""
    call(client(), "DELETE", f"/v1/projects/{project}/jobs/{job}/registries/{name}")
    typer.echo(f"{job} no longer uses {name}")


@jobs_app.command("list")
def jobs_list(project: str, as_json: Json = False) -> None:
    """List build jobs and the registries they use."""
    document = call(client(), "GET", f"/v1/projects/{project}/jobs")
    lines = []
    for row in document["jobs"]:
        uses = ", ".join(r["name"] for r in row["registries"]) or "-"
        lines.append(f"{row['name']:20} {row['webhook']}  uses: {uses}")
    emit(document, as_json, "\n".join(lines))


@jobs_app.command("deliveries")
def jobs_deliveries(project: str, job: str, as_json: Json = False) -> None:
    """A build job's deliveries, newest first, dead letters included."""
    document = call(client(), "GET", f"/v1/projects/{project}/jobs/{job}/deliveries")
    lines = [
        f"{d['id']}  {d['registry']:16} v{d['version']:<4} {d['kind']:22} {d['status']:10} "
        f"tries={d['attempts']} {d['last_error'] or ''}"
        for d in document["deliveries"]
    ]
    emit(document, as_json, "\n".join(lines))


@jobs_app.command("redeliver")
def jobs_redeliver(project: str, job: str, delivery_id: str) -> None:
    """Send a dead delivery again."""
    call(client(), "POST", f"/v1/projects/{project}/jobs/{job}/deliveries/{delivery_id}/retry")
    typer.echo(f"delivery {delivery_id} queued again")
