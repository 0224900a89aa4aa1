"""Limits on names, keys and values, and the checks that enforce them.

Every limit is at least MLflow's, so anything MLflow accepts Shipyard accepts too.
``docs/limits.md`` lists them for users; a test keeps the two in step.
"""

from __future__ import annotations

import math
import re

from shipyard.errors import InvalidInputError

MAX_EXPERIMENT_NAME = 500
MAX_RUN_NAME = 500
MAX_USER = 256
MAX_KEY = 250  # param, metric and tag keys
MAX_PARAM_VALUE = 8000
MAX_TAG_VALUE = 8000
MAX_BATCH_METRICS = 100_000  # points in one log_batch call
MAX_BATCH_PARAMS = 1000
MAX_BATCH_TAGS = 1000
MAX_SEARCH_RESULTS = 50_000
MAX_ARTIFACT_PATH = 1000

# Letters, digits, underscore, dash, period, space, slash and colon, as MLflow allows.
_KEY_RE = re.compile(r"^[\w\-. /:]+$")


def check_name(value: object, field: str, limit: int) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(
            f"{field} must be a string, got {type(value).__name__}", field=field
        )
    if not value.strip():
        raise InvalidInputError(f"{field} must not be empty", field=field)
    if len(value) > limit:
        raise InvalidInputError(
            f"{field} is {len(value)} characters long; the limit is {limit}", field=field
        )
    return value


def check_key(key: object, kind: str) -> str:
    """Check a param, metric or tag key; ``kind`` is 'param', 'metric' or 'tag'."""
    field = f"{kind} key"
    check_name(key, field, MAX_KEY)
    assert isinstance(key, str)
    if not _KEY_RE.match(key):
        raise InvalidInputError(
            f"{field} {key!r} may only hold letters, digits, '_', '-', '.', ' ', '/' and ':'",
            field=field,
        )
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidInputError(
            f"{field} {key!r} must be a relative name without '..' parts", field=field
        )
    return key


def check_value(value: object, kind: str, key: str, limit: int) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        raise InvalidInputError(
            f"{kind} {key!r}: value is {len(text)} characters long; the limit is {limit}",
            field=f"{kind} value",
        )
    return text


def check_metric_value(key: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise InvalidInputError(
                f"metric {key!r}: value {value!r} is not a number", field="metric value"
            ) from None
    return float(value)


def check_step(key: str, step: object) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        raise InvalidInputError(
            f"metric {key!r}: step must be an integer, got {step!r}", field="metric step"
        )
    if not -(2**63) <= step < 2**63:
        raise InvalidInputError(f"metric {key!r}: step {step} is out of range", field="metric step")
    return step


def check_max_results(max_results: int) -> int:
    if not 1 <= max_results <= MAX_SEARCH_RESULTS:
        raise InvalidInputError(
            f"max_results must be between 1 and {MAX_SEARCH_RESULTS}, got {max_results}",
            field="max_results",
        )
    return max_results


def is_nan(value: float) -> bool:
    return math.isnan(value)
