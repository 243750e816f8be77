"""Property-based tests over what hostile callers control: every input to the validators
and the envelope parser either becomes a canonical value the HTTP client can use, or is
refused with a `CommandRejected`. Nothing else: no other exception, no value that a later
step would read differently."""

from __future__ import annotations

import ipaddress
import re
import string
from typing import Any

import httpx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from events.envelope import Envelope, parse_envelope
from events.errors import CommandRejected
from events.messages import CrawlRegistry, LinkRegistry, UpdateRegistry
from events.urls import normalize_url
from events.validation import check_name, check_repository, check_url, validate_command

# No deadline: the verdict, not the speed, is under test (and CI machines are shared).
PROPERTIES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces a hostile URL is made of: numeric forms, full-width and other Unicode digits,
# brackets, percent escapes, dots, credentials, ports.
HOST_PIECES = st.sampled_from(
    [
        "0177", "0x7f", "127", "1", "0", "2130706433", "\uff11", "\uff10", "\u0661", "a", "Z",
        "xn--", "b\u00fccher", "\u00df", "-", "_", ".", "..", "%2e", "%41", "[", "]", "::1",
        "fe80::1%25eth0", "@", ":", ":0", ":65536", ":443", "/", "?", "#", " ", "\t", "\x00",
        "\u200b", "registry", "example", "test", "localhost", "\u0130",
    ]
)  # fmt: skip
HOSTILE_URLS = st.one_of(
    st.text(max_size=80),
    st.builds(
        lambda scheme, pieces, path: scheme + "".join(pieces) + path,
        st.sampled_from(["https://", "http://", "HTTPS://", "ftp://", "", "https:/", "//"]),
        st.lists(HOST_PIECES, min_size=1, max_size=8),
        st.one_of(st.just(""), st.text(max_size=20).map(lambda t: "/" + t)),
    ),
)


def assert_canonical_url(url: str) -> None:
    """What a URL that passed must be: one httpx reads as written, in its one form."""
    parsed = httpx.URL(url)
    assert parsed.scheme in ("http", "https")
    assert str(parsed).rstrip("/") == url or str(parsed) == url
    assert normalize_url(url) == url  # canonical: normalizing again changes nothing
    host = parsed.raw_host.decode("ascii")
    assert host and host == host.lower() and "%" not in host
    last = host.rsplit(".", 1)[-1]
    if ":" in host or re.fullmatch(r"0x[0-9a-f]*|[0-9]+", last):  # an address: one way only
        assert str(ipaddress.ip_address(host)) == host
    assert not any(c in url for c in "@?# \\") and url.isascii() and url.isprintable()


@PROPERTIES
@given(HOSTILE_URLS)
@example("https://0177.0.0.1")
@example("https://\uff11\uff12\uff17.0.0.1")
@example("https://B\u00fccher.example/v2/")
@example("https://[::ffff:127.0.0.1]:5000")
@example("https://r.test/%2e%2E/x")
@example("HTTPS://A:443")  # found by this test: httpx keeps the default port of `HTTPS:`
def test_urls_are_canonical_or_refused(value: str) -> None:
    try:
        url = normalize_url(value)
    except CommandRejected:
        return
    assert_canonical_url(url)


@PROPERTIES
@given(HOSTILE_URLS, st.lists(st.sampled_from(["127.0.0.1", "10.0.0.0/8", "r.test:5000"])))
def test_check_url_either_accepts_canonically_or_rejects(value: str, insecure: list[str]) -> None:
    try:
        url = check_url(value, insecure)
    except CommandRejected:
        return
    assert_canonical_url(url)


NAMES = st.one_of(
    st.text(max_size=70),
    st.text(alphabet=string.ascii_letters + string.digits + "._-", max_size=70),
    st.sampled_from([".", "..", "...", ".a", "a.", "-", "_"]),
)


@PROPERTIES
@given(NAMES)
def test_names_are_usable_in_a_url_path_or_refused(value: str) -> None:
    try:
        name = check_name(value)
    except CommandRejected:
        return
    assert name == value
    path = f"/v1/projects/demo/registries/{name}"
    assert httpx.URL("http://api.test" + path).raw_path.decode() == path  # not collapsed


@PROPERTIES
@given(st.one_of(st.text(max_size=300), st.from_regex(r"[a-z0-9._/-]{1,40}", fullmatch=True)))
def test_repository_names_are_valid_or_refused(value: str) -> None:
    try:
        assert check_repository(value) == value
    except CommandRejected:
        return
    assert ".." not in value.split("/") and value.isascii() and value.isprintable()


TEXT = st.text(max_size=40)
LINKS = st.builds(
    LinkRegistry,
    project=NAMES,
    name=NAMES,
    url=HOSTILE_URLS,
    description=st.text(max_size=600),
    auth=st.sampled_from(["anonymous", "basic", "oauth2"]),
    username=st.none() | TEXT,
    sealed_secret=st.none() | TEXT,
    repositories=st.lists(TEXT, max_size=3).map(tuple),
)
UPDATES = st.builds(
    UpdateRegistry,
    project=NAMES,
    name=NAMES,
    new_name=st.none() | NAMES,
    url=st.none() | HOSTILE_URLS,
    description=st.none() | st.text(max_size=600),
    repositories=st.none() | st.lists(TEXT, max_size=3).map(tuple),
    expected_version=st.none() | st.integers(min_value=-(2**63), max_value=2**63),
)


@PROPERTIES
@given(st.one_of(LINKS, UPDATES, st.builds(CrawlRegistry, project=NAMES, name=NAMES)))
def test_commands_validate_to_usable_values_or_are_rejected(command: Any) -> None:
    try:
        valid = validate_command(command, ("127.0.0.1",))
    except CommandRejected:
        return
    check_name(valid.project)
    check_name(valid.name)
    if getattr(valid, "url", None) is not None:
        assert_canonical_url(valid.url)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TEXT, children, max_size=4),
    max_leaves=20,
)
GOOD = Envelope.wrap(CrawlRegistry(project="demo", name="hub")).model_dump(mode="json")


@PROPERTIES
@given(
    st.one_of(
        JSON,
        st.dictionaries(st.sampled_from(sorted(GOOD)), JSON, max_size=len(GOOD)),
        st.builds(lambda key, value: {**GOOD, key: value}, st.sampled_from(sorted(GOOD)), JSON),
        st.builds(lambda data: {**GOOD, "data": data}, st.dictionaries(TEXT, JSON, max_size=5)),
    )
)
def test_envelopes_parse_to_messages_or_are_rejected(raw: Any) -> None:
    try:
        envelope = parse_envelope(raw)
        message = envelope.message()
    except CommandRejected:
        return
    assert parse_envelope(envelope.model_dump(mode="json")) == envelope
    assert envelope.type == type(message).TYPE
