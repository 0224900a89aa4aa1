"""Model packages: every flavor round-trips, signatures catch bad input, nothing untrusted runs
unless asked, corruption is caught, and a build context scores in a fresh virtualenv."""

from __future__ import annotations

import json
import logging
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shipyard.artifacts.content import hash_file
from shipyard.errors import AlreadyExistsError, InvalidInputError
from shipyard.models import (
    MANIFEST_NAME,
    ColumnSpec,
    CorruptedPackageError,
    Schema,
    Signature,
    TensorSpec,
    UntrustedModelError,
    check_input,
    infer_signature,
    load_model,
    read_manifest,
    save_model,
    write_build_context,
)
from shipyard.models.manifest import parse_manifest
from shipyard.models.score import main as score_main
from tests.model_support import Doubler, MeanModel, TouchOnUnpickle, frame, labels

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return frame()


@pytest.fixture(scope="module")
def classifier(data: pd.DataFrame) -> object:
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(data, labels(data))


def rewrite_manifest(package: Path, **changes: object) -> None:
    body = json.loads((package / MANIFEST_NAME).read_text())
    body.update(changes)
    (package / MANIFEST_NAME).write_text(json.dumps(body))


def replace_file(package: Path, relative: str, content: bytes) -> None:
    """Swap a package file and fix its manifest entry, as a deliberate attacker would."""
    (package / relative).write_bytes(content)
    body = json.loads((package / MANIFEST_NAME).read_text())
    blob = hash_file(package / relative)
    for entry in body["files"]:
        if entry["path"] == relative:
            entry.update(digest=blob.digest, size=blob.size)
    (package / MANIFEST_NAME).write_text(json.dumps(body))


# --- round trips, one per flavor ------------------------------------------------------------

def test_sklearn_round_trip(tmp_path: Path, data: pd.DataFrame, classifier: object) -> None:
    manifest = save_model(classifier, tmp_path / "pkg", input_example=data.head(5), run_id="r1")
    assert manifest.flavor == "sklearn" and not manifest.requires_trust
    assert manifest.run_id == "r1"
    assert [f.path for f in manifest.files] == ["input_example.parquet", "model/model.skops"]
    assert set(manifest.runtime_packages) == {"scikit-learn", "skops"}
    assert manifest.environment["packages"]["numpy"] == np.__version__  # type: ignore[index]
    assert manifest.signature is not None
    assert manifest.signature.inputs.columns == (
        ColumnSpec("x1", "double"), ColumnSpec("x2", "double"), ColumnSpec("count", "int64"))
    assert manifest.signature.outputs == Schema(columns=(ColumnSpec("prediction", "string"),))

    model = load_model(tmp_path / "pkg")
    assert model.flavor == "sklearn" and model.trusted is False
    assert type(model.raw).__name__ == "Pipeline"
    np.testing.assert_array_equal(model.predict(data), classifier.predict(data))  # type: ignore[attr-defined]
    np.testing.assert_allclose(model.predict_proba(data),
                               classifier.predict_proba(data))  # type: ignore[attr-defined]
    assert model.input_example().num_rows == 5
    assert model.digest == read_manifest(tmp_path / "pkg").digest


def test_sklearn_on_arrays_has_a_tensor_signature(tmp_path: Path, data: pd.DataFrame) -> None:
    x = data.to_numpy(dtype=np.float64)
    reg = LinearRegression().fit(x, x[:, 0] * 3 + 1)
    manifest = save_model(reg, tmp_path / "pkg", input_example=x[:3])
    assert manifest.signature is not None
    assert manifest.signature.inputs.tensors == (TensorSpec("double", (-1, 3)),)
    model = load_model(tmp_path / "pkg")
    np.testing.assert_allclose(model.predict(x), reg.predict(x))
    assert not model.has_predict_proba
    with pytest.raises(InvalidInputError, match="no predict_proba"):
        model.predict_proba(x)
    # a table feeds a 2-D tensor by its columns, in order (how a CSV file reaches it)
    np.testing.assert_allclose(model.predict(data), reg.predict(x))


