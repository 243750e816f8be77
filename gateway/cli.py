"""The `reglink` command line: the Typer app, the process runners, and the subcommands
of each resource (cli_admin, cli_registries, cli_commands, cli_jobs, cli_ops). Commands
about registries go through the HTTP API (`REGLINK_API_URL`, `REGLINK_TOKEN`); `admin`
commands work on the store directly. Every failure ends in one or two lines (or a JSON
document with --json); `--debug` shows the traceback instead."""

from __future__ import annotations

import sys
from importlib.metadata import version as installed_version
from typing import Annotated

import typer

from events.errors import CommandRejected, Misconfigured
from gateway.cli_admin import admin_app
from gateway.cli_browse import browse_app
from gateway.cli_commands import commands_app
from gateway.cli_common import fail
from gateway.cli_jobs import jobs_app
from gateway.cli_ops import ops_app
from gateway.cli_registries import registries_app
from gateway.logs import scrub
from gateway.settings import Settings
from store.errors import DatabaseUnavailable

DEFAULT_PORT = 8080  # where `reglink up` and `reglink api` listen
DEFAULT_HOST = "127.0.0.1"  # this machine only: set --host 0.0.0.0 to serve others

app = typer.Typer(
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,  # a traceback's locals may hold a secret
    help="Link registries to CI/CD projects. Start with `reglink up`, then see the README's "
    "tour; the API's own documentation is at /docs.",
)
app.add_typer(admin_app, name="admin")
app.add_typer(jobs_app, name="jobs")
app.add_typer(ops_app, name="ops")

Host = Annotated[str, typer.Option(help="Address to listen on.")]
Port = Annotated[int, typer.Option(help="Port to listen on.")]


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"reglink {installed_version('reglink')}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show a traceback when a command fails.")
    ] = False,
) -> None:
    """Link registries to CI/CD projects."""


@app.command()
def up(host: Host = DEFAULT_HOST, port: Port = DEFAULT_PORT) -> None:
    """API, web page, workers and scheduler in one process, on embedded defaults."""
    from gateway.runners import run_up

    run_up(Settings(), host, port)


@app.command()
def api(host: Host = DEFAULT_HOST, port: Port = DEFAULT_PORT) -> None:
    """The HTTP API alone (needs REGLINK_REDIS_URL and keys in settings)."""
    from gateway.runners import run_api

    run_api(Settings(), host, port)


@app.command()
def worker(
    processes: Annotated[int, typer.Option(help="Worker processes to start.")] = 1,
    threads: Annotated[int, typer.Option(help="Threads per process.")] = 4,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues to consume (default: all).")
    ] = None,
) -> None:
    """Workers and the outbox relay (needs REGLINK_REDIS_URL)."""
    from gateway.runners import run_worker

    chosen = {q.strip() for q in queues.split(",") if q.strip()} if queues else None
    run_worker(Settings(), processes, threads, chosen)


@app.command()
def scheduler() -> None:
    """Ask for re-verifications and re-crawls as they fall due (`reglink up` runs one)."""
    from gateway.runners import run_scheduler

    run_scheduler(Settings())


# Top-level commands kept in their own modules; copying their registrations in (rather
# than relying on how a Typer version treats an unnamed group) keeps them top-level.
for resource in (registries_app, browse_app, commands_app):
    app.registered_commands.extend(resource.registered_commands)


def main() -> None:
    """Run the CLI; a failure that escaped a command still ends in one or two lines."""
    argv = sys.argv[1:]
    try:
        app()
    except (typer.Exit, SystemExit):
        raise
    except Exception as exc:
        if "--debug" in argv:
            raise
        try:
            fail(_explained(exc), as_json="--json" in argv)
        except typer.Exit as done:
            sys.exit(done.exit_code)


def _explained(exc: Exception) -> CommandRejected:
    if isinstance(exc, CommandRejected):
        return exc
    if isinstance(exc, DatabaseUnavailable):
        return Misconfigured(
            "the database does not answer",
            "check REGLINK_DATABASE_URL (or REGLINK_DATA_DIR) and that the database is running",
        )
    message = scrub(f"{type(exc).__name__}: {exc}")
    return CommandRejected(message, "run it again with --debug to see the traceback")
