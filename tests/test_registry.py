"""The registry's rules on SQLite and PostgreSQL: versions, URIs, four eyes, policies,
protected aliases with history, deletion rules, and an audit event for every change."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from shipyard.entities.policy import Policy
from shipyard.entities.registry import ApprovalStatus, Decision
from shipyard.errors import (
    AlreadyExistsError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
    PermissionDeniedError,
)
from shipyard.services.registry.service import RegistryService
from tests.registry_support import audit_actions, registry

__all__ = ["registry"]

D = "0" * 64


def _version(reg: RegistryService, name: str = "er-matcher", actor: str = "alice") -> int:
    return reg.create_version(name, f"runs:/{'a' * 32}/model", actor=actor, flavor="sklearn",
                              digest=D).version


def test_versions_are_numbered_and_resolved_by_uri(registry: RegistryService) -> None:
    v1 = registry.create_version("er-matcher", "runs:/x/model", actor="alice",
                                 tags={"stage": "dev"}, description="baseline")
    v2 = _version(registry)
    assert (v1.version, v2, v1.status) == (1, 2, ApprovalStatus.NONE)
    assert v1.tags == {"stage": "dev"} and v1.uri == "models:/er-matcher/1"
    model = registry.get_model("er-matcher")
    assert model.latest_version == 2 and model.created_by == "alice"
    assert registry.resolve("models:/er-matcher/1").description == "baseline"
    assert registry.resolve("models:/er-matcher@latest").version == 2
    registry.set_alias("er-matcher", "staging", 1, actor="alice")
    assert registry.resolve("models:/er-matcher@staging").version == 1
    assert registry.get_version("er-matcher", 1).aliases == ("staging",)
    with pytest.raises(AlreadyExistsError):
        registry.create_model("er-matcher", actor="alice")


@pytest.mark.parametrize("alias", ["latest", "v3", "V12", "has space", "9lives", "", "a/b"])
def test_reserved_and_malformed_aliases_are_refused(registry: RegistryService,
                                                    alias: str) -> None:
    _version(registry)
    with pytest.raises(InvalidInputError) as caught:
        registry.set_alias("er-matcher", alias, 1, actor="alice")
    assert caught.value.field == "alias"
    assert registry.get_model("er-matcher").aliases == {}


def test_unknown_models_versions_and_uris(registry: RegistryService) -> None:
    _version(registry)
    with pytest.raises(NotFoundError, match="does not exist"):
        registry.get_version("nope", 1)
    with pytest.raises(NotFoundError, match=r"no version 7 \(the latest is 1\)"):
        registry.get_version("er-matcher", 7)
    with pytest.raises(NotFoundError, match="no alias 'production'"):
        registry.resolve("models:/er-matcher@production")
    for uri in ("er-matcher", "models:/er-matcher", "models:/a/b/c", "runs:/x"):
        with pytest.raises(InvalidInputError, match="not a model URI"):
            registry.resolve(uri)
    for name in ("a/b", " padded", "x@y", ""):
        with pytest.raises(InvalidInputError):
            registry.create_model(name, actor="alice")


def test_four_eyes_and_the_approval_states(registry: RegistryService) -> None:
    number = _version(registry, actor="alice")
    with pytest.raises(InvalidStateError, match="request approval first"):
        registry.approve("er-matcher", number, actor="bob")
    registry.request_approval("er-matcher", number, actor="alice", comment="beats v0")
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        registry.approve("er-matcher", number, actor="alice")
    approved = registry.approve("er-matcher", number, actor="bob", comment="reviewed")
    assert approved.status is ApprovalStatus.APPROVED
    with pytest.raises(InvalidStateError, match="approved"):
        registry.approve("er-matcher", number, actor="carol")
    with pytest.raises(InvalidStateError, match="already approved"):
        registry.request_approval("er-matcher", number, actor="alice")
    assert [(a.decision, a.actor) for a in registry.approvals("er-matcher", number)] == [
        (Decision.REQUEST, "alice"), (Decision.APPROVE, "bob")]

    other = _version(registry, actor="alice")
    registry.request_approval("er-matcher", other, actor="alice")
    assert registry.reject("er-matcher", other, actor="bob").status is ApprovalStatus.REJECTED
    with pytest.raises(InvalidStateError, match="review is closed"):
        registry.approve("er-matcher", other, actor="carol")


def test_a_policy_can_require_two_approvers(registry: RegistryService) -> None:
    number = _version(registry)
    registry.set_policy("er-matcher", Policy.from_dict({"approvals": 2}), actor="admin")
    registry.request_approval("er-matcher", number, actor="alice")
    assert registry.approve("er-matcher", number, actor="bob").status is ApprovalStatus.PENDING
    with pytest.raises(InvalidStateError, match="already approved"):
        registry.approve("er-matcher", number, actor="bob")
    assert registry.approve("er-matcher", number, actor="carol").status \
        is ApprovalStatus.APPROVED


def test_protected_alias_needs_approval_reports_and_thresholds(registry: RegistryService
                                                               ) -> None:
    number = _version(registry)
    registry.set_policy("er-matcher", Policy.from_yaml(
        "required_reports: [evaluation, bias]\n"
        "thresholds: ['f1 >= 0.95', 'demographic_parity_difference <= 0.1']\n"
        "approvals: 1\nprotected_aliases: [production]\n"), actor="admin")
    with pytest.raises(PermissionDeniedError, match="not approved"):
        registry.set_alias("er-matcher", "production", number, actor="alice")
    registry.request_approval("er-matcher", number, actor="alice")
    registry.approve("er-matcher", number, actor="bob")
    with pytest.raises(PermissionDeniedError, match="requires report"):
        registry.set_alias("er-matcher", "production", number, actor="alice")
    registry.attach_report("er-matcher", number, "evaluation", json_digest=D, html_digest=None,
                           metrics={"f1": 0.93, "accuracy": 0.97}, actor="alice")
    registry.attach_report("er-matcher", number, "bias", json_digest=D, html_digest=None,
                           metrics={"demographic_parity_difference": 0.04}, actor="alice")
    with pytest.raises(PermissionDeniedError, match=r"f1 >= 0.95 \(is 0.93\)"):
        registry.set_alias("er-matcher", "production", number, actor="alice")
    registry.attach_report("er-matcher", number, "evaluation", json_digest=D, html_digest=None,
                           metrics={"f1": 0.96}, actor="alice")
    assert registry.set_alias("er-matcher", "production", number, actor="alice",
                              reason="go live").aliases == ("production",)
    registry.set_alias("er-matcher", "staging", _version(registry), actor="alice")


def test_alias_history_answers_which_version_held_it_when(registry: RegistryService) -> None:
    for _ in range(3):
        _version(registry)
    registry.set_alias("er-matcher", "champion", 1, actor="alice")
    time.sleep(0.01)
    middle = int(time.time() * 1000)
    time.sleep(0.01)
    registry.set_alias("er-matcher", "champion", 3, actor="bob", reason="better")
    registry.delete_alias("er-matcher", "champion", actor="bob")
    history = registry.alias_history("er-matcher", "champion")
    assert [(h.version, h.actor) for h in history] == [(1, "alice"), (3, "bob"), (None, "bob")]
    assert registry.alias_at("er-matcher", "champion", middle) == 1
    assert registry.alias_at("er-matcher", "champion", history[0].time - 1) is None
    assert registry.alias_at("er-matcher", "champion", int(time.time() * 1000) + 1) is None


def test_deletion_rules(registry: RegistryService) -> None:
    for _ in range(2):
        _version(registry)
    registry.set_alias("er-matcher", "staging", 2, actor="alice")
    with pytest.raises(InvalidStateError, match="staging"):
        registry.delete_version("er-matcher", 2, actor="alice")
    with pytest.raises(InvalidStateError, match="staging -> v2"):
        registry.delete_model("er-matcher", actor="alice")
    registry.delete_version("er-matcher", 1, actor="alice", reason="superseded")
    assert [v.version for v in registry.list_versions("er-matcher")] == [2]
    registry.delete_alias("er-matcher", "staging", actor="alice")
    registry.delete_model("er-matcher", actor="alice")
    assert registry.list_models() == []


def test_bad_policies_are_refused_with_the_field(registry: RegistryService) -> None:
    _version(registry)
    cases = {"thresholds: ['f1 >> 3']": "policy.thresholds",
             "approvals: -1": "policy.approvals", "approvals: yes": "policy.approvals",
             "colour: red": "policy.colour", "thresholds: 'f1 >= 1'": "policy.thresholds",
             "[1, 2": "policy"}
    for text, field in cases.items():
        with pytest.raises(InvalidInputError) as caught:
            Policy.from_yaml(text)
        assert caught.value.field == field, text
    with pytest.raises(InvalidInputError, match="unknown metric 'f2'"):
        Policy.from_dict({"thresholds": ["f2 >= 0.9"]}, known_metrics={"f1", "accuracy"})


def test_every_change_is_an_audit_event_in_its_transaction(registry: RegistryService,
                                                           tmp_path: Path) -> None:
    number = _version(registry)
    registry.request_approval("er-matcher", number, actor="alice")
    with pytest.raises(PermissionDeniedError):
        registry.approve("er-matcher", number, actor="alice")  # refused: no event
    registry.approve("er-matcher", number, actor="bob")
    registry.set_alias("er-matcher", "production", number, actor="bob")
    assert audit_actions(registry) == [
        ("alice", "model.create", "er-matcher"), ("alice", "version.create", "er-matcher/1"),
        ("alice", "version.request", "er-matcher/1"), ("bob", "version.approve", "er-matcher/1"),
        ("bob", "alias.set", "er-matcher")]
    assert registry.audit.verify().ok




def test_version_search_by_tags_and_attributes(registry: RegistryService) -> None:
    for model in ("er-matcher", "fraud"):
        for stage in ("dev", "prod", "prod"):
            registry.create_version(model, "runs:/x/model", actor="alice",
                                    tags={"stage": stage, "team": "er"})
    page = registry.search_versions("tags.stage = 'prod'", max_results=3)
    assert [(v.name, v.version) for v in page] == [("er-matcher", 3), ("er-matcher", 2),
                                                   ("fraud", 3)]
    rest = registry.search_versions("tags.stage = 'prod'", max_results=3,
                                    page_token=page.next_page_token)
    assert [(v.name, v.version) for v in rest] == [("fraud", 2)] and rest.next_page_token is None
    both = registry.search_versions("name = 'fraud' AND (tags.stage = 'dev' OR version >= 3)")
    assert [v.version for v in both] == [3, 1]
    assert len(registry.search_versions("tags.stage IN ('dev') AND status = 'none'")) == 2
    assert len(registry.search_versions(None)) == 6
    with pytest.raises(InvalidInputError, match="cannot be searched here"):
        registry.search_versions("metrics.f1 > 0.9")
    with pytest.raises(InvalidInputError, match="unknown attribute"):
        registry.search_versions("colour = 'red'")
    with pytest.raises(InvalidInputError, match="max_results"):
        registry.search_versions(max_results=0)
