"""The experiments list and the runs table of one experiment.

Routes are plain ``def``: the store blocks, and FastAPI runs them in its thread pool, as the
API's routes do. The runs table is one ``search_runs`` call per page: the filter, the sort and
the page token go to the store as the API takes them, so a page of 50 runs costs the same one
query whether the experiment holds a hundred runs or a hundred thousand, and no row is read
on its own.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from shipyard.entities import Run, ViewType
from shipyard.entities.auth import Permission
from shipyard.errors import HTTP_STATUS, ShipyardError
from shipyard.server.auth import require
from shipyard.server.deps import Store
from shipyard.server.ui import columns as c
from shipyard.server.ui.templating import error_page, is_fragment, query, render


def can_read(request: Request) -> None:
    """With ``--auth``, the UI shows what the token's user may read (the middleware has
    already refused requests without a valid token); without it, everyone may."""
    require(request, Permission.READ)


router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@router.get("/")
def home(request: Request) -> RedirectResponse:
    return RedirectResponse(f"{request.scope.get('root_path', '')}/ui/experiments", 307)


@router.get("/ui")
@router.get("/ui/")
def ui_home(request: Request) -> RedirectResponse:
    return home(request)


@router.get("/ui/experiments", dependencies=[Depends(can_read)])
def experiments_page(request: Request, store: Store) -> HTMLResponse:
    try:
        experiments = store.search_experiments(ViewType.ACTIVE_ONLY)
    except ShipyardError as error:
        return error_page(request, error)
    experiments.sort(key=lambda e: e.last_update_time, reverse=True)
    return render(request, "experiments.html", {"experiments": experiments})


@router.get("/ui/experiments/{experiment_id}", dependencies=[Depends(can_read)])
def runs_page(
    request: Request,
    experiment_id: str,
    store: Store,
    filter_string: Annotated[str, Query(alias="filter")] = "",
    order_by: str = "",
    page_token: str = "",
    page: int = 1,
    cols: Annotated[list[str] | None, Query()] = None,
    chooser: bool = False,
    max_results: int = PAGE_SIZE,
) -> HTMLResponse:
    """The runs of one experiment, a page at a time. An htmx request gets only the
    ``#runs`` block; a filter or sort the store refuses is shown beside the filter box with
    the store's message and a 400."""
    try:
        experiment = store.get_experiment(experiment_id)
    except ShipyardError as missing:
        return error_page(request, missing)
    size = max(1, min(max_results, MAX_PAGE_SIZE))
    refused: ShipyardError | None = None
    runs: list[Run] = []
    next_token: str | None = None
    try:
        found = store.search_runs([experiment_id], filter_string or None,
                                  [order_by] if order_by.strip() else None, size,
                                  page_token or None)
        runs, next_token = found.items, found.next_page_token
    except ShipyardError as failed:
        if HTTP_STATUS.get(failed.code, 500) >= 500:
            return error_page(request, failed)
        refused = failed
    seen = c.keys_seen(runs)
    shown = c.chosen_columns(seen, cols or [], chooser)
    state = {"filter": filter_string, "order_by": order_by, "chooser": chooser,
             "cols": [col.name for col in shown] if chooser else None,
             "max_results": size if size != PAGE_SIZE else None}
    base = f"{request.scope.get('root_path', '')}/ui/experiments/{experiment_id}"
    sort = c.current_sort(order_by)

    def sort_link(column: str) -> str:
        # The first click sorts descending (best metric first), the next one ascending.
        descending = not (sort is not None and sort[0] == column and sort[1])
        return query(base, {**state, "order_by": c.sort_clause(column, descending)})

    context = {
        "experiment": experiment, "runs": runs, "seen": seen, "shown": shown,
        "attributes": c.ATTRIBUTES, "sort": sort, "sort_link": sort_link, "error": refused,
        "state": state, "page_url": base, "page": max(page, 1), "size": size,
        "next_link": query(base, {**state, "page_token": next_token, "page": max(page, 1) + 1})
        if next_token else None,
        "first_link": query(base, state) if page_token else None,
        "chosen": {col.name for col in shown},
    }
    status = 400 if refused is not None else 200
    template = "_runs.html" if is_fragment(request) else "runs.html"
    return render(request, template, context, status=status)
