"""skopeo (containers/image) reading a delivered Docker config, as a build job would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 60  # seconds one skopeo run may take


def skopeo_inspect(
    host: str, image: str, config: dict[str, Any], path: Path
) -> subprocess.CompletedProcess[str]:
    """`skopeo inspect --authfile` of `host/image` with `config` written to `path`."""
    path.write_text(json.dumps(config))
    return subprocess.run(
        ["skopeo", "inspect", "--authfile", str(path), "--tls-verify=false", f"docker://{host}/{image}"],
        capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
    )  # fmt: skip
