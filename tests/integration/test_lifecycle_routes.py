"""The lifecycle routes a project needs beyond linking: delete a build job, rotate its
signing secret, list one's projects, remove a member. Owners change; members only look."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from gateway.admin import create_project
from gateway.bootstrap import Container
from gateway.settings import Settings
from store.deliveries import job_secret
from store.secrets import SecretBox
from store.tables import BuildJob
from tests.conftest import auth

JOBS = "/v1/projects/demo/jobs"


def add_job(api: TestClient, token: str) -> str:
    added = api.post(
        JOBS, json={"name": "build-1", "webhook": "https://ci.test/h"}, headers=auth(token)
    )
    assert added.status_code == 201
    return str(added.json()["secret"])


def stored_secret(container: Container) -> str:
    with container.uow() as uow:
        job = uow.session.exec(select(BuildJob)).one()
        return job_secret(SecretBox(container.keys.store), job)


def test_an_owner_rotates_a_jobs_secret_and_deliveries_sign_with_the_new_one(
    api: TestClient, container: Container, project: dict[str, Any]
) -> None:
    first = add_job(api, project["owner_token"])
    refused = api.post(f"{JOBS}/build-1/secret", headers=auth(project["member_token"]))
    assert refused.status_code == 403 and stored_secret(container) == first
    rotated = api.post(f"{JOBS}/build-1/secret", headers=auth(project["owner_token"]))
    assert rotated.status_code == 200
    second = rotated.json()["secret"]
    assert second.startswith("whsec_") and second != first
    assert stored_secret(container) == second


def test_an_owner_deletes_a_job_and_it_is_gone(api: TestClient, project: dict[str, Any]) -> None:
    add_job(api, project["owner_token"])
    assert api.delete(f"{JOBS}/build-1", headers=auth(project["member_token"])).status_code == 403
    assert api.delete(f"{JOBS}/build-1", headers=auth(project["owner_token"])).status_code == 204
    assert api.get(JOBS, headers=auth(project["owner_token"])).json() == {"jobs": []}
    again = api.delete(f"{JOBS}/build-1", headers=auth(project["owner_token"]))
    assert (again.status_code, again.json()["error"]["code"]) == (404, "not_found")


def test_projects_lists_only_the_callers_own(
    api: TestClient, settings: Settings, project: dict[str, Any]
) -> None:
    other = create_project(settings, "other", "carol")["token"]
    mine = api.get("/v1/projects", headers=auth(project["member_token"])).json()
    assert mine == {"projects": [{"name": "demo", "role": "member"}]}
    assert api.get("/v1/projects", headers=auth(other)).json() == {
        "projects": [{"name": "other", "role": "owner"}]
    }


def test_an_owner_removes_a_member_but_never_the_last_owner(
    api: TestClient, project: dict[str, Any]
) -> None:
    owner, member = auth(project["owner_token"]), auth(project["member_token"])
    assert api.delete("/v1/projects/demo/members/alice", headers=member).status_code == 403
    last = api.delete("/v1/projects/demo/members/alice", headers=owner)
    assert (last.status_code, last.json()["error"]["code"]) == (409, "conflict")
    assert api.delete("/v1/projects/demo/members/bob", headers=owner).status_code == 204
    assert api.get("/v1/projects/demo/registries", headers=member).status_code == 404
    assert api.get("/v1/projects", headers=member).json() == {"projects": []}
