"""The compare page: 2 to 10 runs side by side.

``/ui/compare?run=A&run=B...`` shows the params (rows that differ are marked, and
``diff=1`` keeps only those), the latest metrics, one chart per metric with a line per run,
and a parallel-coordinates chart of the params against one metric (``metric=``), drawn on the
server as SVG (:mod:`shipyard.server.ui.compare_svg`) and swapped by htmx when another metric
is chosen. Each chart asks ``/ui/compare/series`` for its points, downsampled on the server
as on the run page, so long series send at most 2,000 points per run.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from shipyard.entities import Run
from shipyard.errors import HTTP_STATUS, InvalidInputError, ShipyardError
from shipyard.server.deps import Store
from shipyard.server.ui import compare_data as cd
from shipyard.server.ui import compare_svg, runs_pages
from shipyard.server.ui.downsample import DEFAULT_POINTS
from shipyard.server.ui.templating import error_page, is_fragment, query, render
from shipyard.store.tracking.protocol import TrackingStore

router = APIRouter(include_in_schema=False, dependencies=[Depends(runs_pages.can_read)])

RunIds = Annotated[list[str] | None, Query(alias="run")]


def _load(store: TrackingStore, given: list[str] | None) -> list[Run]:
    return cd.load_runs(store, cd.run_ids(given or []))


def _chosen_metric(runs: list[Run], metric: str) -> tuple[list[str], str]:
    keys = sorted({k for run in runs for k in run.data.metrics})
    if metric and metric not in keys:
        raise InvalidInputError(
            f"metric {metric!r} is not logged by any of these runs; choose one of: "
            f"{', '.join(keys) or '(none)'}", field="metric")
    return keys, metric or (keys[0] if keys else "")


def _fragment_error(request: Request, error: ShipyardError) -> HTMLResponse:
    status = HTTP_STATUS.get(error.code, 500)
    if is_fragment(request):
        from html import escape

        return HTMLResponse(f'<p class="error" role="alert">{escape(error.message)}</p>',
                            status_code=status)
    return error_page(request, error)


@router.get("/ui/compare")
def compare_page(request: Request, store: Store, run: RunIds = None, diff: bool = False,
                 metric: str = "") -> HTMLResponse:
    """Params, latest metrics, overlaid metric charts and parallel coordinates of the runs."""
    try:
        runs = _load(store, run)
        metric_keys, chosen = _chosen_metric(runs, metric)
        experiments = {r.info.experiment_id: store.get_experiment(r.info.experiment_id)
                       for r in runs}
    except ShipyardError as error:
        return error_page(request, error)
    ids = [r.info.run_id for r in runs]
    base = f"{request.scope.get('root_path', '')}/ui/compare"
    params = cd.param_rows(runs)
    context: dict[str, Any] = {
        "runs": runs, "ids": ids, "colours": cd.COLOURS, "experiments": experiments,
        "params": [row for row in params if row.differs] if diff else params,
        "param_count": len(params), "differing": sum(row.differs for row in params),
        "metrics": cd.metric_rows(runs), "metric_keys": metric_keys, "metric": chosen,
        "diff": diff, "points": DEFAULT_POINTS,
        "diff_link": query(base, {"run": ids, "diff": not diff, "metric": metric}),
        "chart": compare_svg.chart(runs, chosen) if chosen else None,
    }
    return render(request, "compare.html", context)


@router.get("/ui/compare/parallel")
def parallel_fragment(request: Request, store: Store, run: RunIds = None, metric: str = "",
                      diff: bool = False) -> HTMLResponse:
    """The parallel-coordinates chart alone, for another metric (what htmx swaps in)."""
    try:
        runs = _load(store, run)
        _, chosen = _chosen_metric(runs, metric)
    except ShipyardError as error:
        return _fragment_error(request, error)
    if not is_fragment(request):  # a bookmarked fragment URL: show the whole page
        return compare_page(request, store, run, diff, chosen)
    return render(request, "_compare_parallel.html", {
        "metric": chosen, "chart": compare_svg.chart(runs, chosen) if chosen else None})


@router.get("/ui/compare/series")
def compare_series(store: Store, key: str, run: RunIds = None,
                   points: Annotated[int, Query(ge=2, le=DEFAULT_POINTS)] = DEFAULT_POINTS
                   ) -> JSONResponse:
    """``{"key", "x_label", "runs": [{"run_id", "name", "x", "y", "total", "shown"}]}``: each
    run's points of one metric, at most ``points`` per run (min and max per bucket). ``x`` is
    the step, or, when every run logged the metric without steps, the seconds since each
    run's first point of it."""
    try:
        runs = _load(store, run)
        found = [store.get_metric_series(r.info.run_id, key, points) for r in runs]
    except ShipyardError as error:
        return JSONResponse(error.to_dict(), status_code=HTTP_STATUS.get(error.code, 500))
    logged = [h for _, h in found if h]
    # Time only when every run logged the metric without steps; else steps for all, so the
    # lines share one axis.
    by_time = bool(logged) and all(cd.without_steps(h) for h in logged)
    return JSONResponse({
        "key": key, "x_label": "seconds since the first point" if by_time else "step",
        "runs": [cd.series(r, total, h, points, by_time)
                 for r, (total, h) in zip(runs, found, strict=True)],
    })
