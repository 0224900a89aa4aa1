"""``/api/v1`` experiments and runs: one endpoint per method of the tracking protocol.

Endpoints are plain ``def``: the store's calls block, and FastAPI runs them in its thread
pool. They translate HTTP to a store call and back, nothing more; every rule and limit is the
store's (see :mod:`shipyard.store.tracking.protocol`), which is what makes the REST store pass
the same conformance suite as the embedded one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from shipyard.entities import LifecycleStage, Metric, ViewType
from shipyard.errors import InvalidInputError
from shipyard.server import schemas as s
from shipyard.server.deps import Store

experiments = APIRouter(prefix="/api/v1/experiments")
runs = APIRouter(prefix="/api/v1/runs")


# -- Experiments -------------------------------------------------------------------------------


@experiments.post("", status_code=201)
def create_experiment(body: s.CreateExperiment, store: Store) -> s.ExperimentCreated:
    """Create an experiment; 409 ``ALREADY_EXISTS`` if the name is taken."""
    return s.ExperimentCreated(experiment_id=store.create_experiment(body.name, body.tags))


@experiments.get("")
def search_experiments(
    store: Store,
    view: ViewType = ViewType.ACTIVE_ONLY,
    name_like: Annotated[str | None, Query(description="a SQL LIKE pattern")] = None,
    name: Annotated[str | None, Query(description="an exact name: at most one match")] = None,
) -> s.ExperimentList:
    """Experiments ordered by id. With ``name``: the one experiment of that exact name, if
    it exists and its stage matches ``view`` (``view=all`` finds it in any stage)."""
    if name is None:
        return s.ExperimentList(experiments=store.search_experiments(view, name_like))
    if name_like is not None:
        raise InvalidInputError("give name (an exact name) or name_like (a pattern), not both",
                                field="query.name_like")
    found = store.get_experiment_by_name(name)
    keep = found is not None and (view == ViewType.ALL or found.lifecycle_stage == (
        LifecycleStage.ACTIVE if view == ViewType.ACTIVE_ONLY else LifecycleStage.DELETED))
    return s.ExperimentList(experiments=[found] if found is not None and keep else [])


@experiments.get("/{experiment_id}")
def get_experiment(experiment_id: str, store: Store) -> s.ExperimentOut:
    return s.ExperimentOut(experiment=store.get_experiment(experiment_id))


@experiments.delete("/{experiment_id}", status_code=204)
def delete_experiment(experiment_id: str, store: Store) -> None:
    """Soft-delete the experiment and its active runs (restorable)."""
    store.delete_experiment(experiment_id)


@experiments.post("/{experiment_id}/restore", status_code=204)
def restore_experiment(experiment_id: str, store: Store) -> None:
    store.restore_experiment(experiment_id)


@experiments.post("/{experiment_id}/tags", status_code=204)
def set_experiment_tag(experiment_id: str, body: s.SetTag, store: Store) -> None:
    store.set_experiment_tag(experiment_id, body.key, body.value)


# -- Runs --------------------------------------------------------------------------------------


@runs.post("", status_code=201)
def create_run(body: s.CreateRun, store: Store) -> s.RunOut:
    return s.RunOut(run=store.create_run(
        body.experiment_id, run_name=body.run_name, user=body.user, start_time=body.start_time,
        tags=body.tags, parent_run_id=body.parent_run_id, run_id=body.run_id,
    ))


@runs.post("/search")
def search_runs(body: s.SearchRuns, store: Store) -> s.RunPage:
    """One page of runs (POST, because filters are long); see docs/search.md."""
    page = store.search_runs(body.experiment_ids, body.filter, body.order_by, body.max_results,
                             body.page_token, body.view)
    return s.RunPage(runs=page.items, next_page_token=page.next_page_token)


@runs.get("/{run_id}")
def get_run(run_id: str, store: Store) -> s.RunOut:
    return s.RunOut(run=store.get_run(run_id))


@runs.patch("/{run_id}")
def update_run(run_id: str, body: s.UpdateRun, store: Store) -> s.RunInfoOut:
    """Change status, end time or name; a terminal status without ``end_time`` gets now."""
    return s.RunInfoOut(run_info=store.update_run(run_id, status=body.status,
                                                  end_time=body.end_time,
                                                  run_name=body.run_name))


@runs.delete("/{run_id}", status_code=204)
def delete_run(run_id: str, store: Store) -> None:
    store.delete_run(run_id)


@runs.post("/{run_id}/restore", status_code=204)
def restore_run(run_id: str, store: Store) -> None:
    store.restore_run(run_id)


@runs.post("/{run_id}/log-batch", status_code=204)
def log_batch(run_id: str, body: s.LogBatch, store: Store) -> None:
    """Metric points, params and tags in one transaction: all are stored or none."""
    store.log_batch(
        run_id,
        metrics=[Metric(m.key, m.value, m.step, m.timestamp) for m in body.metrics],
        params=body.params, tags=body.tags,
    )


@runs.delete("/{run_id}/tags", status_code=204)
def delete_tag(run_id: str, key: Annotated[str, Query()], store: Store) -> None:
    store.delete_tag(run_id, key)


@runs.get("/{run_id}/metric-history")
def get_metric_history(run_id: str, key: Annotated[str, Query()], store: Store
                       ) -> s.MetricHistory:
    """Every point of one metric, ordered by step then timestamp."""
    return s.MetricHistory(metrics=store.get_metric_history(run_id, key))
