from __future__ import annotations

import pytest

from events.errors import CommandRejected, InsecureNotAllowed, InvalidInput
from events.urls import normalize_url
from events.validation import (
    check_auth,
    check_description,
    check_name,
    check_tag,
    check_url,
    is_insecure_allowed,
)
from gateway.cli_common import printable


@pytest.mark.parametrize("name", ["hub", "Hub-2", "a.b_c", "x" * 64])
def test_good_names_pass(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "x" * 65, "a b", "a/b", "é", "a:b", "a\nb"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        check_name(name)


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://Registry.Example.test/", "https://registry.example.test"),
        ("https://r.test:5000", "https://r.test:5000"),
        ("https://r.test/prefix/", "https://r.test/prefix"),
        ("https://[::1]:443/", "https://[::1]"),  # the scheme's own port goes
        ("https://[::FFFF:7F00:1]:5000", "https://[::ffff:7f00:1]:5000"),
        ("https://Bücher.example/v2/", "https://xn--bcher-kva.example/v2"),  # IDNA
        ("https://r.test./a%2fb", "https://r.test/a%2Fb"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_urls_are_normalized(url: str, normal: str) -> None:
    assert normalize_url(url) == normal


@pytest.mark.parametrize(
    "url",
    [
        "ftp://r.test",
        "r.test",
        "https://",
        "https://u@r.test",
        "https://u:p@r.test",
        "https://r.test/?x=1",
        "https://r.test/#f",
        "https://r.test:99999",
        "https://" + "a" * 3000 + ".test",
    ],
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_url(url)


@pytest.mark.parametrize(
    ("url", "insecure", "allowed"),
    [
        ("http://r.test", ["r.test"], True),
        ("http://r.test:5000", ["r.test"], True),
        ("http://r.test:5000", ["r.test:5000"], True),
        ("http://r.test:5001", ["r.test:5000"], False),
        ("http://other.test", ["r.test"], False),
        ("http://10.1.2.3:5000", ["10.0.0.0/8"], True),
        ("http://11.1.2.3", ["10.0.0.0/8"], False),
        ("http://[::1]:5000", ["[::1]:5000"], True),
        ("http://r.test", [], False),
    ],
)
def test_insecure_hosts_follow_docker_semantics(
    url: str, insecure: list[str], allowed: bool
) -> None:
    assert is_insecure_allowed(url, insecure) is allowed


def test_plain_http_needs_listing() -> None:
    with pytest.raises(InsecureNotAllowed):
        check_url("http://r.test", [])
    assert check_url("http://r.test", ["r.test"]) == "http://r.test"


@pytest.mark.parametrize(
    ("auth", "username", "secret", "ok"),
    [
        ("anonymous", None, False, True),
        ("anonymous", "u", False, False),
        ("anonymous", None, True, False),
        ("basic", "u", True, True),
        ("basic", None, True, False),
        ("basic", "u", False, False),
        ("oauth2", None, True, True),
        ("oauth2", None, False, False),
        ("token", None, False, False),
    ],
)
def test_each_auth_type_takes_exactly_its_fields(
    auth: str, username: str | None, secret: bool, ok: bool
) -> None:
    if ok:
        check_auth(auth, username, secret, require_secret=True)
    else:
        with pytest.raises(CommandRejected):
            check_auth(auth, username, secret, require_secret=True)


@pytest.mark.parametrize("tag", ["1.0", "latest", "v1_2-rc.3", "_x", "a" * 128])
def test_tags_of_the_distribution_grammar_pass(tag: str) -> None:
    assert check_tag(tag) == tag


@pytest.mark.parametrize(
    "tag", ["", ".hidden", "-x", "../../etc", "a/b", "<script>", "red\x1b[31m", "a" * 129]
)
def test_other_tags_are_refused_with_a_short_reason(tag: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_tag(tag)
    assert len(caught.value.message) < 120 and "\x1b" not in caught.value.message


@pytest.mark.parametrize("text", ["bell\x07", "esc\x1b[2J", "nul\x00", "rtl\u202eevil", "c1\x9b"])
def test_descriptions_with_control_characters_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="control characters"):
        check_description(text)
    assert check_description("two\nlines\tand tabs, ünïcode") == "two\nlines\tand tabs, ünïcode"


def test_the_cli_prints_control_characters_escaped() -> None:
    assert printable("a\x1b[31mb\u202ec\nd\te\x9b") == "a\\x1b[31mb\\u202ec\nd\te\\x9b"
