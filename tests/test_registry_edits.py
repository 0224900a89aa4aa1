"""The registry's descriptions, model tags, tag deletion and model search (what MLflow's
registry API edits and searches), on SQLite and PostgreSQL, each change audited."""

from __future__ import annotations

import pytest

from shipyard.errors import FilterSyntaxError, InvalidInputError, NotFoundError
from shipyard.services.registry.service import RegistryService
from tests.registry_support import audit_actions, registry

__all__ = ["registry"]


def test_descriptions_of_models_and_versions(registry: RegistryService) -> None:
    registry.create_version("er-matcher", "s3://b/m", actor="alice", description="baseline")
    registry.update_description("er-matcher", "links property records", actor="alice")
    registry.update_description("er-matcher", "tuned", actor="bob", version=1)
    assert registry.get_model("er-matcher").description == "links property records"
    assert registry.get_version("er-matcher", 1).description == "tuned"
    registry.update_description("er-matcher", "", actor="alice")  # '' clears, like None
    assert registry.get_model("er-matcher").description is None
    with pytest.raises(NotFoundError):
        registry.update_description("er-matcher", "x", actor="alice", version=9)
    with pytest.raises(NotFoundError):
        registry.update_description("nope", "x", actor="alice")
    assert audit_actions(registry)[-3:] == [
        ("alice", "model.describe", "er-matcher"), ("bob", "version.describe", "er-matcher/1"),
        ("alice", "model.describe", "er-matcher")]


def test_model_tags_and_tag_deletion(registry: RegistryService) -> None:
    registry.create_model("er-matcher", actor="alice", tags={"team": "er"})
    registry.create_version("er-matcher", "s3://b/m", actor="alice", tags={"k": "v"})
    registry.set_model_tag("er-matcher", "team", "entity-resolution", actor="alice")
    registry.set_model_tag("er-matcher", "domain", "property", actor="alice")
    assert registry.get_model("er-matcher").tags == {"team": "entity-resolution",
                                                     "domain": "property"}
    registry.delete_tag("er-matcher", "team", actor="bob")
    registry.delete_tag("er-matcher", "k", actor="bob", version=1)
    assert registry.get_model("er-matcher").tags == {"domain": "property"}
    assert registry.get_version("er-matcher", 1).tags == {}
    with pytest.raises(NotFoundError, match="model 'er-matcher' has no tag 'team'") as gone:
        registry.delete_tag("er-matcher", "team", actor="bob")
    assert gone.value.field == "key"
    with pytest.raises(NotFoundError, match="er-matcher v1 has no tag 'k'"):
        registry.delete_tag("er-matcher", "k", actor="bob", version=1)
    with pytest.raises(InvalidInputError):
        registry.set_model_tag("er-matcher", "", "v", actor="alice")
    assert audit_actions(registry)[-4:] == [
        ("alice", "model.tag", "er-matcher"), ("alice", "model.tag", "er-matcher"),
        ("bob", "model.untag", "er-matcher"), ("bob", "version.untag", "er-matcher/1")]


def test_search_models_by_name_tags_and_pages(registry: RegistryService) -> None:
    for name, team in (("er-a", "er"), ("er-b", "er"), ("fraud", "risk")):
        registry.create_model(name, actor="alice" if name != "fraud" else "bob",
                              tags={"team": team})
    assert [m.name for m in registry.search_models()] == ["er-a", "er-b", "fraud"]
    assert [m.name for m in registry.search_models("name LIKE 'er-%'")] == ["er-a", "er-b"]
    assert [m.name for m in registry.search_models("tags.team = 'risk'")] == ["fraud"]
    assert [m.name for m in registry.search_models("created_by = 'alice' AND name != 'er-a'")
            ] == ["er-b"]
    assert [m.name for m in registry.search_models("NOT tags.team = 'er'")] == ["fraud"]
    first = registry.search_models(max_results=2)
    assert [m.name for m in first] == ["er-a", "er-b"] and first.next_page_token
    rest = registry.search_models(max_results=2, page_token=first.next_page_token)
    assert [m.name for m in rest] == ["fraud"] and rest.next_page_token is None
    with pytest.raises(FilterSyntaxError):
        registry.search_models("colour = 'red'")
    with pytest.raises(InvalidInputError):
        registry.search_models(max_results=0)


def test_create_version_refuses_what_its_columns_cannot_hold(registry: RegistryService) -> None:
    with pytest.raises(InvalidInputError) as long_source:
        registry.create_version("er-matcher", "s3://b/" + "x" * 1000, actor="alice")
    assert long_source.value.field == "source"
    with pytest.raises(InvalidInputError) as long_run:
        registry.create_version("er-matcher", "s3://b/m", actor="alice", run_id="r" * 33)
    assert long_run.value.field == "run_id"
    with pytest.raises(NotFoundError):
        registry.get_model("er-matcher")  # nothing half-written
