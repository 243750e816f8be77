"""One vocabulary of error codes: every code the API, the CLI and the workers use is
listed in docs/errors.md, and none is spelled two ways."""

from __future__ import annotations

import re
from pathlib import Path

from events.errors import REJECTIONS, CommandRejected
from workers.outbound import errors as outbound

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def documented() -> set[str]:
    return set(re.findall(r"^\| `([a-z_0-9]+)` \|", DOC.read_text(), flags=re.M))


def outbound_reasons() -> set[str]:
    return {
        cls.reason
        for cls in vars(outbound).values()
        if isinstance(cls, type) and issubclass(cls, outbound.OutboundError)
    }


def test_every_code_is_documented() -> None:
    assert set(REJECTIONS) | outbound_reasons() <= documented()


def test_a_bare_refusal_uses_the_shared_invalid_input_code() -> None:
    assert CommandRejected("x").code == "invalid_input"
    assert "invalid" not in documented()
