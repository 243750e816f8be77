"""Rules a command must pass before anything changes; shared by gateway and actors."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from events.errors import InsecureNotAllowed, InvalidInput, UnknownCommand
from events.messages import Command, CrawlRegistry, LinkRegistry, UnlinkRegistry, UpdateRegistry
from events.urls import normalize_url, registry_url

DEFAULT_MAX_NAME_LENGTH = 64  # registry, project and job names
DEFAULT_MAX_DESCRIPTION_LENGTH = 500
DEFAULT_MAX_REPOSITORY_LENGTH = 255  # as the distribution spec advises
DEFAULT_MAX_CA_BYTES = 64 * 1024  # a CA bundle of a few dozen certificates fits
DEFAULT_MAX_CA_CERTIFICATES = 32  # more is no registry's private CA
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
# Google's user name for a short-lived OAuth2 access token (an hour): it cannot stay linked
SHORT_LIVED_USERNAME = "oauth2accesstoken"
DEFAULT_QUOTED_CHARS = 80  # of a refused value, quoted back in the error message
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")  # the distribution spec's grammar
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# Published in the OpenAPI document as they are, so they stay within what both Python's
# `re` and JSON Schema (ECMA-262) read alike. A name is never only dots: `.` and `..` are
# path segments that HTTP clients collapse.
NAME_PATTERN = r"^[A-Za-z0-9._-]*[A-Za-z0-9_-][A-Za-z0-9._-]*$"
REPOSITORY_PATTERN = (
    r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$"
)
_NAME = re.compile(NAME_PATTERN)
_REPOSITORY = re.compile(REPOSITORY_PATTERN)


def check_name(value: str, what: str = "name") -> str:
    if not value:
        raise InvalidInput(f"{what} must not be empty")
    if len(value) > DEFAULT_MAX_NAME_LENGTH:
        raise InvalidInput(f"{what} must be at most {DEFAULT_MAX_NAME_LENGTH} characters")
    if not _NAME.match(value):
        raise InvalidInput(
            f"{what} may only contain letters, digits, '.', '_' and '-', and not only dots"
        )
    return value


def check_description(value: str) -> str:
    if len(value) > DEFAULT_MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"description must be at most {DEFAULT_MAX_DESCRIPTION_LENGTH} characters"
        )
    if _CONTROL.search(value):  # a terminal would obey them when the description is shown
        raise InvalidInput("description must not contain control characters")
    return value


def check_repository(value: str) -> str:
    """Repository names as the distribution spec allows them (lower case path components)."""
    if len(value) > DEFAULT_MAX_REPOSITORY_LENGTH or not _REPOSITORY.match(value):
        raise InvalidInput(f"repository {_quoted(value)} is not a valid repository name")
    return value


def check_tag(value: str) -> str:
    """Tags as the distribution spec allows them: what a registry lists must fit too."""
    if not _TAG.match(value):
        raise InvalidInput(f"tag {_quoted(value)} is not a valid tag")
    return value


def _quoted(value: str) -> str:
    """A value for an error message: escaped, and cut so a 10 kB value stays readable."""
    cut = value[:DEFAULT_QUOTED_CHARS]
    return ascii(cut) + ("…" if len(value) > DEFAULT_QUOTED_CHARS else "")


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    return host, parts.port or (443 if parts.scheme == "https" else 80)


def is_insecure_allowed(url: str, insecure_hosts: Iterable[str]) -> bool:
    """Docker's `insecure-registries` semantics: host, host:port, or a CIDR holding the IP."""
    host, port = host_port(url)
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in insecure_hosts:
        entry = entry.strip().lower()
        if not entry:
            continue
        if "/" in entry:
            try:
                if address is not None and address in ipaddress.ip_network(entry, strict=False):
                    return True
            except ValueError:
                continue
            continue
        if entry.startswith("["):  # [v6]:port
            name, _, rest = entry[1:].partition("]")
            entry_port = rest.lstrip(":") or None
        elif entry.count(":") == 1:
            name, entry_port = entry.split(":")
        else:
            name, entry_port = entry, None
        if name == host and (entry_port is None or entry_port == str(port)):
            return True
    return False


def check_url(value: str, insecure_hosts: Iterable[str]) -> str:
    url = normalize_url(value)
    if url.startswith("http://") and not is_insecure_allowed(url, insecure_hosts):
        raise InsecureNotAllowed(
            f"plain http is not allowed for {host_port(url)[0]}; "
            "use https or list the host in REGLINK_INSECURE_HOSTS"
        )
    return url


