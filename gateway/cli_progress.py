"""What `--wait` shows while it waits: on a terminal, a live line with a spinner and the
crawl's counts (rich, which Typer brings); elsewhere, a plain line on stderr each time
the state changes, so logs of scripts stay short. Nothing with --json."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Watcher = Callable[[dict[str, Any]], None]


def state_line(document: dict[str, Any]) -> str:
    """`hub: crawling, 350 repositories and 1200 tags so far` from a command's document."""
    registry = document.get("registry") or {}
    name = registry.get("name") or f"command {document.get('id')}"
    what = registry.get("activity") or document.get("status", "queued")
    line = f"{name}: {what.replace('_', ' ')}"
    progress = registry.get("progress")
    if progress:
        line += f", {progress['repositories']} repositories and {progress['tags']} tags so far"
    return line


@contextmanager
def watching(quiet: bool) -> Iterator[Watcher | None]:
    if quiet:
        yield None
        return
    if not sys.stderr.isatty():
        yield _plain_lines()
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("waiting", total=None)
        yield lambda document: bar.update(task, description=state_line(document))


def _plain_lines() -> Watcher:
    said: list[str] = []

    def show(document: dict[str, Any]) -> None:
        if document.get("status") in ("succeeded", "failed"):
            return  # the outcome is printed by the command itself
        line = state_line(document)
        if not said or said[-1] != line:
            said.append(line)
            print(line, file=sys.stderr, flush=True)

    return show
