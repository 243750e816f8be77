"""`reglink ops`: what the broker holds, and dead letters to replay or purge. Like every
other command that is not `admin`, it goes through the HTTP API, so it needs an operator's
API token (`reglink admin grant-operator`), not access to Redis. With `--project P`, a
project's owners see and replay that project's own dead letters."""

from __future__ import annotations

import json
from time import sleep, strftime
from typing import Annotated, Any

import click
import typer

from events.errors import InvalidInput, NotFound
from gateway.cli_common import Json, call, emit, fail
from gateway.cli_common import client as _client

DEFAULT_WATCH_INTERVAL = 2.0  # seconds between refreshes of `ops queues --watch`

ops_app = typer.Typer(
    no_args_is_help=True,
    help="Queues and dead letters of the broker (operators; owners with --project).",
)

Queue = Annotated[str | None, typer.Option("--queue", help="Only this queue.")]
Project = Annotated[
    str | None,
    typer.Option("--project", help="Only this project's dead letters (for its owners)."),
]


def dead_letters_path(project: str | None) -> str:
    return f"/v1/projects/{project}/dead-letters" if project else "/v1/ops/dead-letters"


def queues_table(document: dict[str, Any]) -> str:
    header = "QUEUE          READY DELAYED IN_FLIGHT   DEAD  OLDEST_S  FAILURES"
    lines = [header]
    for row in document["queues"]:
        age = row["oldest_ready_age_s"]
        failures = ", ".join(f"{a}={n}" for a, n in row["failures"].items()) or "-"
        lines.append(
            f"{row['queue']:12} {row['ready']:>7} {row['delayed']:>7} {row['in_flight']:>9} "
            f"{row['dead']:>6} {'-' if age is None else f'{age:.1f}':>9}  {failures}"
        )
    return "\n".join(lines)


@ops_app.command("queues")
def queues(
    as_json: Json = False,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh every 2 s until Ctrl-C.")] = False,
) -> None:
    """Ready, delayed, in-flight and dead messages per queue, and which actors fail."""
    client = _client()
    if not watch:
        document = call(client, "GET", "/v1/ops/queues")
        emit(document, as_json, queues_table(document))
        return
    try:
        while True:
            document = call(client, "GET", "/v1/ops/queues")
            if as_json:  # one compact document per refresh, for a pipe
                typer.echo(json.dumps(document, sort_keys=True))
            else:
                click.clear()  # only on a terminal
                typer.echo(f"{strftime('%H:%M:%S')}  (Ctrl-C to stop)\n")
                typer.echo(queues_table(document))
            sleep(DEFAULT_WATCH_INTERVAL)
    except KeyboardInterrupt:
        return


@ops_app.command("dead-letters")
def dead_letters(queue: Queue = None, project: Project = None, as_json: Json = False) -> None:
    """Messages that ran out of retries: their command, and the (redacted) last error."""
    params = {"queue": queue} if queue else None
    document = call(_client(), "GET", dead_letters_path(project), params=params)
    lines = [
        f"{d['id']}  {d['queue']:10} {d['actor']:20} command={d['command_id'] or '-'} "
        f"retries={d['retries']} {d['when']}\n    {d['last_error'] or '(no error recorded)'}"
        for d in document["dead_letters"]
    ]
    emit(document, as_json, "\n".join(lines) or "no dead letters")


@ops_app.command("replay")
def replay(
    ids: Annotated[list[str] | None, typer.Argument(help="Dead letter ids.")] = None,
    all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
    queue: Queue = None,
    project: Project = None,
    as_json: Json = False,
) -> None:
    """Put dead letters back on their queue with retries reset (once the cause is fixed)."""
    if all == bool(ids):
        fail(InvalidInput("give dead letter ids or --all"))
    body: dict[str, Any] = {"all": True} if all else {"ids": ids}
    if queue:
        body["queue"] = queue
    document = call(_client(), "POST", dead_letters_path(project) + "/replay", json=body)
    if ids and document["replayed"] == 0:
        fail(NotFound("no dead letter has these ids (replayed or purged already?)"))
    emit(document, as_json, f"replayed {document['replayed']} dead letter(s)")


@ops_app.command("purge")
def purge(
    queue: Queue = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    as_json: Json = False,
) -> None:
    """Drop dead letters for good."""
    client = _client()
    if not yes:
        params = {"queue": queue} if queue else None
        count = len(call(client, "GET", "/v1/ops/dead-letters", params=params)["dead_letters"])
        where = f"queue {queue}" if queue else "all queues"
        typer.confirm(f"Drop {count} dead letter(s) of {where} for good?", abort=True)
    body = {"queue": queue, "confirm": True}
    document = call(client, "POST", "/v1/ops/dead-letters/purge", json=body)
    emit(document, as_json, f"purged {document['purged']} dead letter(s)")
