"""The conformance suite of the tracking protocol.

Every :class:`~shipyard.store.tracking.protocol.TrackingStore` must pass it. Use it from a test
module that defines a ``tracking_store`` fixture::

    from shipyard.testing.tracking_conformance import *  # noqa: F403

Tests create their own experiments with unique names, so they may share one database.
"""

from __future__ import annotations

import math
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from shipyard.entities import LifecycleStage, Metric, RunStatus, ViewType
from shipyard.errors import (
    AlreadyExistsError,
    ConflictError,
    FilterSyntaxError,
    InvalidInputError,
    InvalidStateError,
    NotFoundError,
)
from shipyard.store.tracking.protocol import TrackingStore

__all__ = [name for name in dir() if name.startswith("test_")]  # filled in at the end


def _experiment(store: TrackingStore) -> str:
    return store.create_experiment(f"conformance-{uuid.uuid4().hex[:12]}")


def _run(store: TrackingStore, experiment_id: str | None = None, **kwargs: object) -> str:
    return store.create_run(experiment_id or _experiment(store), user="tester",
                            **kwargs).run_id  # type: ignore[arg-type]


# -- Experiments ---------------------------------------------------------------------------


def test_experiment_round_trip(tracking_store: TrackingStore) -> None:
    name = f"exp-{uuid.uuid4().hex}"
    experiment_id = tracking_store.create_experiment(name, tags={"team": "er"})
    got = tracking_store.get_experiment(experiment_id)
    assert (got.name, got.lifecycle_stage, got.tags) == (name, LifecycleStage.ACTIVE,
                                                         {"team": "er"})
    assert tracking_store.get_experiment_by_name(name) == got
    assert tracking_store.get_experiment_by_name(name + "-missing") is None
    tracking_store.set_experiment_tag(experiment_id, "team", "linkage")
    assert tracking_store.get_experiment(experiment_id).tags == {"team": "linkage"}


def test_experiment_name_must_be_unique(tracking_store: TrackingStore) -> None:
    name = f"dup-{uuid.uuid4().hex}"
    tracking_store.create_experiment(name)
    with pytest.raises(AlreadyExistsError) as info:
        tracking_store.create_experiment(name)
    assert info.value.field == "experiment name"