def test_xgboost_round_trip(tmp_path: Path, data: pd.DataFrame) -> None:
    xgboost = pytest.importorskip("xgboost")
    y = (labels(data) == "match").astype(int)
    clf = xgboost.XGBClassifier(n_estimators=8, max_depth=2).fit(data, y)
    manifest = save_model(clf, tmp_path / "clf", input_example=data.head(4))
    assert manifest.flavor == "xgboost" and manifest.loader["class"] == "XGBClassifier"
    assert "xgboost-cpu" in manifest.runtime_packages
    model = load_model(tmp_path / "clf")
    assert type(model.raw) is xgboost.XGBClassifier
    np.testing.assert_array_equal(model.predict(data), clf.predict(data))
    np.testing.assert_allclose(model.predict_proba(data), clf.predict_proba(data))

    booster = xgboost.train({"max_depth": 2}, xgboost.DMatrix(data, label=y), num_boost_round=5)
    save_model(booster, tmp_path / "booster", input_example=data.head(4))
    loaded = load_model(tmp_path / "booster")
    np.testing.assert_allclose(loaded.predict(data), booster.predict(xgboost.DMatrix(data)))


def test_lightgbm_round_trip(tmp_path: Path, data: pd.DataFrame) -> None:
    lightgbm = pytest.importorskip("lightgbm")
    clf = lightgbm.LGBMClassifier(n_estimators=10, min_child_samples=5, verbose=-1)
    clf.fit(data, labels(data))
    manifest = save_model(clf, tmp_path / "clf", input_example=data.head(4))
    assert manifest.loader["classes"] == ["match", "other"]
    model = load_model(tmp_path / "clf")
    assert isinstance(model.raw, lightgbm.Booster)
    np.testing.assert_array_equal(model.predict(data), clf.predict(data))
    np.testing.assert_allclose(model.predict_proba(data), clf.predict_proba(data))

    reg = lightgbm.LGBMRegressor(n_estimators=10, min_child_samples=5, verbose=-1)
    reg.fit(data, data["x1"] * 2)
    save_model(reg, tmp_path / "reg", input_example=data.head(4))
    np.testing.assert_allclose(load_model(tmp_path / "reg").predict(data), reg.predict(data))


def test_torch_round_trip_without_torch_load(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    torch = pytest.importorskip("torch")
    from tests.model_support import TinyNet

    torch.manual_seed(0)
    net = TinyNet(n_in=4, n_hidden=6).eval()
    x = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    manifest = save_model(net, tmp_path / "pkg", input_example=x[:2],
                          init_kwargs={"n_in": 4, "n_hidden": 6})
    assert manifest.loader["class"] == "tests.model_support:TinyNet"
    assert manifest.signature is not None
    assert manifest.signature.inputs.tensors == (TensorSpec("float", (-1, 4)),)
    assert {"torch", "safetensors"} <= set(manifest.runtime_packages)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the torch flavor must not unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    model = load_model(tmp_path / "pkg")
    with torch.inference_mode():
        expected = net(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.predict(x), expected, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x.astype(np.float64)), expected, rtol=1e-6)


