"""``shipyard sync``: copy experiments and runs from a source into a Shipyard tracking store.

Sources are any Shipyard store, an MLflow server (REST API) or an MLflow database
(:mod:`shipyard.services.sync_uris` opens them from a URI). What is copied: experiments (matched
by name, with their tags) and their runs: name, user, status, start and end time, lifecycle,
parent, params, tags, every point of every metric, and artifact files.

Idempotent and resumable without bookkeeping tables: a copied run keeps its source run id, so
the destination itself says what is there. Every sync compares each run with the source and
writes only what is missing (:mod:`shipyard.services.sync_run`), and a run gets its final
status only after everything else of it is copied. A second sync therefore copies nothing, and a
sync run again after an interruption (a crash, Ctrl-C, a lost connection) ends in the same
state as one that was never interrupted.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed, wait
from dataclasses import dataclass
from pathlib import Path

from shipyard.entities import Experiment, LifecycleStage, Run, ViewType
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.services.sync_run import ExperimentContext, RunCopier
from shipyard.services.sync_source import SyncSource, search_all_runs
from shipyard.services.sync_types import (
    NoProgress,
    SyncOptions,
    SyncProgress,
    SyncSummary,
    Tally,
)
from shipyard.store.tracking.protocol import TrackingStore

__all__ = ["NoProgress", "SyncOptions", "SyncPlan", "SyncProgress", "SyncSummary", "Tally",
           "plan_sync", "sync"]


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What the source holds to sync: the chosen experiments, each with its runs in the order
    they are copied (parents first)."""

    experiments: list[tuple[Experiment, list[Run]]]

    @property
    def run_count(self) -> int:
        return sum(len(runs) for _, runs in self.experiments)


def plan_sync(source: SyncSource, options: SyncOptions | None = None) -> SyncPlan:
    """List the source (this is where an unreachable source or an unknown experiment name
    fails, before the destination is touched)."""
    options = options or SyncOptions()
    return SyncPlan([(experiment, parents_first(source.runs(experiment,
                                                            options.include_deleted)))
                     for experiment in _selected(source, options)])


def sync(
    source: SyncSource,
    destination: TrackingStore | None,
    options: SyncOptions | None = None,
    progress: SyncProgress | None = None,
    destination_uri: str = "",
    plan: SyncPlan | None = None,
) -> SyncSummary:
    """Copy what ``destination`` lacks from ``source`` and return the counts.

    ``plan`` is :func:`plan_sync`'s listing when the caller made it already. ``destination``
    may be ``None`` only for a dry run into a store that does not exist yet (everything would
    be copied).
    """
    options = options or SyncOptions()
    progress = progress or NoProgress()
    if destination is None and not options.dry_run:
        raise InvalidInputError("a sync needs a destination store", field="destination")
    if options.workers < 1:
        raise InvalidInputError(f"workers must be at least 1, got {options.workers}",
                                field="workers")
    plan = plan or plan_sync(source, options)
    summary = SyncSummary(source.uri, destination_uri, options.dry_run)
    progress.planned(len(plan.experiments), plan.run_count)
    pool = ThreadPoolExecutor(options.workers, "shipyard-sync") if options.workers > 1 else None
    try:
        with tempfile.TemporaryDirectory(prefix="shipyard-sync-") as spool:
            for experiment, runs in plan.experiments:
                progress.experiment_started(experiment.name)
                ctx = _experiment_context(source, destination, options, summary, Path(spool),
                                          experiment)
                if ctx is None:
                    summary.runs.skipped += len(runs)
                    for _ in runs:
                        progress.run_done()
                    continue
                _copy_runs(ctx, runs, summary, progress, pool)
                if (ctx.source_deleted and not ctx.dest_deleted and ctx.dest_id is not None
                        and not options.dry_run and destination is not None):
                    destination.delete_experiment(ctx.dest_id)  # its runs are deleted with it
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    return summary


def _selected(source: SyncSource, options: SyncOptions) -> list[Experiment]:
    found = source.experiments(options.include_deleted)
    if not options.experiments:
        return found
    by_name = {experiment.name: experiment for experiment in found}
    missing = [name for name in options.experiments if name not in by_name]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        where = "" if options.include_deleted else " among its active experiments"
        raise NotFoundError(f"no experiment named {names} at {source.uri}{where}",
                            field="experiment")
    return [by_name[name] for name in dict.fromkeys(options.experiments)]


