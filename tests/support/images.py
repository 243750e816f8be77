"""Push tiny, real images into a test registry over the Registry HTTP API v2.

No docker daemon is involved: we upload a config blob and a gzipped tar layer (monolithic
POST + PUT upload) and PUT a manifest, exactly as ``docker push`` would, so the registry
stores genuine images whose digests tests can assert. Multi-platform pushes add an image
index. Authentication answers the registry's own challenges (Basic, or Bearer via the token
realm) the way docker does, so the same helpers work in every auth mode.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import re
import tarfile
from collections.abc import Callable, Generator, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

MEDIA_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MEDIA_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MEDIA_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MEDIA_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MEDIA_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"

#: Send this as ``Accept`` on manifest GET/HEAD: distribution 2.8 answers 404 for OCI
#: manifests (and may down-convert others) when the client does not list their type.
MANIFEST_ACCEPT = ", ".join(
    [MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST, MEDIA_DOCKER_LIST, MEDIA_DOCKER_MANIFEST]
)

#: (os, architecture, variant-or-None), e.g. ``("linux", "arm64", "v8")``.
Platform = tuple[str, str, str | None]


@dataclass(frozen=True)
class BearerChallenge:
    """A parsed ``WWW-Authenticate: Bearer`` challenge from the registry."""

    realm: str
    service: str | None
    scopes: tuple[str, ...]


#: Turns a challenge into a bearer token (e.g. via the OAuth2 refresh-token POST flow).
TokenGetter = Callable[[BearerChallenge], str]
AuthArg = httpx.Auth | tuple[str, str] | TokenGetter | None

_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_www_authenticate(header: str) -> tuple[str, dict[str, str]]:
    """Split ``Bearer realm="r",service="s",scope="a b"`` into scheme and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params = {
        m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
        for m in _PARAM.finditer(rest)
    }
    return scheme.lower(), params


def fetch_token(
    challenge: BearerChallenge,
    username: str | None = None,
    password: str | None = None,
    *,
    timeout: float = 10.0,
) -> str:
    """Docker's token flow: ``GET realm?service=&scope=`` with optional Basic credentials."""
    params: dict[str, str | list[str]] = {"scope": list(challenge.scopes)}
    if challenge.service:
        params["service"] = challenge.service
    auth = (username, password or "") if username is not None else None
    resp = httpx.get(challenge.realm, params=params, auth=auth, timeout=timeout)
    resp.raise_for_status()
    body = resp.json()
    return str(body.get("token") or body["access_token"])


def _repo_of(url: httpx.URL) -> str:
    """Repository a ``/v2/<name>/{blobs,manifests,tags}/...`` request targets ('' if none)."""
    m = re.match(r"^/v2/(.+?)/(?:blobs|manifests|tags)/", url.path)
    return m.group(1) if m else ""