def test_torch_needs_its_constructor_arguments(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from tests.model_support import TinyNet

    with pytest.raises(InvalidInputError, match="init_kwargs"):
        save_model(TinyNet(n_in=3), tmp_path / "pkg")
    assert list(tmp_path.iterdir()) == []  # no package, no leftover staging folder


def test_onnx_round_trip(tmp_path: Path, data: pd.DataFrame) -> None:
    pytest.importorskip("onnxruntime")
    skl2onnx = pytest.importorskip("skl2onnx")
    x = data.to_numpy(dtype=np.float32)
    reg = LinearRegression().fit(x, x[:, 0] * 2 - x[:, 1])
    onx = skl2onnx.to_onnx(reg, x[:1])
    manifest = save_model(onx, tmp_path / "pkg")  # no example: the graph declares the input
    assert manifest.flavor == "onnx"
    assert manifest.signature == Signature(Schema(tensors=(TensorSpec("float", (-1, 3)),)))
    model = load_model(tmp_path / "pkg")
    np.testing.assert_allclose(model.predict(x).ravel(), reg.predict(x), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.predict(x.astype(np.float64)).ravel(), reg.predict(x),
                               rtol=1e-4, atol=1e-5)  # double -> float is a safe coercion

    clf = LogisticRegression().fit(x, labels(data))
    save_model(skl2onnx.to_onnx(clf, x[:1]), tmp_path / "clf", input_example=data.head(3))
    loaded = load_model(tmp_path / "clf")  # a table feeds the graph's one input as a matrix
    np.testing.assert_array_equal(loaded.predict(data), clf.predict(x))
    np.testing.assert_allclose(loaded.predict_proba(data), clf.predict_proba(x), atol=1e-5)


def test_python_model_round_trip(tmp_path: Path, data: pd.DataFrame) -> None:
    manifest = save_model(MeanModel(0.5), tmp_path / "pkg", input_example=data.head(3))
    assert manifest.flavor == "python"
    assert manifest.loader["class"] == "tests.model_support:MeanModel"
    model = load_model(tmp_path / "pkg")
    np.testing.assert_allclose(model.predict(data), MeanModel(0.5).predict(data))


def test_python_flavor_only_builds_python_models(tmp_path: Path, data: pd.DataFrame) -> None:
    save_model(MeanModel(1.0), tmp_path / "pkg")
    body = json.loads((tmp_path / "pkg" / MANIFEST_NAME).read_text())
    rewrite_manifest(tmp_path / "pkg", loader={**body["loader"], "class": "os:getcwd"})
    with pytest.raises(CorruptedPackageError, match=r"not a shipyard\.models\.PythonModel"):
        load_model(tmp_path / "pkg")


# --- trust --------------------------------------------------------------------------------------

def test_malicious_pickle_is_refused_by_default(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    manifest = save_model(TouchOnUnpickle(marker), tmp_path / "pkg", flavor="pickle")
    assert manifest.requires_trust is True
    assert not marker.exists()  # pickling does not run the payload

    with pytest.raises(UntrustedModelError, match="trust=True") as refused:
        load_model(tmp_path / "pkg")
    assert refused.value.code == "PERMISSION_DENIED"
    assert not marker.exists()

    # trust=True really unpickles: the payload runs (and its result is no model)
    with pytest.raises(InvalidInputError, match="no predict"):
        load_model(tmp_path / "pkg", trust=True)
    assert marker.exists()


def test_pickle_loads_with_trust_and_says_so(tmp_path: Path, data: pd.DataFrame,
                                             classifier: object,
                                             caplog: pytest.LogCaptureFixture) -> None:
    save_model(classifier, tmp_path / "pkg", flavor="pickle", input_example=data.head(3))
    with caplog.at_level(logging.INFO, logger="shipyard.models"):
        model = load_model(tmp_path / "pkg", trust=True)
    assert model.trusted is True
    np.testing.assert_array_equal(model.predict(data), classifier.predict(data))  # type: ignore[attr-defined]
    warning = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning and "trust=True" in warning[0].getMessage()


def test_pickle_disguised_as_sklearn_never_runs(tmp_path: Path, classifier: object) -> None:
    marker = tmp_path / "pwned"
    save_model(classifier, tmp_path / "pkg")
    replace_file(tmp_path / "pkg", "model/model.skops", pickle.dumps(TouchOnUnpickle(marker)))
    for trust in (False, True):  # skops never unpickles, trusted or not
        with pytest.raises(CorruptedPackageError, match="not a skops file"):
            load_model(tmp_path / "pkg", trust=trust)
    assert not marker.exists()


def test_skops_untrusted_type_needs_trust(tmp_path: Path, data: pd.DataFrame) -> None:
    pipe = make_pipeline(Doubler(), LinearRegression()).fit(data, data["x1"])
    manifest = save_model(pipe, tmp_path / "pkg", input_example=data.head(3))
    assert manifest.requires_trust is True
    assert manifest.loader["untrusted_types"] == ["tests.model_support.Doubler"]
    with pytest.raises(UntrustedModelError, match=r"tests\.model_support\.Doubler"):
        load_model(tmp_path / "pkg")
    model = load_model(tmp_path / "pkg", trust=True)
    np.testing.assert_allclose(model.predict(data), pipe.predict(data))


# --- corruption and identity ------------------------------------------------------------------

def test_tampered_file_is_detected_by_digest(tmp_path: Path, classifier: object) -> None:
    save_model(classifier, tmp_path / "pkg")
    skops_file = tmp_path / "pkg" / "model" / "model.skops"
    damaged = bytearray(skops_file.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    skops_file.write_bytes(bytes(damaged))
    with pytest.raises(CorruptedPackageError, match=r"corrupted package: model/model\.skops") as e:
        load_model(tmp_path / "pkg")
    assert e.value.field == "model/model.skops"

    skops_file.unlink()
    with pytest.raises(CorruptedPackageError, match=r"model/model\.skops is missing"):
        load_model(tmp_path / "pkg")


def test_unlisted_model_file_is_refused(tmp_path: Path, classifier: object) -> None:
    save_model(classifier, tmp_path / "pkg")
    (tmp_path / "pkg" / "model" / "payload.pkl").write_bytes(b"not listed")
    with pytest.raises(CorruptedPackageError, match=r"model/payload\.pkl is not in the manifest"):
        load_model(tmp_path / "pkg")


def test_manifest_paths_cannot_leave_the_package(tmp_path: Path, classifier: object) -> None:
    save_model(classifier, tmp_path / "pkg")
    body = json.loads((tmp_path / "pkg" / MANIFEST_NAME).read_text())
    body["files"].append({**body["files"][0], "path": "../outside"})
    (tmp_path / "pkg" / MANIFEST_NAME).write_text(json.dumps(body))
    with pytest.raises(CorruptedPackageError, match="leaves the package"):
        load_model(tmp_path / "pkg")


def test_manifest_digest_identifies_the_files(tmp_path: Path, data: pd.DataFrame) -> None:
    first = save_model(MeanModel(0.25), tmp_path / "a", input_example=data.head(3))
    second = save_model(MeanModel(0.25), tmp_path / "b", input_example=data.head(3))
    assert first.created_time <= second.created_time
    assert first.digest == second.digest  # same files, signature, environment: same identity
    assert parse_manifest(first.to_json()).digest == first.digest
    assert read_manifest(tmp_path / "a").digest == first.digest
    other = save_model(MeanModel(0.5), tmp_path / "c", input_example=data.head(3))
    assert other.digest != first.digest  # one changed file changes it


def test_save_refuses_an_existing_package(tmp_path: Path) -> None:
    save_model(MeanModel(1.0), tmp_path / "pkg")
    with pytest.raises(AlreadyExistsError):
        save_model(MeanModel(2.0), tmp_path / "pkg")
    (tmp_path / "empty").mkdir()
    save_model(MeanModel(2.0), tmp_path / "empty")  # an empty folder is fine


def test_unknown_model_asks_for_a_flavor(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="flavor"):
        save_model(object(), tmp_path / "pkg")


def test_no_flavor_library_is_imported_until_used() -> None:
    code = ("import sys; from shipyard.models import detect_flavor, save_model; "
            "from sklearn.linear_model import LinearRegression; "
            "assert detect_flavor(LinearRegression()) == 'sklearn'; "
            "heavy = {'torch', 'xgboost', 'lightgbm', 'onnx', 'onnxruntime', 'skops'}; "
            "print(sorted(heavy & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    assert done.stdout.strip() == "[]"


# --- signatures -------------------------------------------------------------------------------

def test_signature_inference() -> None:
    df = pd.DataFrame({"age": [30, 40], "score": [0.5, np.nan], "city": ["a", None],
                       "ok": [True, False]})
    sig = infer_signature(df, np.array([1.0, 2.0]))
    assert sig.inputs.columns == (
        ColumnSpec("age", "int64"), ColumnSpec("score", "double", nullable=True),
        ColumnSpec("city", "string", nullable=True), ColumnSpec("ok", "bool"))
    assert sig.outputs == Schema(tensors=(TensorSpec("double", (-1,)),))
    assert Signature.from_dict(json.loads(json.dumps(sig.to_dict()))) == sig

    tensors = infer_signature({"image": np.zeros((2, 3, 3), np.float32),
                               "mask": np.ones((2, 3), np.bool_)})
    assert tensors.inputs.tensors == (TensorSpec("float", (-1, 3, 3), "image"),
                                      TensorSpec("bool", (-1, 3), "mask"))
    assert infer_signature([{"a": 1, "b": "x"}]).inputs.columns == (
        ColumnSpec("a", "int64"), ColumnSpec("b", "string"))


def test_check_input_errors_name_the_column_and_types() -> None:
    schema = Schema(columns=(ColumnSpec("age", "double"), ColumnSpec("city", "string")))
    with pytest.raises(InvalidInputError, match=r"missing column 'city' \(expected string") as e:
        check_input(schema, {"age": [1.0]})
    assert e.value.field == "city"
    with pytest.raises(InvalidInputError, match="column 'age' must be double, got string") as e:
        check_input(schema, {"age": ["old"], "city": ["x"]})
    assert e.value.field == "age"
    with pytest.raises(InvalidInputError, match=r"'city' has 1 missing value.*not nullable"):
        check_input(schema, pd.DataFrame({"age": [1.0, 2.0], "city": ["x", None]}))
    with pytest.raises(InvalidInputError, match="column 'age' must be double, got bool"):
        check_input(schema, {"age": [True], "city": ["x"]})


def test_check_input_coerces_safely_and_drops_extra_columns() -> None:
    schema = Schema(columns=(ColumnSpec("b", "double"), ColumnSpec("a", "int8")))
    batch = check_input(schema, pd.DataFrame({"a": [1, 2], "id": ["r1", "r2"], "b": [1, 2]}))
    assert batch.column_names == ["b", "a"]  # type: ignore[union-attr]
    frame_out = batch.to_pandas()  # type: ignore[union-attr]
    assert frame_out["b"].dtype == np.float64 and frame_out["a"].dtype == np.int8
    with pytest.raises(InvalidInputError, match="'a' must be int8; its int64 values do not fit"):
        check_input(schema, {"a": [1000], "b": [1.0]})
    with pytest.raises(InvalidInputError, match="must be int8, got double"):
        check_input(schema, {"a": [1.0], "b": [1.0]})


def test_check_input_tensors() -> None:
    schema = Schema(tensors=(TensorSpec("float", (-1, 4)),))
    assert check_input(schema, np.ones((2, 4), np.int64)).dtype == np.float32  # type: ignore[union-attr]
    with pytest.raises(InvalidInputError, match=r"must have shape \(-1, 4\), got \(2, 3\)"):
        check_input(schema, np.ones((2, 3), np.float32))
    with pytest.raises(InvalidInputError, match="must have 2 dimension"):
        check_input(schema, np.ones(4, np.float32))
    with pytest.raises(InvalidInputError, match="tensor 'input' must be float, got bool"):
        check_input(schema, np.ones((2, 4), np.bool_))


def test_predict_checks_the_signature(tmp_path: Path, data: pd.DataFrame,
                                      classifier: object) -> None:
    save_model(classifier, tmp_path / "pkg", input_example=data.head(5))
    model = load_model(tmp_path / "pkg")
    with pytest.raises(InvalidInputError, match="missing column 'x2'"):
        model.predict(data.drop(columns=["x2"]))
    wrong = data.assign(x1=data["x1"].astype(str))
    with pytest.raises(InvalidInputError, match="column 'x1' must be double, got string"):
        model.predict(wrong)
    # columns in another order than fitted, plus an extra one: the model sees its own order
    shuffled = data[["count", "x2", "x1"]].assign(request_id="r")
    np.testing.assert_array_equal(model.predict(shuffled), classifier.predict(data))  # type: ignore[attr-defined]
    # ints where doubles are declared are fine
    as_ints = data.assign(x1=data["x1"].round().astype(int))
    np.testing.assert_array_equal(model.predict(as_ints),
                                  classifier.predict(as_ints.astype({"x1": float})))  # type: ignore[attr-defined]


# --- scoring and build contexts -----------------------------------------------------------------

def test_score_command(tmp_path: Path, data: pd.DataFrame, classifier: object) -> None:
    save_model(classifier, tmp_path / "pkg", input_example=data.head(5))
    data.assign(id=range(len(data))).to_csv(tmp_path / "in.csv", index=False)
    assert score_main(["--model", str(tmp_path / "pkg"), "--input", str(tmp_path / "in.csv"),
                       "--output", str(tmp_path / "out.parquet")]) == 0
    scored = pd.read_parquet(tmp_path / "out.parquet")
    np.testing.assert_array_equal(scored["prediction"], classifier.predict(data))  # type: ignore[attr-defined]
    assert score_main(["--model", str(tmp_path / "pkg"), "--input", str(tmp_path / "in.txt"),
                       "--output", str(tmp_path / "o.csv")]) == 2


def test_build_context_files(tmp_path: Path, data: pd.DataFrame, classifier: object) -> None:
    manifest = save_model(classifier, tmp_path / "pkg", input_example=data.head(5))
    context = write_build_context(tmp_path / "pkg", tmp_path / "ctx")
    pins = dict(line.split("==") for line in (context / "requirements.txt").read_text()
                .splitlines() if not line.startswith("#"))
    import sklearn
    import skops

    assert pins["scikit-learn"] == sklearn.__version__ and pins["skops"] == skops.__version__
    assert pins["numpy"] == np.__version__ and pins["pandas"] == pd.__version__
    assert {"pyarrow", "blake3"} <= set(pins)
    assert not {"torch", "mlflow-skinny", "pytest", "sqlalchemy"} & set(pins)  # not training env
    dockerfile = (context / "Dockerfile").read_text()
    assert f"FROM python:{sys.version_info[0]}.{sys.version_info[1]}-slim\n" in dockerfile
    assert "--no-cache-dir" in dockerfile and "USER model" in dockerfile
    info = json.loads((context / "build-context.json").read_text())
    assert info["model_digest"] == manifest.digest
    assert info["command"][:3] == ["python", "-m", "shipyard.models.score"]
    assert read_manifest(context / "model").digest == manifest.digest

    save_model(classifier, tmp_path / "pickled", flavor="pickle")
    with pytest.raises(UntrustedModelError):
        write_build_context(tmp_path / "pickled", tmp_path / "ctx2")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_build_context_scores_in_a_fresh_virtualenv(tmp_path: Path, data: pd.DataFrame,
                                                    classifier: object) -> None:
    save_model(classifier, tmp_path / "pkg", input_example=data.head(5))
    context = write_build_context(tmp_path / "pkg", tmp_path / "ctx")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
           "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(context / "requirements.txt")], check=True, timeout=420)
    subprocess.run([*pip, "--no-deps", str(ROOT)], check=True, timeout=300)

    data.to_csv(tmp_path / "in.csv", index=False)
    info = json.loads((context / "build-context.json").read_text())
    mounts = {info["model_mount"]: str(context / info["model_dir"]),
              "/data/in.parquet": str(tmp_path / "in.csv"),
              "/data/out.parquet": str(tmp_path / "out.csv")}
    command = [mounts.get(arg, arg) for arg in info["command"]]
    command[0] = str(venv / "bin" / "python")
    subprocess.run(command, check=True, timeout=120, cwd=tmp_path)

    scored = pd.read_csv(tmp_path / "out.csv")
    np.testing.assert_array_equal(scored["prediction"], classifier.predict(data))  # type: ignore[attr-defined]
