"""A client for the Registry HTTP API v2 (distribution spec), over the guarded client.

Challenges are answered per response, not once per registry (`workers.outbound.registry_auth`):
some registries answer `/v2/` with a Bearer challenge but guard the catalog with Basic.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from urllib.parse import urljoin, urlsplit

import httpx

from workers.outbound.errors import (
    AccessDenied,
    CatalogUnsupported,
    InvalidResponse,
    NotAV2Registry,
    OutboundError,
    PaginationLoop,
    RateLimited,
    RepositoryNotFound,
    ServerError,
    TlsError,
    Unauthorized,
    Unreachable,
)
from workers.outbound.errors import Timeout as RequestTimeout
from workers.outbound.registry_auth import (  # noqa: F401  (Credentials is re-exported)
    TLS_HINT,
    Challenge,
    ChallengeAnswerer,
    Credentials,
    json_object,
    parse_challenge,
)
from workers.outbound.retry_after import parse_retry_after, parse_spent_quota

DEFAULT_PAGE_SIZE = 1000  # ask for large pages; registries cap them anyway
DEFAULT_MAX_PAGES = 100_000  # a catalog longer than this is a loop in disguise
MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEX_TYPES = MANIFEST_TYPES[:2]
CATALOG_SCOPE = "registry:catalog:*"
_LINK_NEXT = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')
Retrying = Callable[[Callable[[], httpx.Response]], httpx.Response]


def _once(call: Callable[[], httpx.Response]) -> httpx.Response:
    return call()


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str
    platforms: tuple[str, ...] = ()  # os/arch[/variant] for an index or list


def next_link(response: httpx.Response) -> str | None:
    """The `rel="next"` target, absolute."""
    for value in response.headers.get_list("link"):
        match = _LINK_NEXT.search(value)
        if match:
            return urljoin(str(response.url), match.group(1))
    return None


def _retry_after(response: httpx.Response) -> float | None:
    """`Retry-After`, else the window of a spent quota (Docker Hub's 429s may carry only
    `ratelimit-remaining: 0;w=N`)."""
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if retry_after is not None:
        return retry_after
    return _spent_quota(response)


def _spent_quota(response: httpx.Response) -> float | None:
    return parse_spent_quota(response.headers.get("ratelimit-remaining"))


def _error_codes(response: httpx.Response) -> set[str]:
    try:
        return {str(e.get("code")) for e in response.json().get("errors", [])}
    except (ValueError, AttributeError):
        return set()


class RegistryClient:
    """One registry, one set of credentials. Thread-safe: crawls share it across threads."""

    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        credentials: Credentials,
        *,
        clock: Callable[[], float] = time.monotonic,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self._http = http
        self._page_size = page_size
        self._base = base_url.rstrip("/")
        self._auth = ChallengeAnswerer(http, credentials, clock)
        self._clock = clock
        self._sent = 0  # requests sent, for a crawl's summary
        self._sent_lock = threading.Lock()
        self._stop_when_spent = False
        self._spent_until: float | None = None  # on `clock`: no request before then

    def crawling(self) -> RegistryClient:
        """This client, for a crawl: once an answer says the registry's quota is spent
        (`ratelimit-remaining: 0;w=N`, Docker Hub), every request raises `RateLimited`
        with the wait instead of being sent, since it would only earn a 429 and the crawl
        is better sent back to the broker. Verification does not stop: its few requests
        are done by then, and the answer it got is good."""
        self._stop_when_spent = True
        return self

    @property
    def requests_sent(self) -> int:
        return self._sent

    # -- the API ---------------------------------------------------------------------

    def ping(self) -> None:
        """GET /v2/: the registry speaks API v2 and accepts the credentials."""
        response = self._request("GET", f"{self._base}/v2/", scope=None)
        if response.status_code == 404 or (
            response.status_code == 200
            and response.headers.get("docker-distribution-api-version", "registry/2.0")
            != "registry/2.0"
        ):
            raise NotAV2Registry(f"{self._base}/v2/ is not a Registry HTTP API v2 endpoint")
        self._raise_for(response, "/v2/")
        if "docker-distribution-api-version" not in response.headers:
            # OCI distribution does not require the header; a JSON body is the next best sign
            body = response.text.strip()
            if body and not body.startswith("{"):
                raise NotAV2Registry(f"{self._base}/v2/ answered, but not as a registry")

    def check(self) -> str:
        """Verification: the registry speaks v2 and takes the credentials; `supported` when
        its catalog lists, `unsupported` when it refuses to (it is still usable)."""
        self.ping()
        try:
            next(self.catalog_pages(page_size=1, probe=True), None)
        except CatalogUnsupported:
            return "unsupported"
        return "supported"

    def catalog_pages(
        self, page_size: int | None = None, *, retry: Retrying | None = None, probe: bool = False
    ) -> Iterator[list[str]]:
        """Repository names a page at a time, following `Link` headers to the end.
        `retry` wraps each page's request, so a transient failure is retried in place
        instead of ending the iteration. A `probe` (verification) takes 401/403 as a
        registry that does not list its catalog; a crawl of a catalog that listed before
        takes them as credentials that stopped working."""
        page_size = page_size or self._page_size
        yield from self._pages(
            f"{self._base}/v2/_catalog",
            "repositories",
            CATALOG_SCOPE,
            page_size,
            catalog=(401, 403, 404) if probe else (404,),
            retry=retry,
        )

    def tags(self, repository: str, page_size: int | None = None) -> Iterator[list[str]]:
        page_size = page_size or self._page_size
        scope = f"repository:{repository}:pull"
        yield from self._pages(
            f"{self._base}/v2/{repository}/tags/list", "tags", scope, page_size, catalog=()
        )

    def manifest(self, repository: str, reference: str) -> Manifest:
        """Digest and media type from HEAD; for an index, its platforms from the body."""
        url = f"{self._base}/v2/{repository}/manifests/{reference}"
        scope = f"repository:{repository}:pull"
        headers = {"Accept": ", ".join(MANIFEST_TYPES)}
        response = self._request("HEAD", url, scope=scope, headers=headers)
        if response.status_code == 404:
            raise RepositoryNotFound(f"{repository}:{reference} does not exist")
        self._raise_for(response, url)
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        digest = response.headers.get("docker-content-digest")
        if media_type not in INDEX_TYPES and digest:
            return Manifest(digest, media_type)
        response = self._request("GET", url, scope=scope, headers=headers)
        self._raise_for(response, url)
        body = json_object(response, url)
        media_type = media_type or str(body.get("mediaType", ""))
        digest = digest or response.headers.get("docker-content-digest", "")
        platforms: tuple[str, ...] = ()
        if media_type in INDEX_TYPES:
            platforms = tuple(
                "/".join(
                    p for p in (plat.get("os"), plat.get("architecture"), plat.get("variant")) if p
                )
                for entry in body.get("manifests", [])
                if isinstance(plat := entry.get("platform"), dict)
            )
        return Manifest(digest, media_type, platforms)

    # -- paging ----------------------------------------------------------------------

    def _pages(
        self,
        first: str,
        key: str,
        scope: str,
        page_size: int,
        *,
        catalog: tuple[int, ...],
        retry: Retrying | None = None,
    ) -> Iterator[list[str]]:
        """`catalog`: the statuses that mean the catalog is not listed (none for tags)."""
        url: str | None = f"{first}?n={page_size}"
        seen: set[str] = set()
        fallback = [f"{first}?n=100", first]
        pages = 0
        attempt = retry or _once
        while url is not None:
            if url in seen or pages > DEFAULT_MAX_PAGES:
                raise PaginationLoop(f"{first} links back to a page already read")
            seen.add(url)
            response = attempt(
                partial(self._page_response, url, first, scope, catalog, bool(fallback))
            )
            if response.status_code == 400:  # PAGINATION_NUMBER_INVALID: ask differently
                url = fallback.pop(0)
                continue
            items = json_object(response, url).get(key) or []
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise InvalidResponse(f"{url}: '{key}' is not a list of names")
            pages += 1
            if items:
                yield items
            url = next_link(response)

    def _page_response(
        self, url: str, first: str, scope: str, catalog: tuple[int, ...], may_fall_back: bool
    ) -> httpx.Response:
        """One page's answer, or the error it means; a PAGINATION_NUMBER_INVALID 400 is
        returned as it is while the caller still has a way to ask differently."""
        response = self._request("GET", url, scope=scope)
        if (
            may_fall_back
            and response.status_code == 400
            and "PAGINATION_NUMBER_INVALID" in _error_codes(response)
        ):
            return response
        if response.status_code in catalog:
            raise CatalogUnsupported(
                f"the registry does not list its catalog ({response.status_code})"
            )
        if not catalog and response.status_code == 404:
            raise RepositoryNotFound(f"{first} does not exist")
        self._raise_for(response, url)
        return response

    # -- requests and challenges -----------------------------------------------------

    def _request(
        self, method: str, url: str, *, scope: str | None, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        """Send; on a 401 challenge, answer it and send once more."""
        headers = dict(headers or {})
        cached = self._auth.cached(scope)
        if cached:
            headers["Authorization"] = cached
        response = self._send(method, url, headers)
        if response.status_code != 401:
            return self._within_quota(response, url)
        challenge = parse_challenge(response.headers.get("www-authenticate", ""))
        if challenge is None:
            return response
        authorization = self._auth.answer(challenge, scope)
        if authorization is None or authorization == cached:
            return response
        headers["Authorization"] = authorization
        return self._within_quota(self._send(method, url, headers), url)

    def _within_quota(self, response: httpx.Response, url: str) -> httpx.Response:
        """The answer, unless this client stops when the quota is spent and it says so."""
        window = _spent_quota(response)
        if not self._stop_when_spent or window is None:
            return response
        retry_after = _retry_after(response) if response.status_code == 429 else None
        wait = window if retry_after is None else retry_after
        self._spent_until = self._clock() + wait
        raise RateLimited(
            f"the registry's rate limit is spent: {urlsplit(url).path} answered "
            f"ratelimit-remaining 0; come back in {wait:.0f} s",
            retry_after=wait,
        )

    def _send(self, method: str, url: str, headers: dict[str, str]) -> httpx.Response:
        spent_until = self._spent_until
        if spent_until is not None and (wait := spent_until - self._clock()) > 0:
            raise RateLimited(
                f"the registry's rate limit is spent; {urlsplit(url).path} not asked",
                retry_after=wait,
            )
        with self._sent_lock:
            self._sent += 1
        try:
            response = self._http.request(method, url, headers=headers)
            response.read()
            return response
        except TlsError as exc:
            raise TlsError(f"{exc}; {TLS_HINT}") from None
        except OutboundError:
            raise
        except httpx.TimeoutException as exc:
            raise RequestTimeout(
                f"{urlsplit(url).netloc} did not answer in time ({type(exc).__name__})"
            ) from None
        except httpx.ConnectError as exc:
            if "CERTIFICATE" in str(exc).upper() or "SSL" in str(exc).upper():
                raise TlsError(
                    f"TLS with {urlsplit(url).netloc} failed: {_first_line(exc)}; {TLS_HINT}"
                ) from None
            raise Unreachable(
                f"cannot connect to {urlsplit(url).netloc}: {_first_line(exc)}"
            ) from None
        except httpx.TooManyRedirects:
            raise InvalidResponse(f"{url} redirects too many times") from None
        except httpx.TransportError as exc:
            raise Unreachable(f"{urlsplit(url).netloc}: {type(exc).__name__}") from None

    # -- answers ---------------------------------------------------------------------

    def _raise_for(self, response: httpx.Response, what: str) -> None:
        status = response.status_code
        if status < 300:
            return
        if status == 401:
            raise Unauthorized(f"the registry refused the credentials for {what}")
        if status == 403:
            raise AccessDenied(f"the credentials may not read {what}")
        if status == 429:
            raise RateLimited(
                f"the registry is rate limiting {what}", retry_after=_retry_after(response)
            )
        if status >= 500:
            raise ServerError(f"the registry answered {status} for {what}")
        raise InvalidResponse(f"the registry answered {status} for {what}")


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]


# a client for (url, credentials, the registry's private CA or None)
ClientFactory = Callable[[str, Credentials, str | None], RegistryClient]
