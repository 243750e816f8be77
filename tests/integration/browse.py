"""Link a registry through the API and wait for what the workers make of it."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.polling import wait_until


def link(api: TestClient, token: str, /, **body: Any) -> str:
    response = api.post("/v1/projects/demo/registries", json=body, headers=auth(token))
    assert response.status_code == 202, response.text
    return str(response.json()["command_id"])


def registry(api: TestClient, token: str, name: str) -> dict[str, Any]:
    response = api.get(f"/v1/projects/demo/registries/{name}", headers=auth(token))
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def settled(api: TestClient, token: str, name: str, timeout: float = 30) -> dict[str, Any]:
    """The registry once verification decided (and, when verified, the first crawl ran)."""

    def probe() -> dict[str, Any] | None:
        response = api.get(f"/v1/projects/demo/registries/{name}", headers=auth(token))
        if response.status_code == 404:
            return None  # the command actor has not recorded it yet
        doc: dict[str, Any] = response.json()
        if doc["status"] == "pending":
            return None
        if doc["status"] == "verified" and doc["crawl_finished_at"] is None:
            return None
        return doc

    return wait_until(probe, timeout=timeout, what=f"registry {name} settled")


def repositories(api: TestClient, token: str, name: str) -> list[str]:
    response = api.get(f"/v1/projects/demo/registries/{name}/repositories", headers=auth(token))
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()["repositories"]]


def tags(api: TestClient, token: str, name: str, repo: str) -> dict[str, dict[str, Any]]:
    response = api.get(
        f"/v1/projects/demo/registries/{name}/repositories/{repo}/tags", headers=auth(token)
    )
    assert response.status_code == 200, response.text
    return {row["tag"]: row for row in response.json()["tags"]}


def registries_listed(api: TestClient, token: str, *, all: bool = False) -> list[str]:
    response = api.get(f"/v1/projects/demo/registries?all={str(all).lower()}", headers=auth(token))
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()["registries"]]