@pytest.mark.parametrize("name", ["", "   ", "x" * 501])
def test_experiment_bad_name(tracking_store: TrackingStore, name: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        tracking_store.create_experiment(name)
    assert info.value.field == "experiment name"


def test_unknown_experiment(tracking_store: TrackingStore) -> None:
    for missing in ("999999999", "not-a-number"):
        with pytest.raises(NotFoundError) as info:
            tracking_store.get_experiment(missing)
        assert info.value.field == "experiment_id"


def test_delete_and_restore_experiment(tracking_store: TrackingStore) -> None:
    experiment_id = _experiment(tracking_store)
    run_id = _run(tracking_store, experiment_id)
    tracking_store.delete_experiment(experiment_id)
    deleted = {e.experiment_id for e in tracking_store.search_experiments(ViewType.DELETED_ONLY)}
    active = {e.experiment_id for e in tracking_store.search_experiments()}
    assert experiment_id in deleted and experiment_id not in active
    assert tracking_store.get_run(run_id).info.lifecycle_stage == LifecycleStage.DELETED
    with pytest.raises(InvalidStateError):
        tracking_store.create_run(experiment_id)
    with pytest.raises(InvalidStateError):
        tracking_store.restore_run(run_id)  # its experiment is still deleted
    tracking_store.restore_experiment(experiment_id)
    assert tracking_store.get_run(run_id).info.lifecycle_stage == LifecycleStage.ACTIVE


def test_restoring_an_experiment_keeps_runs_deleted_on_their_own(
    tracking_store: TrackingStore,
) -> None:
    experiment_id = _experiment(tracking_store)
    kept, dropped = _run(tracking_store, experiment_id), _run(tracking_store, experiment_id)
    tracking_store.delete_run(dropped)
    tracking_store.delete_experiment(experiment_id)
    tracking_store.restore_experiment(experiment_id)
    assert [r.run_id for r in tracking_store.search_runs([experiment_id])] == [kept]
    assert tracking_store.get_run(dropped).info.lifecycle_stage == LifecycleStage.DELETED


# -- Runs ----------------------------------------------------------------------------------


def test_run_round_trip(tracking_store: TrackingStore) -> None:
    experiment_id = _experiment(tracking_store)
    run = tracking_store.create_run(experiment_id, run_name="lr-baseline", user="ana",
                                    start_time=1_000, tags={"team": "er"})
    got = tracking_store.get_run(run.run_id)
    assert got.info.run_name == "lr-baseline"
    assert got.info.user == "ana"
    assert got.info.status == RunStatus.RUNNING
    assert got.info.start_time == 1_000
    assert got.info.end_time is None
    assert got.info.experiment_id == experiment_id
    assert got.data.tags == {"team": "er"}


def test_run_bad_input_changes_nothing(tracking_store: TrackingStore) -> None:
    experiment_id = _experiment(tracking_store)
    for kwargs, field in (({"run_name": ""}, "run name"), ({"run_name": "r" * 501}, "run name"),
                          ({"user": "u" * 257}, "user"), ({"tags": {"": "x"}}, "tag key")):
        with pytest.raises(InvalidInputError) as info:
            tracking_store.create_run(experiment_id, **kwargs)
        assert info.value.field == field
    assert tracking_store.search_runs([experiment_id]).items == []


def test_run_gets_a_generated_name(tracking_store: TrackingStore) -> None:
    run = tracking_store.get_run(_run(tracking_store))
    assert run.info.run_name.count("-") == 2


def test_finish_sets_end_time(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    info = tracking_store.update_run(run_id, status=RunStatus.FINISHED)
    assert info.status == RunStatus.FINISHED
    assert info.end_time is not None and info.end_time >= info.start_time


def test_nested_runs(tracking_store: TrackingStore) -> None:
    experiment_id = _experiment(tracking_store)
    parent = _run(tracking_store, experiment_id)
    child = _run(tracking_store, experiment_id, parent_run_id=parent)
    assert tracking_store.get_run(child).info.parent_run_id == parent
    children = tracking_store.search_runs([experiment_id], f"parent_run_id = '{parent}'")
    assert [r.run_id for r in children] == [child]
    with pytest.raises(NotFoundError) as info:
        _run(tracking_store, experiment_id, parent_run_id="0" * 32)
    assert info.value.field == "parent_run_id"


def test_unknown_run(tracking_store: TrackingStore) -> None:
    missing = uuid.uuid4().hex
    for call in (
        lambda: tracking_store.get_run(missing),
        lambda: tracking_store.log_batch(missing, params={"a": "1"}),
        lambda: tracking_store.update_run(missing, status=RunStatus.FINISHED),
        lambda: tracking_store.get_metric_history(missing, "f1"),
        lambda: tracking_store.delete_run(missing),
    ):
        with pytest.raises(NotFoundError) as info:
            call()
        assert info.value.field == "run_id"


def test_delete_and_restore_run(tracking_store: TrackingStore) -> None:
    experiment_id = _experiment(tracking_store)
    run_id = _run(tracking_store, experiment_id)
    tracking_store.delete_run(run_id)
    assert tracking_store.search_runs([experiment_id]).items == []
    deleted = tracking_store.search_runs([experiment_id], view=ViewType.DELETED_ONLY)
    assert [r.run_id for r in deleted] == [run_id]
    with pytest.raises(InvalidStateError):
        tracking_store.log_batch(run_id, metrics=[Metric("f1", 1.0, 0, 0)])
    tracking_store.restore_run(run_id)
    assert [r.run_id for r in tracking_store.search_runs([experiment_id])] == [run_id]


# -- Params, tags, metrics -----------------------------------------------------------------


def test_params_are_immutable(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    tracking_store.log_batch(run_id, params={"C": "1.0", "blocking": "postcode"})
    tracking_store.log_batch(run_id, params={"C": "1.0"})  # same value: fine
    with pytest.raises(ConflictError) as info:
        tracking_store.log_batch(run_id, params={"C": "2.0", "new": "x"})
    assert "C" in info.value.message and info.value.field == "param value"
    assert tracking_store.get_run(run_id).data.params == {"C": "1.0", "blocking": "postcode"}


def test_a_failing_batch_changes_nothing(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    tracking_store.log_batch(run_id, params={"C": "1"})
    with pytest.raises(ConflictError):
        tracking_store.log_batch(run_id, metrics=[Metric("f1", 0.5, 0, 1)],
                                 params={"C": "2"}, tags={"t": "v"})
    run = tracking_store.get_run(run_id)
    assert run.data.metrics == {} and run.data.tags == {}
    assert tracking_store.get_metric_history(run_id, "f1") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"": "1"}, "param key"),
        ({"k" * 251: "1"}, "param key"),
        ({"../etc": "1"}, "param key"),
        ({"bad\nkey": "1"}, "param key"),
        ({"ok": "v" * 8001}, "param value"),
    ],
)
def test_bad_params(tracking_store: TrackingStore, params: dict[str, str], field: str) -> None:
    run_id = _run(tracking_store)
    with pytest.raises(InvalidInputError) as info:
        tracking_store.log_batch(run_id, params=params)
    assert info.value.field == field
    assert tracking_store.get_run(run_id).data.params == {}


