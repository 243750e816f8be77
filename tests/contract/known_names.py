"""Steer generated requests towards what exists: otherwise nearly every request names a
project or registry that is not there and meets a 404."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import strategies as st

from events.validation import NAME_PATTERN

REGISTRY = "private"  # the verified, crawled registry in project demo
JOB = "build-1"  # the build job in project demo that uses it
KNOWN = {"project": "demo", "name": REGISTRY, "job": JOB, "repository": "team/app"}


def flatmap_path_parameters(_context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the time, the names that exist in place of valid generated ones (invalid ones
    stay, so a negative case stays negative)."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {
        key: KNOWN[key]
        for key, value in path_parameters.items()
        if key in KNOWN and isinstance(value, str) and re.fullmatch(NAME_PATTERN, value)
    }
    return st.sampled_from([path_parameters, {**path_parameters, **known}])
