"""Prove the registry test support drives the real distribution registry in every auth mode."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import REFRESH, USERS
from tests.support.images import (
    MANIFEST_ACCEPT,
    MEDIA_DOCKER_LIST,
    MEDIA_DOCKER_MANIFEST,
    MEDIA_OCI_INDEX,
    MEDIA_OCI_MANIFEST,
    BearerChallenge,
    RegistryAuth,
    manifest_digest,
    parse_www_authenticate,
    push_image,
    push_many,
)
from tests.support.registry import RunningRegistry, start_registry
from tests.support.token_server import TokenServer, libtrust_key_id

PLATFORMS = [("linux", "amd64", None), ("linux", "arm64", "v8")]


def get_token(server: TokenServer, user: str, password: str, *scopes: str) -> httpx.Response:
    params: dict[str, str | list[str]] = {"service": server.service, "scope": list(scopes)}
    return httpx.get(server.realm, params=params, auth=(user, password))


def jwt_part(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def all_catalog_pages(
    client: httpx.Client, registry: RunningRegistry, n: int
) -> tuple[list[str], int]:
    """Follow ``Link: <...>; rel="next"`` until it stops; returns (repos, page count)."""
    url: str | None = f"{registry.url}/v2/_catalog?n={n}"
    repos: list[str] = []
    pages = 0
    while url is not None:
        resp = client.get(url)
        assert resp.status_code == 200, resp.text
        page = resp.json()["repositories"]
        assert len(page) <= n
        repos += page
        pages += 1
        link = resp.headers.get("Link")
        if link is None:
            url = None
        else:
            assert link.endswith('rel="next"')
            url = registry.url + link[link.index("<") + 1 : link.index(">")]
    return repos, pages


# -- anonymous -----------------------------------------------------------------------------


def test_anonymous_push_lists_catalog_tags_and_digest(anon_registry: RunningRegistry) -> None:
    reg = anon_registry
    assert reg.url == f"http://127.0.0.1:{reg.port}"
    first = push_image(reg.url, "library/alpine", "3.19")
    second = push_image(reg.url, "library/alpine", "3.20", media_type=MEDIA_OCI_MANIFEST)
    other = push_image(reg.url, "team/app", "latest")

    assert httpx.get(f"{reg.url}/v2/").status_code == 200
    catalog = httpx.get(f"{reg.url}/v2/_catalog").json()
    assert catalog == {"repositories": ["library/alpine", "team/app"]}
    tags = httpx.get(f"{reg.url}/v2/library/alpine/tags/list").json()
    assert tags == {"name": "library/alpine", "tags": ["3.19", "3.20"]}

    for repo, tag, digest, media_type in [
        ("library/alpine", "3.19", first, MEDIA_DOCKER_MANIFEST),
        ("library/alpine", "3.20", second, MEDIA_OCI_MANIFEST),
        ("team/app", "latest", other, MEDIA_DOCKER_MANIFEST),
    ]:
        head = httpx.head(
            f"{reg.url}/v2/{repo}/manifests/{tag}", headers={"Accept": MANIFEST_ACCEPT}
        )
        assert head.status_code == 200
        assert head.headers["Docker-Content-Digest"] == digest
        assert head.headers["Content-Type"] == media_type
    assert len({first, second, other}) == 3  # each tag is a distinct image


def test_anonymous_multi_platform_index(anon_registry: RunningRegistry) -> None:
    reg = anon_registry
    digest = push_image(reg.url, "multi/app", "1.0", platforms=PLATFORMS)
    listed = push_image(
        reg.url, "multi/app", "list", platforms=PLATFORMS, index_media_type=MEDIA_DOCKER_LIST
    )

    resp = httpx.get(f"{reg.url}/v2/multi/app/manifests/1.0", headers={"Accept": MANIFEST_ACCEPT})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == MEDIA_OCI_INDEX
    assert resp.headers["Docker-Content-Digest"] == digest
    index = resp.json()
    platforms = [m["platform"] for m in index["manifests"]]
    assert platforms == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
    ]
    for child in index["manifests"]:
        assert child["mediaType"] == MEDIA_OCI_MANIFEST
        assert manifest_digest(reg.url, "multi/app", child["digest"]) == child["digest"]

    assert manifest_digest(reg.url, "multi/app", "list") == listed
    head = httpx.head(f"{reg.url}/v2/multi/app/manifests/list", headers={"Accept": MANIFEST_ACCEPT})
    assert head.headers["Content-Type"] == MEDIA_DOCKER_LIST
    # the per-platform manifests are untagged: only the two index tags are listed
    tags = httpx.get(f"{reg.url}/v2/multi/app/tags/list").json()["tags"]
    assert sorted(tags) == ["1.0", "list"]


def test_anonymous_catalog_pagination(anon_registry: RunningRegistry) -> None:
    reg = anon_registry
    pushed = push_many(reg.url, 5, 2)
    assert list(pushed) == [f"repo-{i:03d}" for i in range(5)]

    first = httpx.get(f"{reg.url}/v2/_catalog", params={"n": 2})
    assert first.json() == {"repositories": ["repo-000", "repo-001"]}
    assert first.headers["Link"] == '</v2/_catalog?last=repo-001&n=2>; rel="next"'

    with httpx.Client() as client:
        repos, pages = all_catalog_pages(client, reg, 2)
    assert repos == list(pushed)
    assert pages == 3

    tags = httpx.get(f"{reg.url}/v2/repo-003/tags/list").json()["tags"]
    assert tags == ["v000", "v001"]
    assert manifest_digest(reg.url, "repo-003", "v001") == pushed["repo-003"]["v001"]


def test_restart_keeps_port_and_storage(anon_registry: RunningRegistry) -> None:
    reg = anon_registry
    digest = push_image(reg.url, "keep/me", "1")
    port, pid = reg.port, reg.pid
    reg.restart()
    assert reg.running()
    assert (reg.port, reg.url) == (port, f"http://127.0.0.1:{port}")
    assert reg.pid != pid
    assert manifest_digest(reg.url, "keep/me", "1") == digest
    reg.stop()
    assert not reg.running()
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{reg.url}/v2/")
    reg.stop()  # idempotent


# -- htpasswd ------------------------------------------------------------------------------


def test_htpasswd_push_and_browse(basic_registry: RunningRegistry) -> None:
    reg = basic_registry
    unauth = httpx.get(f"{reg.url}/v2/")
    assert unauth.status_code == 401
    scheme, params = parse_www_authenticate(unauth.headers["WWW-Authenticate"])
    assert scheme == "basic"
    assert params["realm"]
    assert httpx.get(f"{reg.url}/v2/_catalog", auth=("alice", "wrong")).status_code == 401
    with pytest.raises(RuntimeError, match="401"):
        push_image(reg.url, "private/app", "1", auth=("alice", "wrong"))

    creds = ("alice", "alice-pw")
    digest = push_image(reg.url, "private/app", "1", auth=creds)
    index = push_image(reg.url, "private/app", "2", auth=creds, platforms=PLATFORMS)
    push_many(reg.url, 3, 1, auth=creds, repo_prefix="bulk")

    with httpx.Client(auth=creds) as client:
        catalog = client.get(f"{reg.url}/v2/_catalog").json()["repositories"]
        assert catalog == ["bulk-000", "bulk-001", "bulk-002", "private/app"]
        tags = client.get(f"{reg.url}/v2/private/app/tags/list").json()["tags"]
        assert sorted(tags) == ["1", "2"]
        repos, pages = all_catalog_pages(client, reg, 2)
        assert (repos, pages) == (catalog, 2)
    assert manifest_digest(reg.url, "private/app", "1", auth=creds) == digest
    assert manifest_digest(reg.url, "private/app", "2", auth=creds) == index


def test_htpasswd_password_change_is_picked_up_live(basic_registry: RunningRegistry) -> None:
    reg = basic_registry
    catalog = f"{reg.url}/v2/_catalog"
    pid = reg.pid
    assert httpx.get(catalog, auth=("alice", "alice-pw")).status_code == 200

    reg.set_password("alice", "rotated")
    assert httpx.get(catalog, auth=("alice", "alice-pw")).status_code == 401
    assert httpx.get(catalog, auth=("alice", "rotated")).status_code == 200

    reg.set_password("carol", "carol-pw")
    assert httpx.get(catalog, auth=("carol", "carol-pw")).status_code == 200
    reg.remove_user("carol")
    assert httpx.get(catalog, auth=("carol", "carol-pw")).status_code == 401
    assert reg.pid == pid  # no restart was needed


# -- token ---------------------------------------------------------------------------------


def test_token_push_and_browse(token_registry: RunningRegistry, token_server: TokenServer) -> None:
    reg = token_registry
    unauth = httpx.get(f"{reg.url}/v2/")
    assert unauth.status_code == 401
    scheme, params = parse_www_authenticate(unauth.headers["WWW-Authenticate"])
    assert scheme == "bearer"
    assert params["realm"] == token_server.realm
    assert params["service"] == token_server.service

    auth = RegistryAuth("alice", "alice-pw")
    digest = push_image(reg.url, "tok/app", "1", auth=auth)
    index = push_image(reg.url, "tok/app", "2", auth=auth, platforms=PLATFORMS)
    push_many(reg.url, 3, 1, auth=auth, repo_prefix="bulk")
    assert all(r.status == 200 for r in token_server.requests)
    assert set(token_server.grant_types()) == {None}  # docker's GET flow only

    with httpx.Client(auth=RegistryAuth("alice", "alice-pw")) as client:
        catalog = client.get(f"{reg.url}/v2/_catalog")
        assert catalog.status_code == 200
        assert catalog.json()["repositories"] == ["bulk-000", "bulk-001", "bulk-002", "tok/app"]
        tags = client.get(f"{reg.url}/v2/tok/app/tags/list").json()["tags"]
        assert sorted(tags) == ["1", "2"]
        page = client.get(f"{reg.url}/v2/_catalog", params={"n": 2})
        assert page.headers["Link"] == '</v2/_catalog?last=bulk-001&n=2>; rel="next"'
    assert manifest_digest(reg.url, "tok/app", "1", auth=("alice", "alice-pw")) == digest
    assert manifest_digest(reg.url, "tok/app", "2", auth=("alice", "alice-pw")) == index

    catalog_reqs = [r for r in token_server.requests if r.scopes == ("registry:catalog:*",)]
    assert catalog_reqs
    assert catalog_reqs[0].username == "alice"
    assert catalog_reqs[0].granted == (("registry", "catalog", ("*",)),)


def test_token_user_denied_catalog_can_still_list_tags(
    token_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_registry
    push_image(reg.url, "shared/app", "1", auth=("alice", "alice-pw"))
    token_server.clear_requests()

    with httpx.Client(auth=RegistryAuth("bob", "bob-pw")) as client:
        catalog = client.get(f"{reg.url}/v2/_catalog")
        assert catalog.status_code == 401
        _, params = parse_www_authenticate(catalog.headers["WWW-Authenticate"])
        assert params["scope"] == "registry:catalog:*"
        assert params["error"] == "insufficient_scope"
        tags = client.get(f"{reg.url}/v2/shared/app/tags/list")
        assert tags.status_code == 200
        assert tags.json()["tags"] == ["1"]

    by_scope = {r.scopes: r for r in token_server.requests}
    denied = by_scope[("registry:catalog:*",)]
    assert (denied.username, denied.status, denied.granted) == ("bob", 200, ())
    pulled = by_scope[("repository:shared/app:pull",)]
    assert pulled.granted == (("repository", "shared/app", ("pull",)),)


def test_token_refresh_token_flow(
    token_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_registry
    form = {
        "grant_type": "refresh_token",
        "refresh_token": REFRESH,
        "service": token_server.service,
        "scope": "registry:catalog:* repository:oauth/app:pull,push",
        "client_id": "reglink",
    }
    resp = httpx.post(token_server.realm, data=form)
    assert resp.status_code == 200
    body = resp.json()
    assert body["expires_in"] == 300
    assert body["scope"] == form["scope"]
    assert "refresh_token" not in body
    claims = jwt_part(body["access_token"], 1)
    assert claims["sub"] == "alice"
    assert claims["aud"] == token_server.service
    assert claims["iss"] == token_server.issuer

    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    assert httpx.get(f"{reg.url}/v2/_catalog", headers=bearer).status_code == 200

    # a token getter doing the OAuth2 refresh flow drives a whole push
    def via_refresh(challenge: BearerChallenge) -> str:
        data = dict(form, scope=" ".join(challenge.scopes))
        answer = httpx.post(challenge.realm, data=data)
        answer.raise_for_status()
        return str(answer.json()["access_token"])

    digest = push_image(reg.url, "oauth/app", "1", auth=via_refresh)
    assert manifest_digest(reg.url, "oauth/app", "1", auth=via_refresh) == digest
    assert set(token_server.grant_types()) == {"refresh_token"}
    assert {r.client_id for r in token_server.requests} == {"reglink"}

    # password grant with access_type=offline hands out a refresh token that works too
    offline = httpx.post(
        token_server.realm,
        data={
            "grant_type": "password",
            "username": "bob",
            "password": "bob-pw",
            "service": token_server.service,
            "scope": "repository:oauth/app:pull",
            "client_id": "reglink",
            "access_type": "offline",
        },
    )
    assert offline.status_code == 200
    new_refresh = offline.json()["refresh_token"]
    assert token_server.refresh_tokens[new_refresh] == "bob"
    again = httpx.post(token_server.realm, data=dict(form, refresh_token=new_refresh))
    assert jwt_part(again.json()["access_token"], 1)["sub"] == "bob"
    assert token_server.grant_types()[-2:] == ["password", "refresh_token"]


def test_token_server_rejects_bad_credentials(
    token_registry: RunningRegistry, token_server: TokenServer
) -> None:
    reg = token_registry
    assert get_token(token_server, "alice", "nope", "registry:catalog:*").status_code == 401
    assert get_token(token_server, "mallory", "x", "registry:catalog:*").status_code == 401
    anonymous = httpx.get(token_server.realm, params={"service": token_server.service})
    assert anonymous.status_code == 401
    bad_refresh = httpx.post(
        token_server.realm,
        data={"grant_type": "refresh_token", "refresh_token": "rt-unknown", "client_id": "x"},
    )
    assert bad_refresh.status_code == 401
    bad_password = httpx.post(
        token_server.realm,
        data={"grant_type": "password", "username": "alice", "password": "no", "client_id": "x"},
    )
    assert bad_password.status_code == 401
    assert [r.status for r in token_server.requests] == [401] * 5

    with pytest.raises(httpx.HTTPStatusError) as info:
        push_image(reg.url, "nope/app", "1", auth=("alice", "nope"))
    assert info.value.response.status_code == 401

    # tokens the registry must refuse: wrong audience, wrong issuer, expired
    access = [("registry", "catalog", ["*"])]
    for token in [
        token_server.issue_token("alice", access, audience="other-service"),
        token_server.issue_token("alice", access, issuer="someone-else"),
        token_server.issue_token("alice", access, expires_in=-120),
    ]:
        resp = httpx.get(f"{reg.url}/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401
    good = token_server.issue_token("alice", access)
    ok = httpx.get(f"{reg.url}/v2/_catalog", headers={"Authorization": f"Bearer {good}"})
    assert ok.status_code == 200


def test_token_kid_is_libtrust_format_and_x5c_also_accepted(
    tmp_path: Path, token_server: TokenServer, token_registry: RunningRegistry
) -> None:
    token = get_token(token_server, "alice", "alice-pw", "registry:catalog:*").json()["token"]
    header = jwt_part(token, 0)
    assert header["alg"] == "RS256"
    kid = str(header["kid"])
    assert kid == libtrust_key_id(token_server.public_key) == token_server.key_id
    groups = kid.split(":")
    assert len(groups) == 12
    assert all(len(g) == 4 and set(g) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for g in groups)
    bearer = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{token_registry.url}/v2/_catalog", headers=bearer).status_code == 200

    with (
        TokenServer(tmp_path / "x5c", users=USERS, key_id_mode="x5c") as x5c_server,
        start_registry(tmp_path, auth="token", token=x5c_server, name="x5c-registry") as reg,
    ):
        digest = push_image(reg.url, "x5c/app", "1", auth=("alice", "alice-pw"))
        token = get_token(x5c_server, "alice", "alice-pw", "registry:catalog:*").json()["token"]
        header = jwt_part(token, 0)
        assert "kid" not in header
        assert len(header["x5c"]) == 1  # type: ignore[arg-type]
        bearer = {"Authorization": f"Bearer {token}"}
        assert httpx.get(f"{reg.url}/v2/_catalog", headers=bearer).json() == {
            "repositories": ["x5c/app"]
        }
        assert manifest_digest(reg.url, "x5c/app", "1", auth=("alice", "alice-pw")) == digest
        # a token signed by the other server's key is refused
        foreign = token_server.issue_token("alice", [("registry", "catalog", ["*"])])
        resp = httpx.get(f"{reg.url}/v2/_catalog", headers={"Authorization": f"Bearer {foreign}"})
        assert resp.status_code == 401
