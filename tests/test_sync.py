"""``shipyard sync`` between Shipyard stores: exact copies, idempotence, resuming, dry runs.

The destination is each backend of the tracking conformance suite: SQLite (local and S3
artifacts), PostgreSQL when SHIPYARD_TEST_DATABASE_URL is set, and a Shipyard server through its
REST client. Interruptions are real failures injected in-process: ``FailingStore`` raises
``BackendError`` at its Nth write, either before the write or after it committed.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shipyard.entities import Metric, RunStatus, ViewType
from shipyard.errors import BackendError, NotFoundError
from shipyard.services.sync import SyncOptions, SyncSummary, sync
from shipyard.services.sync_source import StoreSource
from shipyard.store.tracking.protocol import TrackingStore
from shipyard.store.tracking.sql import SqlTrackingStore
from tests.sync_support import FailingStore, dump, seed, sqlite_store, totals

ALL = SyncOptions(include_deleted=True)
SMALL = SyncOptions(include_deleted=True, batch_metrics=400, batch_params=2, batch_tags=2)
ONE_BY_ONE = dataclasses.replace(SMALL, workers=1)  # writes in a fixed order


@pytest.fixture
def source(tmp_path: Path) -> Iterator[tuple[SqlTrackingStore, list[str]]]:
    store = sqlite_store(tmp_path / "source")
    yield store, seed(store)
    store.engine.dispose()


@pytest.fixture
def destination(tracking_store: TrackingStore) -> TrackingStore:
    """Every backend the conformance suite runs on: SQLite with local or S3 artifacts,
    PostgreSQL (when configured), and a Shipyard server through the REST client."""
    return tracking_store


def reader(store: TrackingStore) -> StoreSource:
    return StoreSource(store, "source")


def counts(summary: SyncSummary, column: str = "copied") -> dict[str, int]:
    return {name: getattr(tally, column) for name, tally in summary.tallies().items()}


def run_id(store: TrackingStore, experiment: str, name: str) -> str:
    found = store.get_experiment_by_name(experiment)
    assert found is not None
    (run,) = store.search_runs([found.experiment_id], f"run_name = '{name}'",
                               view=ViewType.ALL)
    return run.run_id


# -- A full copy, then nothing ----------------------------------------------------------------


def test_sync_copies_everything_exactly(source: tuple[SqlTrackingStore, list[str]],
                                        destination: TrackingStore) -> None:
    store, names = source
    want = dump(store, names)
    summary = sync(reader(store), destination, SMALL)
    assert dump(destination, names) == want
    assert summary.warnings == []
    assert counts(summary) == totals(want)
    assert counts(summary, "present") == dict.fromkeys(totals(want), 0)
    sizes = [size for e in want.values() for r in e["runs"].values()
             for size, _, _ in r["artifacts"].values()]
    assert summary.artifact_bytes == sum(sizes) > 300_000

    # Statuses, times and lifecycles are the source's; a live run stays RUNNING.
    alpha = want[names[0]]["runs"]
    assert {info[0]: (info[2], info[4], info[5]) for info in
            (run["info"] for run in alpha.values())} == {
        "lr": ("FINISHED", 9_000, "active"), "lr-child": ("FAILED", 9_500, "active"),
        "live": ("RUNNING", None, "active"), "killed": ("KILLED", 3_500, "active"),
        "dropped": ("FINISHED", 4_100, "deleted")}
    assert dump(destination, names)[names[2]]["stage"] == "deleted"

    again = sync(reader(store), destination, SMALL)
    assert counts(again) == dict.fromkeys(totals(want), 0)
    assert counts(again, "present") == totals(want)
    assert again.artifact_bytes == 0 and not again.copied_anything
    assert dump(destination, names) == want


def test_every_store_is_a_source(tracking_store: TrackingStore, tmp_path: Path) -> None:
    """Any tracking store reads as a source: S3 artifacts, PostgreSQL, a Shipyard server."""
    names = seed(tracking_store)
    dest = sqlite_store(tmp_path / "destination")
    # Only this test's experiments: a PostgreSQL store is shared by the whole test session.
    summary = sync(reader(tracking_store), dest,
                   dataclasses.replace(SMALL, experiments=tuple(names)))
    assert summary.warnings == []
    assert dump(dest, names) == dump(tracking_store, names)
    dest.engine.dispose()


def test_deleted_experiments_and_runs_are_left_out_by_default(
    source: tuple[SqlTrackingStore, list[str]], tmp_path: Path,
) -> None:
    store, names = source
    dest = sqlite_store(tmp_path / "destination")
    sync(reader(store), dest)
    want = dump(store, names)
    del want[names[2]]
    want[names[0]]["runs"] = {rid: run for rid, run in want[names[0]]["runs"].items()
                              if run["info"][0] != "dropped"}
    assert dump(dest, names) == want
    dest.engine.dispose()


# -- Resuming ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_resume_after_an_interruption_at_any_write(
    source: tuple[SqlTrackingStore, list[str]], tmp_path: Path,
) -> None:
    """Interrupt the sync at every write in turn, before and after it commits; the sync run
    again must end exactly where an uninterrupted one does, and a third copies nothing."""
    store, names = source
    want = dump(store, names)
    counter = FailingStore(tmp_path / "count")
    sync(reader(store), counter, ONE_BY_ONE)
    writes = counter.writes
    counter.engine.dispose()
    assert writes > 20
    empty = tmp_path / "empty"
    sqlite_store(empty).engine.dispose()  # a migrated, empty store to start each try from
    for after in (False, True):
        for fail_at in range(1, writes + 1):
            folder = tmp_path / f"try-{after}-{fail_at}"
            shutil.copytree(empty, folder)
            dest = FailingStore(folder, fail_at=fail_at, after=after)
            with pytest.raises(BackendError, match="injected failure"):
                sync(reader(store), dest, ONE_BY_ONE)
            dest.fail_at = None  # the same store, working again: run the sync again
            sync(reader(store), dest, SMALL)
            assert dump(dest, names) == want, (after, fail_at)
            assert not sync(reader(store), dest, SMALL).copied_anything
            dest.engine.dispose()
            shutil.rmtree(folder)


@pytest.mark.parametrize("workers", [1, 8])
def test_repeated_interruptions_still_finish(source: tuple[SqlTrackingStore, list[str]],
                                             tmp_path: Path, workers: int) -> None:
    """Interrupted again and again (with 8 workers, while other runs are being copied), each
    sync makes progress and the last one ends in the same state."""
    store, names = source
    folder = tmp_path / "destination"
    options = dataclasses.replace(SMALL, workers=workers)
    for attempt in range(1, 200):
        failing = FailingStore(folder, fail_at=3, after=attempt % 2 == 0)
        try:
            sync(reader(store), failing, options)
            break
        except BackendError:
            pass
        finally:
            failing.engine.dispose()
    assert attempt > 10  # it was interrupted many times
    dest = sqlite_store(folder)
    assert dump(dest, names) == dump(store, names)
    assert not sync(reader(store), dest, options).copied_anything
    dest.engine.dispose()


def test_later_changes_at_the_source_are_added(source: tuple[SqlTrackingStore, list[str]],
                                               destination: TrackingStore) -> None:
    """A run that goes on at the source, and a finished run reopened there and given more
    points, params, tags and a changed artifact, are completed at the destination; a
    finished destination run is reopened for it and finished again."""
    store, names = source
    sync(reader(store), destination, ALL)
    live, lr = run_id(store, names[0], "live"), run_id(store, names[0], "lr")
    store.log_batch(live, metrics=[Metric("loss", 0.1, 9, 2_100), Metric("acc", 0.8, 0, 2_100)])
    store.update_run(live, status=RunStatus.FINISHED, end_time=2_200)
    store.update_run(lr, status=RunStatus.RUNNING)
    store.log_batch(lr, metrics=[Metric("loss", 0.01, 30, 10_030)], params={"late": "yes"},
                    tags={"stage": "prod"})
    store.log_artifact_bytes(lr, "plots/roc.png", b"\x89PNG redrawn")
    store.update_run(lr, status=RunStatus.FINISHED, end_time=9_999)

    summary = sync(reader(store), destination, ALL)
    assert dump(destination, names) == dump(store, names)
    assert (summary.runs.copied, summary.metric_points.copied, summary.params.copied,
            summary.tags.copied, summary.artifacts.copied) == (2, 3, 1, 1, 1)
    assert destination.get_run(lr).info.end_time == 9_999


def test_deleting_at_the_source_deletes_at_the_destination(
    source: tuple[SqlTrackingStore, list[str]], destination: TrackingStore,
) -> None:
    store, names = source
    sync(reader(store), destination, ALL)
    killed = run_id(store, names[0], "killed")
    store.delete_run(killed)
    store.delete_experiment(store.get_experiment_by_name(names[1]).experiment_id)  # type: ignore[union-attr]
    sync(reader(store), destination, ALL)
    assert dump(destination, names) == dump(store, names)


def test_incomplete_deleted_copies_are_restored_completed_and_deleted_again(
    source: tuple[SqlTrackingStore, list[str]], destination: TrackingStore,
) -> None:
    """Destination runs that are deleted (alone, or with their experiment) like their source
    runs but lack data are restored while written to, then deleted again."""
    store, names = source
    dropped, old = run_id(store, names[0], "dropped"), run_id(store, names[2], "old")
    alpha = destination.create_experiment(names[0])
    destination.create_run(alpha, run_name="dropped", user="bo", start_time=4_000,
                           run_id=dropped)
    destination.delete_run(dropped)
    gone = destination.create_experiment(names[2], tags={"why": "old"})
    destination.create_run(gone, run_name="old", user="cy", start_time=7_000, run_id=old)
    destination.update_run(old, status=RunStatus.FINISHED, end_time=7_100)
    destination.delete_experiment(gone)
    summary = sync(reader(store), destination, ALL)
    assert summary.warnings == []
    assert dump(destination, names) == dump(store, names)
    assert destination.get_run(dropped).data.params == {"x": "1"}
    assert [m.value for m in destination.get_metric_history(old, "m")] == [1.0]


# -- Dry runs and filters ---------------------------------------------------------------------


def test_dry_run_writes_nothing_and_reports_what_a_sync_copies(
    source: tuple[SqlTrackingStore, list[str]], tmp_path: Path,
) -> None:
    store, names = source
    planned = sync(reader(store), None, SyncOptions(include_deleted=True, dry_run=True))
    assert planned.dry_run and planned.copied_anything
    folder = tmp_path / "destination"
    dest = sqlite_store(folder)
    real = sync(reader(store), dest, ALL)
    assert counts(planned) == counts(real) and planned.artifact_bytes == real.artifact_bytes
    dest.engine.dispose()

    # Against a half-synced store: the dry run changes nothing and foresees the resume.
    half = tmp_path / "half"
    failing = FailingStore(half, fail_at=12)
    with pytest.raises(BackendError):
        sync(reader(store), failing, SMALL)
    failing.engine.dispose()
    partial = sqlite_store(half)
    before = dump(partial, names)
    dry = sync(reader(store), partial, SyncOptions(include_deleted=True, dry_run=True,
                                                  batch_params=2, batch_tags=2))
    assert dump(partial, names) == before
    resumed = sync(reader(store), partial, SMALL)
    for column in ("copied", "present", "skipped"):
        assert counts(dry, column) == counts(resumed, column), column
    assert dump(partial, names) == dump(store, names)
    partial.engine.dispose()


def test_experiment_filter(source: tuple[SqlTrackingStore, list[str]],
                           destination: TrackingStore) -> None:
    store, names = source
    summary = sync(reader(store), destination, SyncOptions(experiments=(names[1],)))
    assert list(dump(destination, names)) == [names[1]]
    assert summary.runs.copied == 1
    with pytest.raises(NotFoundError) as info:
        sync(reader(store), destination, SyncOptions(experiments=("no-such-experiment",)))
    assert info.value.field == "experiment" and "no-such-experiment" in info.value.message
    with pytest.raises(NotFoundError):  # deleted: only with include_deleted
        sync(reader(store), destination, SyncOptions(experiments=(names[2],)))
    sync(reader(store), destination, SyncOptions(experiments=(names[2], names[1]),
                                                 include_deleted=True))
    assert sorted(dump(destination, names)) == sorted(names[1:])


# -- What cannot be copied is reported, not hidden --------------------------------------------


def _warnings(summary: SyncSummary, text: str) -> list[str]:
    return [w for w in summary.warnings if text in w]


def test_conflicts_at_the_destination_are_skipped_with_warnings(
    source: tuple[SqlTrackingStore, list[str]], destination: TrackingStore,
) -> None:
    store, names = source
    lr, big = run_id(store, names[0], "lr"), run_id(store, names[1], "big")
    alpha = destination.create_experiment(names[0])
    destination.create_run(alpha, run_name="lr", run_id=lr)
    destination.log_batch(lr, params={"C": "2.0"})  # params cannot change: kept, reported
    elsewhere = destination.create_experiment(f"{names[0]}-elsewhere")
    destination.create_run(elsewhere, run_id=big)  # the id is taken in another experiment
    summary = sync(reader(store), destination, ALL)
    assert len(_warnings(summary, "param 'C' is '2.0' at the destination")) == 1
    assert summary.params.skipped == 1
    assert len(_warnings(summary, f"already exists at the destination in experiment "
                                  f"'{names[0]}-elsewhere'")) == 1
    assert summary.runs.skipped == 1
    assert destination.get_run(lr).data.params == {"C": "2.0", "blocking": "postcode"}
    assert len(destination.get_metric_history(lr, "loss")) == 30


def test_deleted_at_the_destination_is_not_undone(
    source: tuple[SqlTrackingStore, list[str]], destination: TrackingStore,
) -> None:
    store, names = source
    sync(reader(store), destination)
    killed = run_id(store, names[0], "killed")
    destination.delete_run(killed)
    beta = destination.get_experiment_by_name(names[1])
    assert beta is not None
    destination.delete_experiment(beta.experiment_id)
    summary = sync(reader(store), destination)
    assert len(_warnings(summary, "is deleted at the destination")) == 2
    assert (summary.experiments.skipped, summary.runs.skipped) == (1, 2)
    assert destination.get_run(killed).info.lifecycle_stage == "deleted"


def test_a_parent_left_out_is_reported(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path / "source")
    home = store.create_experiment("home")
    parent = store.create_run(home, run_name="parent").run_id
    other = store.create_experiment("other")
    child = store.create_run(other, run_name="child", parent_run_id=parent).run_id
    dest = sqlite_store(tmp_path / "destination")
    summary = sync(reader(store), dest, SyncOptions(experiments=("other",)))
    assert _warnings(summary, f"its parent run {parent} is not at the destination")
    assert dest.get_run(child).info.parent_run_id is None
    summary = sync(reader(store), dest)  # the parent comes later; the child keeps no link
    assert summary.runs.copied == 1
    for opened in (store, dest):
        opened.engine.dispose()


def test_parents_are_created_before_their_children(tmp_path: Path) -> None:
    """Even when a child started before its parent (clock skew), the link is kept."""
    store = sqlite_store(tmp_path / "source")
    home = store.create_experiment("home")
    parent = store.create_run(home, run_name="parent", start_time=500).run_id
    child = store.create_run(home, run_name="child", start_time=100, parent_run_id=parent)
    grandchild = store.create_run(home, run_name="g", start_time=50,
                                  parent_run_id=child.run_id).run_id
    dest = sqlite_store(tmp_path / "destination")
    summary = sync(reader(store), dest)
    assert summary.warnings == []
    assert dest.get_run(grandchild).info.parent_run_id == child.run_id
    assert dest.get_run(child.run_id).info.parent_run_id == parent
    for opened in (store, dest):
        opened.engine.dispose()


def test_summary_as_json_shape(source: tuple[SqlTrackingStore, list[str]],
                               tmp_path: Path) -> None:
    store, _ = source
    dest = sqlite_store(tmp_path / "destination")
    document: dict[str, Any] = sync(reader(store), dest, destination_uri="dst").to_dict()
    assert set(document) == {"source", "destination", "dry_run", "experiments", "runs",
                             "params", "tags", "metric_points", "artifacts", "artifact_bytes",
                             "warnings"}
    assert document["runs"] == {"copied": 5, "present": 0, "skipped": 0}
    assert (document["source"], document["destination"]) == ("source", "dst")
    dest.engine.dispose()