def test_limits_reach_mlflow_floor(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    key = "k" * 250
    tracking_store.log_batch(run_id, params={key: "v" * 6000}, tags={key: "t" * 8000},
                             metrics=[Metric(key, 1.0, 0, 0)])
    data = tracking_store.get_run(run_id).data
    assert len(data.params[key]) == 6000 and len(data.tags[key]) == 8000


def test_metric_series_keeps_every_point(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    points = [Metric("loss", 1.0 / (step + 1), step, 1000 + step) for step in range(50)]
    points += [Metric("odd", math.nan, 0, 1), Metric("odd", math.inf, 1, 2),
               Metric("odd", -math.inf, 2, 3)]
    tracking_store.log_batch(run_id, metrics=points)
    history = tracking_store.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(m.step, m.value) for m in points[:50]]
    odd = [m.value for m in tracking_store.get_metric_history(run_id, "odd")]
    assert math.isnan(odd[0]) and odd[1:] == [math.inf, -math.inf]
    assert tracking_store.get_run(run_id).data.metrics["loss"] == points[49].value


def test_latest_metric_is_the_highest_step(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    tracking_store.log_batch(run_id, metrics=[Metric("f1", 0.9, 5, 10)])
    tracking_store.log_batch(run_id, metrics=[Metric("f1", 0.1, 2, 20)])  # older step, later
    assert tracking_store.get_run(run_id).data.metrics["f1"] == 0.9
    tracking_store.log_batch(run_id, metrics=[Metric("f1", 0.95, 6, 5)])
    assert tracking_store.get_run(run_id).data.metrics["f1"] == 0.95


def test_no_logging_to_an_ended_run(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    tracking_store.log_batch(run_id, metrics=[Metric("f1", 0.5, 0, 0)], params={"a": "1"})
    tracking_store.update_run(run_id, status=RunStatus.FINISHED)
    with pytest.raises(InvalidStateError) as info:
        tracking_store.log_batch(run_id, metrics=[Metric("f1", 0.9, 1, 1)])
    assert info.value.field == "run_id"
    with pytest.raises(InvalidStateError):
        tracking_store.log_batch(run_id, params={"b": "2"})
    tracking_store.log_batch(run_id, tags={"reviewed": "yes"})  # annotating is allowed
    run = tracking_store.get_run(run_id)
    assert run.data.metrics == {"f1": 0.5} and run.data.params == {"a": "1"}
    assert run.data.tags["reviewed"] == "yes"


def test_tags_can_change_and_be_deleted(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    tracking_store.log_batch(run_id, tags={"stage": "dev", "keep": "1"})
    tracking_store.log_batch(run_id, tags={"stage": "prod"})
    tracking_store.delete_tag(run_id, "stage")
    assert tracking_store.get_run(run_id).data.tags == {"keep": "1"}
    with pytest.raises(NotFoundError):
        tracking_store.delete_tag(run_id, "stage")


def test_concurrent_writers_lose_no_point(tracking_store: TrackingStore) -> None:
    run_ids = [_run(tracking_store) for _ in range(4)]
    errors: list[BaseException] = []

    def work(run_id: str) -> None:
        try:
            for batch in range(20):
                tracking_store.log_batch(run_id, metrics=[
                    Metric("x", float(i), batch * 10 + i, 0) for i in range(10)])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in run_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for run_id in run_ids:
        assert len(tracking_store.get_metric_history(run_id, "x")) == 200


# -- Search --------------------------------------------------------------------------------


@pytest.fixture
def search_runs(tracking_store: TrackingStore) -> tuple[str, dict[str, str]]:
    """Five runs with known values; returns the experiment id and run ids by name."""
    experiment_id = _experiment(tracking_store)
    spec = {
        "lr-a": ({"f1": 0.97, "loss": 0.1}, {"model": "lr", "blocking": "postcode"}, "Team-A"),
        "lr-b": ({"f1": 0.91}, {"model": "lr", "blocking": "surname"}, "team-a"),
        "gb-a": ({"f1": 0.99, "loss": 0.05}, {"model": "gb", "blocking": "postcode"}, "team-b"),
        "gb-b": ({"f1": math.nan}, {"model": "gb", "blocking": "postcode"}, "team-b"),
        "fs": ({}, {"model": "fellegi sunter"}, "team-c"),
    }
    ids = {}
    for start, (name, (metrics, params, team)) in enumerate(spec.items()):
        run_id = tracking_store.create_run(experiment_id, run_name=name, user="u",
                                           start_time=1000 + start, tags={"team": team}).run_id
        tracking_store.log_batch(run_id, metrics=[Metric(k, v, 0, 0) for k, v in
                                                  metrics.items()], params=params)
        ids[name] = run_id
    tracking_store.update_run(ids["fs"], status=RunStatus.FAILED)
    return experiment_id, ids


def _names(store: TrackingStore, experiment_id: str, filter_string: str | None,
           order_by: list[str] | None = None) -> list[str]:
    page = store.search_runs([experiment_id], filter_string, order_by)
    return [run.info.run_name for run in page]


@pytest.mark.parametrize(
    ("filter_string", "expected"),
    [
        ("metrics.f1 > 0.95", {"lr-a", "gb-a"}),
        ("metrics.f1 >= 0.91 and params.model = 'lr'", {"lr-a", "lr-b"}),
        ("metrics.f1 > 0.95 AND params.blocking = 'postcode'", {"lr-a", "gb-a"}),
        ("params.model = 'lr' OR metrics.loss < 0.07", {"lr-a", "lr-b", "gb-a"}),
        ("(params.model = 'gb' or params.model = 'lr') and metrics.loss <= 0.1",
         {"lr-a", "gb-a"}),
        ("params.model != 'lr'", {"gb-a", "gb-b", "fs"}),
        ("params.`model` IN ('gb', 'fellegi sunter')", {"gb-a", "gb-b", "fs"}),
        ("params.model NOT IN ('gb')", {"lr-a", "lr-b", "fs"}),
        ("tags.team LIKE 'team-%'", {"lr-b", "gb-a", "gb-b", "fs"}),
        ("tags.team ILIKE 'team-a'", {"lr-a", "lr-b"}),
        ("tags.team = 'Team-A'", {"lr-a"}),
        ("attributes.status = 'FAILED'", {"fs"}),
        ("run_name LIKE 'gb-%'", {"gb-a", "gb-b"}),
        ("attributes.run_name IN ('fs', 'lr-a')", {"fs", "lr-a"}),
        ("start_time >= 1003", {"gb-b", "fs"}),
        ("metrics.missing > 0", set()),
        ("", {"lr-a", "lr-b", "gb-a", "gb-b", "fs"}),
    ],
)
def test_search_filters(tracking_store: TrackingStore, search_runs: tuple[str, dict[str, str]],
                        filter_string: str, expected: set[str]) -> None:
    experiment_id, _ = search_runs
    assert set(_names(tracking_store, experiment_id, filter_string)) == expected


def test_search_order(tracking_store: TrackingStore,
                      search_runs: tuple[str, dict[str, str]]) -> None:
    experiment_id, _ = search_runs
    # Runs without the metric (or with NaN) come last, whichever the direction.
    assert _names(tracking_store, experiment_id, None, ["metrics.f1 DESC"])[:3] == [
        "gb-a", "lr-a", "lr-b"]
    assert _names(tracking_store, experiment_id, None, ["metrics.f1 ASC"])[:3] == [
        "lr-b", "lr-a", "gb-a"]
    assert _names(tracking_store, experiment_id, "metrics.f1 > 0", ["metrics.f1 DESC"]) == [
        "gb-a", "lr-a", "lr-b"]
    assert _names(tracking_store, experiment_id, None, ["params.model", "run_name DESC"]) == [
        "fs", "gb-b", "gb-a", "lr-b", "lr-a"]
    assert _names(tracking_store, experiment_id, None) == ["fs", "gb-b", "gb-a", "lr-b", "lr-a"]


def test_search_pages_cover_every_run_once(tracking_store: TrackingStore) -> None:
    experiment_id = _experiment(tracking_store)
    made = {_run(tracking_store, experiment_id, start_time=i) for i in range(23)}
    seen: list[str] = []
    token = None
    while True:
        page = tracking_store.search_runs([experiment_id], max_results=5, page_token=token)
        seen += [run.run_id for run in page]
        token = page.next_page_token
        if token is None:
            break
    assert sorted(seen) == sorted(made) and len(seen) == 23


@pytest.mark.parametrize("order", ["metrics.m DESC", "metrics.m ASC", "params.p DESC"])
@pytest.mark.parametrize("page_size", [1, 2, 3, 7])
def test_search_pages_keep_the_order(tracking_store: TrackingStore, order: str,
                                     page_size: int) -> None:
    """Runs without the sort key come after those with it, on every page boundary."""
    experiment_id = _experiment(tracking_store)
    values = [0.5, None, 0.1, 0.9, None, math.nan, 0.3, 0.9, None]
    for i, value in enumerate(values):
        run_id = _run(tracking_store, experiment_id, start_time=i)
        if value is not None:
            tracking_store.log_batch(run_id, metrics=[Metric("m", value, 0, 0)],
                                     params={"p": f"{value:.1f}"})
    whole = [r.run_id for r in tracking_store.search_runs([experiment_id], order_by=[order])]
    paged: list[str] = []
    token = None
    while True:
        page = tracking_store.search_runs([experiment_id], order_by=[order],
                                          max_results=page_size, page_token=token)
        paged += [r.run_id for r in page]
        token = page.next_page_token
        if token is None:
            break
    assert paged == whole and len(whole) == len(values)
    ranked: list[Any]
    if order.startswith("metrics"):
        ranked = [tracking_store.get_run(r).data.metrics.get("m") for r in whole]
        known = [v for v in ranked if v is not None and not math.isnan(v)]
    else:
        ranked = [tracking_store.get_run(r).data.params.get("p") for r in whole]
        known = [v for v in ranked if v is not None]
    assert ranked[: len(known)] == known  # every run with a value first
    assert known == sorted(known, reverse=order.endswith("DESC"))


def test_search_returns_full_runs(tracking_store: TrackingStore,
                                  search_runs: tuple[str, dict[str, str]]) -> None:
    experiment_id, ids = search_runs
    (run,) = tracking_store.search_runs([experiment_id], "run_name = 'lr-a'")
    assert run.run_id == ids["lr-a"]
    assert run.data.metrics == {"f1": 0.97, "loss": 0.1}
    assert run.data.params == {"model": "lr", "blocking": "postcode"}
    assert run.data.tags == {"team": "Team-A"}


@pytest.mark.parametrize(
    ("filter_string", "position"),
    [
        ("metrics.f1 >", 12),
        ("metrics.f1 > 0.9 and", 20),
        ("metrix.f1 > 1", 0),
        ("params.model = 'lr", 15),
        ("metrics.f1 > 0.9)", 16),
    ],
)
def test_search_malformed_filter(tracking_store: TrackingStore, filter_string: str,
                                 position: int) -> None:
    with pytest.raises(FilterSyntaxError) as info:
        tracking_store.search_runs(None, filter_string)
    assert info.value.position == position
    assert info.value.field == "filter"


def test_search_bad_arguments(tracking_store: TrackingStore) -> None:
    with pytest.raises(InvalidInputError) as info:
        tracking_store.search_runs(None, page_token="garbage!")
    assert info.value.field == "page_token"
    with pytest.raises(InvalidInputError) as info:
        tracking_store.search_runs(None, max_results=0)
    assert info.value.field == "max_results"
    with pytest.raises(InvalidInputError) as info:
        tracking_store.search_runs(None, order_by=["metrics.f1 SIDEWAYS"])
    assert info.value.field == "order_by"


# -- Artifacts -----------------------------------------------------------------------------


def test_artifact_tree(tracking_store: TrackingStore, tmp_path: Path) -> None:
    run_id = _run(tracking_store)
    source = tmp_path / "confusion.png"
    source.write_bytes(b"\x89PNG fake image bytes")
    tracking_store.log_artifact_file(run_id, "plots/confusion.png", source)
    tracking_store.log_artifact_bytes(run_id, "model/params.json", b'{"C": 1}')
    tracking_store.log_artifact_bytes(run_id, "notes.txt", b"hello")
    root = tracking_store.list_artifacts(run_id)
    assert [(a.path, a.is_dir) for a in root] == [
        ("model", True), ("notes.txt", False), ("plots", True)]
    (plot,) = tracking_store.list_artifacts(run_id, "plots")
    assert (plot.path, plot.size) == ("plots/confusion.png", source.stat().st_size)
    with tracking_store.open_artifact(run_id, "model/params.json") as stream:
        assert stream.read() == b'{"C": 1}'
    out = tracking_store.download_artifacts(run_id, None, tmp_path / "out")
    assert (out / "plots" / "confusion.png").read_bytes() == source.read_bytes()
    assert (out / "notes.txt").read_text() == "hello"
    one = tracking_store.download_artifacts(run_id, "model", tmp_path / "one")
    assert (one / "params.json").read_bytes() == b'{"C": 1}'


def test_identical_artifacts_are_stored_once(tracking_store: TrackingStore) -> None:
    a, b = _run(tracking_store), _run(tracking_store)
    first = tracking_store.log_artifact_bytes(a, "env.json", b"same bytes")
    second = tracking_store.log_artifact_bytes(b, "copy/env.json", b"same bytes")
    assert first.digest == second.digest and first.digest is not None


@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "/abs.txt", ""])
def test_artifact_path_may_not_escape(tracking_store: TrackingStore, path: str) -> None:
    run_id = _run(tracking_store)
    with pytest.raises(InvalidInputError) as info:
        tracking_store.log_artifact_bytes(run_id, path, b"x")
    assert info.value.field == "artifact path"
    assert tracking_store.list_artifacts(run_id) == []


def test_artifact_file_and_folder_may_not_clash(tracking_store: TrackingStore) -> None:
    run_id = _run(tracking_store)
    tracking_store.log_artifact_bytes(run_id, "model", b"x")
    with pytest.raises(InvalidInputError):
        tracking_store.log_artifact_bytes(run_id, "model/weights.bin", b"y")
    with pytest.raises(NotFoundError):
        tracking_store.open_artifact(run_id, "missing.txt")
    with pytest.raises(NotFoundError):
        tracking_store.list_artifacts(run_id, "nowhere")


# -- Chosen run ids (copying runs between stores) -------------------------------------------


def test_create_run_with_a_chosen_id(tracking_store: TrackingStore) -> None:
    experiment_id = _experiment(tracking_store)
    chosen = uuid.uuid4().hex
    run = tracking_store.create_run(experiment_id, run_name="copied", start_time=5,
                                    run_id=chosen)
    assert run.run_id == chosen
    assert tracking_store.get_run(chosen).info.run_name == "copied"
    with pytest.raises(AlreadyExistsError) as taken:
        tracking_store.create_run(_experiment(tracking_store), run_id=chosen)
    assert taken.value.field == "run_id"
    tracking_store.delete_run(chosen)  # a deleted run keeps its id
    with pytest.raises(AlreadyExistsError):
        tracking_store.create_run(experiment_id, run_id=chosen)
    for bad in ("", "ABCDEF" + chosen[6:], chosen[:31], chosen + "0", "g" * 32, "../" + chosen):
        with pytest.raises(InvalidInputError) as malformed:
            tracking_store.create_run(experiment_id, run_id=bad)
        assert malformed.value.field == "run_id"
    assert [r.run_id for r in tracking_store.search_runs([experiment_id], view=ViewType.ALL)
            ] == [chosen]


__all__ = [name for name in dict(globals()) if name.startswith("test_")] + ["search_runs"]
