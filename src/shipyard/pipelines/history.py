"""Past pipeline runs: list a pipeline's runs, a run's steps, and resume a failed run; fail
the runs a lost queue worker left RUNNING.

A pipeline run is a run tagged ``shipyard.pipeline`` with one child run per step
(see :mod:`shipyard.pipelines.runner`); everything here is read back from those runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from shipyard.entities.run import ViewType
from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.pipelines.queue import TAG_QUEUE_ERROR, TAG_QUEUE_ID
from shipyard.pipelines.runner import (
    TAG_CACHE_HIT,
    TAG_DURATION,
    TAG_LOST_WORKER,
    TAG_OUTPUT_KIND,
    TAG_PIPELINE,
    TAG_PIPELINE_REF,
    TAG_RESUMED_FROM,
    TAG_STEP,
    TAG_UPSTREAM,
    PipelineRun,
)

if TYPE_CHECKING:
    from shipyard.entities import Run
    from shipyard.sdk.client import Client


@dataclass(frozen=True)
class StepRecord:
    """One step run of a pipeline run, as recorded."""

    name: str
    run_id: str
    status: str
    cache_hit: bool
    duration_s: float | None
    output_kind: str | None
    start_time: int
    upstream: tuple[str, ...] = ()


def _quoted(text: str) -> str:
    if "'" in text:
        raise InvalidInputError(f"{text!r}: a pipeline name may not contain a quote",
                                field="name")
    return f"'{text}'"


def pipeline_runs(c: Client, name: str, max_results: int = 100) -> list[Run]:
    """The runs of the pipeline ``name``, newest first."""
    found = c.search_runs(None, f"tags.`{TAG_PIPELINE}` = {_quoted(name)}",
                          order_by=["attributes.start_time DESC"], max_results=max_results,
                          view=ViewType.ACTIVE_ONLY)
    return list(found)


def latest_ref(c: Client, name: str) -> str:
    """The ``file.py:function`` reference of the newest run of pipeline ``name`` (what
    ``shipyard pipelines schedule NAME`` schedules when no ``--ref`` is given)."""
    for run in pipeline_runs(c, name, max_results=20):
        ref = run.data.tags.get(TAG_PIPELINE_REF)
        if ref and Path(ref.rpartition(":")[0]).is_file():
            return ref
    raise InvalidInputError(
        f"no run of pipeline {name!r} records a pipeline file that exists here; run it once "
        "with `shipyard pipelines run file.py:function` or pass --ref file.py:function",
        field="ref")


def require_pipeline_run(run: Run) -> str:
    """The pipeline name of ``run``; an error when it is not a pipeline run."""
    name = run.data.tags.get(TAG_PIPELINE)
    if name is None or TAG_STEP in run.data.tags:
        raise InvalidInputError(f"run {run.info.run_id} is not a pipeline run", field="run_id")
    return name


def step_records(c: Client, run: Run) -> list[StepRecord]:
    """The step runs of the pipeline run ``run``, in the order they started (upstream
    steps start after the steps they depend on, so this is a dependency order)."""
    found = c.search_runs([run.info.experiment_id],
                          f"attributes.parent_run_id = '{run.info.run_id}'",
                          order_by=["attributes.start_time ASC"], max_results=1000)
    records = []
    for step in found:
        tags = step.data.tags
        if TAG_STEP not in tags:
            continue
        duration: float | None
        if TAG_DURATION in tags:
            duration = float(tags[TAG_DURATION])
        elif step.info.end_time is not None:
            duration = (step.info.end_time - step.info.start_time) / 1000
        else:
            duration = None
        records.append(StepRecord(
            name=step.info.run_name or tags[TAG_STEP], run_id=step.info.run_id,
            status=str(step.info.status), cache_hit=tags.get(TAG_CACHE_HIT) == "True",
            duration_s=duration, output_kind=tags.get(TAG_OUTPUT_KIND) or None,
            start_time=step.info.start_time,
            upstream=tuple(u for u in tags.get(TAG_UPSTREAM, "").split(",") if u)))
    records.sort(key=lambda r: (r.start_time, r.name))
    return _dependency_order(records)


def _dependency_order(records: list[StepRecord]) -> list[StepRecord]:
    """``records`` (in start order) with every step after the steps it takes input from
    (steps taken from the cache may start in the same millisecond as their upstream)."""
    names = {r.name for r in records}
    placed: set[str] = set()
    ordered: list[StepRecord] = []
    waiting = list(records)
    while waiting:
        ready = next((r for r in waiting
                      if all(u in placed or u not in names for u in r.upstream)), waiting[0])
        waiting.remove(ready)
        ordered.append(ready)
        placed.add(ready.name)
    return ordered


def step_counts(records: list[StepRecord]) -> dict[str, int]:
    """How many steps finished (cache hits included), came from the cache and failed."""
    return {"done": sum(r.status == "FINISHED" for r in records),
            "cached": sum(r.cache_hit for r in records),
            "failed": sum(r.status == "FAILED" for r in records)}


def resume(c: Client, run: Run) -> PipelineRun:
    """Run the pipeline of ``run`` again with the same params in the same experiment; its
    successful steps come from the cache, so only the failed and downstream steps run."""
    from shipyard.pipelines.loading import load_pipeline, parse_params
    from shipyard.pipelines.runner import run_pipeline

    require_pipeline_run(run)
    if str(run.info.status) == "FINISHED":
        raise InvalidStateError(f"pipeline run {run.info.run_id} finished; nothing to resume",
                                field="run_id")
    ref = run.data.tags.get(TAG_PIPELINE_REF)
    if ref is None:
        raise InvalidStateError(
            f"pipeline run {run.info.run_id} does not record its file.py:function "
            "reference (it predates resume); run it again with `shipyard pipelines run`",
            field="run_id")
    pipe = load_pipeline(ref)
    params = parse_params(pipe, [f"{k}={v}" for k, v in run.data.params.items()])
    experiment = c.get_experiment(run.info.experiment_id).name
    return run_pipeline(pipe, params, experiment=experiment,
                        tags={TAG_RESUMED_FROM: run.info.run_id})


def queued_pipeline_runs(c: Client, queued_id: str) -> list[Run]:
    """The pipeline runs started for the queued run ``queued_id`` (one per attempt), newest
    first."""
    found = c.search_runs(None, f"tags.`{TAG_QUEUE_ID}` = {_quoted(queued_id)}",
                          order_by=["attributes.start_time DESC"], max_results=100)
    return list(found)


def fail_unfinished(c: Client, queued_id: str, reason: str) -> str | None:
    """Mark FAILED, with the tag ``shipyard.queue.error`` = ``reason``, every pipeline run of
    the queued run ``queued_id`` and every step run under it still RUNNING: their worker is
    gone (killed, or lost the database), so nothing else will end them. Step runs also get
    ``shipyard.step.lost_worker=true``, as after a lost Dask worker. Returns the newest
    pipeline run id (None when the worker never started one)."""
    runs = queued_pipeline_runs(c, queued_id)
    for run in runs:
        steps = c.search_runs([run.info.experiment_id],
                              f"attributes.parent_run_id = '{run.info.run_id}' AND "
                              "attributes.status = 'RUNNING'", max_results=1000)
        for step in steps:  # steps first: a FAILED parent with RUNNING steps would mislead
            c.set_tags(step.info.run_id, {TAG_LOST_WORKER: "true", TAG_QUEUE_ERROR: reason[:500]})
            c.set_terminated(step.info.run_id, "FAILED")
        if str(run.info.status) == "RUNNING":
            c.set_tag(run.info.run_id, TAG_QUEUE_ERROR, reason[:500])
            c.set_terminated(run.info.run_id, "FAILED")
    return runs[0].info.run_id if runs else None
