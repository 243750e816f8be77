"""The provider matrix: each public registry's documented behaviour reproduced locally (the
real distribution registry on TLS under a test CA standing in for the public roots, and
the token server configured as that provider's realm: service name, scope rules, catalog
refused, anonymous pulls), linked with what its docs tell people to type.

Each row links, verifies, browses, receives the config a build job gets, and pulls with
skopeo using it. reglink reaches each stand-in under the provider's own host name through
`tests.support.local_internet`; skopeo, which resolves names itself, reaches it as
`localhost:PORT` with the delivered auth entry. The token realms live on `localhost`
(another host than the registry's, and one skopeo reaches too); docs/registries.md gives
the values these rows type.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container, bootstrap
from gateway.settings import Settings
from tests.conftest import NamespacedRedis, auth, settings_for
from tests.integration.browse import link, repositories, settled
from tests.integration.test_deliveries import add_job, data, outcome, use, wait_events
from tests.support.local_internet import LocalInternet
from tests.support.registry import RunningRegistry, start_registry
from tests.support.skopeo import skopeo_inspect
from tests.support.tls import TestCa
from tests.support.tls_push import push_over_tls
from tests.support.token_server import TokenServer
from tests.support.webhook_receiver import WebhookReceiver

# A Google service-account key as people download it: ~2.3 kB, quotes and newlines
SERVICE_ACCOUNT_KEY = json.dumps(
    {
        "type": "service_account",
        "project_id": "my-project",
        "private_key_id": "0123456789abcdef" * 2,
        "private_key": "-----BEGIN PRIVATE KEY-----\n"
        + "\n".join(["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC" + "x" * 13] * 26)
        + "\n-----END PRIVATE KEY-----\n",
        "client_email": "puller@my-project.iam.gserviceaccount.com",
        "client_id": "123456789012345678901",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",
    },
    indent=2,
)
ACR_SP = "00000000-0000-0000-0000-000000000000"  # a service principal's app id
OCIR_FEDERATED = "axaxnpcrorw5/oracleidentitycloudservice/jdoe@example.com"


@dataclass(frozen=True)
class StandIn:
    """One provider's registry behaviour: its host, realm and accounts."""

    host: str
    images: tuple[str, ...]
    service: str = ""  # empty: Basic auth at the registry (htpasswd), no token realm
    realm_path: str = "/token"
    users: dict[str, str] = field(default_factory=dict)
    refresh_tokens: dict[str, str] = field(default_factory=dict)
    no_catalog: frozenset[str] = frozenset()  # users the catalog is refused to
    public: frozenset[str] = frozenset()  # repositories anyone may pull


STAND_INS = {
    "dockerhub": StandIn(
        "registry-1.docker.io",
        ("library/alpine:3.19", "docker-id/app:1.0"),
        service="registry.docker.io",
        users={"docker-id": "dckr_pat_2b3e"},
        no_catalog=frozenset({"docker-id"}),
    ),
    "ocir": StandIn(
        "iad.ocir.io",
        ("axaxnpcrorw5/app:1.0",),
        service="iad.ocir.io",
        realm_path="/20180419/docker/token",
        users={"axaxnpcrorw5/jdoe": "auth-token-1", OCIR_FEDERATED: "auth-token-2"},
    ),
    "ghcr": StandIn(
        "ghcr.io",
        ("octocat/app:1.0", "octocat/public-app:1.0"),
        service="ghcr.io",
        users={"octocat": "ghp_16C7e42F292c6912E7710c838347Ae178B4a"},
        no_catalog=frozenset({"octocat"}),
        public=frozenset({"octocat/public-app"}),
    ),
    "harbor": StandIn(
        "harbor.example.test",
        ("ci/app:1.0",),
        service="harbor-registry",
        realm_path="/service/token",
        users={"robot$ci+puller": "robot-secret"},
        no_catalog=frozenset({"robot$ci+puller"}),  # the catalog is for system admins
    ),
    "quay": StandIn(
        "quay.io",
        ("myorg/app:1.0",),
        service="quay.io",
        realm_path="/v2/auth",
        users={"myorg+ci": "robot-token"},
    ),
    "ecr": StandIn(
        "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        ("team/app:1.0",),
        users={"AWS": "ecr-token-1"},
    ),
    "gar": StandIn(
        "us-docker.pkg.dev",
        ("my-project/images/app:1.0",),
        service="us-docker.pkg.dev",
        realm_path="/v2/token",
        users={"_json_key": SERVICE_ACCOUNT_KEY},
    ),
    "acr": StandIn(
        "myregistry.azurecr.io",
        ("team/app:1.0",),
        service="myregistry.azurecr.io",
        realm_path="/oauth2/token",
        users={ACR_SP: "sp-password"},
        refresh_tokens={"acr-refresh-token": ACR_SP},
    ),
}


