"""What is particular to the local registry service; the registry's rules for every backend
(the service on SQLite and PostgreSQL, the REST client) are in
``shipyard.testing.registry_conformance``, run by tests/test_registry_conformance.py."""

from __future__ import annotations

import pytest

from shipyard.entities.policy import Policy
from shipyard.errors import InvalidInputError, PermissionDeniedError
from shipyard.services.registry.service import RegistryService
from tests.registry_support import audit_actions, registry

__all__ = ["registry"]


def test_the_service_records_the_actor_it_is_given(registry: RegistryService) -> None:
    """Locally the ``actor=`` keyword is who acts (a single-user store names, it does not
    authenticate); a server ignores it (tests/test_registry_rest.py)."""
    registry.create_version("er-matcher", "runs:/x/model", actor="alice")
    registry.request_approval("er-matcher", 1, actor="alice")
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        registry.approve("er-matcher", 1, actor="alice")
    assert registry.approve("er-matcher", 1, actor="bob").status == "approved"
    assert [a for a, _, _ in audit_actions(registry)] == ["alice"] * 3 + ["bob"]
    assert registry.audit.verify().ok


def test_bad_policies_are_refused_with_the_field() -> None:
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
