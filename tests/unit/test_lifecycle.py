"""The registry lifecycle, rule by rule, against an in-memory unit of work (no I/O)."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import pytest

from events.envelope import Envelope
from events.errors import Conflict
from events.messages import (
    CrawlRegistry,
    CrawlRequested,
    CredentialsExpiring,
    CredentialsFailing,
    LinkRegistry,
    Message,
    RegistryLinkRequested,
    RegistryUnlinked,
    RegistryUpdated,
    RegistryUpdateFailed,
    RegistryUpdateRequested,
    RegistryVerificationFailed,
    RegistryVerified,
    UnlinkRegistry,
    UpdateRegistry,
)
from store import lifecycle
from store.command_records import OPEN
from store.lifecycle import (
    BUMPS,
    STATUSES,
    TRANSITIONS,
    USABLE,
    Failure,
    Step,
)
from store.secrets import Sealed
from store.tables import CommandRecord, Registry, RegistryUpdate

PROJECT = "demo"
DETAILS: dict[str, Any] = {
    "name": "hub",
    "url": "https://registry.example.test",
    "description": "",
    "auth": "basic",
    "username": "ci",
    "repositories": [],
    "expires_at": None,
}
SECRET = Sealed("wrapped", "cipher")
NEW_SECRET = Sealed("wrapped-2", "cipher-2")
EXPIRY = datetime(2030, 1, 1, tzinfo=UTC)
UNAUTHORIZED = Failure("unauthorized", "the registry refused the credentials")


class FakeUnit:
    """The lifecycle's view of a unit of work, in memory."""

    def __init__(self) -> None:
        self.proposals: dict[str, RegistryUpdate] = {}
        self.commands: dict[str, CommandRecord] = {}
        self.secrets: dict[str, Sealed] = {}
        self.dropped: set[str] = set()
        self.outbox: list[Envelope] = []
        self.audits: list[str] = []

    def add(self, row: Any) -> None:
        if isinstance(row, RegistryUpdate):
            self.proposals[row.id] = row
        if isinstance(row, CommandRecord):
            self.commands[row.id] = row

    def flush(self) -> None:
        pass

    def proposal(self, update_id: str) -> RegistryUpdate | None:
        return self.proposals.get(update_id)

    def command(self, command_id: str) -> CommandRecord | None:
        return self.commands.get(command_id)

    def open_commands(self, registry_id: str) -> list[CommandRecord]:
        return [
            c for c in self.commands.values() if c.registry_id == registry_id and c.status in OPEN
        ]

    def replace_secret(self, registry_id: str, host: str, sealed: Sealed | None) -> None:
        self.secrets.pop(registry_id, None)
        if sealed is not None:
            self.secrets[registry_id] = sealed

    def drop_catalog(self, registry_id: str) -> None:
        self.dropped.add(registry_id)

    def emit(self, envelope: Envelope) -> None:
        self.outbox.append(envelope)

    def audit(self, action: str, **_fields: Any) -> None:
        self.audits.append(action)

    def events(self) -> list[str]:
        return [e.type for e in self.outbox]

    def running(self, command: Message, command_id: str, registry: Registry | None) -> Envelope:
        """A command applied and waiting for its effect, and the envelope it came in."""
        self.commands[command_id] = CommandRecord(
            id=command_id,
            type=command.TYPE,
            project=PROJECT,
            actor="alice",
            correlation_id=command_id,
            status="running",
            registry_id=registry.id if registry else None,
        )
        return Envelope.wrap(command, command_id=command_id, actor="alice")


def linked(unit: FakeUnit, status: str | None = "pending") -> Registry:
    """A registry in `status`, reached the way the lifecycle reaches it."""
    cause = unit.running(
        LinkRegistry(project=PROJECT, name="hub", url=DETAILS["url"]), "c-link", None
    )
    registry = lifecycle.link(
        unit, project_id="p1", project=PROJECT, details=DETAILS, sealed=SECRET, cause=cause
    )
    unit.commands["c-link"].registry_id = registry.id
    if status in (None, "pending"):
        return registry
    if status == "unlinked":
        lifecycle.unlink(unit, registry, project=PROJECT, jobs=[], cause=cause)
        return registry
    if status == "failed":
        lifecycle.verification_finished(
            unit, registry, project=PROJECT, cause=cause, failure=UNAUTHORIZED
        )
        return registry
    lifecycle.verification_finished(
        unit, registry, project=PROJECT, cause=cause, catalog="supported"
    )
    if status == "update_failed":
        proposal = propose(unit, registry, "c-setup")
        lifecycle.update_finished(
            unit, registry, proposal, project=PROJECT, cause=cause, failure=UNAUTHORIZED
        )
    elif status == "degraded":
        lifecycle.rechecked(unit, registry, project=PROJECT, cause=cause, failure=UNAUTHORIZED)
    elif status == "expiring":
        lifecycle.rechecked(unit, registry, project=PROJECT, cause=cause, expiring_at=EXPIRY)
    assert registry.status == status
    unit.outbox.clear()
    return registry


