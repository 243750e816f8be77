"""SQLite writers of one process (`reglink up`) queue on a lock of their own: many threads
writing at once all get their turn, and a failed transaction frees the file for the next
one."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from store.engine import make_engine


def test_many_threads_write_in_turn_and_a_rolled_back_transaction_frees_the_lock(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'writers.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE counts (thread INTEGER, n INTEGER)"))
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            for n in range(40):
                if n % 10 == 9:  # a transaction that fails half-way rolls back
                    with pytest.raises(RuntimeError), engine.begin() as conn:
                        conn.execute(text("INSERT INTO counts VALUES (:t, -1)"), {"t": thread})
                        raise RuntimeError("rolled back")
                    continue
                with engine.begin() as conn:
                    conn.execute(text("INSERT INTO counts VALUES (:t, :n)"), {"t": thread, "n": n})
        except BaseException as exc:  # noqa: BLE001 - reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT thread, count(*), min(n) FROM counts GROUP BY thread"))
        assert sorted(rows) == [(t, 36, 0) for t in range(8)]  # no rolled-back row stayed
    engine.dispose()
