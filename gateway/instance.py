"""Where the running `reglink up` is: a small per-user state file it writes on start and
removes on exit, so `reglink admin` and the other commands, run from any directory, use
the same data folder and API as the process that is running (unless REGLINK_DATA_DIR or
REGLINK_API_URL say otherwise). It holds paths and a URL, never a secret."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

STATE_FILE = "current.json"


@dataclass(frozen=True)
class Instance:
    data_dir: Path
    api_url: str
    pid: int
    external_database: bool  # REGLINK_DATABASE_URL set: the data folder holds only keys


def state_path() -> Path:
    """`$XDG_STATE_HOME/reglink/current.json` (default `~/.local/state/reglink/…`)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "reglink" / STATE_FILE


def record(data_dir: Path, api_url: str, external_database: bool) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "data_dir": str(data_dir.resolve()),
        "api_url": api_url,
        "pid": os.getpid(),
        "external_database": external_database,
    }
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document) + "\n")
    temporary.replace(path)


def forget() -> None:
    """Remove the state file if it is this process's (a newer `up` may have replaced it)."""
    found = running()
    if found is not None and found.pid == os.getpid():
        state_path().unlink(missing_ok=True)


def running() -> Instance | None:
    """The recorded `reglink up`, if its process is still alive."""
    try:
        document = json.loads(state_path().read_text())
        instance = Instance(
            Path(document["data_dir"]),
            document["api_url"],
            int(document["pid"]),
            bool(document.get("external_database")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return instance if _alive(instance.pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True
