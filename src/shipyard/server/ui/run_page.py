"""One run: its page, its artifact browser and previews, and its metric series for charts.

The page itself holds no series: each chart asks :func:`metric_series` for its points, which
come back downsampled by the store (``get_metric_series``: in the database for SQL), so a
metric of a million points sends at most 2,000 to the browser.
"""

from __future__ import annotations

import logging
import posixpath
import threading
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse

from shipyard.entities import ArtifactInfo
from shipyard.entities import run_tags as rt
from shipyard.errors import NotFoundError, ShipyardError
from shipyard.server.deps import Store
from shipyard.server.ui import columns, previews, runs_pages
from shipyard.server.ui.downsample import DEFAULT_POINTS
from shipyard.server.ui.templating import error_page, is_fragment, render
from shipyard.store.tracking.protocol import TrackingStore

router = APIRouter(include_in_schema=False, dependencies=[Depends(runs_pages.can_read)])
log = logging.getLogger("shipyard.server")
_building = threading.Lock()

CHUNK = 1024 * 1024
CHILD_RUNS = 50
MODEL_VERSIONS = 20


@router.get("/ui/runs/{run_id}")
def run_page(request: Request, run_id: str, store: Store, dir: str = "", artifact: str = ""
             ) -> HTMLResponse:
    """Params, metrics (latest values and a chart each), tags, code version, environment,
    lineage and artifacts of one run. ``dir`` and ``artifact`` open a folder and a preview
    in the artifact browser (the URL htmx pushes as you browse)."""
    try:
        run = store.get_run(run_id)
        experiment = store.get_experiment(run.info.experiment_id)
        children = store.search_runs([run.info.experiment_id],
                                     f"parent_run_id = '{run_id}'", max_results=CHILD_RUNS)
        browser = _browser(store, run_id, dir, artifact)
    except ShipyardError as error:
        return error_page(request, error)
    tags = run.data.tags
    context = {
        "run": run, "experiment": experiment, "children": children.items,
        "more_children": children.next_page_token is not None,
        "params": sorted(run.data.params.items()),
        "metrics": sorted(run.data.metrics.items()),
        "user_tags": sorted((k, v) for k, v in tags.items()
                            if not k.startswith(columns.SYSTEM_TAG_PREFIXES)),
        "system_tags": sorted((k, v) for k, v in tags.items()
                              if k.startswith(columns.SYSTEM_TAG_PREFIXES)),
        "code": {"commit": tags.get(rt.TAG_GIT_COMMIT), "branch": tags.get(rt.TAG_GIT_BRANCH),
                 "remote": tags.get(rt.TAG_GIT_REMOTE), "dirty": tags.get(rt.TAG_GIT_DIRTY),
                 "source": tags.get(rt.TAG_SOURCE), "command": tags.get(rt.TAG_COMMAND)},
        "env": {"python": tags.get(rt.TAG_PYTHON), "platform": tags.get(rt.TAG_PLATFORM)},
        "env_files": _env_files(store, run_id),
        "datasets": _datasets(request, store, run_id),
        "models": _models(request, run_id),
        "points": DEFAULT_POINTS,
        **browser,
    }
    return render(request, "run.html", context)


@router.get("/ui/runs/{run_id}/artifacts")
def artifacts_fragment(request: Request, run_id: str, store: Store, dir: str = "",
                       artifact: str = "") -> HTMLResponse:
    """The artifact browser alone: a folder's listing and one file's preview."""
    try:
        run = store.get_run(run_id)
        browser = _browser(store, run_id, dir, artifact)
    except ShipyardError as error:
        if is_fragment(request):
            return HTMLResponse(f'<p class="error" role="alert">{_escape(error.message)}</p>',
                                status_code=404 if isinstance(error, NotFoundError) else 400)
        return error_page(request, error)
    return render(request, "_artifacts.html", {"run": run, **browser})


@router.get("/ui/runs/{run_id}/file")
def artifact_file(request: Request, run_id: str, path: str, store: Store,
                  download: bool = False) -> Response:
    """One artifact's bytes, streamed, with a type a browser can show (images inline)."""
    try:
        stream = store.open_artifact(run_id, path)
    except ShipyardError as error:
        return error_page(request, error)

    def chunks() -> Iterator[bytes]:
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    name = posixpath.basename(path).replace('"', "")
    headers = {
        # An SVG or HTML artifact is the run's content, not the UI's: it must not run scripts
        # with the UI's origin when opened on its own.
        "Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff",
        "Content-Disposition": f'{"attachment" if download else "inline"}; filename="{name}"',
    }
    return StreamingResponse(chunks(), media_type=previews.media_type(path), headers=headers)


