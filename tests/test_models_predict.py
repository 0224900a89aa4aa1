"""``shipyard models predict`` / ``sy.predict``: batches over dataset versions and files, outputs
equal to in-process predictions, lineage on the run, and bad input refused before anything is
recorded or written."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import shipyard as sy
from shipyard.entities.dataset import DatasetRole
from shipyard.models.loaded import LoadedModel
from tests.cli_support import as_json, failed
from tests.model_support import frame, labels

pytest.importorskip("sklearn")
pytest.importorskip("skops")


@pytest.fixture(autouse=True)
def _audit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "predict-test-audit-key-0123456789")
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))


@pytest.fixture
def model() -> Any:
    """A classifier registered as models:/matcher/1, fitted on x1, x2 and count."""
    from sklearn.linear_model import LogisticRegression

    train = frame(80)
    clf = LogisticRegression().fit(train, labels(train))
    sy.log_model(clf, "matcher", input_example=train.head(5))
    return clf


def _spy_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows the model is asked to predict at each call."""
    seen: list[int] = []
    original = LoadedModel.predict

    def predict(self: LoadedModel, data: Any) -> Any:
        seen.append(len(data))
        return original(self, data)

    monkeypatch.setattr(LoadedModel, "predict", predict)
    return seen


def _predictions_run() -> list[sy.Run]:
    if sy.Client().get_experiment_by_name("predictions") is None:
        return []
    return sy.search_runs(experiments="predictions")