def propose(
    unit: FakeUnit, registry: Registry, command_id: str, sealed: Sealed | None = NEW_SECRET
) -> RegistryUpdate:
    cause = unit.running(UpdateRegistry(project=PROJECT, name="hub"), command_id, registry)
    lifecycle.update(
        unit,
        registry,
        project=PROJECT,
        details={**DETAILS, "description": command_id},
        sealed=sealed,
        keep_secret=sealed is None,
        cause=cause,
        changes=["description"],
    )
    assert registry.pending_update_id is not None
    return unit.proposals[registry.pending_update_id]


def take(unit: FakeUnit, registry: Registry, step: Step) -> None:
    """Ask the lifecycle for `step` the way its handler does."""
    cause = unit.running(CrawlRegistry(project=PROJECT, name="hub"), f"c-{step}", registry)
    if step is Step.VERIFY_PASSED:
        lifecycle.verification_finished(
            unit, registry, project=PROJECT, cause=cause, catalog="supported"
        )
    elif step is Step.VERIFY_FAILED:
        lifecycle.verification_finished(
            unit, registry, project=PROJECT, cause=cause, failure=UNAUTHORIZED
        )
    elif step in (Step.RELINK, Step.PROPOSE):
        lifecycle.check(registry, lifecycle.update_step(registry))
        if lifecycle.update_step(registry) is not step:
            raise Conflict("another kind of update")
        propose_or_relink(unit, registry, cause)
    elif step in (Step.UPDATE_APPLIED, Step.UPDATE_REFUSED):
        lifecycle.check(registry, step)
        proposal = propose(unit, registry, f"c-proposal-{step}")
        unit.outbox.clear()
        failure = UNAUTHORIZED if step is Step.UPDATE_REFUSED else None
        lifecycle.update_finished(
            unit, registry, proposal, project=PROJECT, cause=cause, failure=failure
        )
    elif step is Step.CHECK_FAILED:
        lifecycle.check(registry, step)
        lifecycle.rechecked(unit, registry, project=PROJECT, cause=cause, failure=UNAUTHORIZED)
    elif step is Step.CHECK_EXPIRING:
        lifecycle.check(registry, step)
        lifecycle.rechecked(unit, registry, project=PROJECT, cause=cause, expiring_at=EXPIRY)
    elif step is Step.CHECK_PASSED:
        lifecycle.check(registry, step)
        lifecycle.rechecked(unit, registry, project=PROJECT, cause=cause)
    elif step is Step.REQUEST_CRAWL:
        lifecycle.request_crawl(unit, registry, project=PROJECT, cause=cause)
    elif step is Step.UNLINK:
        lifecycle.unlink(unit, registry, project=PROJECT, jobs=[], cause=cause)
    else:
        raise AssertionError(f"no way to take {step}")


def propose_or_relink(unit: FakeUnit, registry: Registry, cause: Envelope) -> None:
    lifecycle.update(
        unit,
        registry,
        project=PROJECT,
        details={**DETAILS, "description": "new"},
        sealed=NEW_SECRET,
        keep_secret=False,
        cause=cause,
        changes=["description"],
    )


EVENTS: dict[Step, str | None] = {
    Step.LINK: RegistryLinkRequested.TYPE,
    Step.VERIFY_PASSED: RegistryVerified.TYPE,
    Step.VERIFY_FAILED: RegistryVerificationFailed.TYPE,
    Step.RELINK: RegistryLinkRequested.TYPE,
    Step.PROPOSE: RegistryUpdateRequested.TYPE,
    Step.UPDATE_APPLIED: RegistryUpdated.TYPE,
    Step.UPDATE_REFUSED: RegistryUpdateFailed.TYPE,
    Step.CHECK_FAILED: CredentialsFailing.TYPE,  # when the status changes
    Step.CHECK_EXPIRING: CredentialsExpiring.TYPE,  # when the status changes
    Step.CHECK_PASSED: None,
    Step.REQUEST_CRAWL: CrawlRequested.TYPE,
    Step.UNLINK: RegistryUnlinked.TYPE,
}
ALLOWED = sorted(
    ((status, step, to) for (status, step), to in TRANSITIONS.items() if status is not None),
    key=str,
)
REFUSED = sorted(  # a link makes a new registry: an existing one is a taken name (pre-check)
    (
        (status, step)
        for status in STATUSES
        for step in Step
        if (status, step) not in TRANSITIONS and step is not Step.LINK
    ),
    key=str,
)


