"""The re-crawl diff (`store.catalog.catalog_changes`) on PostgreSQL, with and without
table statistics, against the floor of reading both generations once in order.

    .venv/bin/python bench/recrawl_diff.py --tags 20000
"""

from __future__ import annotations

import argparse
import time
import uuid

from sqlalchemy import insert, text
from sqlmodel import Session

from bench.pgbench_db import scratch_database, without_statistics
from store.catalog import catalog_changes
from store.engine import make_engine, migrate
from store.tables import CatalogTag, Project, Registry

DEFAULT_CHANGED = 0.01  # share of tags removed and added between the two crawls


def populate(session: Session, registry_id: str, tags: int) -> tuple[str, str]:
    """Two generations of `tags` tags (20 per repository); 1 % differ."""
    old, new = str(uuid.uuid4()), str(uuid.uuid4())
    changed = max(1, int(tags * DEFAULT_CHANGED))
    for generation, shift in ((old, 0), (new, changed)):
        rows = [
            {
                "registry_id": registry_id,
                "generation": generation,
                "repository": f"team/repo-{(i + shift) // 20:05d}",
                "tag": f"v{(i + shift) % 20}",
                "platforms": [],
            }
            for i in range(tags)
        ]
        for start in range(0, len(rows), 5000):
            session.execute(insert(CatalogTag), rows[start : start + 5000])
    session.commit()
    return old, new


def timed_diff(session: Session, registry_id: str, old: str, new: str) -> float:
    started = time.perf_counter()
    catalog_changes(session, registry_id, new, old)
    return time.perf_counter() - started


def floor(session: Session, registry_id: str, old: str, new: str) -> float:
    """Reading both generations' (repository, tag) once: what any diff has to touch."""
    started = time.perf_counter()
    for generation in (old, new):
        session.execute(
            text(
                "SELECT repository, tag FROM catalog_tags "
                "WHERE registry_id = :r AND generation = :g"
            ),
            {"r": registry_id, "g": generation},
        ).all()
    return time.perf_counter() - started


def run(tags: int, statistics: bool) -> tuple[float, float]:
    with scratch_database("reglink_bench_diff") as url:
        engine = make_engine(url)
        migrate(engine)
        if not statistics:
            without_statistics(url, "catalog_tags")
        with Session(engine) as session:
            session.add(Project(id="p", name="bench"))
            session.add(
                Registry(id="r", project_id="p", name="r", url="http://x", auth="anonymous")
            )
            session.commit()
            old, new = populate(session, "r", tags)
            if statistics:
                session.execute(text("ANALYZE catalog_tags"))
                session.commit()
            ours = min(timed_diff(session, "r", old, new) for _ in range(3))
            theirs = min(floor(session, "r", old, new) for _ in range(3))
        engine.dispose()
        return ours, theirs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tags", type=int, default=20_000)
    args = parser.parse_args()
    print(f"re-crawl diff of {args.tags} tags (1 % changed), PostgreSQL, best of 3")
    for statistics in (True, False):
        ours, theirs = run(args.tags, statistics)
        label = "with statistics" if statistics else "no statistics"
        print(
            f"  {label:16} reglink diff {ours * 1000:9.1f} ms   "
            f"floor (read both) {theirs * 1000:8.1f} ms   ratio {ours / theirs:6.2f}x"
        )


if __name__ == "__main__":
    main()
