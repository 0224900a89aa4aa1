"""Shipyard: experiment tracking, data versioning, a governed model registry, pipelines,
serving and monitoring, in one package.

    import shipyard as sy
    with sy.start_run(experiment="er-matching"):
        sy.log_params({"C": 1.0})
        sy.log_metric("f1", 0.97)

Names are imported on first use, so ``import shipyard`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

_EXPORTS = {
    "shipyard.sdk.fluent": (
        "ActiveRun", "active_run", "delete_run", "end_run", "get_metric_history", "get_run",
        "log_artifact", "log_artifacts", "log_batch", "log_dict", "log_figure", "log_metric",
        "log_metrics", "log_param", "log_params", "log_text", "restore_run", "search_runs",
        "set_experiment", "set_tag", "set_tags", "start_run",
    ),
    "shipyard.sdk.datasets": (
        "download_dataset", "get_dataset", "load_dataset", "log_dataset", "log_input",
    ),
    "shipyard.sdk.registry": ("registry",),
    "shipyard.sdk.models": ("load_model", "log_model"),
    "shipyard.sdk.autolog": ("autolog",),
    "shipyard.sdk.predict": ("predict",),
    "shipyard.sdk.evaluate": ("evaluate",),
    "shipyard.sdk.client": ("Client",),
    "shipyard.pipelines": ("pipeline", "run_pipeline", "step"),
    "shipyard.tuning": ("tune",),
    "shipyard.entities": (
        "ArtifactInfo", "DatasetVersion", "Experiment", "Metric", "Page", "Run", "RunData",
        "RunDataset", "RunInfo", "RunStatus", "ViewType",
    ),
    "shipyard.errors": (
        "ShipyardError", "InvalidInputError", "FilterSyntaxError", "NotFoundError",
        "AlreadyExistsError", "ConflictError", "InvalidStateError", "BackendError",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)  # noqa: PLE0605 - built from _EXPORTS


def __getattr__(name: str) -> Any:
    if name in ("pipelines", "tuning"):  # ``sy.tuning.loguniform(...)`` without an import
        return importlib.import_module(f"shipyard.{name}")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'shipyard' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


if TYPE_CHECKING:
    from shipyard.entities import (
        ArtifactInfo as ArtifactInfo,
    )
    from shipyard.entities import DatasetVersion as DatasetVersion
    from shipyard.entities import (
        Experiment as Experiment,
    )
    from shipyard.entities import (
        Metric as Metric,
    )
    from shipyard.entities import (
        Page as Page,
    )
    from shipyard.entities import (
        Run as Run,
    )
    from shipyard.entities import (
        RunData as RunData,
    )
    from shipyard.entities import RunDataset as RunDataset
    from shipyard.entities import (
        RunInfo as RunInfo,
    )
    from shipyard.entities import (
        RunStatus as RunStatus,
    )
    from shipyard.entities import (
        ViewType as ViewType,
    )
    from shipyard.errors import (
        AlreadyExistsError as AlreadyExistsError,
    )
    from shipyard.errors import (
        BackendError as BackendError,
    )
    from shipyard.errors import (
        ConflictError as ConflictError,
    )
    from shipyard.errors import (
        FilterSyntaxError as FilterSyntaxError,
    )
    from shipyard.errors import (
        InvalidInputError as InvalidInputError,
    )
    from shipyard.errors import (
        InvalidStateError as InvalidStateError,
    )
    from shipyard.errors import (
        NotFoundError as NotFoundError,
    )
    from shipyard.errors import (
        ShipyardError as ShipyardError,
    )
    from shipyard.pipelines import pipeline as pipeline
    from shipyard.pipelines import run_pipeline as run_pipeline
    from shipyard.pipelines import step as step
    from shipyard.sdk.autolog import autolog as autolog
    from shipyard.sdk.client import Client as Client
    from shipyard.sdk.datasets import download_dataset as download_dataset
    from shipyard.sdk.datasets import get_dataset as get_dataset
    from shipyard.sdk.datasets import load_dataset as load_dataset
    from shipyard.sdk.datasets import log_dataset as log_dataset
    from shipyard.sdk.datasets import log_input as log_input
    from shipyard.sdk.evaluate import evaluate as evaluate
    from shipyard.sdk.fluent import (
        ActiveRun as ActiveRun,
    )
    from shipyard.sdk.fluent import (
        active_run as active_run,
    )
    from shipyard.sdk.fluent import (
        delete_run as delete_run,
    )
    from shipyard.sdk.fluent import (
        end_run as end_run,
    )
    from shipyard.sdk.fluent import (
        get_metric_history as get_metric_history,
    )
    from shipyard.sdk.fluent import (
        get_run as get_run,
    )
    from shipyard.sdk.fluent import (
        log_artifact as log_artifact,
    )
    from shipyard.sdk.fluent import (
        log_artifacts as log_artifacts,
    )
    from shipyard.sdk.fluent import (
        log_batch as log_batch,
    )
    from shipyard.sdk.fluent import (
        log_dict as log_dict,
    )
    from shipyard.sdk.fluent import (
        log_figure as log_figure,
    )
    from shipyard.sdk.fluent import (
        log_metric as log_metric,
    )
    from shipyard.sdk.fluent import (
        log_metrics as log_metrics,
    )
    from shipyard.sdk.fluent import (
        log_param as log_param,
    )
    from shipyard.sdk.fluent import (
        log_params as log_params,
    )
    from shipyard.sdk.fluent import (
        log_text as log_text,
    )
    from shipyard.sdk.fluent import (
        restore_run as restore_run,
    )
    from shipyard.sdk.fluent import (
        search_runs as search_runs,
    )
    from shipyard.sdk.fluent import (
        set_experiment as set_experiment,
    )
    from shipyard.sdk.fluent import (
        set_tag as set_tag,
    )
    from shipyard.sdk.fluent import (
        set_tags as set_tags,
    )
    from shipyard.sdk.fluent import (
        start_run as start_run,
    )
    from shipyard.sdk.models import load_model as load_model
    from shipyard.sdk.models import log_model as log_model
    from shipyard.sdk.predict import predict as predict
    from shipyard.sdk.registry import registry as registry
    from shipyard.tuning import tune as tune
