"""skopeo (containers/image) reading a delivered Docker config, as a build job would."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 60  # seconds one skopeo run may take


def skopeo_inspect(
    host: str, image: str, config: dict[str, Any], path: Path, *, ca_pem: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`skopeo inspect --authfile` of `host/image` with `config` written to `path`; with
    `ca_pem`, over verified TLS trusting that CA (`--cert-dir`, as a job would use a
    delivery's `data.ca`), else without TLS verification."""
    path.write_text(json.dumps(config))
    tls = ["--tls-verify=false"]
    if ca_pem is not None:
        cert_dir = path.with_name(path.stem + "-certs")
        cert_dir.mkdir(exist_ok=True)
        (cert_dir / "ca.crt").write_text(ca_pem)
        tls = ["--cert-dir", str(cert_dir)]
    return subprocess.run(
        ["skopeo", "inspect", "--authfile", str(path), *tls, f"docker://{host}/{image}"],
        capture_output=True, text=True, timeout=DEFAULT_TIMEOUT,
    )  # fmt: skip
