"""The outbound guard's rules: which addresses and schemes a registry or webhook may use."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from workers.outbound.errors import BlockedAddress, OutboundError, PlainHttpRefused
from workers.outbound.guard import Guard

DENIED = [
    ("127.0.0.1", "loopback"),
    ("127.45.6.7", "loopback, anywhere in 127/8"),
    ("::1", "IPv6 loopback"),
    ("10.1.2.3", "private 10/8"),
    ("172.16.0.1", "private 172.16/12, low end"),
    ("172.31.255.254", "private 172.16/12, high end"),
    ("192.168.1.1", "private 192.168/16"),
    ("fc00::1", "unique local fc00::/7"),
    ("fd12:3456::1", "unique local fd00::/8"),
    ("169.254.169.254", "cloud metadata endpoint"),
    ("169.254.0.1", "IPv4 link-local"),
    ("fe80::1", "IPv6 link-local"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "this network 0/8"),
    ("::", "IPv6 unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast (SSDP)"),
    ("ff02::1", "IPv6 multicast"),
    ("240.0.0.1", "reserved 240/4"),
    ("255.255.255.255", "broadcast"),
    ("100.64.0.1", "shared address space, low end"),
    ("100.127.255.254", "shared address space, high end"),
    ("192.0.2.10", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("2001:db8::1", "IPv6 documentation"),
    ("::ffff:127.0.0.1", "IPv4-mapped loopback"),
    ("::ffff:169.254.169.254", "IPv4-mapped metadata endpoint"),
    ("::ffff:10.0.0.1", "IPv4-mapped private"),
    ("::ffff:0.0.0.0", "IPv4-mapped unspecified"),
    ("64:ff9b::a00:1", "NAT64 of 10.0.0.1"),
    ("2002:7f00:1::", "6to4 of 127.0.0.1"),
]
PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "172.32.0.1",  # just above 172.16/12
    "100.128.0.1",  # just above 100.64/10
    "192.169.0.1",
    "169.253.255.255",
    "2606:4700:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",  # NAT64 of 8.8.8.8: judged by the IPv4 address it reaches
]


def resolver_for(records: dict[str, Sequence[str]]) -> tuple[Guard, list[str]]:
    """A guard whose DNS answers come from `records`, and the names it looked up."""
    asked: list[str] = []

    def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        return records.get(host, ())

    return Guard(resolver=resolve), asked


@pytest.mark.parametrize(("address", "why"), DENIED, ids=[a for a, _ in DENIED])
def test_denied_ranges_are_blocked_by_default(address: str, why: str) -> None:
    with pytest.raises(BlockedAddress) as caught:
        Guard().check_address(address)
    assert caught.value.reason == "blocked_address"
    assert isinstance(caught.value, OutboundError)
    assert "REGLINK_ALLOWED_NETWORKS" in str(caught.value)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    Guard().check_address(address)


def test_allowed_networks_exempt_exactly_their_addresses() -> None:
    guard = Guard(allowed_networks=["127.0.0.0/8", "10.20.0.0/16"])
    for allowed in ("127.0.0.1", "127.0.0.2", "10.20.3.4", "::ffff:127.0.0.1"):
        guard.check_address(allowed)
    for still_denied in ("10.21.0.1", "169.254.169.254", "::1", "192.168.0.1"):
        with pytest.raises(BlockedAddress):
            guard.check_address(still_denied)


def test_an_allowed_single_host_does_not_open_its_neighbours() -> None:
    guard = Guard(allowed_networks=["127.0.0.1/32"])
    guard.check_address("127.0.0.1")
    with pytest.raises(BlockedAddress):
        guard.check_address("127.0.0.2")


def test_ipv6_allowed_network_covers_ipv6_addresses() -> None:
    guard = Guard(allowed_networks=["fd00:1::/64"])
    guard.check_address("fd00:1::5")
    with pytest.raises(BlockedAddress):
        guard.check_address("fd00:2::5")


def test_an_allowance_with_a_port_opens_only_that_port() -> None:
    guard = Guard(allowed_networks=["10.0.0.5:5000", "[fd00::1]:443", "10.1.0.0/24:8443"])
    guard.check_address("10.0.0.5", port=5000)
    guard.check_address("fd00::1", port=443)
    guard.check_address("10.1.0.77", port=8443)
    guard.resolve("10.0.0.5", 5000)
    for address, port in [
        ("10.0.0.5", 5001),
        ("10.0.0.5", 22),
        ("10.0.0.5", None),  # port unknown: only port-less allowances count
        ("fd00::1", 80),
        ("10.1.0.77", 443),
        ("10.0.0.6", 5000),
    ]:
        with pytest.raises(BlockedAddress) as caught:
            guard.check_address(address, port=port)
        assert "REGLINK_ALLOWED_NETWORKS" in str(caught.value)
    with pytest.raises(BlockedAddress):
        guard.resolve("10.0.0.5", 6379)


def test_an_allowance_without_a_port_keeps_every_port() -> None:
    guard = Guard(allowed_networks=["10.0.0.5/32", "fd00::/8"])
    for port in (22, 443, 5000, 6379, None):
        guard.check_address("10.0.0.5", port=port)
        guard.check_address("fd00::9", port=port)


@pytest.mark.parametrize(
    "entry", ["10.0.0.5:0", "10.0.0.5:70000", "10.0.0.5:x", "[fd00::1]443", "[fd00::1]:", "nope"]
)
def test_malformed_allowances_are_refused_at_start(entry: str) -> None:
    with pytest.raises(ValueError):
        Guard(allowed_networks=[entry])


def test_ip_literal_needs_no_dns() -> None:
    guard, asked = resolver_for({})
    assert [str(a) for a in guard.resolve("8.8.8.8", 443)] == ["8.8.8.8"]
    assert [str(a) for a in guard.resolve("[2606:4700:4700::1111]", 443)] == [
        "2606:4700:4700::1111"
    ]
    assert asked == []


def test_blocked_ip_literal_is_refused_without_dns() -> None:
    guard, asked = resolver_for({})
    with pytest.raises(BlockedAddress):
        guard.resolve("169.254.169.254", 80)
    assert asked == []


def test_every_resolved_address_is_returned_once() -> None:
    guard, asked = resolver_for({"registry.example": ["8.8.8.8", "8.8.4.4", "8.8.8.8"]})
    assert [str(a) for a in guard.resolve("registry.example", 443)] == ["8.8.8.8", "8.8.4.4"]
    assert asked == ["registry.example"]


def test_one_private_record_among_public_ones_refuses_the_host() -> None:
    guard, _ = resolver_for({"mixed.example": ["8.8.8.8", "10.0.0.5"]})
    with pytest.raises(BlockedAddress, match=r"mixed\.example \(10\.0\.0\.5\)"):
        guard.resolve("mixed.example", 443)


def test_a_name_pointing_at_the_metadata_endpoint_is_refused() -> None:
    guard, _ = resolver_for({"metadata.example": ["169.254.169.254"]})
    with pytest.raises(BlockedAddress):
        guard.resolve("metadata.example", 80)


def test_a_name_without_addresses_is_an_os_error() -> None:
    guard, _ = resolver_for({})
    with pytest.raises(OSError, match="no address"):
        guard.resolve("nowhere.example", 443)


def test_localhost_is_judged_by_what_it_resolves_to() -> None:
    """Real system resolver: the name is not special, its loopback address is."""
    with pytest.raises(BlockedAddress):
        Guard().resolve("localhost", 80)
    assert Guard(allowed_networks=["127.0.0.0/8", "::1/128"]).resolve("localhost", 80)


def test_https_is_always_allowed_by_the_scheme_rule() -> None:
    Guard().check_scheme("https://registry.example/v2/")
    Guard().check_scheme("https://10.0.0.1/v2/")  # the address rule decides this one


@pytest.mark.parametrize(
    ("insecure_hosts", "url"),
    [
        (["registry.local"], "http://registry.local/v2/"),
        (["registry.local:5000"], "http://registry.local:5000/v2/"),
        (["127.0.0.1"], "http://127.0.0.1:8080/v2/"),
        (["10.0.0.0/8"], "http://10.1.2.3:5000/v2/"),
    ],
)
def test_plain_http_is_allowed_for_listed_hosts(insecure_hosts: list[str], url: str) -> None:
    Guard(insecure_hosts=insecure_hosts).check_scheme(url)


@pytest.mark.parametrize(
    ("insecure_hosts", "url"),
    [
        ([], "http://registry.example/v2/"),
        (["registry.local:5000"], "http://registry.local:5001/v2/"),
        (["registry.local"], "http://other.local/v2/"),
        (["10.0.0.0/8"], "http://11.0.0.1/v2/"),
        (["registry.local"], "ftp://registry.local/"),
    ],
)
def test_plain_http_is_refused_for_other_hosts(insecure_hosts: list[str], url: str) -> None:
    with pytest.raises(PlainHttpRefused) as caught:
        Guard(insecure_hosts=insecure_hosts).check_scheme(url)
    assert caught.value.reason == "insecure_not_allowed"
