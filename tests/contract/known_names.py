"""Steer generated requests towards what exists: otherwise nearly every request names a
project or registry that is not there and meets a 404."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from events.errors import InvalidInput
from events.validation import check_name

REGISTRY = "private"  # the verified, crawled registry in project demo
JOB = "build-1"  # the build job in project demo that uses it
KNOWN = {"project": "demo", "name": REGISTRY, "job": JOB, "repository": "team/app"}


def flatmap_path_parameters(_context: Any, path_parameters: dict[str, Any]) -> Any:
    """Half the time, the names that exist in place of valid generated ones (invalid ones
    stay, so a negative case stays negative)."""
    if not path_parameters:
        return st.just(path_parameters)
    known = {
        key: KNOWN[key] for key, value in path_parameters.items() if key in KNOWN and _valid(value)
    }
    return st.sampled_from([path_parameters, {**path_parameters, **known}])


def _valid(value: object) -> bool:
    try:
        check_name(str(value))
    except InvalidInput:
        return False
    return isinstance(value, str)
