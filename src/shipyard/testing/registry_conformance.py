"""The conformance suite of the registry protocol.

Every :class:`~shipyard.store.registry.protocol.ModelRegistry` must pass it: the local
:class:`~shipyard.services.registry.service.RegistryService` and the REST client
(:class:`~shipyard.store.rest.registry_client.RestRegistry`) whose server runs that service. Use
it from a test module that defines a ``registry_under_test`` fixture giving a
:class:`RegistryUnderTest` over an empty registry::

    from shipyard.testing.registry_conformance import *  # noqa: F403

People are told apart the way each implementation tells them apart: the local service records
the ``actor=`` keyword; a server ignores it and takes the actor from the request, so a REST
fixture gives each person a client that identifies as them. Every call below does both, so
one suite proves both. Set ``SHIPYARD_AUDIT_KEY`` in the fixture: the suite verifies the chain.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy import Engine

from shipyard.entities.policy import Policy
from shipyard.entities.registry import ApprovalStatus, Decision
from shipyard.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
)
from shipyard.services.audit.log import AuditLog
from shipyard.store.registry.protocol import ModelRegistry

MODEL = "er-matcher"
DIGEST = "0" * 64
SOURCE = f"runs:/{'a' * 32}/model"


@dataclass
class RegistryUnderTest:
    """The registry as each person sees it, and the database it writes (the server's, for a
    REST client), where the suite reads the audit log."""

    engine: Engine
    acting_as: Callable[[str], ModelRegistry]
    _seen: dict[str, ModelRegistry] = field(default_factory=dict)

    def __call__(self, actor: str) -> ModelRegistry:
        """The registry acting as ``actor`` (one per person, reused)."""
        if actor not in self._seen:
            self._seen[actor] = self.acting_as(actor)
        return self._seen[actor]

    def audit_actions(self) -> list[tuple[str, str, str]]:
        """(actor, action, entity) of every audit event, oldest first."""
        return [(e.actor, e.action, e.entity_id)
                for e in AuditLog(self.engine).events(newest_first=False)]


def _version(reg: RegistryUnderTest, name: str = MODEL, actor: str = "alice") -> int:
    return reg(actor).create_version(name, SOURCE, actor=actor, flavor="sklearn",
                                     digest=DIGEST).version


# -- Models and versions -----------------------------------------------------------------------


def test_versions_are_numbered_and_resolved_by_uri(registry_under_test: RegistryUnderTest
                                                   ) -> None:
    alice = registry_under_test("alice")
    v1 = alice.create_version(MODEL, "runs:/x/model", actor="alice", tags={"stage": "dev"},
                              description="baseline")
    v2 = _version(registry_under_test)
    assert (v1.version, v2, v1.status, v1.created_by) == (1, 2, ApprovalStatus.NONE, "alice")
    assert v1.tags == {"stage": "dev"} and v1.uri == f"models:/{MODEL}/1"
    model = alice.get_model(MODEL)
    assert model.latest_version == 2 and model.created_by == "alice"
    assert alice.resolve(f"models:/{MODEL}/1").description == "baseline"
    assert alice.resolve(f"models:/{MODEL}@latest").version == 2
    alice.set_alias(MODEL, "staging", 1, actor="alice")
    assert alice.resolve(f"models:/{MODEL}@staging").version == 1
    assert alice.get_version(MODEL, 1).aliases == ("staging",)
    assert alice.get_model(MODEL).aliases == {"staging": 1}
    assert [v.version for v in alice.list_versions(MODEL)] == [1, 2]
    with pytest.raises(AlreadyExistsError) as taken:
        alice.create_model(MODEL, actor="alice")
    assert taken.value.field == "name"


def test_models_with_descriptions_and_tags(registry_under_test: RegistryUnderTest) -> None:
    alice = registry_under_test("alice")
    created = alice.create_model("fraud", actor="alice", description="card fraud",
                                 tags={"team": "risk"})
    assert (created.name, created.description, created.tags, created.latest_version,
            created.aliases) == ("fraud", "card fraud", {"team": "risk"}, None, {})
    assert alice.get_model("fraud") == created
    alice.create_model("churn", actor="alice")
    assert [m.name for m in alice.list_models()] == ["churn", "fraud"]
    alice.set_model_tag("fraud", "owner", "risk-team", actor="alice")
    alice.update_description("fraud", "card and wire fraud", actor="alice")
    got = alice.get_model("fraud")
    assert got.tags == {"team": "risk", "owner": "risk-team"}
    assert got.description == "card and wire fraud"
    alice.delete_tag("fraud", "team", actor="alice")
    assert alice.get_model("fraud").tags == {"owner": "risk-team"}
    with pytest.raises(NotFoundError) as no_tag:
        alice.delete_tag("fraud", "team", actor="alice")
    assert no_tag.value.field == "key"
    alice.update_description("fraud", None, actor="alice")
    assert alice.get_model("fraud").description is None
    page = alice.search_models("tags.owner = 'risk-team'")
    assert [m.name for m in page] == ["fraud"] and page.next_page_token is None
    first = alice.search_models(None, max_results=1)
    assert [m.name for m in first] == ["churn"] and first.next_page_token is not None
    rest = alice.search_models(None, max_results=1, page_token=first.next_page_token)
    assert [m.name for m in rest] == ["fraud"]


def test_version_tags_and_descriptions(registry_under_test: RegistryUnderTest) -> None:
    alice = registry_under_test("alice")
    number = _version(registry_under_test)
    alice.set_version_tag(MODEL, number, "stage", "dev", actor="alice")
    alice.set_version_tag(MODEL, number, "stage", "prod", actor="alice")
    alice.update_description(MODEL, "holdout f1 0.97", actor="alice", version=number)
    got = alice.get_version(MODEL, number)
    assert (got.tags, got.description, got.digest, got.flavor, got.source) == (
        {"stage": "prod"}, "holdout f1 0.97", DIGEST, "sklearn", SOURCE)
    alice.delete_tag(MODEL, "stage", actor="alice", version=number)
    assert alice.get_version(MODEL, number).tags == {}
    with pytest.raises(NotFoundError):
        alice.set_version_tag(MODEL, 9, "stage", "dev", actor="alice")
    with pytest.raises(InvalidInputError) as no_source:
        alice.create_version(MODEL, " ", actor="alice")
    assert no_source.value.field == "source"


@pytest.mark.parametrize("name", ["search", "..", "we ird%?#name", "modèle"])
def test_any_valid_name_round_trips(registry_under_test: RegistryUnderTest, name: str) -> None:
    alice = registry_under_test("alice")
    alice.create_model(name, actor="alice", description="d")
    alice.update_description(name, "e", actor="alice")
    number = _version(registry_under_test, name)
    assert alice.get_model(name).description == "e"
    assert alice.resolve(f"models:/{name}/{number}").name == name
    alice.set_alias(name, "staging", number, actor="alice")
    assert [v.aliases for v in alice.list_versions(name)] == [("staging",)]


@pytest.mark.parametrize("alias", ["latest", "v3", "V12", "has space", "9lives", "", "a/b"])
def test_reserved_and_malformed_aliases_are_refused(registry_under_test: RegistryUnderTest,
                                                    alias: str) -> None:
    _version(registry_under_test)
    alice = registry_under_test("alice")
    with pytest.raises(InvalidInputError) as caught:
        alice.set_alias(MODEL, alias, 1, actor="alice")
    assert caught.value.field == "alias"
    assert alice.get_model(MODEL).aliases == {}


def test_unknown_models_versions_and_uris(registry_under_test: RegistryUnderTest) -> None:
    _version(registry_under_test)
    alice = registry_under_test("alice")
    with pytest.raises(NotFoundError, match="does not exist"):
        alice.get_version("nope", 1)
    with pytest.raises(NotFoundError, match="does not exist") as model:
        alice.get_model("nope")
    assert model.value.field == "name"
    with pytest.raises(NotFoundError, match=r"no version 7 \(the latest is 1\)"):
        alice.get_version(MODEL, 7)
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        alice.resolve(f"models:/{MODEL}@production")
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        alice.delete_alias(MODEL, "production", actor="alice")
    for uri in ("er-matcher", "models:/er-matcher", "models:/a/b/c", "runs:/x"):
        with pytest.raises(InvalidInputError, match="not a model URI"):
            alice.resolve(uri)
    for name in ("a/b", " padded", "x@y", ""):
        with pytest.raises(InvalidInputError):
            alice.create_model(name, actor="alice")
        with pytest.raises(InvalidInputError):
            alice.create_version(name, SOURCE, actor="alice")
    for read in (alice.list_versions, alice.get_policy, alice.alias_history):
        with pytest.raises(NotFoundError):
            read("nope")


# -- Approvals ---------------------------------------------------------------------------------


def test_four_eyes_and_the_approval_states(registry_under_test: RegistryUnderTest) -> None:
    alice, bob, carol = (registry_under_test(p) for p in ("alice", "bob", "carol"))
    number = _version(registry_under_test, actor="alice")
    with pytest.raises(InvalidStateError, match="request approval first"):
        bob.approve(MODEL, number, actor="bob")
    assert alice.request_approval(MODEL, number, actor="alice",
                                  comment="beats v0").status is ApprovalStatus.PENDING
    with pytest.raises(PermissionDeniedError, match="four eyes") as own:
        alice.approve(MODEL, number, actor="alice")
    assert own.value.field == "actor"
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        alice.reject(MODEL, number, actor="alice")
    approved = bob.approve(MODEL, number, actor="bob", comment="reviewed")
    assert approved.status is ApprovalStatus.APPROVED
    with pytest.raises(InvalidStateError, match="approved"):
        carol.approve(MODEL, number, actor="carol")
    with pytest.raises(InvalidStateError, match="already approved"):
        alice.request_approval(MODEL, number, actor="alice")
    assert [(a.decision, a.actor, a.comment) for a in alice.approvals(MODEL, number)] == [
        (Decision.REQUEST, "alice", "beats v0"), (Decision.APPROVE, "bob", "reviewed")]

    other = _version(registry_under_test, actor="alice")
    alice.request_approval(MODEL, other, actor="alice")
    assert bob.reject(MODEL, other, actor="bob").status is ApprovalStatus.REJECTED
    with pytest.raises(InvalidStateError, match="review is closed"):
        carol.approve(MODEL, other, actor="carol")


def test_a_policy_can_require_two_approvers(registry_under_test: RegistryUnderTest) -> None:
    bob, carol = registry_under_test("bob"), registry_under_test("carol")
    number = _version(registry_under_test)
    registry_under_test("admin").set_policy(MODEL, Policy.from_dict({"approvals": 2}),
                                            actor="admin")
    registry_under_test("alice").request_approval(MODEL, number, actor="alice")
    assert bob.approve(MODEL, number, actor="bob").status is ApprovalStatus.PENDING
    with pytest.raises(InvalidStateError, match="already approved"):
        bob.approve(MODEL, number, actor="bob")
    assert carol.approve(MODEL, number, actor="carol").status is ApprovalStatus.APPROVED


# -- Policies, reports and protected aliases ---------------------------------------------------


def test_policy_round_trip(registry_under_test: RegistryUnderTest) -> None:
    _version(registry_under_test)
    admin = registry_under_test("admin")
    assert admin.get_policy(MODEL) == Policy()
    policy = Policy.from_dict({"required_reports": ["evaluation"], "thresholds": ["f1 >= 0.9"],
                               "approvals": 2, "protected_aliases": ["production", "canary"]})
    admin.set_policy(MODEL, policy, actor="admin", reason="go-live rules")
    assert admin.get_policy(MODEL) == policy
    with pytest.raises(NotFoundError):
        admin.set_policy("nope", policy, actor="admin")
    unknown = Policy.from_dict({"thresholds": ["f2 >= 0.9"]})  # parsed without a metric list
    with pytest.raises(InvalidInputError, match="unknown metric 'f2'") as refused:
        admin.set_policy(MODEL, unknown, actor="admin")
    assert refused.value.field == "policy.thresholds"
    assert admin.get_policy(MODEL) == policy  # nothing changed


def test_reports_keep_the_latest_of_each_kind(registry_under_test: RegistryUnderTest) -> None:
    alice = registry_under_test("alice")
    number = _version(registry_under_test)
    assert alice.reports(MODEL, number) == {}
    first = alice.attach_report(MODEL, number, "evaluation", json_digest=DIGEST,
                                html_digest="1" * 64, metrics={"f1": 0.9, "auc": None},
                                actor="alice")
    assert (first.kind, first.metrics, first.created_by, first.html_digest) == (
        "evaluation", {"f1": 0.9, "auc": None}, "alice", "1" * 64)
    alice.attach_report(MODEL, number, "evaluation", json_digest=DIGEST, html_digest=None,
                        metrics={"f1": 0.95, "log_loss": math.inf}, actor="alice")
    odd = alice.attach_report(MODEL, number, "bias", json_digest=DIGEST, html_digest=None,
                              metrics={"gap": math.nan}, actor="alice")
    assert math.isnan(odd.metrics["gap"] or 0.0)
    latest = alice.reports(MODEL, number)
    assert sorted(latest) == ["bias", "evaluation"]
    assert latest["evaluation"].metrics == {"f1": 0.95, "log_loss": math.inf}
    with pytest.raises(InvalidInputError) as bad_kind:
        alice.attach_report(MODEL, number, "not a kind!", json_digest=DIGEST, html_digest=None,
                            metrics={}, actor="alice")
    assert bad_kind.value.field == "kind"
    with pytest.raises(NotFoundError):
        alice.attach_report(MODEL, 9, "evaluation", json_digest=DIGEST, html_digest=None,
                            metrics={}, actor="alice")


def test_protected_alias_needs_approval_reports_and_thresholds(
        registry_under_test: RegistryUnderTest) -> None:
    alice = registry_under_test("alice")
    number = _version(registry_under_test)
    registry_under_test("admin").set_policy(MODEL, Policy.from_yaml(
        "required_reports: [evaluation, bias]\n"
        "thresholds: ['f1 >= 0.95', 'demographic_parity_difference <= 0.1']\n"
        "approvals: 1\nprotected_aliases: [production]\n"), actor="admin")
    with pytest.raises(PermissionDeniedError, match="not approved") as refused:
        alice.set_alias(MODEL, "production", number, actor="alice")
    assert refused.value.field == "alias"
    alice.request_approval(MODEL, number, actor="alice")
    registry_under_test("bob").approve(MODEL, number, actor="bob")
    with pytest.raises(PermissionDeniedError, match="requires report"):
        alice.set_alias(MODEL, "production", number, actor="alice")
    alice.attach_report(MODEL, number, "evaluation", json_digest=DIGEST, html_digest=None,
                        metrics={"f1": 0.93, "accuracy": 0.97}, actor="alice")
    alice.attach_report(MODEL, number, "bias", json_digest=DIGEST, html_digest=None,
                        metrics={"demographic_parity_difference": 0.04}, actor="alice")
    with pytest.raises(PermissionDeniedError, match=r"f1 >= 0.95 \(is 0.93\)"):
        alice.set_alias(MODEL, "production", number, actor="alice")
    alice.attach_report(MODEL, number, "evaluation", json_digest=DIGEST, html_digest=None,
                        metrics={"f1": 0.96}, actor="alice")
    assert alice.set_alias(MODEL, "production", number, actor="alice",
                           reason="go live").aliases == ("production",)
    alice.set_alias(MODEL, "staging", _version(registry_under_test), actor="alice")


# -- Aliases and deletion ----------------------------------------------------------------------


def test_alias_history_answers_which_version_held_it_when(
        registry_under_test: RegistryUnderTest) -> None:
    alice, bob = registry_under_test("alice"), registry_under_test("bob")
    for _ in range(3):
        _version(registry_under_test)
    alice.set_alias(MODEL, "champion", 1, actor="alice")
    time.sleep(0.01)
    middle = int(time.time() * 1000)
    time.sleep(0.01)
    bob.set_alias(MODEL, "champion", 3, actor="bob", reason="better")
    bob.delete_alias(MODEL, "champion", actor="bob")
    alice.set_alias(MODEL, "staging", 2, actor="alice")
    history = alice.alias_history(MODEL, "champion")
    assert [(h.version, h.actor, h.reason) for h in history] == [
        (1, "alice", None), (3, "bob", "better"), (None, "bob", None)]
    assert [h.alias for h in alice.alias_history(MODEL)] == ["champion"] * 3 + ["staging"]
    assert alice.alias_at(MODEL, "champion", middle) == 1
    assert alice.alias_at(MODEL, "champion", history[0].time - 1) is None
    assert alice.alias_at(MODEL, "champion", int(time.time() * 1000) + 1) is None
    assert alice.alias_at(MODEL, "never-set", middle) is None


def test_deletion_rules(registry_under_test: RegistryUnderTest) -> None:
    alice = registry_under_test("alice")
    for _ in range(2):
        _version(registry_under_test)
    alice.set_alias(MODEL, "staging", 2, actor="alice")
    with pytest.raises(InvalidStateError, match="staging") as aliased:
        alice.delete_version(MODEL, 2, actor="alice")
    assert aliased.value.field == "version"
    with pytest.raises(InvalidStateError, match="staging -> v2"):
        alice.delete_model(MODEL, actor="alice")
    alice.delete_version(MODEL, 1, actor="alice", reason="superseded")
    assert [v.version for v in alice.list_versions(MODEL)] == [2]
    alice.delete_alias(MODEL, "staging", actor="alice")
    alice.delete_model(MODEL, actor="alice")
    assert alice.list_models() == []
    with pytest.raises(NotFoundError):
        alice.delete_model(MODEL, actor="alice")


# -- Search ------------------------------------------------------------------------------------


def test_version_search_by_tags_and_attributes(registry_under_test: RegistryUnderTest) -> None:
    alice = registry_under_test("alice")
    for model in (MODEL, "fraud"):
        for stage in ("dev", "prod", "prod"):
            alice.create_version(model, "runs:/x/model", actor="alice",
                                 tags={"stage": stage, "team": "er"})
    page = alice.search_versions("tags.stage = 'prod'", max_results=3)
    assert [(v.name, v.version) for v in page] == [(MODEL, 3), (MODEL, 2), ("fraud", 3)]
    rest = alice.search_versions("tags.stage = 'prod'", max_results=3,
                                 page_token=page.next_page_token)
    assert [(v.name, v.version) for v in rest] == [("fraud", 2)] and rest.next_page_token is None
    both = alice.search_versions("name = 'fraud' AND (tags.stage = 'dev' OR version >= 3)")
    assert [v.version for v in both] == [3, 1]
    assert len(alice.search_versions("tags.stage IN ('dev') AND status = 'none'")) == 2
    assert len(alice.search_versions(None)) == 6
    with pytest.raises(InvalidInputError, match="cannot be searched here"):
        alice.search_versions("metrics.f1 > 0.9")
    with pytest.raises(InvalidInputError, match="unknown attribute"):
        alice.search_versions("colour = 'red'")
    with pytest.raises(InvalidInputError, match="max_results"):
        alice.search_versions(max_results=0)
    with pytest.raises(InvalidInputError) as token:
        alice.search_versions(None, page_token="not-ours")
    assert token.value.field == "page_token"


# -- Audit -------------------------------------------------------------------------------------


def test_every_change_is_an_audit_event_by_its_actor(registry_under_test: RegistryUnderTest
                                                     ) -> None:
    alice, bob = registry_under_test("alice"), registry_under_test("bob")
    number = _version(registry_under_test)
    alice.request_approval(MODEL, number, actor="alice")
    with pytest.raises(PermissionDeniedError):
        alice.approve(MODEL, number, actor="alice")  # refused: no event
    bob.approve(MODEL, number, actor="bob")
    bob.set_alias(MODEL, "production", number, actor="bob")
    assert registry_under_test.audit_actions() == [
        ("alice", "model.create", MODEL), ("alice", "version.create", f"{MODEL}/1"),
        ("alice", "version.request", f"{MODEL}/1"), ("bob", "version.approve", f"{MODEL}/1"),
        ("bob", "alias.set", MODEL)]
    assert AuditLog(registry_under_test.engine).verify().ok


__all__ = [name for name in dict(globals()) if name.startswith("test_")]