def test_a_link_starts_pending_with_its_secret_and_asks_for_verification() -> None:
    unit = FakeUnit()
    registry = linked(unit)
    assert (registry.status, registry.version, registry.active_name) == ("pending", 1, "hub")
    assert unit.secrets[registry.id] == SECRET
    assert unit.events() == [RegistryLinkRequested.TYPE]
    assert unit.commands["c-link"].status == "running", "settled by the verification"


@pytest.mark.parametrize(("status", "step", "to"), ALLOWED)
def test_every_transition_lands_where_the_table_says(status: str, step: Step, to: str) -> None:
    unit = FakeUnit()
    registry = linked(unit, status)
    version = registry.version
    unit.outbox.clear()
    take(unit, registry, step)
    assert registry.status == to
    assert registry.version == version + (1 if step in BUMPS else 0), "bumped in BUMPS only"
    expected = EVENTS[step]
    if step in (Step.CHECK_FAILED, Step.CHECK_EXPIRING) and status == to:
        expected = None  # announced once, not at every check
    assert unit.events()[-1:] == ([expected] if expected else [])
    assert [p for p in unit.proposals.values() if p.status == "pending"] == (
        [unit.proposals[registry.pending_update_id]] if step is Step.PROPOSE else []
    ), "no proposal is left pending but the one just proposed"


@pytest.mark.parametrize(("status", "step"), REFUSED)
def test_every_other_step_is_refused_and_changes_nothing(status: str, step: Step) -> None:
    unit = FakeUnit()
    registry = linked(unit, status)
    before = registry.model_dump()
    unit.outbox.clear()
    with pytest.raises(Conflict):
        take(unit, registry, step)
    assert registry.model_dump() == before
    assert unit.events() == []


def test_refusals_tell_the_caller_what_to_do() -> None:
    unit = FakeUnit()
    with pytest.raises(Conflict, match="still being verified"):
        lifecycle.check(linked(unit, "pending"), Step.PROPOSE)
    with pytest.raises(Conflict, match="fix it with an update, or unlink it"):
        lifecycle.check(linked(FakeUnit(), "failed"), Step.REQUEST_CRAWL)


def test_verification_settles_the_link_command_with_its_outcome() -> None:
    unit = FakeUnit()
    registry = linked(unit)
    take(unit, registry, Step.VERIFY_FAILED)
    assert unit.commands["c-verify_failed"].status == "failed"
    assert unit.commands["c-verify_failed"].error_code == "unauthorized"
    other = FakeUnit()
    good = linked(other)
    take(other, good, Step.VERIFY_PASSED)
    assert other.commands["c-verify_passed"].status == "succeeded"
    assert good.catalog == "supported" and good.verified_at is not None


def test_an_applied_update_puts_its_details_and_secret_in_force() -> None:
    unit = FakeUnit()
    registry = linked(unit, "verified")
    proposal = propose(unit, registry, "c-update")
    assert registry.description == "", "the details in force stay while it is verified"
    assert unit.secrets[registry.id] == SECRET
    cause = Envelope.wrap(UpdateRegistry(project=PROJECT, name="hub"), command_id="c-update")
    lifecycle.update_finished(
        unit, registry, proposal, project=PROJECT, cause=cause, catalog="supported"
    )
    assert (registry.status, registry.version, registry.description) == ("verified", 2, "c-update")
    assert unit.secrets[registry.id] == NEW_SECRET
    assert (proposal.status, proposal.ciphertext, proposal.wrapped_key) == ("applied", None, None)
    assert unit.commands["c-update"].status == "succeeded"
    assert registry.pending_update_id is None


def test_a_refused_update_keeps_the_details_in_force_and_shreds_the_proposal() -> None:
    unit = FakeUnit()
    registry = linked(unit, "verified")
    proposal = propose(unit, registry, "c-update")
    cause = Envelope.wrap(UpdateRegistry(project=PROJECT, name="hub"), command_id="c-update")
    lifecycle.update_finished(
        unit, registry, proposal, project=PROJECT, cause=cause, failure=UNAUTHORIZED
    )
    assert (registry.status, registry.reason, registry.version) == (
        "update_failed",
        "unauthorized",
        1,
    )
    assert unit.secrets[registry.id] == SECRET
    assert (proposal.status, proposal.ciphertext) == ("failed", None)
    record = unit.commands["c-update"]
    assert (record.status, record.error_code) == ("failed", "unauthorized")


def test_a_newer_update_supersedes_the_waiting_one_and_ends_its_command() -> None:
    unit = FakeUnit()
    registry = linked(unit, "verified")
    first = propose(unit, registry, "c-first")
    second = propose(unit, registry, "c-second")
    assert (first.status, first.ciphertext, first.wrapped_key) == ("superseded", None, None)
    assert second.status == "pending" and registry.pending_update_id == second.id
    assert unit.commands["c-first"].status == "failed"
    assert "superseded" in (unit.commands["c-first"].error_message or "")
    assert unit.commands["c-second"].status == "running"
    assert registry.version == 1, "a proposal does not move the version"


