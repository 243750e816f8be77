"""The outbound-request guard: which addresses and schemes registries and webhooks may use.

A registry or webhook URL comes from a project owner, so it may point anywhere: at the
cloud metadata endpoint, at our own Redis, at a neighbour on the private network. Every
outbound request therefore resolves its host once, refuses if *any* address is in a denied
range (unless the operator allowed that network), and connects to an address it checked
(see `workers.outbound.guarded_http`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from events.validation import is_insecure_allowed
from workers.outbound.errors import BlockedAddress, PlainHttpRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], Sequence[str]]

# Ranges no registry or webhook should live in: listed explicitly (not only through
# `is_global`) so the rule does not depend on the Python version's IANA tables.
DEFAULT_DENIED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(cidr)
    for cidr in (
        "0.0.0.0/8",  # "this network", incl. the unspecified address
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, incl. the metadata endpoint 169.254.169.254
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
        "::/128",  # unspecified
        "::1/128",  # loopback
        "100::/64",  # discard-only
        "2001:db8::/32",  # documentation
        "fc00::/7",  # unique local (private)
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated, still routed by some stacks)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """Every IPv4 and IPv6 address the system resolver returns for `host`."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [
        str(sockaddr[0])
        for family, _, _, _, sockaddr in infos
        if family in (socket.AF_INET, socket.AF_INET6)
    ]


def parse_address(value: str | IPAddress) -> IPAddress:
    """An address object from text, brackets tolerated (`[::1]`)."""
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return value
    return ipaddress.ip_address(value.strip().removeprefix("[").removesuffix("]"))


def effective_address(address: IPAddress) -> IPAddress:
    """The IPv4 address an IPv6 form really reaches (mapped, NAT64, 6to4), else itself.

    `::ffff:127.0.0.1` is loopback; judging it as IPv6 would let it through.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address in _NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address.sixtofour is not None:
            return address.sixtofour
    return address


def is_denied(address: IPAddress) -> bool:
    """Whether the address is outside the public internet (before any allowance)."""
    target = effective_address(address)
    return (
        any(target in network for network in DEFAULT_DENIED_NETWORKS)
        or not target.is_global
        or target.is_multicast
        or target.is_reserved
    )


@dataclass(frozen=True)
class Allowance:
    """A network exempt from the denied ranges, on one port or (None) on every port."""

    network: IPNetwork
    port: int | None = None

    @classmethod
    def parse(cls, entry: str) -> Allowance:
        """`10.0.0.5`, `10.0.0.0/24`, `fd00::/8`, and with a port: `10.0.0.5:5000`,
        `10.0.0.0/24:5000`, `[fd00::1]:443`, `[fd00::/8]:443`. ValueError otherwise."""
        text = entry.strip()
        port: str | None = None
        if text.startswith("["):
            text, _, rest = text[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"allowed network {entry!r}: expected ]:port")
                port = rest[1:]
        elif text.count(":") == 1:  # IPv4 with a port; bare IPv6 has several colons
            text, port = text.split(":")
        number = None
        if port is not None:
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"allowed network {entry!r}: port must be 1-65535")
            number = int(port)
        return cls(ipaddress.ip_network(text, strict=False), number)

    def admits(self, address: IPAddress, port: int | None) -> bool:
        return address in self.network and (self.port is None or self.port == port)


class Guard:
    """The rules for one deployment: denied ranges minus `allowed_networks` (by address,
    and by port when an entry names one), and which hosts may be reached over plain http
    (`insecure_hosts`, Docker's insecure-registries)."""

    def __init__(
        self,
        allowed_networks: Sequence[str] = (),
        insecure_hosts: Sequence[str] = (),
        *,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.allowed_networks: tuple[Allowance, ...] = tuple(
            Allowance.parse(entry) for entry in allowed_networks
        )
        self.insecure_hosts: tuple[str, ...] = tuple(insecure_hosts)
        self._resolver = resolver

    def is_allowed(self, address: str | IPAddress, port: int | None = None) -> bool:
        """Whether the address may be reached on `port`: public, or allowed (an allowance
        with a port admits only that port; with no port known, only port-less ones count)."""
        parsed = parse_address(address)
        target = effective_address(parsed)
        if any(n.admits(a, port) for n in self.allowed_networks for a in (parsed, target)):
            return True
        return not is_denied(parsed)

    def check_address(
        self, address: str | IPAddress, host: str | None = None, port: int | None = None
    ) -> None:
        """Raise `BlockedAddress` unless the address may be reached on `port`."""
        if not self.is_allowed(address, port):
            target = f"{host} ({address})" if host and host != str(address) else str(address)
            if port is not None:
                target += f" port {port}"
            raise BlockedAddress(
                f"{target} is in a denied range (loopback, link-local, private or reserved); "
                "list its network in REGLINK_ALLOWED_NETWORKS to allow it"
            )

    def resolve(self, host: str, port: int) -> list[IPAddress]:
        """All addresses of `host`, each checked; one bad address refuses the host, so a
        mix of public and private records cannot smuggle a private target in.

        Raises `BlockedAddress`, or `OSError` when the name does not resolve.
        """
        try:
            addresses = [parse_address(host)]
        except ValueError:
            addresses = list(dict.fromkeys(parse_address(a) for a in self._resolver(host, port)))
        if not addresses:
            raise OSError(f"{host} has no address")
        for address in addresses:
            self.check_address(address, host, port)
        return addresses

    def check_scheme(self, url: str) -> None:
        """Raise `PlainHttpRefused` for anything but https, unless the host is listed."""
        scheme = urlsplit(url).scheme.lower()
        if scheme == "https":
            return
        if scheme == "http" and is_insecure_allowed(url, self.insecure_hosts):
            return
        raise PlainHttpRefused(
            f"{scheme}:// is not allowed for {urlsplit(url).hostname}; "
            "use https or list the host in REGLINK_INSECURE_HOSTS"
        )