class RegistryAuth(httpx.Auth):
    """Answer registry challenges like docker: Basic, or Bearer through the token realm.

    Bearer tokens are cached per repository and sent pre-emptively; a 401 with a Bearer
    challenge fetches a token for exactly the challenged scope and retries once.
    """

    def __init__(
        self,
        username: str | None = None,
        password: str | None = None,
        *,
        token_getter: TokenGetter | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.token_getter = token_getter
        self._tokens: dict[str, str] = {}
        self._basic = False
        self.token_fetches = 0

    def _get_token(self, challenge: BearerChallenge) -> str:
        self.token_fetches += 1
        if self.token_getter is not None:
            return self.token_getter(challenge)
        return fetch_token(challenge, self.username, self.password)

    def _apply(self, request: httpx.Request) -> None:
        token = self._tokens.get(_repo_of(request.url))
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        elif self._basic and self.username is not None:
            pair = f"{self.username}:{self.password or ''}".encode()
            request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self._apply(request)
        response = yield request
        if response.status_code != 401:
            return
        scheme, params = parse_www_authenticate(response.headers.get("WWW-Authenticate", ""))
        if scheme == "basic" and self.username is not None:
            self._basic = True
        elif scheme == "bearer" and "realm" in params:
            challenge = BearerChallenge(
                realm=params["realm"],
                service=params.get("service"),
                scopes=tuple(params.get("scope", "").split()),
            )
            self._tokens[_repo_of(request.url)] = self._get_token(challenge)
        else:
            return
        self._apply(request)
        yield request


def as_auth(auth: AuthArg) -> httpx.Auth | None:
    """Normalise the ``auth=`` argument: ``(user, password)``, a token getter, or httpx auth."""
    if auth is None or isinstance(auth, httpx.Auth):
        return auth
    if isinstance(auth, tuple):
        return RegistryAuth(auth[0], auth[1])
    return RegistryAuth(token_getter=auth)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical(obj: object) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def make_layer(marker: str) -> tuple[bytes, str]:
    """A deterministic gzipped tar holding one small file; returns (blob, diff_id)."""
    content = f"{marker}\n".encode()
    tar_buf = io.BytesIO()
    with tarfile.open(fileobj=tar_buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("reglink-test.txt")
        info.size = len(content)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(content))
    raw = tar_buf.getvalue()
    return gzip.compress(raw, mtime=0), sha256_digest(raw)


def make_config(platform: Platform, diff_id: str, marker: str) -> bytes:
    os_name, arch, variant = platform
    config: dict[str, object] = {
        "architecture": arch,
        "os": os_name,
        "created": "2024-01-01T00:00:00Z",
        "config": {"Labels": {"org.reglink.test": marker}},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if variant:
        config["variant"] = variant
    return _canonical(config)


class _Pusher:
    def __init__(self, client: httpx.Client, base: str, auth: httpx.Auth | None) -> None:
        self.client = client
        self.base = base.rstrip("/")
        self.auth = auth

    def _send(self, method: str, url: str | httpx.URL, **kwargs: object) -> httpx.Response:
        if self.auth is not None:  # otherwise keep whatever auth the caller's client has
            kwargs["auth"] = self.auth
        return self.client.request(method, url, **kwargs)  # type: ignore[arg-type]

    def _check(self, resp: httpx.Response, *expected: int) -> httpx.Response:
        if resp.status_code not in expected:
            raise RuntimeError(
                f"{resp.request.method} {resp.request.url} -> {resp.status_code}: {resp.text}"
            )
        return resp

    def blob(self, repo: str, data: bytes) -> str:
        """Upload a blob unless present: POST to open the upload, PUT it whole with digest."""
        digest = sha256_digest(data)
        head = self._send("HEAD", f"{self.base}/v2/{repo}/blobs/{digest}")
        if head.status_code == 200:
            return digest
        start = self._check(self._send("POST", f"{self.base}/v2/{repo}/blobs/uploads/"), 202)
        location = urljoin(self.base + "/", start.headers["Location"])
        url = httpx.URL(location).copy_merge_params({"digest": digest})
        self._check(
            self._send(
                "PUT", url, content=data, headers={"Content-Type": "application/octet-stream"}
            ),
            201,
        )
        return digest

    def manifest(self, repo: str, reference: str, body: bytes, media_type: str) -> str:
        resp = self._check(
            self._send(
                "PUT",
                f"{self.base}/v2/{repo}/manifests/{reference}",
                content=body,
                headers={"Content-Type": media_type},
            ),
            201,
        )
        digest = sha256_digest(body)
        served = resp.headers.get("Docker-Content-Digest")
        if served != digest:
            raise RuntimeError(f"registry stored {served}, expected {digest}")
        return digest

    def image(
        self, repo: str, reference: str, platform: Platform, media_type: str, marker: str
    ) -> tuple[str, int]:
        """Push config + layer + manifest; returns (manifest digest, manifest size)."""
        oci = media_type == MEDIA_OCI_MANIFEST
        layer, diff_id = make_layer(marker)
        config = make_config(platform, diff_id, marker)
        config_digest = self.blob(repo, config)
        layer_digest = self.blob(repo, layer)
        manifest: dict[str, object] = {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {
                "mediaType": MEDIA_OCI_CONFIG if oci else MEDIA_DOCKER_CONFIG,
                "size": len(config),
                "digest": config_digest,
            },
            "layers": [
                {
                    "mediaType": MEDIA_OCI_LAYER if oci else MEDIA_DOCKER_LAYER,
                    "size": len(layer),
                    "digest": layer_digest,
                }
            ],
        }
        body = _canonical(manifest)
        ref = reference or sha256_digest(body)
        return self.manifest(repo, ref, body, media_type), len(body)


def push_image(
    registry_url: str,
    repo: str,
    tag: str,
    *,
    auth: AuthArg = None,
    platforms: Iterable[Platform] | None = None,
    media_type: str | None = None,
    index_media_type: str = MEDIA_OCI_INDEX,
    client: httpx.Client | None = None,
) -> str:
    """Push ``repo:tag`` and return the digest the tag now points to.

    Without ``platforms`` one linux/amd64 image is pushed with ``media_type`` (default
    Docker schema2; pass :data:`MEDIA_OCI_MANIFEST` for OCI). With ``platforms`` one manifest
    per platform is pushed by digest (OCI by default, Docker schema2 under a Docker manifest
    list) and then an index of ``index_media_type`` is tagged; its digest is returned.
    ``auth`` is ``(user, password)`` (Basic or Bearer, whichever the registry asks for), a
    :data:`TokenGetter`, or any ``httpx.Auth``. Pass ``client`` to reuse connections.
    """
    own = client is None
    http = client if client is not None else httpx.Client(timeout=10.0)
    try:
        pusher = _Pusher(http, registry_url, as_auth(auth))
        marker = f"{repo}:{tag}"
        if platforms is None:
            single = media_type or MEDIA_DOCKER_MANIFEST
            return pusher.image(repo, tag, ("linux", "amd64", None), single, marker)[0]
        child_type = media_type or (
            MEDIA_DOCKER_MANIFEST if index_media_type == MEDIA_DOCKER_LIST else MEDIA_OCI_MANIFEST
        )
        entries: list[dict[str, object]] = []
        for platform in platforms:
            os_name, arch, variant = platform
            digest, size = pusher.image(
                repo, "", platform, child_type, f"{marker}:{os_name}/{arch}/{variant or ''}"
            )
            plat: dict[str, str] = {"architecture": arch, "os": os_name}
            if variant:
                plat["variant"] = variant
            entries.append(
                {"mediaType": child_type, "size": size, "digest": digest, "platform": plat}
            )
        if not entries:
            raise ValueError("platforms must not be empty")
        index = {"schemaVersion": 2, "mediaType": index_media_type, "manifests": entries}
        return pusher.manifest(repo, tag, _canonical(index), index_media_type)
    finally:
        if own:
            http.close()


def push_many(
    registry_url: str,
    count_repos: int,
    tags_per_repo: int,
    *,
    auth: AuthArg = None,
    repo_prefix: str = "repo",
    tag_prefix: str = "v",
    media_type: str | None = None,
) -> dict[str, dict[str, str]]:
    """Push ``count_repos`` repos with ``tags_per_repo`` tags each, for pagination tests.

    Names are zero-padded (``repo-000``, tag ``v000``) so their lexical order, which is
    the registry's listing order, equals creation order. Returns ``{repo: {tag: digest}}``.
    """
    auth_obj = as_auth(auth)  # one auth object: tokens are cached across pushes
    pushed: dict[str, dict[str, str]] = {}
    with httpx.Client(timeout=10.0) as client:
        for i in range(count_repos):
            repo = f"{repo_prefix}-{i:03d}"
            pushed[repo] = {
                f"{tag_prefix}{j:03d}": push_image(
                    registry_url,
                    repo,
                    f"{tag_prefix}{j:03d}",
                    auth=auth_obj,
                    media_type=media_type,
                    client=client,
                )
                for j in range(tags_per_repo)
            }
    return pushed


def manifest_digest(
    registry_url: str, repo: str, reference: str, *, auth: AuthArg = None
) -> str | None:
    """``Docker-Content-Digest`` of a HEAD on the manifest, or ``None`` if it is absent."""
    resp = httpx.head(
        f"{registry_url.rstrip('/')}/v2/{repo}/manifests/{reference}",
        headers={"Accept": MANIFEST_ACCEPT},
        auth=as_auth(auth),
        timeout=10.0,
    )
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    digest: str | None = resp.headers.get("Docker-Content-Digest")
    return digest


def registry_host(registry_url: str) -> str:
    """``host:port`` of a registry URL, as used in image references."""
    return urlsplit(registry_url).netloc
