"""Checking and shaping what ``evaluate_predictions`` is given, before any metric runs.

Every refusal is an ``InvalidInputError`` whose ``field`` names the argument at fault
(``y_pred``, ``y_score``, ``task``, ``positive_label``, ``threshold``, ``sensitive.<name>``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from shipyard.errors import InvalidInputError
from shipyard.services.evaluation.report import Label, Task

MAX_INFERRED_CLASSES = 20
"""Integer targets with more distinct values than this are inferred to be a regression."""
MAX_GROUPS = 200
"""A sensitive feature with more groups than this is almost surely an id, not a grouping."""
SUM_TOLERANCE = 1e-3
"""How far a multiclass probability row may sum from 1 (float32 outputs drift a little)."""
MISSING_GROUP = "(missing)"

Array = npt.NDArray[Any]


@dataclass
class Prepared:
    task: Task
    y_true: Array
    y_pred: Array | None
    y_score: Array | None
    """Binary: 1-D positive-class probabilities. Multiclass: (n, k), columns as ``labels``."""
    labels: list[Label]
    positive_label: Label | None = None
    negative_label: Label | None = None
    threshold: float | None = None
    """The threshold that turned binary scores into y_pred; None when y_pred was given."""
    sensitive: dict[str, Array] = field(default_factory=dict)
    """Feature name -> group of each row, as strings."""
    warnings: list[str] = field(default_factory=list)


def prepare(y_true: Any, y_pred: Any, y_score: Any, task: str | None, sensitive: Any,
            positive_label: Any, threshold: float) -> Prepared:
    truth = _vector(y_true, "y_true")
    pred = None if y_pred is None else _vector(y_pred, "y_pred", len(truth))
    score = None if y_score is None else _scores(y_score, len(truth))
    notes: list[str] = []
    if task is None:
        task = _infer_task(truth, score)
        if score is None and truth.dtype.kind in "iuf":  # numbers can mean either task
            notes.append(f"task inferred as {task} from y_true's values; pass task= to be "
                         "explicit")
    if task == "regression":
        prepared = _regression(truth, pred, score)
    elif task == "classification":
        if not 0.0 <= threshold <= 1.0:  # also refuses NaN
            raise InvalidInputError(f"threshold must be within [0, 1], not {threshold}",
                                    field="threshold")
        prepared = _classification(truth, pred, score, positive_label, threshold)
    else:
        raise InvalidInputError(f"task must be 'classification', 'regression' or None (infer), "
                                f"not {task!r}", field="task")
    prepared.warnings[:0] = notes
    prepared.sensitive = _sensitive(sensitive, len(truth))
    return prepared


def _vector(values: Any, name: str, length: int | None = None) -> Array:
    try:
        array = np.asarray(values)
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"{name} must be a one-dimensional array: {exc}",
                                field=name) from None
    if array.ndim != 1:
        raise InvalidInputError(f"{name} must be one-dimensional, not of shape {array.shape}",
                                field=name)
    if length is None and len(array) == 0:
        raise InvalidInputError(f"{name} is empty: there is nothing to evaluate", field=name)
    if length is not None and len(array) != length:
        raise InvalidInputError(f"y_true has {length} values but {name} has {len(array)}; "
                                "they must be the same length", field=name)
    if array.dtype.kind == "f":
        missing = np.flatnonzero(~np.isfinite(array)).tolist()
    elif array.dtype.kind == "O":
        missing = [i for i, v in enumerate(array.tolist()) if _is_missing(v)]
    else:
        missing = []
    if missing:
        raise InvalidInputError(f"{name} holds {len(missing)} missing or infinite value(s) "
                                f"(first at row {missing[0]}); drop or fill those rows first",
                                field=name)
    return array


def _is_missing(value: object) -> bool:
    # pandas' NA and NaT arrive through object arrays; match them by type name (no import)
    return value is None or (isinstance(value, float) and math.isnan(value)) \
        or type(value).__name__ in ("NAType", "NaTType")


def _scores(values: Any, length: int) -> Array:
    try:
        array = np.asarray(values, dtype=float)
    except (ValueError, TypeError):
        raise InvalidInputError("y_score must hold numbers (probabilities)",
                                field="y_score") from None
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim not in (1, 2) or len(array) != length:
        raise InvalidInputError(f"y_true has {length} values but y_score has shape "
                                f"{array.shape}; pass one probability per row (binary) or an "
                                "(n, classes) array (multiclass)", field="y_score")
    bad = np.argwhere(~np.isfinite(array) | (array < 0) | (array > 1))
    if len(bad):
        where = tuple(int(i) for i in bad[0])
        raise InvalidInputError(
            f"y_score must be probabilities within [0, 1]; row {where[0]} holds "
            f"{array[where]}: use predict_proba, or a sigmoid of decision scores",
            field="y_score")
    return array


def _integral(array: Array) -> bool:
    return array.dtype.kind in "biu" or bool(np.all(np.mod(array, 1) == 0))


def _infer_task(truth: Array, score: Array | None) -> str:
    if score is not None or truth.dtype.kind not in "iuf":
        return "classification"
    if _integral(truth) and len(np.unique(truth)) <= MAX_INFERRED_CLASSES:
        return "classification"
    return "regression"


def _regression(truth: Array, pred: Array | None, score: Array | None) -> Prepared:
    if truth.dtype.kind not in "iuf":
        raise InvalidInputError(f"task='regression' needs numeric y_true, not {truth.dtype} "
                                "labels; pass task='classification'", field="task")
    if pred is None:
        raise InvalidInputError("a regression needs y_pred (the predicted values)",
                                field="y_pred")
    if pred.dtype.kind not in "iuf":
        raise InvalidInputError(f"y_pred must be numeric for a regression, not {pred.dtype}",
                                field="y_pred")
    if score is not None:
        raise InvalidInputError("y_score is for classification; pass a regression's "
                                "predictions as y_pred", field="y_score")
    return Prepared("regression", truth.astype(float), pred.astype(float), None, [])


def _family(array: Array) -> str:
    if array.dtype.kind == "O":  # e.g. a pandas object column: look at the values
        numbers = all(isinstance(v, bool | int | float) for v in array.tolist())
        return "number" if numbers else "text"
    return "number" if array.dtype.kind in "biuf" else "text"


def _classification(truth: Array, pred: Array | None, score: Array | None,
                    positive: Any, threshold: float) -> Prepared:
    if truth.dtype.kind == "f" and not _integral(truth):
        raise InvalidInputError("task='classification' but y_true holds continuous values; "
                                "pass class labels, or task='regression'", field="task")
    if pred is None and score is None:
        raise InvalidInputError("pass y_pred (predicted labels) or y_score (probabilities)",
                                field="y_pred")
    if pred is not None and (_family(pred) != _family(truth) or (
            pred.dtype.kind == "f" and not _integral(pred))):
        raise InvalidInputError(f"y_pred ({pred.dtype}) must hold labels like y_true's "
                                f"({truth.dtype})", field="y_pred")
    found = truth if pred is None else np.concatenate([truth, pred])
    try:
        labels = [_plain(v) for v in np.unique(found)]
    except TypeError:
        raise InvalidInputError("y_true mixes label types (e.g. numbers and strings)",
                                field="y_true") from None
    if score is not None and score.ndim == 2 and score.shape[1] > 2:
        return _multiclass(truth, pred, score, labels, positive)
    if len(labels) > 2:
        if score is not None:
            raise InvalidInputError(
                f"the labels hold {len(labels)} classes but y_score has one probability per "
                "row; pass an (n, classes) array for a multiclass task", field="y_score")
        return _multiclass(truth, pred, None, labels, positive)
    return _binary(truth, pred, score, labels, positive, threshold)


def _plain(value: Any) -> Label:
    plain = value.item() if hasattr(value, "item") else value
    return plain if isinstance(plain, bool | int | float | str) else str(plain)


def _binary(truth: Array, pred: Array | None, score: Array | None, labels: list[Label],
            positive: Any, threshold: float) -> Prepared:
    notes: list[str] = []
    if positive is not None:
        positive = _plain(positive)
        if positive not in labels and len(labels) == 2:
            raise InvalidInputError(f"positive_label {positive!r} is not one of the labels "
                                    f"{labels!r}", field="positive_label")
    elif all(isinstance(v, bool | int | float) for v in labels):
        positive = True if labels and all(isinstance(v, bool) for v in labels) else \
            1 if set(labels) <= {0, 1} else max(labels)
        if not set(labels) <= {0, 1}:
            notes.append(f"positive_label not given; took the greater label {positive!r}")
    else:
        raise InvalidInputError(f"binary labels {labels!r} are not 0/1: pass positive_label= "
                                "to say which one is the positive class",
                                field="positive_label")
    others = [v for v in labels if v != positive]
    negative: Label | None = others[0] if others else (
        False if isinstance(positive, bool) else 0 if positive == 1 else None)
    positives = truth == positive
    if score is not None and score.ndim == 2:
        # predict_proba's columns follow the sorted labels
        ordered = sorted([positive, negative]) if negative is not None else [None, positive]
        score = score[:, ordered.index(positive)]
    if pred is None:
        assert score is not None
        predicted, used = score >= threshold, threshold
    else:
        predicted, used = pred == positive, None
    shown = [negative if negative is not None else f"not {positive}", positive]
    prepared = Prepared("binary", positives, predicted, score, shown, positive, negative, used)
    prepared.warnings.extend(notes)
    return prepared


def _multiclass(truth: Array, pred: Array | None, score: Array | None,
                labels: list[Label], positive: Any) -> Prepared:
    if positive is not None:
        raise InvalidInputError(f"positive_label is for binary tasks, but the labels hold "
                                f"{len(labels)} classes", field="positive_label")
    if score is not None:
        columns = score.shape[1]
        if len(labels) != columns:
            if all(isinstance(v, int) and 0 <= v < columns for v in labels):
                labels = list(range(columns))  # integer-coded classes, some never seen
            else:
                raise InvalidInputError(
                    f"y_score has {columns} columns but the labels hold {len(labels)} classes "
                    f"{labels!r}; columns must follow the sorted labels, as predict_proba's "
                    "do", field="y_score")
        sums = score.sum(axis=1)
        if np.any(np.abs(sums - 1) > SUM_TOLERANCE):
            row = int(np.argmax(np.abs(sums - 1)))
            raise InvalidInputError(f"each row of y_score must sum to 1 (class probabilities);"
                                    f" row {row} sums to {sums[row]:g}", field="y_score")
        score = score / sums[:, None]
        if pred is None:
            pred = np.asarray(labels)[np.argmax(score, axis=1)]
    assert pred is not None
    return Prepared("multiclass", truth, pred, score, labels)


def _sensitive(sensitive: Any, length: int) -> dict[str, Array]:
    if sensitive is None:
        return {}
    if hasattr(sensitive, "columns") and not isinstance(sensitive, Mapping):  # a DataFrame
        items = [(c, sensitive[c].to_numpy()) for c in sensitive.columns]
    elif isinstance(sensitive, Mapping):
        items = list(sensitive.items())
    else:
        raise InvalidInputError("sensitive must map feature names to group labels (a dict of "
                                "arrays or a DataFrame)", field="sensitive")
    groups: dict[str, Array] = {}
    for name, values in items:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"sensitive feature names must be non-empty strings, not "
                                    f"{name!r}", field="sensitive")
        field_name = f"sensitive.{name}"
        array = np.asarray(values, dtype=object)
        if array.ndim != 1 or len(array) != length:
            raise InvalidInputError(f"y_true has {length} values but sensitive feature "
                                    f"{name!r} has {len(array)}; they must be the same length",
                                    field=field_name)
        labels = np.array([MISSING_GROUP if _is_missing(v) else str(_plain(v))
                           for v in array.tolist()], dtype=object)
        count = len(set(labels.tolist()))
        if count > MAX_GROUPS:
            raise InvalidInputError(f"sensitive feature {name!r} has {count} groups (more than "
                                    f"{MAX_GROUPS}): bin it into groups first",
                                    field=field_name)
        groups[name] = labels
    return groups
