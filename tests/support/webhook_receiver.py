"""A build job's end of a delivery: a local webhook receiver that checks what it gets.

Every POST is recorded. A POST to a registered path (one per build job, `/hooks/<job>`) is
checked the way a build orchestrator would: the Standard Webhooks signature with the
job's `whsec_…` secret (the `standardwebhooks` package), and the body parsed as a
CloudEvent (the `cloudevents` SDK). Events the receiver accepted (answered 2xx) are kept
per job, in arrival order.

Answers are scriptable per job: a status (500, 410, 429 …), extra headers (`Retry-After`,
`Location` for a redirect), a delay before answering, for the next N requests or for
every request, optionally only for events a predicate picks (e.g. one registry version).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.http import HTTPMessage, from_http
from cloudevents.core.formats.json import JSONFormat
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.contract import webhook_problems

MAX_BODY = 1024 * 1024  # more than any delivery; a larger POST is refused


@dataclass(frozen=True)
class Reply:
    """How to answer one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a slow receiver)


@dataclass
class Rule:
    reply: Reply
    times: int | None  # None: every matching request
    when: Callable[[BaseCloudEvent], bool] | None


@dataclass(frozen=True)
class Received:
    """One POST as it arrived, and what the receiver made of it."""

    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    at: float  # time.monotonic() on arrival
    event: BaseCloudEvent | None  # parsed when the signature checked out
    error: str | None  # why it was not accepted as a genuine delivery
    status: int  # what the receiver answered

    @property
    def accepted(self) -> bool:
        return self.event is not None and 200 <= self.status < 300

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")


class WebhookReceiver:
    """`with WebhookReceiver() as hooks: url = hooks.add_job("job1", secret)`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: dict[str, str] = {}
        self._rules: dict[str, list[Rule]] = {}
        self._received: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook-receiver", daemon=True
        )

    # -- set-up ------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, job: str) -> str:
        return f"{self.base_url}/hooks/{job}"

    def add_job(self, job: str, secret: str) -> str:
        """Expect deliveries for `job`, signed with `secret`; returns its webhook URL."""
        with self._lock:
            self._secrets[f"/hooks/{job}"] = secret
        return self.url(job)

    def respond(
        self,
        job: str,
        reply: Reply,
        *,
        times: int | None = None,
        when: Callable[[BaseCloudEvent], bool] | None = None,
    ) -> None:
        """Answer `job`'s next `times` requests (every one when None) that `when` picks
        with `reply`; rules are tried in the order they were added, then 200."""
        with self._lock:
            self._rules.setdefault(f"/hooks/{job}", []).append(Rule(reply, times, when))

    def recover(self, job: str) -> None:
        """Forget `job`'s scripted answers: from now on it answers 200."""
        with self._lock:
            self._rules.pop(f"/hooks/{job}", None)

    # -- what arrived ----------------------------------------------------------------
    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._received if path is None or r.path == path]

    def attempts(self, job: str) -> list[Received]:
        """Every POST to `job`'s webhook, accepted or not."""
        return self.requests(f"/hooks/{job}")

    def events(self, job: str) -> list[BaseCloudEvent]:
        """The verified events `job` accepted, in arrival order."""
        return [r.event for r in self.attempts(job) if r.accepted and r.event is not None]

    def deliveries(self, job: str) -> list[Received]:
        """The accepted POSTs to `job` (event and headers), in arrival order."""
        return [r for r in self.attempts(job) if r.accepted]

    def rejected(self) -> list[Received]:
        """POSTs to a job's webhook that failed the signature or CloudEvent checks."""
        with self._lock:
            return [r for r in self._received if r.path in self._secrets and r.error]

    # -- serving -----------------------------------------------------------------------
    def _choose(self, path: str, event: BaseCloudEvent | None) -> Reply:
        with self._lock:
            rules = self._rules.get(path, [])
            for rule in rules:
                if rule.when is not None and (event is None or not rule.when(event)):
                    continue
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        rules.remove(rule)
                return rule.reply
        return Reply()

    def _check(self, path: str, headers: dict[str, str], body: bytes) -> tuple[Any, str | None]:
        with self._lock:
            secret = self._secrets.get(path)
        if secret is None:
            return None, "no build job listens here"
        try:
            Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            return None, f"signature: {exc}"
        try:
            event = from_http(HTTPMessage(headers=headers, body=body), JSONFormat())
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad delivery
            return None, f"cloudevent: {type(exc).__name__}: {exc}"
        mismatches = webhook_problems(headers, json.loads(body))
        if mismatches:  # every webhook the suite receives is held to the published schema
            return None, "schema: " + "; ".join(mismatches)
        return event, None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()
        path = handler.path
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length", "0") or 0)
        if length > MAX_BODY:
            handler.send_error(413)
            return
        body = handler.rfile.read(length)
        event, error = self._check(path, headers, body)
        reply = self._choose(path, event) if error is None else Reply(status=400)
        with self._lock:  # recorded before answering: a 2xx seen by the sender is on file
            self._received.append(
                Received(path, headers, body, arrived, event, error, reply.status)
            )
        if reply.delay:
            time.sleep(reply.delay)
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        except OSError:
            pass  # the sender gave up waiting (a slow reply past its deadline)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