def check_registry_url(value: str, insecure_hosts: Iterable[str]) -> str:
    """A registry URL as people type it (`iad.ocir.io`, `docker.io`, `https://r.test/v2/`),
    canonical, and allowed over plain http only for listed hosts."""
    return check_url(registry_url(value), insecure_hosts)


def check_ca_pem(value: str) -> str | None:
    """A registry's private CA bundle: one or more PEM certificates and nothing else (a
    private key pasted by mistake is refused, not stored), re-written canonically. An
    empty value means none (an update drops the CA it had)."""
    if not value.strip():
        return None
    if len(value.encode()) > DEFAULT_MAX_CA_BYTES:
        raise InvalidInput(f"ca_pem must be at most {DEFAULT_MAX_CA_BYTES} bytes")
    kinds = set(_PEM_BLOCK.findall(value))
    if kinds - {"CERTIFICATE"}:
        raise InvalidInput(
            f"ca_pem may hold only certificates, not {', '.join(sorted(kinds - {'CERTIFICATE'}))}"
        )
    try:
        certificates = x509.load_pem_x509_certificates(value.encode())
    except ValueError as exc:
        raise InvalidInput(f"ca_pem is not PEM certificates: {exc}") from None
    if len(certificates) > DEFAULT_MAX_CA_CERTIFICATES:
        raise InvalidInput(f"ca_pem may hold at most {DEFAULT_MAX_CA_CERTIFICATES} certificates")
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def check_auth(auth: str, username: str | None, has_secret: bool, *, require_secret: bool) -> None:
    """One authentication type, with exactly the fields it needs."""
    if auth == "anonymous":
        if username or has_secret:
            raise InvalidInput("anonymous auth takes no username, password or token")
    elif username == SHORT_LIVED_USERNAME:
        raise InvalidInput(
            f"{SHORT_LIVED_USERNAME} takes an access token that lapses within an hour; "
            "link with a long-lived credential: username _json_key and a service account's "
            "JSON key as the password (Artifact Registry, GCR)"
        )
    elif auth == "basic":
        if not username:
            raise InvalidInput("basic auth needs a username")
        if require_secret and not has_secret:
            raise InvalidInput("basic auth needs a password")
    elif auth == "oauth2":
        if require_secret and not has_secret:
            raise InvalidInput("oauth2 auth needs a long-lived token")
    else:
        raise InvalidInput("auth must be one of anonymous, basic, oauth2")


def validate_link(command: LinkRegistry, insecure_hosts: Iterable[str]) -> LinkRegistry:
    """A normalized copy of the command, or `CommandRejected` saying what is wrong."""
    check_name(command.project, "project")
    check_name(command.name)
    check_description(command.description)
    for repository in command.repositories:
        check_repository(repository)
    check_auth(
        command.auth, command.username, command.sealed_secret is not None, require_secret=True
    )
    url = check_registry_url(command.url, insecure_hosts)
    return command.model_copy(
        update={
            "url": url,
            "repositories": tuple(dict.fromkeys(command.repositories)),
            "ca_pem": check_ca_pem(command.ca_pem or ""),
        }
    )


def validate_update(command: UpdateRegistry, insecure_hosts: Iterable[str]) -> UpdateRegistry:
    """Field checks; whether the merged details make sense needs the registry (handler)."""
    check_name(command.project, "project")
    check_name(command.name)
    changes: dict[str, object] = {}
    if command.new_name is not None:
        check_name(command.new_name, "new name")
    if command.description is not None:
        check_description(command.description)
    if command.repositories is not None:
        for repository in command.repositories:
            check_repository(repository)
        changes["repositories"] = tuple(dict.fromkeys(command.repositories))
    if command.url is not None:
        changes["url"] = check_registry_url(command.url, insecure_hosts)
    if command.ca_pem is not None:
        changes["ca_pem"] = check_ca_pem(command.ca_pem) or ""  # "": drop the CA
    if command.expected_version is not None and command.expected_version < 1:
        raise InvalidInput("expected version must be at least 1")
    return command.model_copy(update=changes)


def validate_target(command: Command) -> Command:
    """Commands that only name a registry."""
    check_name(command.project, "project")
    check_name(command.name)
    return command


def validate_command(command: Command, insecure_hosts: Iterable[str]) -> Command:
    if isinstance(command, LinkRegistry):
        return validate_link(command, insecure_hosts)
    if isinstance(command, UpdateRegistry):
        return validate_update(command, insecure_hosts)
    if isinstance(command, UnlinkRegistry | CrawlRegistry):
        return validate_target(command)
    raise UnknownCommand(f"{command.TYPE} is not handled yet")
