"""The fluent API end to end on the embedded store (SQLite + local files)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import shipyard as sy
from shipyard.errors import ConflictError, InvalidInputError, InvalidStateError, NotFoundError
from shipyard.sdk.client import Client
from shipyard.store.db import create_db_engine


def test_the_readme_example(tmp_path: Path, shipyard_home: Path) -> None:
    plot = tmp_path / "confusion.png"
    plot.write_bytes(b"png bytes")
    curve = [0.90, 0.93, 0.96, 0.97]
    with sy.start_run(experiment="er-matching", run_name="lr-baseline",
                      tags={"team": "er"}) as run:
        sy.log_params({"C": 1.0, "blocking": "postcode"})
        for step, f1 in enumerate(curve):
            sy.log_metric("f1", f1, step=step)
        sy.log_artifact(plot)
    with sy.start_run(experiment="er-matching", run_name="weak"):
        sy.log_params({"C": 0.1, "blocking": "postcode"})
        sy.log_metric("f1", 0.8)
    runs = sy.search_runs("metrics.f1 > 0.95 and params.blocking = 'postcode'",
                          order_by=["metrics.f1 DESC"])
    assert [r.run_id for r in runs] == [run.run_id]
    got = runs[0]
    assert got.info.status == sy.RunStatus.FINISHED
    assert got.data.params == {"C": "1.0", "blocking": "postcode"}
    assert got.data.metrics["f1"] == 0.97
    assert got.data.tags["team"] == "er"
    assert [m.value for m in sy.get_metric_history(run.run_id, "f1")] == curve
    assert (shipyard_home / "shipyard.db").exists()
    names = [a.path for a in Client().list_artifacts(run.run_id)]
    assert "confusion.png" in names


def test_points_are_durable_when_the_block_exits(shipyard_home: Path) -> None:
    with sy.start_run(experiment="durable") as run:
        for step in range(5000):
            sy.log_metric("loss", 1 / (step + 1), step=step)
    # A separate engine sees what is committed, not what one process keeps in memory.
    engine = create_db_engine(f"sqlite:///{shipyard_home / 'shipyard.db'}")
    with engine.connect() as conn:
        count = conn.exec_driver_sql(
            "SELECT count(*) FROM metrics WHERE run_id = ?", (run.run_id,)).scalar()
    engine.dispose()
    assert count == 5000


def test_an_exception_fails_the_run_and_keeps_its_points() -> None:
    with pytest.raises(RuntimeError), sy.start_run(experiment="boom") as run:
        sy.log_metric("progress", 1.0)
        sy.log_metric("progress", 2.0, step=1)
        raise RuntimeError("training diverged")
    got = sy.get_run(run.run_id)
    assert got.info.status == sy.RunStatus.FAILED
    assert got.info.end_time is not None
    assert [m.value for m in sy.get_metric_history(run.run_id, "progress")] == [1.0, 2.0]
    assert sy.active_run() is None


def test_nested_runs_become_children() -> None:
    with sy.start_run(experiment="tuning") as parent:
        for trial in range(3):
            with sy.start_run(run_name=f"trial-{trial}") as child:
                sy.log_param("trial", trial)
                assert sy.active_run() is child
        assert sy.active_run() is parent
    children = sy.search_runs(f"parent_run_id = '{parent.run_id}'", order_by=["run_name"])
    assert [r.info.run_name for r in children] == ["trial-0", "trial-1", "trial-2"]
    # Context (git, environment) is recorded on the parent, not again on each child.
    assert "shipyard.python.version" in sy.get_run(parent.run_id).data.tags
    assert "shipyard.python.version" not in children[0].data.tags


def test_nan_and_infinity_are_kept() -> None:
    with sy.start_run(experiment="odd") as run:
        sy.log_metrics({"a": math.nan, "b": math.inf, "c": -math.inf})
    metrics = sy.get_run(run.run_id).data.metrics
    assert math.isnan(metrics["a"]) and metrics["b"] == math.inf and metrics["c"] == -math.inf


def test_logging_needs_an_active_run() -> None:
    with pytest.raises(InvalidStateError) as info:
        sy.log_metric("f1", 1.0)
    assert "start_run" in info.value.message


def test_no_logging_to_a_finished_run() -> None:
    with sy.start_run(experiment="ended") as run:
        sy.log_metric("f1", 0.5)
    client = Client()
    with pytest.raises(InvalidStateError) as info:
        client.log_metric(run.run_id, "f1", 0.9)
    assert info.value.field == "run_id"
    with pytest.raises(InvalidStateError):
        sy.log_params({"late": 1}, run_id=run.run_id)
    sy.delete_run(run.run_id)
    with pytest.raises(InvalidStateError):
        client.log_metric(run.run_id, "f1", 0.9)
    sy.restore_run(run.run_id)
    assert sy.get_run(run.run_id).data.metrics == {"f1": 0.5}


def test_param_conflict_keeps_the_first_value() -> None:
    with sy.start_run(experiment="params") as run:
        sy.log_param("C", 1.0)
        with pytest.raises(ConflictError):
            sy.log_param("C", 2.0)
    assert sy.get_run(run.run_id).data.params == {"C": "1.0"}


def test_bad_metric_input_is_refused_at_the_call() -> None:
    with sy.start_run(experiment="bad"):
        with pytest.raises(InvalidInputError) as info:
            sy.log_metric("", 1.0)
        assert info.value.field == "metric key"
        with pytest.raises(InvalidInputError) as info:
            sy.log_metric("f1", "high")  # type: ignore[arg-type]
        assert info.value.field == "metric value"
        with pytest.raises(InvalidInputError) as info:
            sy.log_metric("f1", 1.0, step=1.5)  # type: ignore[arg-type]
        assert info.value.field == "metric step"


def test_text_dict_and_figure_artifacts(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with sy.start_run(experiment="files") as run:
        sy.log_text("hello", "notes/readme.txt")
        sy.log_dict({"threshold": 0.5, "labels": ["match", "non-match"]}, "config.json")
        figure, axes = plt.subplots()
        axes.plot([0, 1], [0, 1])
        sy.log_figure(figure, "plots/roc.png")
        plt.close(figure)
        with pytest.raises(InvalidInputError):
            sy.log_figure(object(), "plots/x.png")
    client = Client()
    assert client.read_artifact_bytes(run.run_id, "notes/readme.txt") == b"hello"
    assert json.loads(client.read_artifact_bytes(run.run_id, "config.json"))["threshold"] == 0.5
    assert client.read_artifact_bytes(run.run_id, "plots/roc.png").startswith(b"\x89PNG")
    out = client.download_artifacts(run.run_id, "plots", tmp_path / "dl")
    assert (out / "roc.png").stat().st_size > 1000


def test_log_artifacts_keeps_the_layout(tmp_path: Path) -> None:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "weights.bin").write_bytes(b"w" * 100)
    (src / "sub" / "vocab.txt").write_text("a\nb\n")
    with sy.start_run(experiment="files") as run:
        sy.log_artifacts(src, "model")
        with pytest.raises(InvalidInputError) as info:
            sy.log_artifact(tmp_path / "missing.txt")
        assert info.value.field == "local_path"
    listed = Client().list_artifacts(run.run_id, "model")
    assert [(a.path, a.is_dir) for a in listed] == [("model/sub", True),
                                                     ("model/weights.bin", False)]


def test_search_by_experiment_name_and_unknown_names() -> None:
    for name in ("a", "b"):
        with sy.start_run(experiment=name):
            sy.log_metric("m", 1.0)
    assert len(sy.search_runs(experiments="a")) == 1
    assert len(sy.search_runs(experiments=["a", "b"])) == 2
    with pytest.raises(NotFoundError) as info:
        sy.search_runs(experiments="nope")
    assert info.value.field == "experiments"


def test_resume_a_run() -> None:
    with sy.start_run(experiment="resume") as run:
        sy.log_metric("epoch", 1.0, step=1)
    with sy.start_run(run_id=run.run_id):
        sy.log_metric("epoch", 2.0, step=2)
    assert [m.step for m in sy.get_metric_history(run.run_id, "epoch")] == [1, 2]
    assert sy.get_run(run.run_id).info.status == sy.RunStatus.FINISHED


def test_run_context_is_recorded() -> None:
    with sy.start_run(experiment="context") as run:
        pass
    tags = sy.get_run(run.run_id).data.tags
    assert tags["shipyard.user"]
    client = Client()
    environment = json.loads(client.read_artifact_bytes(run.run_id,
                                                        "_shipyard/environment.json"))
    assert "sqlalchemy" in environment["packages"]
    lock = client.read_artifact_bytes(run.run_id, "_shipyard/requirements.lock").decode()
    assert "sqlalchemy==" in lock


def test_user_comes_from_shipyard_user(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIPYARD_USER", "reviewer-bob")
    with sy.start_run(experiment="who") as run:
        pass
    assert sy.get_run(run.run_id).info.user == "reviewer-bob"


def test_artifacts_on_s3(monkeypatch: pytest.MonkeyPatch, s3_bucket_url: str,
                         tmp_path: Path) -> None:
    """The fluent API with SHIPYARD_ARTIFACTS_URI on a local S3 server (moto)."""
    monkeypatch.setenv("SHIPYARD_ARTIFACTS_URI", s3_bucket_url)
    with sy.start_run(experiment="s3") as run:
        sy.log_dict({"threshold": 0.7}, "config.json")
    client = Client()
    assert json.loads(client.read_artifact_bytes(run.run_id, "config.json")) == {
        "threshold": 0.7}
    out = client.download_artifacts(run.run_id, None, tmp_path / "s3-download")
    assert (out / "_shipyard" / "environment.json").exists()
    import boto3

    bucket = s3_bucket_url.removeprefix("s3://").split("/")[0]
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    s3.close()
    assert keys and all(key.startswith("prefix/blobs/") for key in keys)


def test_system_metrics_are_sampled_in_the_background(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("SHIPYARD_SYSTEM_METRICS_INTERVAL", "0.05")
    with sy.start_run(experiment="system", system_metrics=True) as run:
        time.sleep(0.4)
    history = sy.get_metric_history(run.run_id, "system/cpu_utilization_percentage")
    assert len(history) >= 2
    assert [m.step for m in history] == list(range(len(history)))
    assert "system/system_memory_usage_megabytes" in sy.get_run(run.run_id).data.metrics