def test_a_dataset_version_in_batches_with_lineage(model: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    data = frame(53, seed=1)
    sy.log_dataset(data, name="records")
    seen = _spy_batches(monkeypatch)
    out = tmp_path / "scores.parquet"
    done = as_json("models", "predict", "models:/matcher/1", "--input", "records@v1", "-o",
                   str(out), "--batch-size", "10", "--proba", "--output-dataset", "scores")
    assert (done["rows"], done["batches"], seen) == (53, 6, [10, 10, 10, 10, 10, 3])
    written = pq.read_table(out).to_pandas()
    assert list(written.columns) == ["prediction", "proba_match", "proba_other"]
    assert np.array_equal(written["prediction"], model.predict(data))
    assert np.allclose(written[["proba_match", "proba_other"]], model.predict_proba(data))

    run = sy.get_run(done["run_id"])
    assert run.info.status == sy.RunStatus.FINISHED
    version = sy.registry.get_version("matcher", 1)
    assert run.data.params["model_uri"] == "models:/matcher/1"
    assert run.data.params["model_digest"] == version.digest == done["model_digest"]
    assert (run.data.params["model_version"], run.data.params["input"]) == ("1", "records@v1")
    assert run.data.metrics["rows"] == 53
    used = {(d.name, d.version, d.role) for d in sy.Client().datasets.run_datasets(run.info.run_id)}
    assert used == {("records", 1, DatasetRole.INPUT), ("scores", 1, DatasetRole.OUTPUT)}
    assert done["output_dataset"] == "scores@v1"
    assert [r.run_id for r in sy.Client().datasets.dataset_runs("scores@v1")] == [run.info.run_id]
    assert sy.load_dataset("scores@v1").equals(written)


def test_a_csv_file_in_several_batches_keeps_ids(model: Any, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data = frame(23, seed=2)
    data.insert(0, "id", [f"row-{i}" for i in range(len(data))])
    source = tmp_path / "in.csv"
    data.to_csv(source, index=False)
    seen = _spy_batches(monkeypatch)
    done = sy.predict("models:/matcher@latest", source, tmp_path / "out.csv", batch_size=7,
                      keep=["id"], output_dataset="csv-scores")
    assert (done.rows, done.batches, seen) == (23, math.ceil(23 / 7), [7, 7, 7, 2])
    written = pd.read_csv(tmp_path / "out.csv")
    assert list(written["id"]) == list(data["id"])
    assert np.array_equal(written["prediction"], model.predict(data.drop(columns=["id"])))

    run = sy.get_run(done.run_id)
    assert run.data.params["input"] == str(source.resolve())
    from shipyard.artifacts.content import hash_file

    assert run.data.params["input_digest"] == hash_file(source).digest
    assert run.data.params["keep"] == "id" and run.data.params["model_version"] == "1"
    used = sy.Client().datasets.run_datasets(done.run_id)
    assert [(d.name, d.role) for d in used] == [("csv-scores", DatasetRole.OUTPUT)]


def test_csv_columns_are_read_as_the_signature_declares_past_the_first_block(
        model: Any, tmp_path: Path) -> None:
    # whole numbers fill the reader's first block (1 MiB), a decimal comes after: inferred
    # from the first block alone, x1 would be int64 and the decimal a conversion error
    rows = 120_000
    data = pd.DataFrame({"x1": np.arange(rows) % 3 - 1, "x2": np.ones(rows),
                         "count": np.arange(rows) % 5}).astype({"x1": object})
    data.loc[rows - 1, "x1"] = 0.25
    source = tmp_path / "wide.csv"
    data.to_csv(source, index=False)
    done = sy.predict("models:/matcher/1", source, tmp_path / "out.parquet", batch_size=50_000)
    assert (done.rows, done.batches) == (rows, 3)
    expected = model.predict(data.astype({"x1": float}).tail(5))
    assert np.array_equal(pq.read_table(tmp_path / "out.parquet")["prediction"]
                          .to_numpy(zero_copy_only=False)[-5:], expected)


def test_bad_input_is_refused_before_a_run_or_an_output_exists(model: Any,
                                                               tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    data = frame(12, seed=3)
    missing = tmp_path / "missing.csv"
    data.drop(columns=["x2"]).to_csv(missing, index=False)
    text = tmp_path / "text.parquet"
    data.astype({"x1": str}).to_parquet(text)
    wrong_csv = tmp_path / "wrong.csv"
    data.assign(x1=["high"] * len(data)).to_csv(wrong_csv, index=False)
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text(name)
    sy.log_dataset(str(folder), name="docs")

    def refused(*args: str) -> str:
        return failed("models", "predict", *args).stderr

    assert "nope" in refused("models:/nope/1", "-i", str(missing), "-o", str(out))
    assert "not a table" in refused("models:/matcher/1", "-i", "docs@v1", "-o", str(out))
    message = refused("models:/matcher/1", "-i", str(missing), "-o", str(out))
    assert "missing column 'x2'" in message and "double" in message
    assert "column 'x1' must be double, got string" in refused(
        "models:/matcher/1", "-i", str(text), "-o", str(out))
    assert "column 'x1' must be double" in refused("models:/matcher/1", "-i", str(wrong_csv),
                                                   "-o", str(out))
    assert "does not exist" in refused("models:/matcher/1", "-i", str(text), "-o",
                                       str(tmp_path / "no-such-folder" / "out.parquet"))
    assert "does not exist" in refused("models:/matcher/1", "-i", "gone.csv", "-o", str(out))
    good = tmp_path / "good.csv"
    data.to_csv(good, index=False)
    assert "cannot keep column 'key'" in refused("models:/matcher/1", "-i", str(good), "-o",
                                                 str(out), "--keep", "x1", "--keep", "key")
    assert _predictions_run() == []
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))) == []


def test_a_failure_mid_way_fails_the_run_and_leaves_no_output(
        model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "in.parquet"
    frame(30, seed=4).to_parquet(source)
    calls: list[int] = []
    original = LoadedModel.predict

    def flaky(self: LoadedModel, data: Any) -> Any:
        calls.append(len(data))
        if len(calls) == 3:
            raise sy.InvalidInputError("the model broke on batch 3", field="data")
        return original(self, data)

    monkeypatch.setattr(LoadedModel, "predict", flaky)
    out = tmp_path / "out.parquet"
    assert "batch 3" in failed("models", "predict", "models:/matcher/1", "-i", str(source),
                               "-o", str(out), "--batch-size", "10").stderr
    (run,) = _predictions_run()
    assert run.info.status == sy.RunStatus.FAILED
    assert [p.name for p in tmp_path.iterdir() if "out" in p.name] == []
