"""MLflow's experiment RPCs (``/api/2.0/mlflow/experiments/...``) over a TrackingStore."""

from __future__ import annotations

from shipyard.server.mlflow import messages as msg
from shipyard.server.mlflow.convert import (
    DEFAULT_EXPERIMENT_NAME,
    MLFLOW_DEFAULT_EXPERIMENT_ID,
    check_max_results,
    decode_offset,
    encode_offset,
    experiment_json,
    resolve_experiment_id,
)
from shipyard.server.mlflow.errors import RESOURCE_DOES_NOT_EXIST, MlflowApiError, not_implemented
from shipyard.server.mlflow.experiment_search import (
    filter_experiments,
    parse_filter,
    parse_order_by,
    sort_experiments,
)
from shipyard.server.mlflow.proto_json import JSON
from shipyard.server.mlflow.rpc import Registry
from shipyard.store.tracking.protocol import TrackingStore

rpc = Registry()
GET, POST = ("GET",), ("POST",)


@rpc("createExperiment", "/experiments/create", POST, msg.CreateExperiment)
def create_experiment(store: TrackingStore, request: msg.CreateExperiment) -> JSON:
    # ``artifact_location`` is accepted and not used: Shipyard keeps every run's artifacts in its
    # own artifact store and serves them through the mlflow-artifacts proxy.
    tags = {tag.key: tag.value for tag in request.tags}
    return {"experiment_id": store.create_experiment(request.name, tags)}


@rpc("getExperiment", "/experiments/get", GET, msg.ExperimentRef)
def get_experiment(store: TrackingStore, request: msg.ExperimentRef) -> JSON:
    experiment_id = resolve_experiment_id(store, request.experiment_id)
    return {"experiment": experiment_json(store.get_experiment(experiment_id))}


@rpc("getExperimentByName", "/experiments/get-by-name", GET, msg.GetExperimentByName)
def get_experiment_by_name(store: TrackingStore, request: msg.GetExperimentByName) -> JSON:
    if request.experiment_name == DEFAULT_EXPERIMENT_NAME:  # always there in MLflow
        resolve_experiment_id(store, MLFLOW_DEFAULT_EXPERIMENT_ID)
    experiment = store.get_experiment_by_name(request.experiment_name)
    if experiment is None:
        raise MlflowApiError(RESOURCE_DOES_NOT_EXIST, "Could not find experiment with name "
                                                      f"'{request.experiment_name}'")
    return {"experiment": experiment_json(experiment)}


@rpc("searchExperiments", "/experiments/search", ("GET", "POST"), msg.SearchExperiments)
def search_experiments(store: TrackingStore, request: msg.SearchExperiments) -> JSON:
    check_max_results(request.max_results)
    parse_filter(request.filter)  # report a bad filter or order even when nothing matches
    parse_order_by(request.order_by)
    offset = decode_offset(request.page_token)
    found = filter_experiments(store.search_experiments(request.view_type), request.filter)
    page = sort_experiments(found, request.order_by)[offset:offset + request.max_results]
    body: JSON = {"experiments": [experiment_json(e) for e in page]}
    if offset + request.max_results < len(found):
        body["next_page_token"] = encode_offset(offset + request.max_results)
    return body


@rpc("deleteExperiment", "/experiments/delete", POST, msg.ExperimentRef)
def delete_experiment(store: TrackingStore, request: msg.ExperimentRef) -> JSON:
    store.delete_experiment(resolve_experiment_id(store, request.experiment_id))
    return {}


@rpc("restoreExperiment", "/experiments/restore", POST, msg.ExperimentRef)
def restore_experiment(store: TrackingStore, request: msg.ExperimentRef) -> JSON:
    store.restore_experiment(resolve_experiment_id(store, request.experiment_id))
    return {}


@rpc("updateExperiment", "/experiments/update", POST, msg.UpdateExperiment)
def update_experiment(store: TrackingStore, request: msg.UpdateExperiment) -> JSON:
    experiment = store.get_experiment(resolve_experiment_id(store, request.experiment_id))
    if request.new_name != experiment.name:
        raise not_implemented("renaming experiments",
                              "Create an experiment with the new name instead.")
    return {}


@rpc("setExperimentTag", "/experiments/set-experiment-tag", POST, msg.SetExperimentTag)
def set_experiment_tag(store: TrackingStore, request: msg.SetExperimentTag) -> JSON:
    experiment_id = resolve_experiment_id(store, request.experiment_id)
    store.set_experiment_tag(experiment_id, request.key, request.value)
    return {}


@rpc("deleteExperimentTag", "/experiments/delete-experiment-tag", POST, msg.DeleteExperimentTag)
def delete_experiment_tag(store: TrackingStore, request: msg.DeleteExperimentTag) -> JSON:
    store.get_experiment(resolve_experiment_id(store, request.experiment_id))
    raise not_implemented("deleting experiment tags",
                          "Set the tag to an empty value instead.")