@dataclass(frozen=True)
class Row:
    """What a user types for one provider, and what reglink must make of it."""

    stand_in: str
    typed: str
    image: str
    auth: str = "basic"
    username: str | None = None
    secret: str | None = None
    repositories: tuple[str, ...] = ()
    catalog: str = "supported"
    key: str | None = None  # the delivered config's key; default: the canonical host


ROWS = {
    "dockerhub": Row("dockerhub", "docker.io", "library/alpine:3.19", username="docker-id",
                     secret="dckr_pat_2b3e", repositories=("library/alpine", "docker-id/app"),
                     catalog="unsupported", key="https://index.docker.io/v1/"),
    "dockerhub-v1-url": Row("dockerhub", "https://index.docker.io/v1/", "docker-id/app:1.0",
                            username="docker-id", secret="dckr_pat_2b3e",
                            repositories=("docker-id/app",), catalog="unsupported",
                            key="https://index.docker.io/v1/"),
    "ocir": Row("ocir", "iad.ocir.io", "axaxnpcrorw5/app:1.0", username="axaxnpcrorw5/jdoe",
                secret="auth-token-1"),
    "ocir-federated": Row("ocir", "iad.ocir.io", "axaxnpcrorw5/app:1.0", username=OCIR_FEDERATED,
                          secret="auth-token-2"),
    "ghcr-pat": Row("ghcr", "ghcr.io", "octocat/app:1.0", username="octocat",
                    secret="ghp_16C7e42F292c6912E7710c838347Ae178B4a",
                    repositories=("octocat/app",), catalog="unsupported"),
    "ghcr-public": Row("ghcr", "ghcr.io", "octocat/public-app:1.0", auth="anonymous",
                       repositories=("octocat/public-app",), catalog="unsupported"),
    "harbor-robot": Row("harbor", "https://harbor.example.test", "ci/app:1.0",
                        username="robot$ci+puller", secret="robot-secret",
                        repositories=("ci/app",), catalog="unsupported"),
    "quay-robot": Row("quay", "quay.io", "myorg/app:1.0", username="myorg+ci",
                      secret="robot-token"),
    "ecr": Row("ecr", "123456789012.dkr.ecr.us-east-1.amazonaws.com", "team/app:1.0",
               username="AWS", secret="ecr-token-1"),
    "gar-json-key": Row("gar", "us-docker.pkg.dev", "my-project/images/app:1.0",
                        username="_json_key", secret=SERVICE_ACCOUNT_KEY),
    "acr-service-principal": Row("acr", "myregistry.azurecr.io", "team/app:1.0",
                                 username=ACR_SP, secret="sp-password"),
    "acr-refresh-token": Row("acr", "myregistry.azurecr.io", "team/app:1.0", auth="oauth2",
                             username=ACR_SP, secret="acr-refresh-token"),
}  # fmt: skip


@pytest.fixture(scope="module")
def ca() -> TestCa:
    return TestCa("reglink test public roots")


@pytest.fixture(scope="module")
def stand_ins(
    tmp_path_factory: pytest.TempPathFactory, ca: TestCa
) -> Iterator[dict[str, RunningRegistry]]:
    """Every provider's stand-in, started once for the module."""
    root = tmp_path_factory.mktemp("providers")
    names = [s.host for s in STAND_INS.values()] + ["localhost", "127.0.0.1"]
    tls = ca.issue(root / "certs", names)
    ca_file = ca.write_ca(root / "ca.pem")
    running: dict[str, RunningRegistry] = {}
    servers: list[TokenServer] = []
    try:
        for key, spec in STAND_INS.items():
            server = None
            if spec.service:
                server = TokenServer(
                    root / f"{key}-token",
                    users=spec.users,
                    refresh_tokens=spec.refresh_tokens,
                    deny_catalog=spec.no_catalog,
                    allow_anonymous=bool(spec.public),
                    public=spec.public,
                    service=spec.service,
                    tls=tls,
                    realm_host="localhost",
                    realm_path=spec.realm_path,
                ).start()
                servers.append(server)
            registry = start_registry(
                root,
                name=key,
                auth="token" if server else "htpasswd",
                token=server,
                htpasswd_users=None if server else spec.users,
                tls=tls,
                ca_file=ca_file,
            )
            running[key] = registry
            basic = None if server else next(iter(spec.users.items()))
            push_over_tls(registry, ca.pem, *spec.images, basic=basic)
        yield running
    finally:
        for registry in running.values():
            registry.stop()
        for server in servers:
            server.stop()


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reglink.db'}"  # providers' HTTP is under test, not the store


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: NamespacedRedis) -> Settings:
    return settings_for(tmp_path, database_url, redis_client, allowed_networks=("127.0.0.0/8",))


