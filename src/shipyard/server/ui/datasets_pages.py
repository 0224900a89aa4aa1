"""Dataset pages: datasets, versions, schema, profiles, diffs, the runs that used a version.

They read through :class:`~shipyard.services.data.service.DatasetService`, the object the SDK
and ``shipyard data`` use, built once per app over the tracking store's database and artifact
store. A store without either (one that is itself a client of another server) has no dataset
versions here: the pages say so instead of failing.
"""

from __future__ import annotations

import threading
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from shipyard.entities.dataset import DatasetVersion
from shipyard.errors import InvalidInputError, InvalidStateError, NotFoundError, ShipyardError
from shipyard.server.deps import Store
from shipyard.server.ui import runs_pages
from shipyard.server.ui.datasets_profile import column_views
from shipyard.server.ui.templating import error_page, render
from shipyard.services.data.service import DatasetService
from shipyard.store.tracking.protocol import TrackingStore

router = APIRouter(include_in_schema=False, dependencies=[Depends(runs_pages.can_read)])
_building = threading.Lock()

FILES_SHOWN = 200
"""Files listed on a version's page (a folder version may hold tens of thousands)."""
NO_DATASETS_STATUS = 501

NO_DATASETS = ("Dataset versions live in the server's metadata database and artifact store, "
               "and this server's tracking store has neither (it is a client of another "
               "server). Open the UI of the server that owns the database, or start "
               "`shipyard server` with --backend-store-uri set to a database URL.")


class NoDatasetSupportError(InvalidStateError):
    """The tracking store has no database or artifact store of its own (rendered as 501)."""


def dataset_service(request: Request, store: TrackingStore) -> DatasetService:
    """The app's one dataset service over the store's engine and artifact store."""
    state = request.app.state
    found: DatasetService | None = getattr(state, "ui_dataset_service", None)
    if found is not None:
        return found
    engine, content = getattr(store, "engine", None), getattr(store, "content", None)
    if engine is None or content is None:
        raise NoDatasetSupportError(NO_DATASETS)
    from shipyard.store.data.sql import SqlDatasetStore

    with _building:
        found = getattr(state, "ui_dataset_service", None)
        if found is None:
            found = state.ui_dataset_service = DatasetService(SqlDatasetStore(engine), content)
    return found


def failure(request: Request, error: ShipyardError) -> HTMLResponse:
    """An error page; the missing-support notice gets its own status (not a 500)."""
    if isinstance(error, NoDatasetSupportError):
        return render(request, "error.html", {"error": error, "status": NO_DATASETS_STATUS},
                      status=NO_DATASETS_STATUS)
    return error_page(request, error)


def version_number(text: str, field: str) -> int:
    """A version number from the URL; a clear 400 when it is not one."""
    digits = text.strip().removeprefix("v")
    if not digits.isdigit() or int(digits) < 1:
        raise InvalidInputError(f"{field} must be a version number such as 3 (or v3), not "
                                f"{text!r}", field=field)
    return int(digits)


def _versions(service: DatasetService, name: str) -> list[DatasetVersion]:
    versions = service.list_versions(name)
    if not versions:
        raise NotFoundError(f"dataset {name!r} does not exist; see the datasets list for the "
                            "names there are", field="name")
    return sorted(versions, key=lambda v: v.version, reverse=True)


@router.get("/ui/datasets")
def datasets_page(request: Request, store: Store) -> HTMLResponse:
    """Every dataset with its latest version, its size, rows and number of versions."""
    try:
        rows = dataset_service(request, store).list_datasets()
    except ShipyardError as error:
        return failure(request, error)
    rows.sort(key=lambda row: row[0].name)
    return render(request, "datasets.html", {"rows": rows})


@router.get("/ui/datasets/{name}")
def dataset_page(request: Request, name: str, store: Store) -> HTMLResponse:
    """The versions of one dataset, newest first, and a form to diff two of them."""
    try:
        versions = _versions(dataset_service(request, store), name)
    except ShipyardError as error:
        return failure(request, error)
    return render(request, "datasets_versions.html", {"name": name, "versions": versions})


@router.get("/ui/datasets/{name}/v/{version}")
def dataset_version_page(request: Request, name: str, version: str, store: Store
                         ) -> HTMLResponse:
    """One version: facts, schema, column profiles, files, and the runs that used it."""
    try:
        service = dataset_service(request, store)
        number = version_number(version, "version")
        found = service.resolve(f"{name}@v{number}")
        versions = _versions(service, name)
        files = service.manifest(found).files
        runs = service.dataset_runs(found.ref)
    except ShipyardError as error:
        return failure(request, error)
    columns, profile_error = column_views(found.profile)
    older = [v.version for v in versions if v.version < found.version]
    context: dict[str, Any] = {
        "name": name, "v": found, "versions": versions, "columns": columns,
        "profile_error": profile_error, "files": files[:FILES_SHOWN],
        "more_files": max(0, len(files) - FILES_SHOWN), "runs": runs,
        "diff_a": older[0] if older else found.version, "diff_b": found.version,
    }
    return render(request, "datasets_version.html", context)


@router.get("/ui/datasets/{name}/diff")
def dataset_diff_page(request: Request, name: str, store: Store,
                      a: Annotated[str, Query()] = "", b: Annotated[str, Query()] = ""
                      ) -> HTMLResponse:
    """What changed from version ``a`` to version ``b``: files, schema, rows, column drift."""
    try:
        service = dataset_service(request, store)
        versions = _versions(service, name)
        old, new = version_number(a, "a"), version_number(b, "b")
        diff = service.diff(f"{name}@v{old}", f"{name}@v{new}")
    except ShipyardError as error:
        return failure(request, error)
    return render(request, "datasets_diff.html",
                  {"name": name, "diff": diff, "versions": versions, "a": old, "b": new,
                   "diff_a": old, "diff_b": new})
