"""The worker's peak memory (VmHWM) while it crawls 10,000 and 100,000 tags (100 tags a
repository) from the real distribution registry, beside the raw httpx floor's peak for
the same crawl, in one run. A crawl's memory should not depend on the catalog's size.

    .venv/bin/python -m bench.crawl_memory --sizes 10000 100000
"""

from __future__ import annotations

import argparse

from bench.crawl import peer, timed_crawl
from bench.stack import catalog, reglink

DEFAULT_TAGS_PER_REPOSITORY = 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--per-repository", type=int, default=DEFAULT_TAGS_PER_REPOSITORY)
    args = parser.parse_args()
    print("peak resident memory (VmHWM) during one crawl, c=4")
    figures = {}
    for size in args.sizes:
        repositories = max(1, size // args.per_repository)
        with catalog(repositories, args.per_repository) as registry, reglink() as stack:
            idle = stack.peak_rss_mb()
            seconds = timed_crawl(stack, registry, first=True)
            ours = stack.peak_rss_mb()
            floor = peer("floor", registry)["peak_mb"]
        figures[size] = ours
        print(
            f"  {size:7d} tags  reglink worker {ours:6.1f} MB (idle {idle:5.1f} MB, "
            f"crawl {seconds:6.1f} s)   floor {floor:6.1f} MB   ratio {ours / floor:5.2f}x"
        )
    if len(figures) > 1:
        small, large = figures[min(figures)], figures[max(figures)]
        print(f"  largest / smallest catalog: {large / small:5.2f}x")


if __name__ == "__main__":
    main()
