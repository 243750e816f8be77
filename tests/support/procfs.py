"""What Linux's `/proc/PID/stat` says of a process, for tests and benchmarks that watch
processes: its state, its parent, the CPU time it used."""

from __future__ import annotations

import os
from pathlib import Path

STATE, PARENT, UTIME, STIME = 0, 1, 11, 12  # indexes into `stat_fields`


def stat_fields(process: int | Path) -> list[str]:
    """The fields after the process's name (which may hold spaces and parentheses), from
    its pid or its `stat` file; OSError once the process is gone."""
    stat = process if isinstance(process, Path) else Path(f"/proc/{process}/stat")
    return stat.read_text().rsplit(")", 1)[1].split()


def cpu_ticks(fields: list[str]) -> int:
    """User + system CPU time, in clock ticks."""
    return int(fields[UTIME]) + int(fields[STIME])


def cpu_seconds(pid: int) -> float:
    return cpu_ticks(stat_fields(pid)) / os.sysconf("SC_CLK_TCK")
