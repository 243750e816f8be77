"""Every benchmark still runs: each script, at a tiny size, prints reglink's figure, its
peer's figure and the ratio. Not a timed assertion: the figures are only read."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURE = r"\d+(\.\d+)?"

SCRIPTS = {
    "fanout_enqueue": (
        ["--messages", "50", "--rounds", "1"],
        rf"reglink enqueue_many +{FIGURE} ms[\s\S]*is {FIGURE}x faster",
    ),
    "recrawl_diff": (
        ["--tags", "200"],
        rf"reglink diff +{FIGURE} ms +floor .* {FIGURE} ms +ratio +{FIGURE}x",
    ),
    "crawl": (
        ["--repositories", "3", "--tags", "2"],
        rf"reglink +{FIGURE} s +floor +{FIGURE} s +ratio +{FIGURE}x +python-dxf +{FIGURE} s",
    ),
    "crawl_memory": (
        ["--sizes", "10", "20", "--per-repository", "5"],
        rf"reglink worker +{FIGURE} MB .* floor +{FIGURE} MB +ratio +{FIGURE}x",
    ),
    "links": (
        ["--links", "3"],
        rf"reglink +{FIGURE} s .* dramatiq no-op +{FIGURE} s .* ratio +{FIGURE}x"
        rf"[\s\S]*registry floor +{FIGURE} s .* registry {FIGURE} ms CPU per link"
        rf"\) +reglink reaches {FIGURE} % of its rate"
        rf"[\s\S]*each part: workers {FIGURE} ms, api {FIGURE} ms, postgres {FIGURE} ms",
    ),
    "webhooks": (
        ["--jobs", "5"],
        rf"reglink +{FIGURE} s .* raw async POSTs c=4 +{FIGURE} s .* {FIGURE} % of the floor",
    ),
}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_benchmark_prints_reglink_its_peer_and_the_ratio(script: str) -> None:
    args, pattern = SCRIPTS[script]
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{script}", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert re.search(pattern, result.stdout), result.stdout
