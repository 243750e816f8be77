"""A self-hosted registry served with a private CA: it verifies only once its CA is given
(trusted for it alone), a certificate error says whose certificate it is and what to do,
and build jobs receive the CA with the config (skopeo pulls with both)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.bootstrap import Container, bootstrap
from gateway.settings import Settings
from tests.conftest import NamespacedRedis, auth, settings_for
from tests.integration.browse import link, registry, repositories, settled
from tests.integration.test_deliveries import add_job, data, outcome, use, wait_events
from tests.support.local_internet import LocalInternet
from tests.support.registry import RunningRegistry, start_registry
from tests.support.skopeo import skopeo_inspect
from tests.support.tls import TestCa
from tests.support.tls_push import push_over_tls
from tests.support.token_server import TokenServer
from tests.support.webhook_receiver import WebhookReceiver

HOST = "registry.corp.test"
CA_NAME = "Corp Private CA"
USERS = {"ci": "ci-pw"}


@pytest.fixture(scope="module")
def ca() -> TestCa:
    return TestCa(CA_NAME)


@pytest.fixture(scope="module")
def corp_registry(
    tmp_path_factory: pytest.TempPathFactory, ca: TestCa
) -> Iterator[RunningRegistry]:
    """The real registry on https under the private CA, token auth with the realm on
    another host (localhost, which skopeo reaches too), served under the same CA."""
    root = tmp_path_factory.mktemp("corp")
    tls = ca.issue(root / "certs", [HOST, "localhost", "127.0.0.1"])
    ca_file = ca.write_ca(root / "ca.pem")
    with (
        TokenServer(root / "token", users=USERS, tls=tls, realm_host="localhost") as server,
        start_registry(root, auth="token", token=server, tls=tls, ca_file=ca_file) as running,
    ):
        push_over_tls(running, ca.pem, "team/app:1.0")
        yield running


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'reglink.db'}"  # TLS is under test here, not the store


@pytest.fixture
def settings(tmp_path: Path, database_url: str, redis_client: NamespacedRedis) -> Settings:
    return settings_for(tmp_path, database_url, redis_client, allowed_networks=("127.0.0.0/8",))


@pytest.fixture
def container(settings: Settings, corp_registry: RunningRegistry) -> Iterator[Container]:
    local = LocalInternet()
    local.serve(HOST, corp_registry.port)
    built = bootstrap(settings, create_keys=True, internet=local.internet())
    yield built
    built.broker.close()
    built.store.engine.dispose()


def link_corp(api: TestClient, token: str, name: str, **extra: Any) -> dict[str, Any]:
    link(api, token, name=name, url=HOST, auth="basic", username="ci", password="ci-pw", **extra)
    return settled(api, token, name)


def test_without_its_ca_the_link_fails_with_tls_error_naming_the_certificate_and_the_fix(
    all_workers: Container, api: TestClient, project: dict[str, Any]
) -> None:
    failed = link_corp(api, project["owner_token"], "corp")
    assert failed["status"] == "failed" and failed["reason"] == "tls_error", failed
    message = failed["message"]
    assert f"{HOST}:443" in message and "not trusted" in message, message
    assert f"CN={CA_NAME}" in message and f"CN={HOST}" in message, message  # issuer, subject
    assert "--ca-file" in message, message


def test_with_its_ca_it_verifies_crawls_and_jobs_get_the_ca_skopeo_pulls_with(
    all_workers: Container,
    api: TestClient,
    project: dict[str, Any],
    ca: TestCa,
    corp_registry: RunningRegistry,
    tmp_path: Path,
) -> None:
    token = project["owner_token"]
    linked = link_corp(api, token, "corp", ca_pem=ca.pem)
    assert linked["status"] == "verified" and linked["url"] == f"https://{HOST}", linked
    assert repositories(api, token, "corp") == ["team/app"]
    assert corp_registry.token is not None
    assert {r.username for r in corp_registry.token.requests} == {"ci"}  # the realm over TLS

    with WebhookReceiver() as hooks:
        add_job(api, token, hooks, "ci")
        assert use(api, token, "ci", "corp").status_code == 200
        delivered = data(wait_events(hooks, "ci", 1)[0])
    assert delivered["ca"] == ca.pem
    entry = delivered["config"]["auths"][HOST]
    local = f"localhost:{corp_registry.port}"  # skopeo reaches the stand-in by this name
    config = {"auths": {local: entry}}
    pulled = skopeo_inspect(local, "team/app:1.0", config, tmp_path / "a.json", ca_pem=ca.pem)
    assert pulled.returncode == 0, pulled.stderr
    other = TestCa().pem
    untrusted = skopeo_inspect(local, "team/app:1.0", config, tmp_path / "b.json", ca_pem=other)
    assert untrusted.returncode != 0 and "certificate" in untrusted.stderr, untrusted.stderr


def test_a_ca_is_trusted_for_its_registry_alone_and_update_adds_or_drops_it(
    all_workers: Container, api: TestClient, project: dict[str, Any], ca: TestCa
) -> None:
    token = project["owner_token"]
    assert link_corp(api, token, "with-ca", ca_pem=ca.pem)["status"] == "verified"
    assert link_corp(api, token, "without")["reason"] == "tls_error"  # same host, no CA

    response = api.patch(
        "/v1/projects/demo/registries/without", json={"ca_pem": ca.pem}, headers=auth(token)
    )
    assert response.status_code == 202, response.text
    assert outcome(api, token, response.json()["command_id"])["status"] == "succeeded"
    assert registry(api, token, "without")["status"] == "verified"

    response = api.patch(
        "/v1/projects/demo/registries/with-ca", json={"ca_pem": ""}, headers=auth(token)
    )
    dropped = outcome(api, token, response.json()["command_id"])
    assert dropped["status"] == "failed" and dropped["error"]["code"] == "tls_error", dropped
    assert registry(api, token, "with-ca")["status"] == "update_failed"  # the CA stays in force


@pytest.mark.parametrize(
    ("ca_pem", "said"),
    [
        ("not a certificate", "not PEM certificates"),
        ("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n", "only certificates"),
        ("x" * 70_000, "at most"),
    ],
)
def test_a_ca_that_is_not_certificates_is_refused_at_once(
    api: TestClient, project: dict[str, Any], ca_pem: str, said: str
) -> None:
    response = api.post(
        "/v1/projects/demo/registries",
        json={"name": "corp", "url": HOST, "ca_pem": ca_pem},
        headers=auth(project["owner_token"]),
    )
    assert response.status_code == 422, response.text
    assert said in response.json()["error"]["message"]
