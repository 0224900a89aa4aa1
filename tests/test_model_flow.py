"""Models through the registry: log a package with a run, load it by models:/ URI, and write
its Docker build context -- on the embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest

import shipyard as sy
from tests.cli_support import failed, ok

pytest.importorskip("sklearn")
pytest.importorskip("skops")


@pytest.fixture(autouse=True)
def _audit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHIPYARD_AUDIT_KEY", "flow-test-audit-key-0123456789")
    monkeypatch.setenv("SHIPYARD_AUDIT_CHECKPOINT", str(tmp_path / "checkpoint.json"))


def _fitted() -> tuple[object, object]:
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"jaro": [0.1, 0.9, 0.8, 0.2, 0.95, 0.05],
                          "same_zip": [0, 1, 1, 0, 1, 0]})
    labels = [0, 1, 1, 0, 1, 0]
    return LogisticRegression().fit(frame, labels), frame


def test_log_register_load_and_build_context(tmp_path: Path) -> None:
    import numpy as np

    model, frame = _fitted()
    with sy.start_run(experiment="er") as run:
        mv = sy.log_model(model, "er-matcher", input_example=frame.head(3))  # type: ignore[attr-defined]
    assert mv.version == 1 and mv.run_id == run.run_id and mv.flavor == "sklearn"
    assert mv.source == f"runs:/{run.run_id}/model" and mv.digest
    loaded = sy.load_model("models:/er-matcher/1")
    assert np.array_equal(loaded.predict(frame), model.predict(frame))  # type: ignore[attr-defined]
    assert loaded.digest == mv.digest and not loaded.trusted
    with pytest.raises(sy.InvalidInputError, match="jaro"):
        loaded.predict(frame.drop(columns=["jaro"]))  # type: ignore[attr-defined]

    sy.registry.set_alias("er-matcher", "staging", 1)
    out = tmp_path / "context"
    ok("models", "build-context", "models:/er-matcher@staging", "-o", str(out))
    assert "\nFROM python:" in (out / "Dockerfile").read_text()
    requirements = (out / "requirements.txt").read_text()
    assert "scikit-learn==" in requirements and "torch" not in requirements
    assert (out / "model" / "shipyard-model.json").is_file()
    assert "not empty" in failed("models", "build-context", "models:/er-matcher/1", "-o",
                                 str(out)).stderr


def test_a_package_that_no_longer_matches_its_registered_digest_is_refused(
        tmp_path: Path) -> None:
    model, frame = _fitted()
    mv = sy.log_model(model, "er-matcher", input_example=frame.head(2))  # no run: one starts
    cached = sy.load_model("models:/er-matcher@latest").path
    weights = next(p for p in Path(cached).rglob("*.skops"))
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(sy.InvalidInputError, match=r"corrupt|digest|does not match"):
        sy.load_model(f"models:/er-matcher/{mv.version}")
