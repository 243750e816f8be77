"""What `/openapi.json` promises a generated client: named operations, typed answers, the
one error model under every refusal, and the rules the server enforces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from events.validation import NAME_PATTERN
from gateway.api import create_app
from gateway.bootstrap import bootstrap
from gateway.settings import Settings
from gateway.submit import IDEMPOTENCY_KEY_PATTERN

pytestmark = [pytest.mark.contract]

OPERATIONS = {
    "linkRegistry",
    "updateRegistry",
    "unlinkRegistry",
    "listRegistries",
    "showRegistry",
    "crawlRegistry",
    "listRepositories",
    "listTags",
    "showCommand",
    "addJob",
    "listJobs",
    "useRegistry",
    "dropRegistry",
    "listDeliveries",
    "retryDelivery",
    "showSealingKey",
    "listQueues",
    "listDeadLetters",
    "replayDeadLetters",
    "purgeDeadLetters",
    "checkHealth",
    "checkReadiness",
    "showMetrics",
    "getAsyncApi",
    "listProjects",
    "removeMember",
    "deleteJob",
    "rotateJobSecret",
    "listProjectDeadLetters",
    "replayProjectDeadLetters",
}
ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture
def document(tmp_path: Path) -> dict[str, Any]:
    settings = Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'db'}")
    container = bootstrap(settings, create_keys=True)
    try:
        with TestClient(create_app(container)) as client:
            served: dict[str, Any] = client.get("/openapi.json").json()
        return served
    finally:
        container.store.engine.dispose()


def operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{method.upper()} {path}", operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_operation_is_named_for_what_it_does(document: dict[str, Any]) -> None:
    assert {op["operationId"] for _, op in operations(document)} == OPERATIONS


def test_every_refusal_is_the_error_model_the_server_sends(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for label, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and label != "GET /readyz":
                assert response["content"]["application/json"]["schema"] == ERROR, (label, status)


def test_every_answer_is_typed(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        for status, response in operation["responses"].items():
            if status in ("200", "201", "202") and label != "GET /metrics":
                assert "$ref" in response["content"]["application/json"]["schema"], label


def test_refusals_the_routes_can_give_are_declared(document: dict[str, Any]) -> None:
    for label, operation in operations(document):
        declared = set(operation["responses"])
        if operation.get("security"):
            assert "401" in declared, label
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in declared, label
        if operation.get("requestBody"):
            assert {"400", "413"} <= declared, label
        if "{project}" in label:
            assert "404" in declared, label
        if label.startswith(("POST", "PATCH", "PUT", "DELETE")) and "{project}" in label:
            assert {"403", "409"} <= declared, label
    link = document["paths"]["/v1/projects/{project}/registries"]["post"]
    assert "503" in link["responses"]


def test_the_rules_the_server_enforces_are_in_the_schema(document: dict[str, Any]) -> None:
    link = document["paths"]["/v1/projects/{project}/registries"]["post"]
    parameters = {p["name"]: p for p in link["parameters"]}
    assert parameters["project"]["schema"]["pattern"] == NAME_PATTERN
    assert parameters["idempotency-key"]["schema"]["pattern"] == IDEMPOTENCY_KEY_PATTERN
    assert parameters["x-correlation-id"]["schema"]["maxLength"] == 100
    body = document["components"]["schemas"]["LinkBody"]["properties"]
    assert (body["name"]["pattern"], body["name"]["maxLength"]) == (NAME_PATTERN, 64)
    assert body["description"]["maxLength"] == 500
    assert body["url"]["maxLength"] == 2048
    assert body["repositories"]["maxItems"] == 1000
    assert "pattern" in body["repositories"]["items"]
    rules = document["components"]["schemas"]["LinkBody"]["allOf"]
    needs = {
        rule["if"]["properties"]["auth"]["const"]: rule["then"]["required"]
        for rule in rules
        if "required" in rule.get("then", {})
    }
    assert needs == {"basic": ["username", "password"], "oauth2": ["token"]}
    queue = document["paths"]["/v1/ops/dead-letters"]["get"]["parameters"][0]["schema"]
    assert "commands" in queue["pattern"]
