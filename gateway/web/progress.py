"""Where a command stands, as the steps an owner sees: queued → verifying → verified →
crawling → browsable for a link or an update, queued → crawling → browsable for a crawl.

The command record says when the command's own effect is settled (a link verified, a
crawl done); the registry's crawl times say whether the crawl that follows a
verification has finished, which is when the page stops following."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from store.tables import CommandRecord, Registry

LINK_STEPS = ("queued", "verifying", "verified", "crawling", "browsable")
CRAWL_STEPS = ("queued", "crawling", "browsable")
UNLINK_STEPS = ("queued", "unlinked")


@dataclass(frozen=True)
class Progress:
    steps: tuple[str, ...]
    reached: int  # index of the step under way (or the last one, when done)
    failed: bool
    done: bool

    def document(self) -> dict[str, Any]:
        return {
            "steps": [{"step": step, "state": self.state(i)} for i, step in enumerate(self.steps)],
            "failed": self.failed,
            "done": self.done,
        }

    def state(self, index: int) -> str:
        if index < self.reached or (self.done and not self.failed and index == self.reached):
            return "done"
        if index == self.reached:
            return "failed" if self.failed else "current"
        return "todo"


def _after(moment: datetime | None, since: datetime | None) -> bool:
    return moment is not None and since is not None and moment >= since


def progress(record: CommandRecord, registry: Registry | None) -> Progress:
    kind = record.type.rsplit(".", 1)[-1]
    failed = record.status == "failed"
    if kind == "unlink":
        return Progress(UNLINK_STEPS, 0 if record.status == "queued" else 1, failed, not failed)
    steps = CRAWL_STEPS if kind == "crawl" else LINK_STEPS
    crawling = steps.index("crawling")
    if record.status == "queued":
        return Progress(steps, 0, False, False)
    if failed:
        return Progress(steps, 1, True, True)  # the verification, or the crawl, failed
    if record.status == "running":
        return Progress(steps, 1, False, False)
    # Succeeded. A crawl command is done with its crawl; a link or an update is verified
    # and its crawl follows: done once a crawl ended after the verification.
    crawled = kind == "crawl" or (
        registry is not None
        and _after(registry.crawl_finished_at, record.finished_at or record.created_at)
    )
    if registry is None or not crawled:
        return Progress(steps, crawling, False, registry is None)
    if registry.crawl_error is not None:
        return Progress(steps, crawling, True, True)
    return Progress(steps, len(steps) - 1, False, True)
