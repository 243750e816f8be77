"""schemathesis against the running API, as an owner, a member and an outsider of one
project: no server error, every answer in the declared schema with a declared status,
and no 2xx the caller's role forbids.

Cases come from schemathesis's own strategies, valid and invalid ones, driven by
hypothesis here rather than by schemathesis's pytest plugin, so the run does not depend
on pytest internals the plugin reaches into."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.bootstrap import Container
from store.identity import is_operator, role_in
from tests.contract.conftest import Caller

pytestmark = [pytest.mark.contract, pytest.mark.postgres, pytest.mark.redis]

DEFAULT_MAX_EXAMPLES = 25  # per operation; keeps the run well under a minute on 2 cores
# operations that need an owner of the project they name; the rest need membership
OWNER_ONLY = {
    "linkRegistry",
    "updateRegistry",
    "unlinkRegistry",
    "addJob",
    "useRegistry",
    "dropRegistry",
    "retryDelivery",
}
# A schema-valid request may still break a rule JSON Schema cannot say (plain http to a
# host not listed as insecure, an auth type and the fields it takes, a stale version):
# those get a 422 with the reason, so "valid data is accepted" is not checked.
SEMANTIC_CHECKS = [positive_data_acceptance]
OPERATOR_ONLY = {"listQueues", "listDeadLetters", "replayDeadLetters", "purgeDeadLetters"}


def may_succeed(container: Container, operation_id: str, user: str, project: str | None) -> bool:
    """Whether the caller's role allows a 2xx on this operation in this project."""
    with container.uow() as uow:
        if operation_id in OPERATOR_ONLY:
            return is_operator(uow.session, user)
        if project is None:
            return True
        found = role_in(uow.session, project, user)
        if found is None:
            return False
        return found[1] == "owner" if operation_id in OWNER_ONLY else True


def check_as_every_caller(
    case: schemathesis.Case, container: Container, callers: list[Caller]
) -> None:
    for caller in callers:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {caller.token}"}, excluded_checks=SEMANTIC_CHECKS
        )
        if 200 <= response.status_code < 300 and case.operation.definition.raw.get("security"):
            project = (case.path_parameters or {}).get("project")
            operation_id = case.operation.definition.raw["operationId"]
            assert may_succeed(container, operation_id, caller.user, project), (
                f"{caller.role} {caller.user} got {response.status_code} "
                f"from {operation_id} in {project!r}"
            )


def test_api_keeps_its_published_contract(
    api_schema: Any, populated: Container, callers: list[Caller]
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 20, "every route is in the document"
    for operation in operations:
        cases = st.one_of(
            operation.as_strategy(schemathesis.GenerationMode.POSITIVE),
            operation.as_strategy(schemathesis.GenerationMode.NEGATIVE),
        )

        @settings(
            max_examples=DEFAULT_MAX_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def check(case: schemathesis.Case) -> None:
            check_as_every_caller(case, populated, callers)

        check()