@pytest.fixture
def container(
    settings: Settings, ca: TestCa, stand_ins: dict[str, RunningRegistry]
) -> Iterator[Container]:
    """reglink, resolving each provider's host to its stand-in and trusting the test CA
    as it trusts the public roots (so no --ca-file is needed, as for the real ones)."""
    local = LocalInternet()
    for key, spec in STAND_INS.items():
        local.serve(spec.host, stand_ins[key].port)
    built = bootstrap(settings, create_keys=True, internet=local.internet(roots_pem=ca.pem))
    yield built
    built.broker.close()
    built.store.engine.dispose()


def link_row(api: TestClient, token: str, name: str, row: Row, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "url": row.typed, "auth": row.auth, **extra}
    if row.username:
        body["username"] = row.username
    if row.secret:
        body["token" if row.auth == "oauth2" else "password"] = row.secret
    if row.repositories:
        body["repositories"] = list(row.repositories)
    link(api, token, **body)
    return settled(api, token, name)


@pytest.mark.parametrize("case", list(ROWS))
def test_provider_links_as_typed_verifies_browses_and_skopeo_pulls_with_the_delivered_config(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    stand_ins: dict[str, RunningRegistry],
    ca: TestCa,
    tmp_path: Path,
    case: str,
) -> None:
    row = ROWS[case]
    host = STAND_INS[row.stand_in].host
    token = project["owner_token"]
    linked = link_row(api, token, "r", row)
    assert linked["status"] == "verified", linked
    assert linked["url"] == f"https://{host}" and linked["catalog"] == row.catalog, linked
    assert (linked["catalog_note"] is not None) == (row.catalog == "unsupported")
    assert row.image.split(":")[0] in repositories(api, token, "r")

    with WebhookReceiver() as hooks:
        add_job(api, token, hooks, "ci")
        assert use(api, token, "ci", "r").status_code == 200
        delivered = data(wait_events(hooks, "ci", 1)[0])
    assert "ca" not in delivered  # public roots: nothing to trust specially
    auths = delivered["config"]["auths"]
    if row.auth == "anonymous":
        assert auths == {}
        entry = None
    else:
        assert list(auths) == [row.key or host]
        entry = auths[row.key or host]
        if row.auth == "oauth2":
            assert entry["identitytoken"] == row.secret

    local = f"localhost:{stand_ins[row.stand_in].port}"
    config = {"auths": {local: entry} if entry else {}}
    pulled = skopeo_inspect(local, row.image, config, tmp_path / "auth.json", ca_pem=ca.pem)
    assert pulled.returncode == 0, pulled.stderr


def test_ecr_token_links_with_its_expiry_and_an_update_rotates_it(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    stand_ins: dict[str, RunningRegistry],
) -> None:
    token = project["owner_token"]
    lapses = datetime.now(UTC) + timedelta(hours=12)
    linked = link_row(api, token, "ecr", ROWS["ecr"], expires_at=lapses.isoformat())
    assert linked["status"] == "verified" and linked["expires_at"] is not None, linked

    ecr = stand_ins["ecr"]
    ecr.set_password("AWS", "ecr-token-2")  # `aws ecr get-login-password`, 12 hours later
    try:
        later = (lapses + timedelta(hours=12)).isoformat()
        response = api.patch(
            "/v1/projects/demo/registries/ecr",
            json={"password": "ecr-token-2", "expires_at": later},
            headers=auth(token),
        )
        assert response.status_code == 202, response.text
        assert outcome(api, token, response.json()["command_id"])["status"] == "succeeded"
        rotated = settled(api, token, "ecr")
        assert rotated["version"] == 2 and rotated["expires_at"].startswith(later[:16]), rotated
    finally:
        ecr.set_password("AWS", "ecr-token-1")


def test_a_short_lived_google_access_token_is_refused_with_what_to_use_instead(
    api: TestClient, project: dict[str, Any]
) -> None:
    response = api.post(
        "/v1/projects/demo/registries",
        json={
            "name": "gar",
            "url": "us-docker.pkg.dev",
            "auth": "basic",
            "username": "oauth2accesstoken",
            "password": "ya29.a0AfB_byC",
        },
        headers=auth(project["owner_token"]),
    )
    assert response.status_code == 422, response.text
    assert "_json_key" in response.json()["error"]["message"]
