"""URLs in their canonical form, as the HTTP client that will fetch them reads them.

A URL that passes here is one httpx can use, written one way only: checks made on it (the
insecure-hosts list, the credential's host, the outbound guard) see what will be fetched.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import unquote

import httpx

from events.errors import InvalidInput

DEFAULT_MAX_URL_LENGTH = 2048  # longer is no registry anyone types
# Docker Hub's names as people type them (docs, `docker login`), and the one its API answers on
DOCKER_HUB_HOSTS = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DOCKER_HUB_API = "https://registry-1.docker.io"
_API_SUFFIX = re.compile(r"/v[12]/*$")  # `https://index.docker.io/v1/`, `https://r.test/v2/`
DEFAULT_MAX_HOST_LENGTH = 253  # DNS: a name is at most 253 characters written out
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_NUMERIC = re.compile(r"^(?:0x[0-9a-f]*|[0-9]+)$")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_PERCENT = re.compile(r"%[0-9a-fA-F]{2}")
_SEGMENT = re.compile(r"^(?:[A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-F]{2})+$")


def normalize_url(value: str) -> str:
    """The canonical form of a registry or webhook URL, parsed by httpx, the parser that
    will fetch it: http(s), a host, no userinfo/query/fragment. Hosts are canonical too
    (IDNA to ASCII, lower case, IPv6 compressed); forms that parsers read differently
    (`0177.0.0.1`, `2130706433`) are refused with the address they would reach."""
    if len(value) > DEFAULT_MAX_URL_LENGTH:
        raise InvalidInput("url is too long")
    text = value.strip()
    try:
        parsed = httpx.URL(text)
        port = parsed.port
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise InvalidInput(f"url is not valid: {exc}") from None
    if parsed.scheme not in ("http", "https") or not text.lower().startswith(parsed.scheme):
        raise InvalidInput("url must start with https:// (or http:// for insecure hosts)")
    authority = text.split("://", 1)[-1].split("/", 1)[0]
    if parsed.userinfo or "@" in authority:
        raise InvalidInput("url must not contain credentials; use --username and a secret")
    if "?" in text or "#" in text:
        raise InvalidInput("url must not have a query or a fragment")
    host = _canonical_host(parsed.raw_host.decode("ascii"))
    if port is not None and not 0 < port < 65536:
        raise InvalidInput(f"url port {port} is not between 1 and 65535")
    if port == _DEFAULT_PORTS[parsed.scheme]:  # httpx drops it too, but not for `HTTPS://`
        port = None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return f"{parsed.scheme}://{netloc}{_canonical_path(parsed.raw_path.decode('ascii'))}"


def registry_url(value: str) -> str:
    """The canonical base URL of a registry as people type it: a bare `host[:port]` means
    https (as Docker's CLI reads it), a trailing `/v2/` or `/v1/` (the API, or Docker's
    legacy index address) is the base, and Docker Hub under any of its names is the host
    its API answers on. Everything else is `normalize_url`'s."""
    if len(value) > DEFAULT_MAX_URL_LENGTH:
        raise InvalidInput("url is too long")
    text = value.strip()
    if "://" not in text and not text.startswith("/"):
        text = "https://" + text
    url = normalize_url(_API_SUFFIX.sub("", text))
    host, _, rest = url.removeprefix("https://").partition("/")
    if url.startswith("https://") and host in DOCKER_HUB_HOSTS and not rest:
        return DOCKER_HUB_API
    return url


def _canonical_host(host: str) -> str:
    if not host:
        raise InvalidInput("url must name a host")
    if ":" in host:
        try:
            if "%" in host:  # a zone id names an interface of the machine that connects
                raise ValueError(host)
            return ipaddress.IPv6Address(host).compressed
        except ValueError:
            raise InvalidInput(f"url host [{host}] is not an IPv6 address") from None
    host = host.lower().removesuffix(".")
    labels = host.split(".")
    if len(host) > DEFAULT_MAX_HOST_LENGTH or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(
            f"url host {host!r} is not a host name (letters, digits, '-', '_' in dot-separated "
            "labels of at most 63) or an IP address"
        )
    if _NUMERIC.match(labels[-1]):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            meant = _inet_aton(host)
            hint = f" (it would reach {meant})" if meant else ""
            raise InvalidInput(
                f"url host {host!r} is a numeric address in a form that systems read "
                f"differently{hint}; write IPv4 addresses as four decimal numbers"
            ) from None
    return host


def _inet_aton(host: str) -> str | None:
    """What the C library makes of a numeric host (octal, hex, fewer parts), if anything."""
    try:
        return str(ipaddress.IPv4Address(socket.inet_aton(host)))
    except (OSError, ValueError):
        return None


def _canonical_path(path: str) -> str:
    """The path without a trailing slash; dot segments (also percent-encoded) are refused, a
    client would collapse them into another path."""
    path = _PERCENT.sub(lambda m: m.group(0).upper(), path.rstrip("/"))
    for segment in path.split("/")[1:]:
        if not _SEGMENT.match(segment):
            raise InvalidInput(f"url path segment {segment!r} is not allowed")
        if unquote(segment) in (".", ".."):
            raise InvalidInput("url path must not have '.' or '..' segments")
    return path
