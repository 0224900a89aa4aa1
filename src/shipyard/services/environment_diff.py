"""A run's recorded Python environment, and what changed between two of them.

A top-level run records ``_shipyard/environment.json`` (see
:func:`shipyard.services.run_context.capture_environment`) and ``_shipyard/requirements.lock``.
This module reads them back through the tracking protocol, so it works the same on a local
store and against a server, and compares two records package by package.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from shipyard.entities.run_tags import ENVIRONMENT_FILE, REQUIREMENTS_FILE
from shipyard.errors import BackendError, NotFoundError
from shipyard.store.tracking.protocol import TrackingStore

FACTS = ("python", "implementation", "platform", "machine")
"""The interpreter and machine fields of a record, in the order they are shown."""

_WHY_MISSING = (
    "it was started with SHIPYARD_CAPTURE_ENVIRONMENT off, with log_context=False, as a nested "
    "run (only top-level runs record their context), or by another client such as MLflow"
)


@dataclass(frozen=True, slots=True)
class Environment:
    """One run's environment record: interpreter facts and ``{package: version}``."""

    run_id: str
    facts: dict[str, str]
    packages: dict[str, str]


@dataclass(frozen=True, slots=True)
class Change:
    """A package or fact whose value differs: ``a`` in the first run, ``b`` in the second."""

    name: str
    a: str
    b: str


@dataclass(frozen=True, slots=True)
class EnvironmentDiff:
    """What changed from run A to run B. ``added`` are packages only B has, ``removed`` only A."""

    a: Environment
    b: Environment
    facts: tuple[Change, ...]
    added: tuple[tuple[str, str], ...]
    removed: tuple[tuple[str, str], ...]
    changed: tuple[Change, ...]
    unchanged: int

    @property
    def identical(self) -> bool:
        return not (self.facts or self.added or self.removed or self.changed)


def parse_environment(run_id: str, data: bytes) -> Environment:
    """An environment record from its JSON bytes; ``BackendError`` when it is damaged."""
    try:
        body = json.loads(data)
        if not isinstance(body, dict):
            raise TypeError("not a JSON object")
        packages = body.get("packages") or {}
        if not isinstance(packages, Mapping):
            raise TypeError("'packages' is not an object")
        facts = {key: str(body[key]) for key in FACTS if body.get(key) is not None}
        return Environment(run_id, facts,
                           {str(k): str(v) for k, v in sorted(packages.items())})
    except (ValueError, TypeError) as exc:
        raise BackendError(
            f"the environment record {ENVIRONMENT_FILE} of run {run_id!r} is damaged: {exc}"
        ) from exc


def _read(store: TrackingStore, run_id: str, path: str) -> bytes:
    store.get_run(run_id)  # an unknown run is NotFoundError about the run, not the file
    try:
        with store.open_artifact(run_id, path) as stream:
            return stream.read()
    except NotFoundError:
        raise NotFoundError(
            f"run {run_id} has no environment record ({path}): {_WHY_MISSING}",
            field="run_id",
        ) from None


def load_environment(store: TrackingStore, run_id: str) -> Environment:
    """The environment a run recorded; ``NotFoundError`` naming the run when it has none."""
    return parse_environment(run_id, _read(store, run_id, ENVIRONMENT_FILE))


def load_requirements(store: TrackingStore, run_id: str) -> str:
    """The run's ``requirements.lock`` (``name==version`` lines).

    A run whose lock file is missing but whose environment record exists gets the lock
    rebuilt from that record, which holds the same packages.
    """
    try:
        return _read(store, run_id, REQUIREMENTS_FILE).decode("utf-8", errors="replace")
    except NotFoundError:
        from shipyard.services.run_context import requirements_lock

        environment = load_environment(store, run_id)
        return requirements_lock({"packages": environment.packages})


def diff_environments(a: Environment, b: Environment) -> EnvironmentDiff:
    """Packages added, removed and changed from ``a`` to ``b``, and differing facts."""
    facts = tuple(
        Change(key, a.facts.get(key, ""), b.facts.get(key, ""))
        for key in FACTS if a.facts.get(key) != b.facts.get(key)
    )
    added = tuple((name, b.packages[name]) for name in sorted(b.packages.keys() - a.packages))
    removed = tuple((name, a.packages[name]) for name in sorted(a.packages.keys() - b.packages))
    common = sorted(a.packages.keys() & b.packages.keys())
    changed = tuple(Change(name, a.packages[name], b.packages[name])
                    for name in common if a.packages[name] != b.packages[name])
    return EnvironmentDiff(a, b, facts, added, removed, changed, len(common) - len(changed))
