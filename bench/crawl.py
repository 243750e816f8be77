"""A crawl of REPOS x TAGS tags against the real distribution registry with basic auth:
reglink (`reglink api` + `reglink worker`, PostgreSQL) beside a raw async httpx floor
issuing the same requests with 4 in flight, and python-dxf on 4 threads, in one run;
first crawl and re-crawl, with fresh table statistics and with none (autovacuum off,
`catalog_tags` never analyzed).

    .venv/bin/python -m bench.crawl --repositories 500 --tags 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import httpx
import psycopg

from bench.crawl_peers import PASSWORD, USER
from bench.pgbench_db import without_statistics
from bench.stack import Reglink, catalog, reglink
from tests.support.registry import RunningRegistry


def peer(kind: str, registry: RunningRegistry) -> dict[str, float]:
    """One crawl by a peer, in its own process: its seconds and peak memory."""
    command = [sys.executable, "-m", "bench.crawl_peers", kind, registry.url]
    return dict(json.loads(subprocess.run(command, check=True, capture_output=True).stdout))


def timed_crawl(stack: Reglink, registry: RunningRegistry, first: bool) -> float:
    """Seconds from the command to the new snapshot in place (a first crawl includes the
    link's verification: a few requests)."""
    api, token = stack.env["REGLINK_API_URL"], stack.env["REGLINK_TOKEN"]
    headers = {"Authorization": f"Bearer {token}"}
    before = None if first else stack.registry("big")["crawled_at"]
    started = time.perf_counter()
    if first:
        body = {"name": "big", "url": registry.url, "auth": "basic"}
        body |= {"username": USER, "password": PASSWORD}
        sent = httpx.post(f"{api}/v1/projects/bench/registries", json=body, headers=headers)
    else:
        sent = httpx.post(f"{api}/v1/projects/bench/registries/big/crawl", headers=headers)
    sent.raise_for_status()
    stack.wait_crawled("big", before)
    return time.perf_counter() - started


def one_mode(registry: RunningRegistry, fresh_statistics: bool, tags: int) -> dict[str, float]:
    with reglink() as stack:
        if not fresh_statistics:
            without_statistics(stack.database_url, "catalog_tags")
        floors = [peer("floor", registry)["seconds"]]
        first = timed_crawl(stack, registry, first=True)
        if fresh_statistics:
            with psycopg.connect(stack.database_url, autocommit=True) as conn:
                conn.execute("ANALYZE catalog_tags")
        floors.append(peer("floor", registry)["seconds"])
        again = timed_crawl(stack, registry, first=False)
        assert stack.registry("big")["tag_count"] == tags, "reglink crawled every tag"
    dxf = peer("dxf", registry)["seconds"]
    return {"first": first, "again": again, "floor": statistics.median(floors), "dxf": dxf}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repositories", type=int, default=500)
    parser.add_argument("--tags", type=int, default=20)
    args = parser.parse_args()
    total = args.repositories * args.tags
    print(f"crawl {args.repositories} repositories x {args.tags} tags ({total} tags), c=4")
    with catalog(args.repositories, args.tags) as registry:
        for fresh in (True, False):
            got = one_mode(registry, fresh, total)
            label = "fresh statistics" if fresh else "no statistics"
            for step in ("first", "again"):
                name = "first crawl" if step == "first" else "re-crawl"
                print(
                    f"  {label:16} {name:11} reglink {got[step]:7.2f} s   "
                    f"floor {got['floor']:7.2f} s  ratio {got[step] / got['floor']:5.2f}x   "
                    f"python-dxf {got['dxf']:7.2f} s  dxf/reglink {got['dxf'] / got[step]:5.2f}x"
                )


if __name__ == "__main__":
    main()
