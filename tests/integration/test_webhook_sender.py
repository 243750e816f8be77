"""A batch of webhook POSTs through the guarded client to real local receivers: sent
concurrently, never more than the bound at once to one host (across batches too), and a
hanging receiver holds only its own slots while its batch ends by its budget."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from workers.outbound.guard import Guard
from workers.outbound.guarded_http import GuardedClient, forbid_redirects, make_client
from workers.outbound.webhook_sender import Post, Sender

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


class Receiver:
    """Answers 204 after `delay` seconds and keeps the most requests it had in flight."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.in_flight = 0
        self.most = 0
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.in_flight += 1
                    receiver.most = max(receiver.most, receiver.in_flight)
                    receiver.paths.append(self.path)
                time.sleep(receiver.delay)
                with receiver._lock:
                    receiver.in_flight -= 1
                try:
                    self.send_response(204)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def url(self, n: int) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hooks/{n}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _guarded(deadline: float) -> GuardedClient:
    guard = Guard(["127.0.0.1/32"], ["127.0.0.1"])
    return forbid_redirects(
        make_client(
            guard, timeout=httpx.Timeout(deadline), max_response_bytes=65536, deadline=deadline
        )
    )


@pytest.fixture
def client() -> Iterator[GuardedClient]:
    """A deadline far above the receivers' delays: a loaded machine is slow, not wrong."""
    built = _guarded(10.0)
    yield built
    built.close()


@pytest.fixture
def short_client() -> Iterator[GuardedClient]:
    """A 1 s deadline, for a receiver that hangs longer."""
    built = _guarded(1.0)
    yield built
    built.close()


def posts(receiver: Receiver, count: int, start: int = 0) -> list[Post]:
    return [Post(f"d-{start + n}", receiver.url(start + n), SECRET, b"{}") for n in range(count)]


def test_a_batch_goes_out_concurrently_never_beyond_the_bound_per_host(
    client: GuardedClient,
) -> None:
    one, two = Receiver(delay=0.05), Receiver(delay=0.05)
    try:
        sender = Sender(lambda: client, per_host=3, threads=16)
        answers = sender.send_all(posts(one, 20) + posts(two, 20, start=20))
    finally:
        one.close()
        two.close()
    assert len(answers) == 40
    assert {a.status for a in answers.values()} == {204}, {a.error for a in answers.values()}
    assert all(a.ok for a in answers.values())
    assert sorted(one.paths) == sorted(f"/hooks/{n}" for n in range(20))
    assert one.most == 3 and two.most == 3  # concurrent, and bounded per host


def test_the_bound_per_host_holds_across_batches_sent_at_the_same_time(
    client: GuardedClient,
) -> None:
    receiver = Receiver(delay=0.05)
    sender = Sender(lambda: client, per_host=2)
    try:
        batches = [posts(receiver, 10, start=10 * n) for n in range(4)]
        threads = [threading.Thread(target=sender.send_all, args=(b,)) for b in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        receiver.close()
    assert len(receiver.paths) == 40
    assert receiver.most == 2


def test_a_hanging_receiver_holds_only_its_own_slots_and_the_batch_ends_by_its_budget(
    short_client: GuardedClient,
) -> None:
    hanging, quick = Receiver(delay=5.0), Receiver(delay=0.0)
    sender = Sender(lambda: short_client, per_host=2, budget_s=0.5)
    try:
        answers = sender.send_all(posts(hanging, 6) + posts(quick, 6, start=6))
    finally:
        hanging.close()
        quick.close()
    slow = [answers[f"d-{n}"] for n in range(6)]
    fast = [answers[f"d-{n}"] for n in range(6, 12)]
    assert all(a.ok and a.status == 204 for a in fast)
    tried = [a for a in slow if a.tried]
    assert len(tried) == 2  # its two slots: each ran into the 1 s deadline
    assert all(not a.ok and a.status is None for a in tried)
    assert [a.tried for a in slow].count(False) == 4  # no slot within the budget: not tried
    assert hanging.most == 2
