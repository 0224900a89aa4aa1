"""Shipyard's entities as MLflow's JSON messages, and the few rules that tie the two together.

- A run's ``artifact_uri`` is ``mlflow-artifacts:/<experiment_id>/<run_id>/artifacts``: the
  ``mlflow`` client resolves that scheme against its tracking URI to this server's
  ``/api/2.0/mlflow-artifacts/artifacts/...`` proxy (see :mod:`.artifacts`).
- MLflow's experiment ``"0"`` (its always-present ``Default``) is Shipyard's experiment named
  ``Default``, created on first use; responses show that experiment's real id.
- MLflow keeps the tag ``mlflow.runName`` equal to the run's name and finds a run's parent
  through ``mlflow.parentRunId``; responses add both to runs that lack them (runs created by
  Shipyard's own SDK).
"""

from __future__ import annotations

import base64
import binascii
import json

from shipyard.entities import Experiment, Metric, Run, RunInfo
from shipyard.entities.limits import MAX_SEARCH_RESULTS
from shipyard.errors import AlreadyExistsError
from shipyard.server.mlflow.errors import invalid_parameter
from shipyard.server.mlflow.proto_json import JSON, double
from shipyard.store.tracking.protocol import TrackingStore

MLFLOW_DEFAULT_EXPERIMENT_ID = "0"
DEFAULT_EXPERIMENT_NAME = "Default"  # the name Shipyard's SDK uses too
RUN_NAME_TAG = "mlflow.runName"
PARENT_RUN_TAG = "mlflow.parentRunId"
USER_TAG = "mlflow.user"



def resolve_experiment_id(store: TrackingStore, experiment_id: str, create: bool = True) -> str:
    """Shipyard's id for an experiment id an MLflow client sent (``"0"`` is ``Default``).

    ``Default`` is created on first use unless ``create`` is false; then ``"0"`` comes back
    unchanged and names no experiment.
    """
    if experiment_id != MLFLOW_DEFAULT_EXPERIMENT_ID:
        return experiment_id
    found = store.get_experiment_by_name(DEFAULT_EXPERIMENT_NAME)
    if found is not None:
        return found.experiment_id
    if not create:
        return experiment_id
    try:
        return store.create_experiment(DEFAULT_EXPERIMENT_NAME)
    except AlreadyExistsError:  # created by a concurrent request
        again = store.get_experiment_by_name(DEFAULT_EXPERIMENT_NAME)
        assert again is not None
        return again.experiment_id


def experiment_artifact_location(experiment_id: str) -> str:
    return f"mlflow-artifacts:/{experiment_id}"


def run_artifact_uri(info: RunInfo) -> str:
    return f"mlflow-artifacts:/{info.experiment_id}/{info.run_id}/artifacts"


def pairs(mapping: dict[str, str]) -> list[JSON]:
    return [{"key": key, "value": value} for key, value in mapping.items()]


def experiment_json(experiment: Experiment) -> JSON:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "artifact_location": experiment_artifact_location(experiment.experiment_id),
        "lifecycle_stage": str(experiment.lifecycle_stage),
        "last_update_time": experiment.last_update_time,
        "creation_time": experiment.creation_time,
        "tags": pairs(experiment.tags),
    }


def run_info_json(info: RunInfo) -> JSON:
    body: JSON = {
        "run_id": info.run_id,
        "run_uuid": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "user_id": info.user,
        "status": str(info.status),
        "start_time": info.start_time,
        "artifact_uri": run_artifact_uri(info),
        "lifecycle_stage": str(info.lifecycle_stage),
    }
    if info.end_time is not None:
        body["end_time"] = info.end_time
    return body


def metric_json(metric: Metric) -> JSON:
    return {"key": metric.key, "value": double(metric.value), "timestamp": metric.timestamp,
            "step": metric.step}


def run_json(run: Run) -> JSON:
    """A run. Each metric shows its latest value at step 0 and timestamp 0: the tracking
    protocol returns a run with each metric's latest value only (``get-history`` has the
    points), and reading every history to find the last point would make ``get-run`` cost as
    much as the run's whole history."""
    metrics = [{"key": key, "value": double(value), "timestamp": 0, "step": 0}
               for key, value in run.data.metrics.items()]
    tags = dict(run.data.tags)
    tags.setdefault(RUN_NAME_TAG, run.info.run_name)
    if run.info.parent_run_id:  # how MLflow's client and UI find a run's parent
        tags.setdefault(PARENT_RUN_TAG, run.info.parent_run_id)
    return {
        "info": run_info_json(run.info),
        "data": {"metrics": metrics, "params": pairs(run.data.params), "tags": pairs(tags)},
        "inputs": {},
    }


def encode_offset(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_offset(token: str | None) -> int:
    """The offset a page token of :func:`encode_offset` holds (0 for none)."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        offset = None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise invalid_parameter(
            f"Invalid page token {token!r}: pass back the next_page_token of a response as is.")
    return offset


def check_max_results(max_results: int, limit: int = MAX_SEARCH_RESULTS) -> int:
    if not 1 <= max_results <= limit:
        raise invalid_parameter(
            "Invalid value for request parameter max_results. It must be between 1 and "
            f"{limit}, but got value {max_results}.")
    return max_results
