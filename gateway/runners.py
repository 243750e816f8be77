"""The processes: `up` (everything in one), `api`, `worker`. Each builds its own
container from settings, so a process started anywhere needs only the environment."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import dramatiq
import structlog
import uvicorn
from prometheus_client import start_http_server

from events.broker import publish_command
from events.errors import Misconfigured
from gateway import instance
from gateway.api import create_app
from gateway.bootstrap import Container, bootstrap, bootstrap_broker, bootstrap_store
from gateway.logs import configure_logging
from gateway.settings import Settings
from store.errors import DatabaseUnavailable
from store.queues import BROKER_UNAVAILABLE, keep_dead_letter_errors
from store.schedule import claim_due
from store.unfinished import redrive
from store.uow import UnitOfWorkFactory
from workers.actors import consumed_queues, declare_actors
from workers.relay import run_relay

log = structlog.get_logger(__name__)

DEFAULT_THREADS = 4  # worker threads per process: the work is network-bound
ORPHAN_CHECK_S = 1.0  # how often a worker child checks that its parent is alive
CRAWL_QUEUE = "crawl"  # consumed by a pool of its own (REGLINK_CRAWL_THREADS)


class NeedsRedis(Misconfigured):
    """A process that shares work with others needs a shared broker."""


@contextmanager
def running_workers(
    container: Container, threads: int, queues: set[str] | None = None
) -> Iterator[list[dramatiq.Worker]]:
    """Actors consuming the broker (all their queues, or only `queues`) plus the outbox
    relay, until the block ends. Crawls get threads of their own: a slow, hanging or
    rate-limited registry's crawl never holds a thread that verifications, commands or
    deliveries need."""
    actors = declare_actors(container.broker, container.worker_deps())
    keep_dead_letter_errors(container.broker)
    consumed = consumed_queues(actors) if queues is None else consumed_queues(actors) & queues
    pools = [(consumed - {CRAWL_QUEUE}, threads)]
    if CRAWL_QUEUE in consumed:
        pools.append(({CRAWL_QUEUE}, container.settings.crawl_threads))
    workers = [
        dramatiq.Worker(container.broker, queues=names, worker_threads=n, worker_timeout=100)
        for names, n in pools
        if names
    ]
    stop = threading.Event()
    relay = threading.Thread(
        target=run_relay,
        args=(container.uow, container.broker, stop),
        name="outbox-relay",
        daemon=True,
    )
    for worker in workers:
        worker.start()
    relay.start()
    log.info("workers.started", threads=threads, queues=sorted(consumed))
    try:
        yield workers
    finally:
        stop.set()
        relay.join(timeout=5)
        for worker in workers:
            worker.stop(timeout=10_000)
        log.info("workers.stopped")


def run_up(settings: Settings, host: str, port: int) -> None:
    """Everything one machine needs: API, web page, workers, outbox relay and scheduler,
    so a rotated password is noticed without a second process."""
    configure_logging(settings.log_format, settings.log_level)
    container = bootstrap(settings, create_keys=True)
    stop = threading.Event()
    scheduler = threading.Thread(
        target=run_scheduler,
        args=(settings, stop, container),
        name="scheduler",
        daemon=True,
    )
    with running_workers(container, DEFAULT_THREADS):
        if container.settings.redis_url is None:
            # the in-process broker starts empty: whatever was in flight when this process
            # last stopped is sent again now, from the store
            scheduler_pass(container.uow, container.broker, settings, everything=True)
        scheduler.start()
        sys.stderr.write(banner(settings, host, port))
        local = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        instance.record(settings.data_dir, f"http://{local}:{port}", bool(settings.database_url))
        try:
            uvicorn.run(create_app(container), host=host, port=port, log_config=None)
        finally:
            instance.forget()
            stop.set()
            scheduler.join(timeout=5)


def banner(settings: Settings, host: str, port: int) -> str:
    """The few lines `reglink up` says on start: what runs, where data lives, where to go."""
    base = f"http://{host}:{port}"
    broker = "Redis" if settings.redis_url else "in-process broker"
    database = "PostgreSQL" if "postgres" in settings.resolved_database_url() else "SQLite"
    return (
        f"reglink up: API, web page, workers, outbox relay and scheduler ({broker}, {database})\n"
        f"  data folder  {settings.data_dir.resolve()}\n"
        f"  API          {base}/v1   (the CLI finds it on its own)\n"
        f"  API docs     {base}/docs\n"
        f"  web page     {base}/\n"
        "  stop with Ctrl-C\n"
    )


def run_api(settings: Settings, host: str, port: int) -> None:
    _require_redis(settings, "api")
    configure_logging(settings.log_format, settings.log_level)
    uvicorn.run(create_app(bootstrap(settings)), host=host, port=port, log_config=None)


def run_worker(
    settings: Settings, processes: int, threads: int, queues: set[str] | None = None
) -> None:
    _require_redis(settings, "worker")
    if processes <= 1:
        _worker_process(settings, threads, queues, 0)
        return
    children = [
        multiprocessing.get_context("spawn").Process(
            target=_worker_process,
            args=(settings, threads, queues, i, os.getpid()),
            name=f"reglink-worker-{i}",
        )
        for i in range(processes)
    ]
    for child in children:
        child.start()
    _wait_for_signal()
    for child in children:
        child.terminate()
    for child in children:
        child.join()


def run_scheduler(
    settings: Settings, stop: threading.Event | None = None, container: Container | None = None
) -> None:
    """Ask for re-verifications and re-crawls as they fall due, and send again whatever
    unfinished work waited too long (its message was lost); several schedulers may run
    (rows are claimed), and a restarted one simply carries on."""
    if stop is None:
        configure_logging(settings.log_format, settings.log_level)
        stop = _stop_on_signal()
    uow = container.uow if container else bootstrap_store(settings).uow
    broker = container.broker if container else bootstrap_broker(settings)
    log.info("scheduler.started", tick=settings.scheduler_tick)
    while not stop.is_set():
        try:
            scheduler_pass(uow, broker, settings)
        except (DatabaseUnavailable, *BROKER_UNAVAILABLE) as exc:
            log.warning("scheduler.pass_failed", error=type(exc).__name__)
        stop.wait(settings.scheduler_tick)


def scheduler_pass(
    uow: UnitOfWorkFactory, broker: dramatiq.Broker, settings: Settings, everything: bool = False
) -> None:
    """One pass: what is due, then what is overdue. The overdue registry events and
    deliveries go through the outbox; commands are published again as they were."""
    with uow() as unit:
        rechecks, crawls = claim_due(
            unit,
            timedelta(seconds=settings.recheck_interval),
            timedelta(seconds=settings.recrawl_interval),
        )
        overdue = redrive(
            unit, after=timedelta(seconds=settings.redrive_after), everything=everything
        )
        unit.commit()
    for envelope in overdue.commands:
        publish_command(broker, envelope)
    if rechecks or crawls:
        log.info("scheduler.claimed", rechecks=rechecks, crawls=crawls)
    if overdue.total:
        log.warning(
            "scheduler.redriven",
            commands=len(overdue.commands),
            registries=overdue.registries,
            deliveries=overdue.deliveries,
        )


def _worker_process(
    settings: Settings,
    threads: int,
    queues: set[str] | None,
    index: int,
    parent: int | None = None,
) -> None:
    configure_logging(settings.log_format, settings.log_level)
    stop = _stop_on_signal()
    if parent is not None:
        threading.Thread(
            target=_stop_when_orphaned, args=(parent, stop), name="orphan-check", daemon=True
        ).start()
    if settings.worker_metrics_port is not None:
        start_http_server(settings.worker_metrics_port + index, addr="0.0.0.0")
    with running_workers(bootstrap(settings), threads, queues):
        stop.wait()


def _stop_when_orphaned(parent: int, stop: threading.Event) -> None:
    """A child of `reglink worker --processes N` stops when its parent is gone: a parent
    killed with SIGKILL cannot stop its children, and a worker that was killed must not
    go on consuming unseen (its children would be re-parented and live on)."""
    while not stop.wait(ORPHAN_CHECK_S):
        if os.getppid() != parent:
            log.warning("worker.parent_gone", parent=parent)
            stop.set()


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _wait_for_signal() -> None:
    _stop_on_signal().wait()


def _require_redis(settings: Settings, what: str) -> None:
    if not settings.redis_url:
        raise NeedsRedis(
            f"`reglink {what}` shares work through Redis, and REGLINK_REDIS_URL is unset",
            "set REGLINK_REDIS_URL (e.g. redis://127.0.0.1:6379/0), or run everything in "
            "one process with `reglink up`",
        )
