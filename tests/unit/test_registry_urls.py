"""Registry URLs as people type them, from each provider's docs, become one canonical URL;
everything the strict URL rules refuse stays refused."""

from __future__ import annotations

import pytest
from hypothesis import given

from events.errors import CommandRejected, InsecureNotAllowed, InvalidInput
from events.messages import LinkRegistry, UpdateRegistry
from events.urls import registry_url
from events.validation import check_registry_url, validate_link, validate_update
from tests.unit.test_hostile_properties import HOSTILE_URLS, PROPERTIES, assert_canonical_url


@pytest.mark.parametrize(
    ("typed", "canonical"),
    [
        ("iad.ocir.io", "https://iad.ocir.io"),  # OCIR's docs
        ("ghcr.io", "https://ghcr.io"),
        ("quay.io/", "https://quay.io"),
        ("Harbor.Example.test:8443", "https://harbor.example.test:8443"),
        ("localhost:5000", "https://localhost:5000"),
        ("127.0.0.1:5000", "https://127.0.0.1:5000"),
        ("[::1]:5000", "https://[::1]:5000"),
        ("https://r.test/v2/", "https://r.test"),
        ("https://r.test/v2", "https://r.test"),
        ("r.test/v1/", "https://r.test"),
        ("https://r.test/prefix/v2/", "https://r.test/prefix"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com", "https://123456789012.dkr.ecr.us-east-1.amazonaws.com"),
        ("us-docker.pkg.dev", "https://us-docker.pkg.dev"),
        ("myregistry.azurecr.io", "https://myregistry.azurecr.io"),
        ("  iad.ocir.io  ", "https://iad.ocir.io"),
        ("http://127.0.0.1:5000/v2/", "http://127.0.0.1:5000"),
    ],
)  # fmt: skip
def test_registry_urls_are_read_as_people_type_them(typed: str, canonical: str) -> None:
    assert registry_url(typed) == canonical
    assert registry_url(canonical) == canonical  # canonical: reading it again changes nothing


@pytest.mark.parametrize(
    "typed",
    [
        "docker.io",
        "index.docker.io",
        "registry-1.docker.io",
        "https://registry-1.docker.io",
        "https://index.docker.io/v1/",
        "https://index.docker.io/v2/",
        "https://DOCKER.IO:443/",
    ],
)
def test_docker_hub_under_any_of_its_names_is_its_api_host(typed: str) -> None:
    assert registry_url(typed) == "https://registry-1.docker.io"


def test_docker_hub_with_a_path_or_port_is_not_docker_hub() -> None:
    assert registry_url("docker.io/library") == "https://docker.io/library"
    assert registry_url("docker.io:5000") == "https://docker.io:5000"


@pytest.mark.parametrize(
    "typed",
    [
        "ftp://r.test",
        "https://",
        "",
        "/v2/",
        "u:p@r.test",
        "r.test/?x=1",
        "r.test#f",
        "r.test:99999",
        "0177.0.0.1:5000",
        "r.test/%2e%2E/x",
        "https://r.test/v2/?x=1",
    ],
)
def test_what_the_url_rules_refuse_stays_refused(typed: str) -> None:
    with pytest.raises(InvalidInput):
        registry_url(typed)


def test_a_bare_host_means_https_and_plain_http_still_needs_listing() -> None:
    assert check_registry_url("127.0.0.1:5000", []) == "https://127.0.0.1:5000"
    with pytest.raises(InsecureNotAllowed):
        check_registry_url("http://r.test/v2/", [])


def test_link_and_update_store_the_canonical_url() -> None:
    link = LinkRegistry(project="demo", name="hub", url="docker.io")
    assert validate_link(link, ()).url == "https://registry-1.docker.io"
    update = UpdateRegistry(project="demo", name="hub", url="iad.ocir.io/v2/")
    assert validate_update(update, ()).url == "https://iad.ocir.io"


@PROPERTIES
@given(HOSTILE_URLS)
def test_typed_registry_urls_are_canonical_or_refused(value: str) -> None:
    try:
        url = registry_url(value)
    except CommandRejected:
        return
    assert_canonical_url(url)
