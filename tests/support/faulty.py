"""A local HTTP server that answers like a Registry HTTP API v2, or misbehaves on cue.

The real registry cannot be made to fail on demand; this one can. By default it is a
minimal anonymous v2 registry over `repositories` (GET /v2/, the catalog and tag lists with
`n`/`last` paging and `Link` headers, HEAD on manifests). `script` holds `Rule`s tried in
order before that default: the first rule that matches a request (method, path, query
subset) and has uses left answers it with its `Reply`. Every request is recorded
(`Seen`: method, path, query, monotonic arrival time, status answered) for assertions.

    with FaultyRegistry({"team/app": ["1.0"]}) as server:
        server.script = [Rule("GET", "/v2/", server_error(), times=2)]
        ...  # point reglink at server.url
        assert [s.status for s in server.seen("GET", "/v2/")] == [500, 500, 200]
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

API_VERSION = {"Docker-Distribution-API-Version": "registry/2.0"}
MANIFEST_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DEFAULT_PAGE = 100  # entries per page when a request names no `n`
DEFAULT_IDLE_TIMEOUT = 10.0  # seconds a kept-alive connection may idle before its thread ends
_CHUNK = 1024 * 1024  # bytes per write for large bodies
_REPO_PATH = re.compile(r"^/v2/(?P<name>.+)/(?P<kind>tags/list|manifests/(?P<ref>[^/]+))$")

Reply = Callable[["Exchange"], None]


@dataclass
class Seen:
    """One request the server received; `status` is filled in once it is answered."""

    method: str
    path: str
    query: dict[str, str]
    at: float  # time.monotonic() on arrival
    status: int | None = None


@dataclass
class Rule:
    """Answer matching requests with `reply`, `times` times (None: every time)."""

    method: str
    path: str
    reply: Reply
    times: int | None = None
    query: Mapping[str, str] = field(default_factory=dict)  # must all be present and equal

    def matches(self, method: str, path: str, query: Mapping[str, str]) -> bool:
        return (
            (self.times is None or self.times > 0)
            and self.method == method
            and self.path == path
            and all(query.get(k) == v for k, v in self.query.items())
        )


class Exchange:
    """One request being answered: what was asked, and ways to answer it."""

    def __init__(self, handler: _Handler, server: FaultyRegistry, seen: Seen) -> None:
        self.handler = handler
        self.server = server
        self.seen = seen
        self.method = seen.method
        self.path = seen.path
        self.query = seen.query
        self.extra_headers: dict[str, str] = {}  # added to whatever the answer is

    def start(self, status: int, headers: Mapping[str, str]) -> None:
        """Send the status line and headers (the caller writes the body, if any)."""
        self.seen.status = status
        self.handler.send_response(status)
        for name, value in {**headers, **self.extra_headers}.items():
            self.handler.send_header(name, value)
        self.handler.end_headers()

    def write(self, data: bytes) -> None:
        self.handler.wfile.write(data)

    def send(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """A complete answer with Content-Length (no body written for HEAD)."""
        all_headers = {"Content-Type": content_type, **(headers or {})}
        all_headers["Content-Length"] = str(len(body))
        self.start(status, all_headers)
        if self.method != "HEAD":
            self.write(body)

    def json(self, status: int, document: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send(status, json.dumps(document).encode(), headers={**API_VERSION, **(headers or {})})

    def default(self) -> None:
        """Answer as the well-behaved registry would."""
        self.server.answer_normally(self)


# -- replies ---------------------------------------------------------------------------------


def status(
    code: int,
    body: bytes = b"",
    *,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """A fixed answer."""
    return lambda ex: ex.send(code, body, content_type=content_type, headers=headers)


def server_error(code: int = 500) -> Reply:
    body = json.dumps({"errors": [{"code": "UNKNOWN", "message": "boom"}]}).encode()
    return status(code, body, headers=API_VERSION)


def rate_limited(retry_after: str | None = "1") -> Reply:
    """429, with `Retry-After` (seconds) unless None."""
    body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}).encode()
    headers = {**API_VERSION, **({"Retry-After": retry_after} if retry_after is not None else {})}
    return status(429, body, headers=headers)


def docker_hub_quota(remaining: int, window: int = 21600, then: Reply | None = None) -> Reply:
    """`then` (or the default answer) with Docker Hub's quota headers: `ratelimit-limit:
    100;w=WINDOW` and `ratelimit-remaining: REMAINING;w=WINDOW` (window in seconds)."""

    def reply(ex: Exchange) -> None:
        ex.extra_headers.update(
            {"RateLimit-Limit": f"100;w={window}", "RateLimit-Remaining": f"{remaining};w={window}"}
        )
        (then or Exchange.default)(ex)

    return reply


def challenge(header: str, code: int = 401) -> Reply:
    """401 (or another code) with `WWW-Authenticate: header`."""
    body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "no"}]}).encode()
    return status(code, body, headers={**API_VERSION, "WWW-Authenticate": header})


def html_page() -> Reply:
    """200 with a web page: a URL that answers, but not as a registry."""
    page = b"<!doctype html><html><head><title>Welcome</title></head><body>hi</body></html>"
    return status(200, page, content_type="text/html; charset=utf-8")


def malformed_json() -> Reply:
    """200, JSON content type, API version header, and a body that is not JSON."""
    return status(200, b'{"repositories": ["team/app", ', headers=API_VERSION)


def slow(seconds: float, then: Reply | None = None) -> Reply:
    """Wait `seconds` (less when the server closes) before answering with `then` (or the
    default answer)."""

    def reply(ex: Exchange) -> None:
        ex.server.closing.wait(seconds)
        (then or Exchange.default)(ex)

    return reply


def oversized(size: int, *, chunked: bool = False) -> Reply:
    """200 with `size` bytes of body, quickly: Content-Length declared, or chunked with none."""
    piece = b'{"repositories": ["' + b"a" * (_CHUNK - 19)

    def reply(ex: Exchange) -> None:
        headers = {**API_VERSION, "Content-Type": "application/json"}
        if chunked:
            headers["Transfer-Encoding"] = "chunked"
        else:
            headers["Content-Length"] = str(size)
        ex.start(200, headers)
        sent = 0
        while sent < size:
            data = piece[: size - sent]
            ex.write(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
            sent += len(data)
        if chunked:
            ex.write(b"0\r\n\r\n")

    return reply


def catalog_link_back() -> Reply:
    """The catalog, except that every page after the first links back to the first."""

    def reply(ex: Exchange) -> None:
        if "last" not in ex.query:
            ex.default()
            return
        first = f"{ex.path}?{urlencode({'n': ex.query.get('n', DEFAULT_PAGE)})}"
        names = sorted(ex.server.repositories)
        page, _ = page_of(names, ex.query)
        ex.json(200, {"repositories": page}, {"Link": f'<{first}>; rel="next"'})

    return reply


def page_of(names: list[str], query: Mapping[str, str]) -> tuple[list[str], str | None]:
    """The page `n`/`last` ask for, and the query of the next page (None on the last)."""
    n = int(query.get("n", DEFAULT_PAGE))
    last = query.get("last")
    start = 0 if last is None else next((i for i, x in enumerate(names) if x > last), len(names))
    page = names[start : start + n]
    more = start + n < len(names)
    return page, urlencode({"last": page[-1], "n": n}) if more and page else None


def digest_of(repository: str, tag: str) -> str:
    """The digest the default registry reports for `repository:tag`."""
    return "sha256:" + hashlib.sha256(f"{repository}:{tag}".encode()).hexdigest()


# -- the server ------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as registries do
    timeout = DEFAULT_IDLE_TIMEOUT
    server: _Server

    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        split = urlsplit(self.path)
        seen = Seen(self.command, split.path, dict(parse_qsl(split.query)), time.monotonic())
        registry = self.server.registry
        reply = registry.take(seen)
        try:
            reply(Exchange(self, registry, seen))
        except (ConnectionError, TimeoutError):  # the client gave up: nothing left to say
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # a slow reply must not hold up close()
    registry: FaultyRegistry

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-answer are expected here


class FaultyRegistry:
    """The scriptable registry on 127.0.0.1 and a free port, served from a daemon thread."""

    def __init__(self, repositories: Mapping[str, list[str]] | None = None) -> None:
        self.repositories: dict[str, list[str]] = dict(repositories or {})
        self.script: list[Rule] = []
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._seen: list[Seen] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.registry = self
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"faulty-registry-{self.port}",
            daemon=True,
        )

    def __enter__(self) -> FaultyRegistry:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.closing.set()
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()

    # -- what happened -------------------------------------------------------------------

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._seen)

    def seen(self, method: str, path: str) -> list[Seen]:
        return [s for s in self.requests if s.method == method and s.path == path]

    # -- answering -----------------------------------------------------------------------

    def take(self, seen: Seen) -> Reply:
        """Record the request; the first scripted rule that matches (using one of its
        uses), or the default answer."""
        with self._lock:
            self._seen.append(seen)
            for rule in self.script:
                if rule.matches(seen.method, seen.path, seen.query):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.reply
        return Exchange.default

    def answer_normally(self, ex: Exchange) -> None:
        if ex.path == "/v2/" and ex.method in ("GET", "HEAD"):
            ex.json(200, {})
            return
        if ex.path == "/v2/_catalog" and ex.method == "GET":
            self._page(ex, "repositories", sorted(self.repositories), {})
            return
        match = _REPO_PATH.match(ex.path)
        name = match.group("name") if match else None
        if match is None or name not in self.repositories:
            ex.json(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]})
            return
        tags = sorted(self.repositories[name])
        if match.group("kind") == "tags/list" and ex.method == "GET":
            self._page(ex, "tags", tags, {"name": name})
        elif match.group("ref") in tags and ex.method in ("GET", "HEAD"):
            document = {"schemaVersion": 2, "mediaType": MANIFEST_TYPE}
            headers = {**API_VERSION, "Docker-Content-Digest": digest_of(name, match["ref"])}
            ex.send(200, json.dumps(document).encode(), content_type=MANIFEST_TYPE, headers=headers)
        else:
            ex.json(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})

    @staticmethod
    def _page(ex: Exchange, key: str, names: list[str], extra: dict[str, str]) -> None:
        page, following = page_of(names, ex.query)
        headers = {"Link": f'<{ex.path}?{following}>; rel="next"'} if following else {}
        ex.json(200, {**extra, key: page}, headers)
