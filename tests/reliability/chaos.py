"""Tools for the reliability scenarios: a Redis of our own that keeps nothing on disk (so
it can be killed and restarted empty), and a crew of `reglink worker` processes that can
be killed with SIGKILL and replaced."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import redis

from tests.e2e.processes import REGLINK, free_port
from tests.polling import wait_until


class EphemeralRedis:
    """redis-server on a free port with no persistence at all: a restart loses everything,
    as a Redis without persistence (or a failover) does."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.folder = folder
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), what="redis-server up")
        client.close()

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def __enter__(self) -> EphemeralRedis:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill()


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False


@dataclass
class Crew:
    """`size` worker processes; `kill_one` SIGKILLs one at random and starts another."""

    env: dict[str, str]
    logs: Path
    size: int = 2
    threads: int = 4
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: int = 0
    _started: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for _ in range(self.size):
            self.procs.append(self._spawn())

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._started += 1
        log = (self.logs / f"worker-{self._started}.log").open("wb")
        return subprocess.Popen(
            [REGLINK, "worker", "--threads", str(self.threads)],
            env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def kill_one(self, rng: random.Random) -> None:
        with self._lock:
            victim = self.procs.pop(rng.randrange(len(self.procs)))
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            self.kills += 1
            self.procs.append(self._spawn())

    def stop(self) -> None:
        with self._lock:
            for proc in self.procs:
                proc.terminate()
            for proc in self.procs:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.procs.clear()