def test_a_stale_proposal_is_not_the_one_in_force() -> None:
    unit = FakeUnit()
    registry = linked(unit, "verified")
    first = propose(unit, registry, "c-first")
    propose(unit, registry, "c-second")
    assert lifecycle.proposal_of(unit, registry, first.id) is None


def test_unlink_ends_everything_in_progress_and_destroys_the_secret() -> None:
    unit = FakeUnit()
    registry = linked(unit, "verified")
    proposal = propose(unit, registry, "c-update")
    crawl = unit.running(CrawlRegistry(project=PROJECT, name="hub"), "c-crawl", registry)
    lifecycle.request_crawl(unit, registry, project=PROJECT, cause=crawl)
    cause = unit.running(UnlinkRegistry(project=PROJECT, name="hub"), "c-unlink", registry)
    lifecycle.unlink(unit, registry, project=PROJECT, jobs=["build-1"], cause=cause)
    assert (registry.status, registry.active_name, registry.version) == ("unlinked", None, 2)
    assert registry.id not in unit.secrets and registry.id in unit.dropped
    assert (proposal.status, proposal.ciphertext) == ("superseded", None)
    assert unit.commands["c-unlink"].status == "succeeded"
    assert unit.commands["c-update"].status == unit.commands["c-crawl"].status == "failed"


def test_unlinking_a_registry_still_being_verified_fails_its_link_command() -> None:
    unit = FakeUnit()
    registry = linked(unit)
    cause = unit.running(UnlinkRegistry(project=PROJECT, name="hub"), "c-unlink", registry)
    lifecycle.unlink(unit, registry, project=PROJECT, jobs=[], cause=cause)
    assert unit.commands["c-link"].status == "failed"


def test_relink_applies_new_details_at_once_and_verifies_them_as_the_next_version() -> None:
    unit = FakeUnit()
    registry = linked(unit, "failed")
    cause = unit.running(UpdateRegistry(project=PROJECT, name="hub"), "c-fix", registry)
    propose_or_relink(unit, registry, cause)
    assert (registry.status, registry.version, registry.reason) == ("pending", 2, None)
    assert (registry.description, unit.secrets[registry.id]) == ("new", NEW_SECRET)
    assert registry.pending_update_id is None
    lifecycle.verification_finished(
        unit, registry, project=PROJECT, cause=cause, catalog="supported"
    )
    assert unit.commands["c-fix"].status == "succeeded", "the update ends with its verification"


def test_rechecks_announce_a_change_once_and_recover() -> None:
    unit = FakeUnit()
    registry = linked(unit, "verified")
    take(unit, registry, Step.CHECK_FAILED)
    take(unit, registry, Step.CHECK_FAILED)
    assert unit.events() == [CredentialsFailing.TYPE]
    assert unit.outbox[0].data["reason"] == "unauthorized"
    take(unit, registry, Step.CHECK_PASSED)
    assert (registry.status, registry.reason) == ("verified", None)


def test_a_passing_recheck_keeps_the_reason_a_refused_update_left() -> None:
    unit = FakeUnit()
    registry = linked(unit, "update_failed")
    take(unit, registry, Step.CHECK_PASSED)
    assert (registry.status, registry.reason) == ("update_failed", "unauthorized")


def test_a_settled_command_keeps_its_outcome() -> None:
    unit = FakeUnit()
    registry = linked(unit)
    cause = Envelope.wrap(
        LinkRegistry(project=PROJECT, name="hub", url=DETAILS["url"]), command_id="c-link"
    )
    lifecycle.verification_finished(
        unit, registry, project=PROJECT, cause=cause, catalog="supported"
    )
    lifecycle.abandon(unit, cause, "too late")
    assert unit.commands["c-link"].status == "succeeded"


@pytest.mark.parametrize("seed", range(20))
def test_versions_only_move_forward_and_no_proposal_outlives_its_turn(seed: int) -> None:
    rng = random.Random(seed)
    unit = FakeUnit()
    registry = linked(unit)
    for _ in range(40):
        steps = [s for s in Step if lifecycle.allowed(registry, s) and s is not Step.LINK]
        if not steps:
            break
        version = registry.version
        take(unit, registry, rng.choice(steps))
        assert registry.version >= version
        waiting = [p for p in unit.proposals.values() if p.status == "pending"]
        assert len(waiting) <= 1
        assert all(p.id == registry.pending_update_id for p in waiting)
        shredded = [p for p in unit.proposals.values() if p.status != "pending"]
        assert all(p.ciphertext is None and p.wrapped_key is None for p in shredded)
    assert registry.status in STATUSES


def test_usable_statuses_are_the_ones_with_details_in_force() -> None:
    assert set(USABLE) == {"verified", "update_failed", "degraded", "expiring"}
