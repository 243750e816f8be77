"""The composition root: the one place that builds engine, broker, keys and handlers'
dependencies from settings. Nothing connects at import time."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field

import dramatiq
import httpx
from sqlalchemy import Engine

from events.broker import make_broker
from gateway.keys import Keys, load_keys
from gateway.settings import Settings
from store.engine import make_engine, migrate
from store.queues import PoisonSafeRedisBroker
from store.secrets import SecretBox
from store.uow import UnitOfWorkFactory, uow_factory
from workers.deps import WorkerDeps
from workers.outbound.guard import Guard
from workers.outbound.guarded_http import forbid_redirects, make_client
from workers.outbound.internet import Internet
from workers.outbound.trust import ClientsByCa, ssl_context

DEFAULT_CONNECT_TIMEOUT = 5.0  # seconds to open a connection to a registry or webhook
DEFAULT_REQUEST_TIMEOUT = 30.0  # seconds for any one read or write
DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024  # a catalog page of 1000 long names fits
DEFAULT_MAX_WEBHOOK_RESPONSE_BYTES = 64 * 1024  # we read only the status of a webhook answer


@dataclass(frozen=True)
class Store:
    engine: Engine
    uow: UnitOfWorkFactory


@dataclass(frozen=True)
class Container:
    settings: Settings
    store: Store
    broker: dramatiq.Broker
    keys: Keys
    internet: Internet = field(default_factory=Internet)  # tests stand in local servers

    @property
    def uow(self) -> UnitOfWorkFactory:
        return self.store.uow

    def worker_deps(self) -> WorkerDeps:
        """Handlers' dependencies, with one guarded HTTP client shared by all of them."""
        settings = self.settings
        internet = self.internet
        guard = Guard(
            settings.allowed_networks, settings.insecure_hosts, resolver=internet.resolver
        )

        def registry_http(verify: ssl.SSLContext) -> httpx.Client:
            return make_client(
                guard,
                timeout=httpx.Timeout(
                    min(DEFAULT_REQUEST_TIMEOUT, settings.request_deadline),
                    connect=min(DEFAULT_CONNECT_TIMEOUT, settings.request_deadline),
                ),
                max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
                deadline=settings.request_deadline,
                follow_redirects=True,
                verify=verify,
                headers={"User-Agent": "reglink/0.1"},
                network=internet.backend,
            )

        registry_clients = ClientsByCa(registry_http, roots_pem=internet.roots_pem)
        webhook_http = forbid_redirects(
            make_client(
                guard,
                timeout=httpx.Timeout(settings.webhook_deadline),
                max_response_bytes=DEFAULT_MAX_WEBHOOK_RESPONSE_BYTES,
                deadline=settings.webhook_deadline,
                verify=ssl_context(internet.roots_pem),
                headers={"User-Agent": "reglink/0.1"},
                network=internet.backend,
            )
        )
        return WorkerDeps(
            uow=self.store.uow,
            broker=self.broker,
            box=SecretBox(self.keys.store),
            unsealing_keys=self.keys.unsealing,
            insecure_hosts=self.settings.insecure_hosts,
            allowed_networks=self.settings.allowed_networks,
            http=registry_clients.client(),
            http_for_ca=registry_clients.client,
            verify_attempts=settings.verify_attempts,
            retry_backoff_ms=settings.retry_backoff_ms,
            crawl_concurrency=settings.crawl_concurrency,
            catalog_page_size=settings.catalog_page_size,
            crawl_budget_s=settings.crawl_budget,
            max_catalog_pages=settings.max_catalog_pages,
            webhook_http=webhook_http,
            delivery_attempts=settings.delivery_attempts,
            webhook_concurrency=settings.webhook_concurrency,
            expiry_warning_s=settings.expiry_warning,
        )


def bootstrap_store(settings: Settings, *, migrate_schema: bool = True) -> Store:
    if settings.database_url is None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    if migrate_schema:
        migrate(engine)
    return Store(engine=engine, uow=uow_factory(engine))


def bootstrap_broker(settings: Settings) -> dramatiq.Broker:
    return make_broker(
        settings.redis_url,
        settings.redis_namespace,
        heartbeat_timeout_ms=int(settings.broker_heartbeat_timeout * 1000),
        maintenance_chance=settings.broker_maintenance_chance,
        redis_class=PoisonSafeRedisBroker,
    )


def bootstrap(
    settings: Settings,
    *,
    create_keys: bool = False,
    broker: dramatiq.Broker | None = None,
    internet: Internet | None = None,
) -> Container:
    keys = load_keys(settings, create=create_keys)
    return Container(
        settings=settings,
        store=bootstrap_store(settings),
        broker=broker or bootstrap_broker(settings),
        keys=keys,
        internet=internet or Internet(),
    )