@router.get("/ui/runs/{run_id}/metric-series")
def metric_series(run_id: str, key: str, store: Store,
                  points: Annotated[int, Query(ge=2, le=DEFAULT_POINTS)] = DEFAULT_POINTS
                  ) -> JSONResponse:
    """``{"key", "x", "y", "x_label", "total", "shown"}``: at most ``points`` points of one
    metric (min and max per bucket). ``x`` is the step, or the time in seconds when every
    point has the same step (metrics logged without one)."""
    try:
        # Downsampled by the store (in the database for SQL stores): a long series never
        # travels whole.
        total, kept = store.get_metric_series(run_id, key, points)
    except ShipyardError as error:
        return JSONResponse(error.to_dict(), status_code=404 if isinstance(
            error, NotFoundError) else 400)
    steps = [m.step for m in kept]
    by_time = len(kept) > 1 and steps[0] == steps[-1]
    x = [m.timestamp / 1000 for m in kept] if by_time else [float(s) for s in steps]
    y = [m.value for m in kept]
    return JSONResponse({"key": key, "x": x, "y": y, "x_label": "time" if by_time else "step",
                         "total": total, "shown": len(x)})


# -- Helpers -----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    from html import escape

    return escape(text)


def _browser(store: TrackingStore, run_id: str, folder: str, artifact: str) -> dict[str, Any]:
    """The artifact browser's listing of ``folder`` and, when a file is chosen, its preview."""
    folder = folder.strip("/")
    try:
        entries = store.list_artifacts(run_id, folder or None)
    except NotFoundError:  # a stale link to a folder: show the run, say the folder is gone
        entries = []
    entries.sort(key=lambda e: (not e.is_dir, e.path))
    chosen: ArtifactInfo | None = None
    preview: previews.Preview | None = None
    if artifact:
        parent = posixpath.dirname(artifact)
        siblings = entries if parent == folder else store.list_artifacts(run_id, parent or None)
        chosen = next((e for e in siblings if e.path == artifact and not e.is_dir), None)
        if chosen is None:
            preview = previews.Preview("none", note=f"the run has no file {artifact!r}")
        elif previews.kind_of(artifact) == "image":
            preview = previews.Preview("image")
        else:
            with store.open_artifact(run_id, artifact) as stream:
                preview = previews.preview(artifact, stream, chosen.size)
    crumbs = []
    parts = folder.split("/") if folder else []
    for i, part in enumerate(parts):
        crumbs.append((part, "/".join(parts[: i + 1])))
    return {"folder": folder, "entries": entries, "crumbs": crumbs, "artifact": artifact,
            "chosen": chosen, "preview": preview,
            "parent_folder": "/".join(parts[:-1]) if parts else None}


def _env_files(store: TrackingStore, run_id: str) -> list[str]:
    """Which of the files a run records about its environment this run has."""
    wanted = (rt.ENVIRONMENT_FILE, rt.REQUIREMENTS_FILE, rt.GIT_DIFF_FILE)
    try:
        present = {e.path for e in store.list_artifacts(run_id, posixpath.dirname(wanted[0]))}
    except NotFoundError:
        return []
    return [path for path in wanted if path in present]


def _engine(store: TrackingStore) -> Any:
    return getattr(store, "engine", None)


def _datasets(request: Request, store: TrackingStore, run_id: str) -> list[Any]:
    """The dataset versions the run read or wrote; none when the store has no database here
    (a lineage table is a nicety: its failure must not take the page down)."""
    engine = _engine(store)
    if engine is None:
        return []
    try:
        state = request.app.state
        with _building:
            datasets = getattr(state, "ui_dataset_store", None)
            if datasets is None:
                from shipyard.store.data.sql import SqlDatasetStore

                datasets = state.ui_dataset_store = SqlDatasetStore(engine)
        return list(datasets.run_datasets(run_id))
    except ShipyardError as error:
        log.warning("the run page could not read the run's datasets: %s", error.message)
        return []


def _models(request: Request, run_id: str) -> list[Any]:
    """The model versions registered from the run."""
    from shipyard.server.routes_registry import get_registry

    try:
        return list(get_registry(request).search_versions(f"run_id = '{run_id}'",
                                                          max_results=MODEL_VERSIONS))
    except ShipyardError as error:
        log.warning("the run page could not read the run's model versions: %s", error.message)
        return []
