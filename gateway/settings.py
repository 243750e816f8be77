"""All settings, from the environment (prefix `REGLINK_`). The README table is checked
against this class by a test."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REGLINK_", extra="ignore")

    data_dir: Path = Field(
        Path(".reglink"), description="The SQLite file and the keys `reglink up` generates."
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL; default SQLite in the data folder. PostgreSQL: postgresql://…",
    )
    redis_url: str | None = Field(
        None, description="Redis for the broker; unset: an in-process broker (`reglink up` only)."
    )
    redis_namespace: str = Field(
        "dramatiq", description="Prefix of the broker's Redis keys; lets deployments share a Redis."
    )
    broker_heartbeat_timeout: float = Field(
        60, gt=0, description="Seconds of silence after which a worker counts as dead."
    )
    broker_maintenance_chance: int = Field(
        1000,
        ge=0,
        le=1_000_000,
        description="Broker calls per million that run maintenance (requeue a dead worker's).",
    )
    api_url: str = Field("http://127.0.0.1:8080", description="Where the CLI finds the API.")
    token: SecretStr | None = Field(None, description="The CLI's API token.")
    allowed_networks: CommaList = Field(
        (),
        description="Comma-separated CIDRs exempt from the outbound guard, each optionally with "
        "a port (`10.0.0.5:5000`, `[fd00::1]:443`); without one, every port.",
    )
    insecure_hosts: CommaList = Field(
        (), description="Comma-separated host[:port] or CIDR that may be used over plain http."
    )
    sealing_keys: SecretStr | None = Field(
        None,
        description="Comma-separated workers' private keys, newest first (default: data folder).",
    )
    sealing_public_key: str | None = Field(
        None, description="The public key the API seals with, when it holds no private key."
    )
    store_keys: SecretStr | None = Field(
        None,
        description="Comma-separated Fernet keys for secrets at rest, newest first.",
    )
    verify_attempts: int = Field(
        5, ge=1, le=20, description="Tries before a transiently failing verification fails."
    )
    retry_backoff_ms: int = Field(
        1000, ge=1, description="First retry delay for registry requests; doubles each try."
    )
    crawl_concurrency: int = Field(4, ge=1, le=64, description="Requests in flight per crawl.")
    catalog_page_size: int = Field(
        1000, ge=1, le=10_000, description="Repositories or tags asked for per page."
    )
    crawl_threads: int = Field(
        2, ge=1, le=64, description="Worker threads of their own for crawls, per process."
    )
    crawl_budget: float = Field(
        1800, gt=0, description="Seconds one crawl may run before it ends (`crawl_too_slow`)."
    )
    max_catalog_pages: int = Field(
        2000, ge=1, description="Catalog pages one crawl reads at most (`catalog_too_large`)."
    )
    redrive_after: float = Field(
        60, gt=0, description="Seconds unfinished work may wait before it is sent again."
    )
    request_deadline: float = Field(
        60.0, gt=0, description="Seconds one outbound request may take in all, body included."
    )
    delivery_attempts: int = Field(
        8, ge=1, le=50, description="Webhook tries before a delivery is dead-lettered."
    )
    webhook_deadline: float = Field(
        10.0, gt=0, description="Seconds one webhook POST may take in all."
    )
    webhook_concurrency: int = Field(
        8, ge=1, le=64, description="Webhook POSTs in flight to one receiver host, per process."
    )
    recheck_interval: float = Field(
        3600, gt=0, description="Seconds between re-verifications of a linked registry."
    )
    recrawl_interval: float = Field(
        21600, gt=0, description="Seconds between scheduled crawls of a registry's catalog."
    )
    expiry_warning: float = Field(
        7 * 86400, ge=0, description="Seconds before a credential's expiry it turns `expiring`."
    )
    scheduler_tick: float = Field(10, gt=0, description="Seconds between scheduler passes.")
    worker_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Where `reglink worker` serves Prometheus metrics (process i: port + i).",
    )
    metrics_public: bool = Field(
        False, description="Serve the API's /metrics without a token (default: operators only)."
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body the API reads; larger: 413."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`auto`: console on a terminal, JSON otherwise."
    )
    log_level: str = Field("INFO", description="Lowest level logged.")

    @field_validator("allowed_networks", "insecure_hosts", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'reglink.db').resolve()}"
