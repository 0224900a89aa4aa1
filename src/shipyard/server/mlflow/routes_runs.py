"""MLflow's run RPCs (``/api/2.0/mlflow/runs/...``) over a TrackingStore.

MLflow keeps the tag ``mlflow.runName`` and the run's name equal, and ``mlflow.parentRunId``
names the parent of a nested run; both are honoured here when a run is created, renamed or
tagged.
"""

from __future__ import annotations

from shipyard.entities.names import random_run_name
from shipyard.server.mlflow import messages as msg
from shipyard.server.mlflow.convert import (
    PARENT_RUN_TAG,
    RUN_NAME_TAG,
    USER_TAG,
    check_max_results,
    resolve_experiment_id,
    run_info_json,
    run_json,
)
from shipyard.server.mlflow.errors import invalid_parameter
from shipyard.server.mlflow.proto_json import JSON
from shipyard.server.mlflow.rpc import Registry
from shipyard.store.tracking.protocol import TrackingStore

rpc = Registry()
GET, POST = ("GET",), ("POST",)


@rpc("createRun", "/runs/create", POST, msg.CreateRun)
def create_run(store: TrackingStore, request: msg.CreateRun) -> JSON:
    tags = {tag.key: tag.value for tag in request.tags}
    tagged_name = tags.get(RUN_NAME_TAG)
    if request.run_name and tagged_name and request.run_name != tagged_name:
        raise invalid_parameter(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
            f"different values (run_name='{request.run_name}', "
            f"mlflow.runName='{tagged_name}').")
    name = request.run_name or tagged_name or random_run_name()
    tags[RUN_NAME_TAG] = name
    run = store.create_run(
        resolve_experiment_id(store, request.experiment_id),
        run_name=name,
        user=request.user_id or tags.get(USER_TAG, ""),
        start_time=request.start_time,
        tags=tags,
        parent_run_id=tags.get(PARENT_RUN_TAG) or None,
    )
    return {"run": run_json(run)}


@rpc("updateRun", "/runs/update", POST, msg.UpdateRun)
def update_run(store: TrackingStore, request: msg.UpdateRun) -> JSON:
    info = store.update_run(request.run_id, request.status, request.end_time, request.run_name)
    if request.run_name is not None:
        store.log_batch(request.run_id, tags={RUN_NAME_TAG: request.run_name})
    return {"run_info": run_info_json(info)}


@rpc("getRun", "/runs/get", GET, msg.RunRef)
def get_run(store: TrackingStore, request: msg.RunRef) -> JSON:
    return {"run": run_json(store.get_run(request.run_id))}


@rpc("searchRuns", "/runs/search", POST, msg.SearchRuns)
def search_runs(store: TrackingStore, request: msg.SearchRuns) -> JSON:
    check_max_results(request.max_results)
    experiment_ids = [resolve_experiment_id(store, eid, create=False)
                      for eid in request.experiment_ids]
    page = store.search_runs(
        experiment_ids,
        filter_string=request.filter,
        order_by=request.order_by,
        max_results=request.max_results,
        page_token=request.page_token or None,
        view=request.run_view_type,
    )
    body: JSON = {"runs": [run_json(run) for run in page]}
    if page.next_page_token:
        body["next_page_token"] = page.next_page_token
    return body


@rpc("deleteRun", "/runs/delete", POST, msg.RunRef)
def delete_run(store: TrackingStore, request: msg.RunRef) -> JSON:
    store.delete_run(request.run_id)
    return {}


@rpc("restoreRun", "/runs/restore", POST, msg.RunRef)
def restore_run(store: TrackingStore, request: msg.RunRef) -> JSON:
    store.restore_run(request.run_id)
    return {}


def set_tags(store: TrackingStore, run_id: str, tags: dict[str, str]) -> None:
    """Set run tags; ``mlflow.runName`` renames the run, as in MLflow."""
    if RUN_NAME_TAG in tags:
        store.update_run(run_id, run_name=tags[RUN_NAME_TAG])
    store.log_batch(run_id, tags=tags)


@rpc("setTag", "/runs/set-tag", POST, msg.SetTag)
def set_tag(store: TrackingStore, request: msg.SetTag) -> JSON:
    set_tags(store, request.run_id, {request.key: request.value})
    return {}


@rpc("deleteTag", "/runs/delete-tag", POST, msg.DeleteTag)
def delete_tag(store: TrackingStore, request: msg.DeleteTag) -> JSON:
    store.delete_tag(request.run_id, request.key)
    return {}
