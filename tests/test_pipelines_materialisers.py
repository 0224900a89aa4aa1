"""Model packages and dataset versions between steps; round-trips of the built-in kinds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import shipyard as sy
from shipyard.artifacts.content import ContentStore
from shipyard.entities import DatasetVersion
from shipyard.models import LoadedModel, load_model, save_model
from shipyard.pipelines import find_materialiser, pipeline, run_pipeline, step


@step
def snapshot(n: int) -> DatasetVersion:
    frame = pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 2})
    return sy.log_dataset(frame, "pipeline-data")


@step
def train(data: DatasetVersion) -> LoadedModel:
    from sklearn.linear_model import LogisticRegression

    frame = sy.load_dataset(data.ref)
    model = LogisticRegression().fit(frame[["x"]], frame["y"])
    folder = Path(tempfile.mkdtemp()) / "pkg"
    save_model(model, folder, input_example=frame[["x"]].head(3))
    return load_model(folder)


@step
def score(model: LoadedModel, data: DatasetVersion) -> float:
    frame = sy.load_dataset(data.ref)
    predictions = np.asarray(model.predict(frame[["x"]]))
    return float((predictions == frame["y"].to_numpy()).mean())


@pipeline
def model_flow(n: int = 20) -> object:
    data = snapshot(n)
    return score(train(data), data)


def test_models_and_dataset_versions_flow_between_steps() -> None:
    run = run_pipeline(model_flow)
    assert run.steps["train"].output_kind == "shipyard.model-package"
    assert run.steps["snapshot"].output_kind == "shipyard.dataset-version"
    assert 0.0 <= run.output("score") <= 1.0
    assert isinstance(run.output("train"), LoadedModel)
    assert run.output("snapshot").ref == "pipeline-data@v1"
    again = run_pipeline(model_flow)
    assert all(s.cache_hit for s in again.steps.values())


@pytest.mark.parametrize("value", [
    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}),
    pa.table({"a": [1.5, None]}),
    np.arange(6).reshape(2, 3),
    {"k": [1, 2.5, None, "s"]},
])
def test_round_trips(value: object) -> None:
    store: ContentStore = sy.Client().store.content  # type: ignore[attr-defined]
    materialiser = find_materialiser(type(value))
    assert materialiser is not None
    loaded = materialiser.load(materialiser.save(value, store), store)
    if isinstance(value, pd.DataFrame):
        pd.testing.assert_frame_equal(loaded, value)
    elif isinstance(value, np.ndarray):
        np.testing.assert_array_equal(loaded, value)
    else:
        assert loaded == value
