"""No plaintext secret in Redis, logs, events, the audit log, the store or API output."""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import SQLModel, select

from gateway.bootstrap import Container
from gateway.logs import configure_logging
from store.secrets import Sealed, SecretBox
from store.tables import Credential
from tests.conftest import auth
from tests.integration.redis_queue import queued_messages
from tests.polling import wait_until

PASSWORD = "Pl41nText-Passw0rd-7f3a9c"
TOKEN = "oauth2-Long-Lived-T0ken-b81e55"


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """Every log line, from every logger, at DEBUG, as the JSON production writes."""
    buffer = io.StringIO()
    configure_logging("json", "DEBUG", stream=buffer)
    yield buffer
    logging.getLogger().handlers[:] = []


@pytest.fixture
def redis_traffic(redis_client: redis.Redis) -> Iterator[list[str]]:
    """Every command any client sends to Redis while the test runs (Redis MONITOR)."""
    seen: list[str] = []
    stop = threading.Event()

    def watch() -> None:
        with redis_client.monitor() as monitor:
            ready.set()
            for event in monitor.listen():
                seen.append(str(event["command"]))
                if stop.is_set():
                    return

    ready = threading.Event()
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    ready.wait(5)
    yield seen
    stop.set()
    redis_client.ping()  # wakes the monitor so it sees `stop`
    thread.join(5)


def redis_dump(client: redis.Redis) -> bytes:
    """Every key and value in the test database, whatever its type."""
    out: list[bytes] = []
    for key in client.scan_iter(match=f"{getattr(client, 'namespace', 'dramatiq')}:*"):
        out.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            out.append(client.get(key) or b"")
        elif kind == "list":
            out.extend(client.lrange(key, 0, -1))
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                out += [field, value]
        elif kind == "set":
            out.extend(client.smembers(key))
        elif kind == "zset":
            out.extend(member for member, _ in client.zrange(key, 0, -1, withscores=True))
    return b"\n".join(out)


def store_dump(container: Container) -> str:
    with container.store.engine.connect() as connection:
        return "\n".join(
            repr(row)
            for table in SQLModel.metadata.sorted_tables
            for row in connection.execute(text(f"SELECT * FROM {table.name}"))
        )


def test_link_commands_leave_no_plaintext_secret_anywhere(
    workers: Container,
    api: TestClient,
    project: dict[str, Any],
    redis_client: redis.Redis,
    log_lines: io.StringIO,
    redis_traffic: list[str],
) -> None:
    owner = auth(project["owner_token"])
    responses = [
        api.post(
            "/v1/projects/demo/registries",
            json={
                "name": "basic",
                "url": "https://r1.example.test",
                "auth": "basic",
                "username": "bob",
                "password": PASSWORD,
            },
            headers=owner,
        ),
        api.post(
            "/v1/projects/demo/registries",
            json={
                "name": "oauth",
                "url": "https://r2.example.test",
                "auth": "oauth2",
                "token": TOKEN,
            },
            headers=owner,
        ),
    ]
    assert [r.status_code for r in responses] == [202, 202]
    wait_until(
        lambda: len(queued_messages(redis_client, "verify")) == 2, what="both verify messages"
    )
    for response in list(responses):
        responses.append(api.get(response.headers["Location"], headers=owner))
    responses.append(api.get("/v1/projects/demo/registries?all=true", headers=owner))
    responses.append(api.get("/v1/projects/demo/registries/basic", headers=owner))

    surfaces = {
        "redis": redis_dump(redis_client).decode(errors="replace"),
        "redis traffic": "\n".join(redis_traffic),
        "logs": log_lines.getvalue(),
        "store": store_dump(workers),
        "api": "\n".join(r.text for r in responses),
    }
    assert "command.applied" in surfaces["logs"], "the logs were captured"
    assert "rlseal1." in surfaces["redis traffic"], "the secrets did travel, sealed"
    for surface, content in surfaces.items():
        assert PASSWORD not in content, f"plaintext password in {surface}"
        assert TOKEN not in content, f"plaintext token in {surface}"

    # ... and yet the store can give the workers the secrets back.
    box = SecretBox(workers.keys.store)
    with workers.uow() as uow:
        rows = list(uow.session.exec(select(Credential)))
    assert sorted(box.decrypt(Sealed(r.wrapped_key, r.ciphertext)) for r in rows) == sorted(
        [PASSWORD, TOKEN]
    )
