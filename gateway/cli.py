"""The `reglink` command line: the Typer app, the process runners, and the subcommands
of each resource (cli_admin, cli_registries, cli_commands, cli_jobs, cli_ops). Commands
about registries go through the HTTP API (`REGLINK_API_URL`, `REGLINK_TOKEN`); `admin`
commands work on the store directly."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.cli_admin import admin_app
from gateway.cli_commands import commands_app
from gateway.cli_common import settings
from gateway.cli_jobs import jobs_app
from gateway.cli_ops import ops_app
from gateway.cli_registries import registries_app

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # a traceback's locals may hold a secret
    help="Link registries to CI/CD projects.",
)
app.add_typer(admin_app, name="admin")
app.add_typer(jobs_app, name="jobs")
app.add_typer(ops_app, name="ops")


@app.command()
def up(host: str = "127.0.0.1", port: int = 8080) -> None:
    """API and workers in one process, on embedded defaults."""
    from gateway.runners import run_up

    run_up(settings(), host, port)


@app.command()
def api(host: str = "127.0.0.1", port: int = 8080) -> None:
    """The HTTP API alone (needs REGLINK_REDIS_URL)."""
    from gateway.runners import run_api

    run_api(settings(), host, port)


@app.command()
def worker(
    processes: int = 1,
    threads: int = 4,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues to consume (default: all).")
    ] = None,
) -> None:
    """Workers and the outbox relay (needs REGLINK_REDIS_URL)."""
    from gateway.runners import run_worker

    chosen = {q.strip() for q in queues.split(",") if q.strip()} if queues else None
    run_worker(settings(), processes, threads, chosen)


@app.command()
def scheduler() -> None:
    """Ask for re-verifications and re-crawls as they fall due."""
    from gateway.runners import run_scheduler

    run_scheduler(settings())


# Top-level commands kept in their own modules; copying their registrations in (rather
# than relying on how a Typer version treats an unnamed group) keeps them top-level.
for resource in (registries_app, commands_app):
    app.registered_commands.extend(resource.registered_commands)


def main() -> None:
    app()
