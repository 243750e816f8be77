"""What handlers receive instead of reaching for globals; built by the composition root."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dramatiq
import httpx
import structlog
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from events.sealing import unseal
from store.secrets import Sealed, SecretBox
from store.uow import UnitOfWorkFactory
from workers.outbound.guarded_http import GuardedClient
from workers.outbound.registry_client import DEFAULT_PAGE_SIZE, Credentials, RegistryClient
from workers.outbound.webhook_sender import DEFAULT_PER_HOST

log = structlog.get_logger(__name__)

DEFAULT_VERIFY_ATTEMPTS = 5  # transient failures are retried this many times in all
DEFAULT_RETRY_BACKOFF_MS = 1_000  # first retry delay; doubles each time
DEFAULT_MAX_RETRY_DELAY_MS = 300_000  # the most a Retry-After may make us wait
DEFAULT_CRAWL_CONCURRENCY = 4  # requests in flight per registry during a crawl
DEFAULT_DELIVERY_ATTEMPTS = 8  # webhook tries before a delivery is dead-lettered
DEFAULT_CRAWL_BUDGET_S = 1800.0  # one crawl's time before it ends with `crawl_too_slow`
DEFAULT_MAX_CATALOG_PAGES = 2000  # catalog pages one crawl reads at most


@dataclass(frozen=True)
class WorkerDeps:
    uow: UnitOfWorkFactory
    broker: dramatiq.Broker
    box: SecretBox
    unsealing_keys: Sequence[X25519PrivateKey]
    insecure_hosts: Sequence[str] = ()
    allowed_networks: Sequence[str] = ()
    http: httpx.Client | None = None  # guarded; shared by every registry request
    # the guarded client for a registry with a private CA (None: `http` serves every registry)
    http_for_ca: Callable[[str], httpx.Client] | None = None
    verify_attempts: int = DEFAULT_VERIFY_ATTEMPTS
    retry_backoff_ms: int = DEFAULT_RETRY_BACKOFF_MS
    crawl_concurrency: int = DEFAULT_CRAWL_CONCURRENCY
    catalog_page_size: int = DEFAULT_PAGE_SIZE
    crawl_budget_s: float = DEFAULT_CRAWL_BUDGET_S
    max_catalog_pages: int = DEFAULT_MAX_CATALOG_PAGES
    webhook_http: GuardedClient | None = None  # never follows redirects
    delivery_attempts: int = DEFAULT_DELIVERY_ATTEMPTS
    webhook_concurrency: int = DEFAULT_PER_HOST  # POSTs in flight to one receiver host
    expiry_warning_s: float = 7 * 86400  # credentials expiring within this turn `expiring`

    def reseal(self, sealed_secret: str | None, project: str) -> Sealed | None:
        """A secret sealed to the workers' key (in transit), sealed again for rest; the
        plaintext exists only inside this call."""
        if sealed_secret is None:
            return None
        return self.box.encrypt(unseal(sealed_secret, self.unsealing_keys, project=project))

    def registry_client(
        self, url: str, credentials: Credentials, ca_pem: str | None = None
    ) -> RegistryClient:
        """A client for one registry, trusting its private CA (for it alone) when it has one."""
        if ca_pem:
            if self.http_for_ca is None:
                raise RuntimeError("this process was built without clients for private CAs")
            http: httpx.Client | None = self.http_for_ca(ca_pem)
        else:
            http = self.http
        if http is None:
            raise RuntimeError("this process was built without an outbound HTTP client")
        return RegistryClient(http, url, credentials, page_size=self.catalog_page_size)

    def webhook_client(self) -> GuardedClient:
        if self.webhook_http is None:
            raise RuntimeError("this process was built without a webhook HTTP client")
        return self.webhook_http

    def retry_delay_ms(self, attempt: int, retry_after: float | None = None) -> int:
        """Exponential backoff with the server's Retry-After as a floor."""
        delay = self.retry_backoff_ms * (2**attempt)
        if retry_after is not None:
            delay = max(delay, int(retry_after * 1000))
        return min(delay, DEFAULT_MAX_RETRY_DELAY_MS)
