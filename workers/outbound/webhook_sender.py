"""Sending a batch of webhook POSTs concurrently, with a bound per receiver host.

A fan-out to thousands of build jobs is network-bound: one POST at a time leaves the
worker waiting on each receiver in turn. A batch's POSTs go out on a few threads, but
never more than `per_host` at once to one host across the whole process, so a receiver
is not flooded and a slow one holds only its own slots. A batch has a budget: a POST
that has not got a slot when the budget is spent is not tried (it comes back later,
without counting as a try), so one hanging receiver cannot hold a batch for long.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import chain, zip_longest

import httpx

from events import webhooks
from workers.metrics import webhook_answered
from workers.outbound.errors import OutboundError
from workers.outbound.guarded_http import GuardedClient
from workers.outbound.retry_after import parse_retry_after

DEFAULT_PER_HOST = 8  # POSTs in flight to one receiver host, per process
DEFAULT_THREADS = 16  # threads one batch sends on at most
DEFAULT_BUDGET_S = 60.0  # a POST not started by then waits for a later batch
DEFAULT_SINGLE_WAIT_S = 10.0  # how long a lone POST (a retry) waits for its host's slot


@dataclass(frozen=True)
class Post:
    """One signed POST: the delivery id is the `webhook-id`."""

    delivery_id: str
    url: str
    secret: str
    body: bytes


@dataclass(frozen=True)
class Answer:
    """What one POST got: a status code, or why there was none; `tried` is False when the
    POST was not made (no slot within the budget)."""

    status: int | None
    error: str | None = None
    retry_after: float | None = None
    tried: bool = True

    @property
    def ok(self) -> bool:
        return self.tried and self.error is None


NOT_TRIED = Answer(None, "no slot for its host within the batch's budget", tried=False)


class Sender:
    """Sends batches of POSTs through one guarded client; shared by every worker thread of
    a process, so the per-host bound holds across batches."""

    def __init__(
        self,
        client: Callable[[], GuardedClient],
        *,
        per_host: int = DEFAULT_PER_HOST,
        threads: int = DEFAULT_THREADS,
        budget_s: float = DEFAULT_BUDGET_S,
    ) -> None:
        self.client = client
        self.per_host = per_host
        self.threads = threads
        self.budget_s = budget_s
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    def send_all(self, posts: list[Post]) -> dict[str, Answer]:
        """Each POST's answer, by delivery id."""
        if len(posts) == 1:  # a retry or a replay: no threads, and a short wait for a slot
            ends = time.monotonic() + min(self.budget_s, DEFAULT_SINGLE_WAIT_S)
            return {posts[0].delivery_id: self._send(_host(posts[0].url), posts[0], ends)}
        ends = time.monotonic() + self.budget_s
        threads = min(len(posts), self.threads)
        with ThreadPoolExecutor(threads, thread_name_prefix="webhook") as pool:
            order = _interleaved(posts)
            answers = pool.map(lambda hosted: self._send(hosted[0], hosted[1], ends), order)
            return {post.delivery_id: a for (_, post), a in zip(order, answers, strict=True)}

    def _send(self, host: str, post: Post, ends: float) -> Answer:
        slot = self._slot(host)
        if not slot.acquire(timeout=max(0.0, ends - time.monotonic())):
            return NOT_TRIED
        started = time.perf_counter()
        try:
            answer = self._post(post)
        finally:
            slot.release()
        webhook_answered(answer.status, time.perf_counter() - started)
        return answer

    def _post(self, post: Post) -> Answer:
        headers = webhooks.headers(post.secret, post.delivery_id, post.body)
        try:
            response = self.client().post_once(post.url, content=post.body, headers=headers)
        except OutboundError as exc:
            return Answer(None, exc.reason)
        except httpx.HTTPError as exc:
            return Answer(None, type(exc).__name__)
        if response.is_success:
            return Answer(response.status_code)
        seconds = parse_retry_after(response.headers.get("retry-after"))
        return Answer(response.status_code, f"HTTP {response.status_code}", seconds)

    def _slot(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            slot = self._slots.get(host)
            if slot is None:
                slot = self._slots[host] = threading.BoundedSemaphore(self.per_host)
            return slot


def _host(url: str) -> str:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return url
    return f"{parsed.host}:{parsed.port or ''}"


def _interleaved(posts: Iterable[Post]) -> list[tuple[str, Post]]:
    """The POSTs, each with its host, taken from each host in turn, so threads waiting on
    a slow host's slots do not stand in front of every other host's POSTs."""
    by_host: dict[str, list[tuple[str, Post]]] = {}
    for post in posts:
        host = _host(post.url)
        by_host.setdefault(host, []).append((host, post))
    rounds = zip_longest(*by_host.values())
    return [hosted for hosted in chain.from_iterable(rounds) if hosted is not None]