def parents_first(runs: Iterable[Run]) -> list[Run]:
    """Runs by start time, each parent before its children (so the link can be made), each
    run once."""
    unique: dict[str, Run] = {}
    for run in runs:
        unique.setdefault(run.run_id, run)
    ordered = sorted(unique.values(), key=lambda run: (run.info.start_time, run.run_id))
    placed: set[str] = set()
    result: list[Run] = []
    for run in ordered:
        chain: list[Run] = []  # the run, its parent, its grandparent… not placed yet
        in_chain: set[str] = set()
        current: Run | None = run
        while (current is not None and current.run_id not in placed
               and current.run_id not in in_chain):
            chain.append(current)
            in_chain.add(current.run_id)
            current = unique.get(current.info.parent_run_id or "")
        for link in reversed(chain):
            placed.add(link.run_id)
            result.append(link)
    return result


def levels(runs: list[Run]) -> list[list[Run]]:
    """Runs (parents first) in groups by depth: each run's parent is in an earlier group, so
    the runs of one group can be copied at once."""
    depth: dict[str, int] = {}
    groups: list[list[Run]] = []
    for run in runs:
        parent = run.info.parent_run_id
        level = depth[parent] + 1 if parent is not None and parent in depth else 0
        depth[run.run_id] = level
        if level == len(groups):
            groups.append([])
        groups[level].append(run)
    return groups


def _copy_runs(ctx: ExperimentContext, runs: list[Run], summary: SyncSummary,
               progress: SyncProgress, pool: ThreadPoolExecutor | None) -> None:
    existing: dict[str, Run] = {}
    if ctx.destination is not None and ctx.dest_id is not None:
        existing = {run.run_id: run
                    for run in search_all_runs(ctx.destination, ctx.dest_id, ViewType.ALL)}
    for group in levels(runs):
        copiers = [RunCopier(ctx, run, existing.get(run.run_id)) for run in group]
        if pool is None:
            for copier in copiers:
                summary.merge(copier.copy())
                progress.run_done()
            continue
        futures = [pool.submit(copier.copy) for copier in copiers]
        try:
            for done in as_completed(futures):
                done.result()  # the first failure stops the sync
                progress.run_done()
        except BaseException:
            for future in futures:
                future.cancel()
            wait(futures)  # runs being copied finish: no thread writes once sync() is over
            raise
        for future in futures:  # in plan order, so warnings come in a stable order
            summary.merge(future.result())


def _experiment_context(
    source: SyncSource,
    destination: TrackingStore | None,
    options: SyncOptions,
    summary: SyncSummary,
    spool: Path,
    experiment: Experiment,
) -> ExperimentContext | None:
    """Find or create the destination experiment and align its tags; ``None`` to skip it."""
    found = destination.get_experiment_by_name(experiment.name) if destination else None
    source_deleted = experiment.lifecycle_stage == LifecycleStage.DELETED
    dest_deleted = found is not None and found.lifecycle_stage == LifecycleStage.DELETED
    if dest_deleted and not source_deleted:
        summary.warnings.append(
            f"experiment {experiment.name!r} is deleted at the destination; restore it there "
            "(shipyard experiments restore) to sync it")
        summary.experiments.skipped += 1
        return None
    if found is None:
        summary.experiments.copied += 1
        summary.tags.copied += len(experiment.tags)
        dest_id = None
        if not options.dry_run and destination is not None:
            dest_id = destination.create_experiment(experiment.name, experiment.tags)
    else:
        summary.experiments.present += 1
        dest_id = found.experiment_id
        for key, value in experiment.tags.items():
            if found.tags.get(key) == value:
                summary.tags.present += 1
                continue
            summary.tags.copied += 1
            if not options.dry_run and destination is not None:
                destination.set_experiment_tag(dest_id, key, value)
    return ExperimentContext(
        source=source, destination=destination, options=options,
        spool_dir=spool, name=experiment.name, dest_id=dest_id,
        source_deleted=source_deleted, dest_deleted=dest_deleted,
    )
