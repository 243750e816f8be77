"""The processes: `up` (everything in one), `api`, `worker`. Each builds its own
container from settings, so a process started anywhere needs only the environment."""

from __future__ import annotations

import multiprocessing
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

from events.errors import Misconfigured
from gateway import instance
from gateway.api import create_app
from gateway.bootstrap import Container, Store, bootstrap, bootstrap_store
from gateway.logs import configure_logging
from gateway.settings import Settings
from store.errors import DatabaseUnavailable
from store.queues import keep_dead_letter_errors
from store.schedule import claim_due
from workers.actors import consumed_queues, declare_actors
from workers.relay import run_relay

log = structlog.get_logger(__name__)

DEFAULT_THREADS = 4  # worker threads per process: the work is network-bound


class NeedsRedis(Misconfigured):
    """A process that shares work with others needs a shared broker."""


@contextmanager
def running_workers(
    container: Container, threads: int, queues: set[str] | None = None
) -> Iterator[dramatiq.Worker]:
    """Actors consuming the broker (all their queues, or only `queues`) plus the outbox
    relay, until the block ends. Dead letters keep the error of their last try."""
    keep_dead_letter_errors(container.broker)
    actors = declare_actors(container.broker, container.worker_deps())
    consumed = consumed_queues(actors) if queues is None else consumed_queues(actors) & queues
    worker = dramatiq.Worker(
        container.broker, queues=consumed, worker_threads=threads, worker_timeout=100
    )
    stop = threading.Event()
    relay = threading.Thread(
        target=run_relay,
        args=(container.uow, container.broker, stop),
        name="outbox-relay",
        daemon=True,
    )
    worker.start()
    relay.start()
    log.info("workers.started", threads=threads, queues=sorted(consumed))
    try:
        yield worker
    finally:
        stop.set()
        relay.join(timeout=5)
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
        args=(settings, stop),
        kwargs={"store": container.store},
        name="scheduler",
        daemon=True,
    )
    with running_workers(container, DEFAULT_THREADS):
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
            args=(settings, threads, queues, i),
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
    settings: Settings, stop: threading.Event | None = None, *, store: Store | None = None
) -> None:
    """Ask for re-verification and re-crawls as they fall due; several schedulers may run
    (rows are claimed), and a restarted one simply carries on."""
    if stop is None:
        configure_logging(settings.log_format, settings.log_level)
        stop = _stop_on_signal()
    store = store or bootstrap_store(settings)
    recheck = timedelta(seconds=settings.recheck_interval)
    recrawl = timedelta(seconds=settings.recrawl_interval)
    log.info("scheduler.started", tick=settings.scheduler_tick)
    while not stop.is_set():
        try:
            with store.uow() as uow:
                rechecks, crawls = claim_due(uow, recheck, recrawl)
                uow.commit()
            if rechecks or crawls:
                log.info("scheduler.claimed", rechecks=rechecks, crawls=crawls)
        except DatabaseUnavailable as exc:
            log.warning("scheduler.pass_failed", error=type(exc).__name__)
        stop.wait(settings.scheduler_tick)


def _worker_process(settings: Settings, threads: int, queues: set[str] | None, index: int) -> None:
    configure_logging(settings.log_format, settings.log_level)
    if settings.worker_metrics_port is not None:
        start_http_server(settings.worker_metrics_port + index, addr="0.0.0.0")
    with running_workers(bootstrap(settings), threads, queues):
        _wait_for_signal()


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
