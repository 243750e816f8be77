"""Why outbound work failed: one small hierarchy, one machine-readable reason each."""

from __future__ import annotations


class OutboundError(Exception):
    """A request to a registry or a webhook that did not produce a usable answer."""

    reason = "outbound_error"
    transient = False  # True when trying again later may succeed


class BlockedAddress(OutboundError):
    """The target resolves to a denied range (loopback, link-local, private, ...)."""

    reason = "blocked_address"


class PlainHttpRefused(OutboundError):
    """Plain http to a host that is not listed in REGLINK_INSECURE_HOSTS."""

    reason = "insecure_not_allowed"


class UnusableUrl(OutboundError):
    """A URL (given, or in a redirect or auth challenge) the HTTP client cannot parse."""

    reason = "invalid_url"


class ResponseTooLarge(OutboundError):
    """The response body is larger than the limit set for the request."""

    reason = "response_too_large"


class Timeout(OutboundError):
    """The request as a whole (all reads, all redirects) ran past its deadline."""

    reason = "timeout"
    transient = True


class RegistryError(OutboundError):
    """The registry answered, or failed to, in a way that stops the work."""

    reason = "registry_error"


class Unreachable(RegistryError):
    """No connection: refused, reset, no route, unknown host."""

    reason = "unreachable"
    transient = True


class TlsError(RegistryError):
    """The TLS handshake or the certificate check failed."""

    reason = "tls_error"


class NotAV2Registry(RegistryError):
    """The URL answers, but not as a Registry HTTP API v2 endpoint."""

    reason = "not_a_v2_registry"


class Unauthorized(RegistryError):
    """The registry or its token server refused the credentials."""

    reason = "unauthorized"


class AccessDenied(RegistryError):
    """The credentials are valid but may not do this."""

    reason = "forbidden"


class RateLimited(RegistryError):
    """429: come back later (after `retry_after` seconds when the registry says)."""

    reason = "rate_limited"
    transient = True

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServerError(RegistryError):
    """5xx from the registry or its token server."""

    reason = "registry_error"
    transient = True


class InvalidResponse(RegistryError):
    """An answer that breaks the API: bad JSON, missing fields, odd status."""

    reason = "invalid_response"


class PaginationLoop(RegistryError):
    """A `Link` header led back to a page already read."""

    reason = "pagination_loop"


class CatalogUnsupported(RegistryError):
    """The registry does not list its catalog (404 on /v2/_catalog; 401/403 too at verification)."""

    reason = "catalog_unsupported"


class RepositoryNotFound(RegistryError):
    """A named repository does not exist (404 on its tags)."""

    reason = "repository_not_found"


class CatalogTooLarge(RegistryError):
    """The catalog has more pages than a crawl may read (or never ends)."""

    reason = "catalog_too_large"


class CrawlTooSlow(RegistryError):
    """The crawl ran past its time budget."""

    reason = "crawl_too_slow"
