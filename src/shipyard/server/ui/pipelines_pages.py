"""Pipeline pages: runs of a pipeline, the DAG with live step statuses, logs, schedules.

- ``/ui/pipelines``: every pipeline seen with its latest run, the schedules with their next
  fire time, and the queue;
- ``/ui/pipelines/{name}``: the pipeline's runs;
- ``/ui/pipelines/runs/{run_id}``: one run's DAG (SVG drawn on the server, laid out by
  :mod:`shipyard.server.ui.dag_layout`), its steps and their logs. While the run is in
  progress, the DAG part asks ``/ui/pipelines/runs/{run_id}/dag`` again every 2 s (htmx) and
  the answer for an ended run carries no trigger, so the polling stops by itself.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from shipyard.errors import ShipyardError
from shipyard.server.deps import Store
from shipyard.server.ui import dag_layout
from shipyard.server.ui import pipelines_data as data
from shipyard.server.ui.runs_pages import can_read
from shipyard.server.ui.templating import error_page, render

router = APIRouter(include_in_schema=False, dependencies=[Depends(can_read)])

DAG = {"node_w": dag_layout.NODE_W, "node_h": dag_layout.NODE_H}


@router.get("/ui/pipelines")
def pipelines_page(request: Request, store: Store) -> HTMLResponse:
    """Pipelines with their latest run, the schedules and the recent queue."""
    try:
        context = {"pipelines": data.pipelines(store), "schedules": data.schedules(store),
                   "queue": data.queue(store), "has_db": data.engine_of(store) is not None}
    except ShipyardError as error:
        return error_page(request, error)
    return render(request, "pipelines.html", context)


@router.get("/ui/pipelines/runs/{run_id}")
def pipeline_run_page(request: Request, run_id: str, store: Store) -> HTMLResponse:
    """One pipeline run: DAG, steps table and step logs."""
    try:
        view = data.pipeline_run(store, run_id, logs=True)
    except ShipyardError as error:
        return error_page(request, error)
    return render(request, "pipelines_run.html", {"view": view, **DAG})


@router.get("/ui/pipelines/runs/{run_id}/dag")
def pipeline_run_dag(request: Request, run_id: str, store: Store) -> HTMLResponse:
    """The live part of the run page (DAG, counts, steps; the logs once the run ended)."""
    try:
        view = data.pipeline_run(store, run_id, logs=False)
        if not view.running:  # the last swap: polling stops, the logs can show
            data.add_logs(store, view)
    except ShipyardError as error:
        return error_page(request, error)
    return render(request, "_pipelines_run.html", {"view": view, **DAG})


@router.get("/ui/pipelines/{name}")
def pipeline_page(request: Request, name: str, store: Store) -> HTMLResponse:
    """The runs of one pipeline, newest first, with their step counts."""
    try:
        runs = data.runs_of(store, name)
    except ShipyardError as error:
        return error_page(request, error)
    return render(request, "pipelines_runs.html", {"name": name, "runs": runs})
