"""An httpx client that reaches only what the guard allows, within time and size limits.

The transport applies the scheme rule, the body limit and the deadline to every request it
carries, redirect hops included, over a connection pool whose sockets go only to checked
addresses (`workers.outbound.guarded_network`).
"""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from typing import Any

import httpcore
import httpx

from workers.outbound.errors import ResponseTooLarge, Timeout, TlsError, UnusableUrl
from workers.outbound.guard import Guard
from workers.outbound.guarded_network import GuardedBackend, current_deadline, deadline_scope
from workers.outbound.tls_errors import describe_untrusted, verification_error

DEFAULT_DEADLINE = 60.0  # seconds for a whole request: connect, redirects, headers, body
DEFAULT_MAX_REDIRECTS = 5
DEFAULT_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_DECODE_CHUNK = 64 * 1024  # most bytes one decompression step may produce
_GZIP_OR_ZLIB = zlib.MAX_WBITS | 32  # let zlib detect either header


def _declared_length(request: httpx.Request, response: httpx.Response) -> int | None:
    """Content-Length, when the response will really carry that many bytes."""
    if request.method == "HEAD" or response.status_code in (204, 304):
        return None
    try:
        length = int(response.headers.get("content-length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


class _LimitedStream(httpx.SyncByteStream):
    """A response body that stops at `limit` bytes (on the wire and decoded) and at the
    deadline, whatever Content-Length said: servers lie, and chunked bodies declare none."""

    def __init__(
        self,
        raw: httpx.SyncByteStream,
        *,
        limit: int,
        declared: int | None,
        deadline: float,
        decompress: bool,
    ) -> None:
        self._raw = raw
        self._limit = limit
        self._declared = declared
        self._deadline = deadline
        self._decoder = zlib.decompressobj(_GZIP_OR_ZLIB) if decompress else None
        self._received = 0
        self._produced = 0

    def __iter__(self) -> Iterator[bytes]:
        if self._declared is not None and self._declared > self._limit:
            raise ResponseTooLarge(f"the response declares {self._declared} bytes")
        chunks = iter(self._raw)
        while True:
            with deadline_scope(self._deadline):
                chunk = next(chunks, None)
            if chunk is None:
                break
            if time.monotonic() > self._deadline:
                raise Timeout("the request ran past its deadline")
            self._received += len(chunk)
            yield from self._decoded(chunk)
        if self._decoder is not None:
            yield from self._counted(self._decoder.flush())

    def _decoded(self, chunk: bytes) -> Iterator[bytes]:
        if self._decoder is None:
            yield from self._counted(chunk)
            return
        pending = chunk
        try:
            while pending:  # bounded steps: a small bomb never becomes one huge buffer
                yield from self._counted(self._decoder.decompress(pending, _DECODE_CHUNK))
                pending = self._decoder.unconsumed_tail
        except zlib.error as exc:
            raise httpx.DecodingError(f"the response body is not valid gzip: {exc}") from None

    def _counted(self, piece: bytes) -> Iterator[bytes]:
        self._produced += len(piece)
        if max(self._received, self._produced) > self._limit:
            raise ResponseTooLarge(f"the response is larger than {self._limit} bytes")
        if piece:
            yield piece

    def close(self) -> None:
        self._raw.close()


class GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a guarded connection pool, with the scheme rule, the body
    limit and the deadline applied to every request it carries (redirect hops included)."""

    def __init__(
        self,
        guard: Guard,
        *,
        max_response_bytes: int,
        deadline: float = DEFAULT_DEADLINE,
        verify: bool | ssl.SSLContext = True,
        limits: httpx.Limits = DEFAULT_LIMITS,
        network: httpcore.NetworkBackend | None = None,
    ) -> None:
        ssl_context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=ssl_context, limits=limits)
        self._network = GuardedBackend(guard, network)
        # httpx has no option for the network backend, so swap in a pool that uses ours.
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self._network,
        )
        self.guard = guard
        self.max_response_bytes = max_response_bytes
        self.deadline = deadline

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.guard.check_scheme(str(request.url))
        deadline = current_deadline()
        if deadline is None:  # used without GuardedClient: the deadline covers this hop
            deadline = time.monotonic() + self.deadline
        with deadline_scope(deadline):
            try:
                response = super().handle_request(request)
            except httpx.ConnectError as exc:
                untrusted = verification_error(exc)
                if untrusted is None:
                    raise
                url = request.url
                port = url.port or (443 if url.scheme == "https" else 80)
                about = describe_untrusted(self._network, url.host, port, untrusted)
                raise TlsError(about) from None
        assert isinstance(response.stream, httpx.SyncByteStream)
        declared = _declared_length(request, response)
        coding = response.headers.get("content-encoding", "").strip().lower()
        decompress = coding in ("gzip", "x-gzip", "deflate")
        if coding not in ("", "identity") and not decompress:
            response.close()
            raise httpx.DecodingError(f"unsupported content-encoding {coding!r}", request=request)
        if decompress:  # decoded here, under the limit, instead of unbounded by httpx
            del response.headers["content-encoding"]
            response.headers.pop("content-length", None)
        response.stream = _LimitedStream(
            response.stream,
            limit=self.max_response_bytes,
            declared=declared,
            deadline=deadline,
            decompress=decompress,
        )
        return response


class GuardedClient(httpx.Client):
    """An httpx.Client whose every `send` (so `get`, `post`, `stream` …) shares one
    deadline across connect, redirects, headers and body."""

    def __init__(self, *, deadline: float = DEFAULT_DEADLINE, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline = deadline

    def build_request(self, *args: Any, **kwargs: Any) -> httpx.Request:
        try:
            return super().build_request(*args, **kwargs)
        except httpx.InvalidURL as exc:  # not an httpx.HTTPError: callers would not expect it
            raise UnusableUrl(f"the URL cannot be used: {exc}") from None

    def post_once(self, url: str, *, content: bytes, headers: Mapping[str, str]) -> httpx.Response:
        """One POST straight to the guarded transport, its body read and closed: no
        redirects (a 3xx is the answer), no cookies kept, no auth. The same guard, limits
        and deadline as `post`, with less work per request when thousands go out (the
        webhook fan-out)."""
        request = self.build_request("POST", url, content=content, headers=headers)
        with deadline_scope(time.monotonic() + self.deadline):
            response = self._transport_for_url(request.url).handle_request(request)
            try:
                response.read()
            finally:
                response.close()
        return response

    def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        with deadline_scope(time.monotonic() + self.deadline):
            try:
                return super().send(request, **kwargs)
            except httpx.InvalidURL as exc:  # e.g. a redirect's Location
                raise UnusableUrl(f"a URL in the response cannot be used: {exc}") from None


def make_client(
    guard: Guard,
    *,
    timeout: httpx.Timeout,
    max_response_bytes: int,
    deadline: float = DEFAULT_DEADLINE,
    follow_redirects: bool = False,
    max_redirects: int = DEFAULT_MAX_REDIRECTS,
    verify: bool | ssl.SSLContext = True,
    headers: Mapping[str, str] | None = None,
    network: httpcore.NetworkBackend | None = None,
) -> GuardedClient:
    """The only way reglink should talk to registries and webhooks.

    `trust_env=False`: a proxy from the environment would resolve names itself and undo
    the pinning. `Accept-Encoding: identity`: compressed bodies are still decoded under the
    size limit if a server sends them anyway.
    """
    transport = GuardedTransport(
        guard,
        max_response_bytes=max_response_bytes,
        deadline=deadline,
        verify=verify,
        network=network,
    )
    return GuardedClient(
        deadline=deadline,
        transport=transport,
        timeout=timeout,
        follow_redirects=follow_redirects,
        max_redirects=max_redirects,
        trust_env=False,
        headers={"Accept-Encoding": "identity", **(headers or {})},
    )


def forbid_redirects(client: GuardedClient) -> GuardedClient:
    """Make the client return 3xx responses as they are, even when a call asks to follow
    (`follow_redirects=True` then raises httpx.TooManyRedirects): webhooks never follow."""
    client.follow_redirects = False
    client.max_redirects = 0
    return client


def read_limited(response: httpx.Response, limit: int) -> bytes:
    """The (decoded) body of a streamed response, or `ResponseTooLarge` as soon as more
    than `limit` bytes arrive; for callers that want a tighter limit than the client's."""
    if response.is_stream_consumed:
        content = response.content  # already read in full: just hold it to the limit
        if len(content) > limit:
            raise ResponseTooLarge(f"the response is larger than {limit} bytes")
        return content
    chunks: list[bytes] = []
    size = 0
    try:
        declared = _declared_length(response.request, response)
        if declared is not None and declared > limit:
            raise ResponseTooLarge(f"the response declares {declared} bytes")
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLarge(f"the response is larger than {limit} bytes")
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)
