"""Dataset versioning in the fluent API: ``log_dataset``, ``load_dataset``, ``log_input``.

Inside a run, the versions these functions write or read are recorded as the run's inputs (or
outputs), so "the data behind run R" and "the runs that used records@v2" are one query.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from shipyard.entities.dataset import DatasetRole, DatasetVersion, RunDataset
from shipyard.errors import InvalidStateError
from shipyard.sdk.fluent import _run_stack, client

if TYPE_CHECKING:
    from shipyard.services.data.service import DatasetService


def _service() -> DatasetService:
    return client().datasets


def _active_run_id() -> str | None:
    stack = _run_stack.get()
    return stack[-1].run_id if stack else None


def log_dataset(data: Any, name: str, *, role: DatasetRole | str = DatasetRole.INPUT,
                description: str | None = None, run_id: str | None = None) -> DatasetVersion:
    """Store a new version of ``name`` from a DataFrame, an Arrow table, a file or a folder.

    Content already stored is not stored again, and adding what the latest version already
    holds returns that version. Inside a run (or with ``run_id``) the version is recorded as
    the run's input, or its output with ``role="output"``.
    """
    service = _service()
    version = service.add(data, name, description=description).version
    target = run_id or _active_run_id()
    if target is not None:
        service.log_run_dataset(target, version, DatasetRole(role))
    return version


def load_dataset(ref: str, *, as_arrow: bool = False, run_id: str | None = None) -> Any:
    """A tabular version (``name@v2``, ``name@latest``, ``name@<digest prefix>``) as a pandas
    DataFrame (or an Arrow table), recorded as the active run's input."""
    service = _service()
    version = service.resolve(ref)
    table = service.read_table(version.ref)
    target = run_id or _active_run_id()
    if target is not None:
        service.log_run_dataset(target, version, DatasetRole.INPUT)
    return table if as_arrow else table.to_pandas()


def get_dataset(ref: str) -> DatasetVersion:
    """The version a reference names, with its schema, row count and profile."""
    return _service().resolve(ref)


def download_dataset(ref: str, dest: str | os.PathLike[str]) -> list[str]:
    """Write a version's files under ``dest``; returns their paths."""
    return [str(p) for p in _service().download(ref, dest)]


def log_input(ref: str | DatasetVersion, *, role: DatasetRole | str = DatasetRole.INPUT,
              run_id: str | None = None) -> RunDataset:
    """Record that the active run (or ``run_id``) read -- or, with ``role="output"``, wrote --
    a dataset version."""
    target = run_id or _active_run_id()
    if target is None:
        raise InvalidStateError("no active run: call shipyard.start_run() first, or pass "
                                "run_id=", field="run_id")
    return _service().log_run_dataset(target, ref, DatasetRole(role))
