"""Shipyard's registry records as MLflow's ``RegisteredModel`` / ``ModelVersion`` JSON, and
MLflow's registry search (filters, ``order_by``, pages) in terms of :class:`RegistryService`.

- Stages are deprecated in MLflow and not kept by Shipyard: every version is in stage
  ``"None"``, and a registered model's ``latest_versions`` is its newest version.
- Versions are registered synchronously, so their status is always ``READY``.
- A version has no update time of its own: ``last_updated_timestamp`` is its creation time.
- Filters are parsed with Shipyard's filter grammar (a superset of MLflow's) under MLflow's
  attribute names too (``version_number``, ``source_path``, ``creation_timestamp``...) and
  handed to the service as Shipyard filter text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from shipyard.entities import Page
from shipyard.entities.registry import ModelVersion, RegisteredModel
from shipyard.errors import InvalidInputError
from shipyard.server.mlflow.convert import pairs, run_artifact_uri
from shipyard.server.mlflow.errors import invalid_parameter
from shipyard.server.mlflow.proto_json import JSON
from shipyard.services.registry.service import RegistryService
from shipyard.store.registry.search import MAX_RESULTS, MODELS, VERSIONS
from shipyard.store.tracking.filter import (
    Comparison,
    Grammar,
    Node,
    Not,
    format_filter,
    parse_filter,
)
from shipyard.store.tracking.protocol import TrackingStore

T = TypeVar("T")

STAGE_NONE = "None"
STAGES = ("None", "Staging", "Production", "Archived")  # MLflow's, for validation only
PROMPT_TAG = "mlflow.prompt.is_prompt"
MAX_SORTED = 200_000  # MLflow's SEARCH_MODEL_VERSION_MAX_RESULTS_THRESHOLD

VERSION_GRAMMAR = replace(VERSIONS, aliases={
    **VERSIONS.aliases, "version_number": "version", "creation_timestamp": "created_time"})
MODEL_GRAMMAR = replace(MODELS, aliases={
    **MODELS.aliases, "creation_timestamp": "created_time",
    "last_updated_timestamp": "updated_time"})

# MLflow's order_by keys -> attributes of the entity; then the tie-breakers MLflow appends.
MODEL_ORDER = {"name": "name", "timestamp": "updated_time",
               "last_updated_timestamp": "updated_time", "creation_timestamp": "created_time"}
MODEL_TIES = (("name", True),)
VERSION_ORDER = {"name": "name", "version_number": "version", "version": "version",
                 "creation_timestamp": "created_time", "last_updated_timestamp": "created_time"}
VERSION_TIES = (("name", True), ("version", False))
_ORDER_RE = re.compile(r"\s*(?:attr(?:ibute)?s?\.)?`?([A-Za-z_]+)`?(?:\s+(ASC|DESC))?\s*",
                       re.IGNORECASE)


# -- JSON ----------------------------------------------------------------------------------


def version_json(v: ModelVersion) -> JSON:
    body: JSON = {
        "name": v.name,
        "version": str(v.version),
        "creation_timestamp": v.created_time,
        "last_updated_timestamp": v.created_time,
        "user_id": v.created_by,
        "current_stage": STAGE_NONE,
        "source": v.source,
        "status": "READY",
        "tags": pairs(v.tags),
        "aliases": list(v.aliases),
    }
    if v.run_id:
        body["run_id"] = v.run_id
    if v.description is not None:
        body["description"] = v.description
    return body


def model_json(registry: RegistryService, m: RegisteredModel) -> JSON:
    body: JSON = {
        "name": m.name,
        "creation_timestamp": m.created_time,
        "last_updated_timestamp": m.updated_time,
        "user_id": m.created_by,
        "tags": pairs(m.tags),
        "aliases": [{"alias": alias, "version": str(number)}
                    for alias, number in sorted(m.aliases.items())],
    }
    if m.description is not None:
        body["description"] = m.description
    if m.latest_version is not None:
        body["latest_versions"] = [version_json(registry.get_version(m.name, m.latest_version))]
    return body


def latest_versions(registry: RegistryService, name: str, stages: Sequence[str]) -> list[JSON]:
    """MLflow's ``get-latest-versions``: the newest version per requested stage. Every
    Shipyard version is in stage ``None``, so that is the newest version, or nothing when the
    request names only other stages."""
    wanted = set()
    for stage in stages:
        match = next((s for s in STAGES if s.lower() == stage.strip().lower()), None)
        if match is None:
            raise invalid_parameter(f"Invalid Model Version stage: {stage}. Value must be one "
                                    f"of {', '.join(STAGES)}.")
        wanted.add(match)
    model = registry.get_model(name)
    if model.latest_version is None or (wanted and STAGE_NONE not in wanted):
        return []
    return [version_json(registry.get_version(name, model.latest_version))]


# -- Search --------------------------------------------------------------------------------


def translate_filter(text: str | None, grammar: Grammar) -> str | None:
    """MLflow filter text as the Shipyard filter text the service reads."""
    node = parse_filter(text, grammar)
    return None if node is None else format_filter(_not_prompt(node))


def _not_prompt(node: Node) -> Node:
    """The client adds ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every model search to
    leave prompts out; MLflow's server reads it as "not tagged as a prompt", which includes
    models without the tag, while Shipyard's ``!=`` on a tag needs the tag. So on this one tag
    ``!=`` becomes ``NOT ... =``."""
    if isinstance(node, Comparison):
        if node.entity == "tag" and node.key == PROMPT_TAG and node.op == "!=":
            return Not(replace(node, op="="))
        return node
    if isinstance(node, Not):
        return Not(_not_prompt(node.item))
    return replace(node, items=tuple(_not_prompt(item) for item in node.items))


def parse_order(clauses: Sequence[str], keys: Mapping[str, str],
                ties: Sequence[tuple[str, bool]]) -> list[tuple[str, bool]]:
    """``["name ASC", "version_number DESC"]`` as (attribute, ascending) pairs, with MLflow's
    tie-breakers appended."""
    order: list[tuple[str, bool]] = []
    for clause in clauses:
        match = _ORDER_RE.fullmatch(clause)
        attribute = keys.get(match.group(1).lower()) if match else None
        if match is None or attribute is None:
            raise invalid_parameter(f"Invalid order_by clause {clause!r}: use one of "
                                    f"{', '.join(sorted(keys))}, optionally with ASC or DESC.")
        if any(attribute == seen for seen, _ in order):
            raise invalid_parameter(f"`order_by` contains duplicate fields: {list(clauses)}")
        order.append((attribute, (match.group(2) or "ASC").upper() == "ASC"))
    order += [tie for tie in ties if all(tie[0] != seen for seen, _ in order)]
    return order


def sort_by(items: list[T], order: Sequence[tuple[str, bool]]) -> list[T]:
    for attribute, ascending in reversed(order):  # stable sorts, least significant first
        items.sort(key=lambda item: getattr(item, attribute), reverse=not ascending)
    return items


def offset_of(token: str | None) -> int:
    if not token:
        return 0
    if not token.isdigit():
        raise invalid_parameter(f"Invalid page token {token!r}: pass back the "
                                "next_page_token of a response as is.")
    return int(token)


def search(fetch: Callable[[int, str | None], Page[T]], max_results: int, page_token: str | None,
           order: Sequence[tuple[str, bool]] | None) -> Page[T]:
    """One page of a search. Without ``order_by`` the service pages in SQL (its order is
    MLflow's default); with one, every match is fetched, sorted here, and paged by offset."""
    if order is None:
        return fetch(min(max_results, MAX_RESULTS), page_token or None)
    offset = offset_of(page_token)
    found: list[T] = []
    token: str | None = None
    while True:
        page = fetch(MAX_RESULTS, token)
        found += page.items
        token = page.next_page_token
        if token is None:
            break
        if len(found) >= MAX_SORTED:
            raise invalid_parameter(f"order_by sorts at most {MAX_SORTED} matches; narrow "
                                    "the filter or leave order_by out.")
    chosen = sort_by(found, order)[offset:offset + max_results]
    more = offset + max_results < len(found)
    return Page(chosen, str(offset + max_results) if more else None)


# -- Download URI --------------------------------------------------------------------------


def download_uri(store: TrackingStore, registry: RegistryService, version: ModelVersion) -> str:
    """Where the version's files are, as the client can fetch them: a ``runs:/<id>/<path>``
    source becomes the run's ``mlflow-artifacts:/`` URI (served by this server's artifact
    proxy), a ``models:/`` source the download URI of the version it names, anything else
    the source as registered."""
    source = version.source
    for _ in range(10):  # models:/ sources may chain; never loop forever
        if source.startswith("runs:/"):
            run_id, _, path = source[len("runs:/"):].partition("/")
            base = run_artifact_uri(store.get_run(run_id).info)
            return f"{base}/{path.strip('/')}" if path.strip("/") else base
        if not source.startswith("models:/"):
            return source
        try:
            source = registry.resolve(source).source
        except InvalidInputError:  # e.g. models:/<logged model id>: not a registry URI
            return source
    return source


def tag_map(tags: Sequence[Any]) -> dict[str, str]:
    return {tag.key: tag.value for tag in tags}
