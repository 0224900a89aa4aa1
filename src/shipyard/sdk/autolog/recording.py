"""What an autologged fit writes: params within the limits, metrics, metric series and the
model package, into the active run or into one started for the fit."""

from __future__ import annotations

import logging
import re
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from shipyard.entities import Metric, RunStatus
from shipyard.entities import limits as lim
from shipyard.errors import InvalidInputError
from shipyard.sdk.autolog.patching import AutologConfig, attempt, config
from shipyard.sdk.fluent import ActiveRun, active_run, client, start_run

log = logging.getLogger("shipyard.autolog")

EXAMPLE_ROWS = 5
_BAD_KEY_CHARS = re.compile(r"[^\w\-. /:]")


def metric_key(name: str) -> str:
    """A metric name the store accepts: characters it refuses become ``_``."""
    return _BAD_KEY_CHARS.sub("_", name)[: lim.MAX_KEY] or "_"


def param_values(params: Mapping[Any, object]) -> tuple[dict[str, str], list[str], list[str]]:
    """Params as text within the limits: ``(params, clipped keys, skipped keys)``.

    Values longer than a param may hold are clipped with a marker (a repr of a large array or
    an estimator); keys the store refuses are skipped. Both are noted on the run as tags."""
    found: dict[str, str] = {}
    clipped: list[str] = []
    skipped: list[str] = []
    for raw_key, value in params.items():
        key = str(raw_key)
        try:
            lim.check_key(key, "param")
        except InvalidInputError:
            skipped.append(key)
            continue
        text = value if isinstance(value, str) else str(value)
        if len(text) > lim.MAX_PARAM_VALUE:
            marker = f"... [clipped from {len(text)} characters]"
            text = text[: lim.MAX_PARAM_VALUE - len(marker)] + marker
            clipped.append(key)
        found[key] = text
    return found, clipped, skipped


def head(data: Any, rows: int = EXAMPLE_ROWS) -> Any:
    """The first rows of training data as an input example, or None for kinds a signature
    cannot be inferred from (sparse matrices, lists of text, DMatrix...)."""
    import numpy as np

    if data is None:
        return None
    module = type(data).__module__.split(".", 1)[0]
    if module == "pandas" and hasattr(data, "iloc") and getattr(data, "ndim", 0) == 2:
        return data.iloc[:rows]
    if module == "pyarrow" and hasattr(data, "slice"):
        return data.slice(0, rows)
    if isinstance(data, np.ndarray) and data.ndim == 2:
        return data[:rows]
    if isinstance(data, list | tuple) and data:
        array = np.asarray(data[:rows])
        return array if array.ndim == 2 and array.dtype.kind in "biuf" else None
    return None


class FitRun:
    """The run a fit logs into: the active run, or one started for this fit and ended with
    it (FAILED when the fit raised)."""

    def __init__(self, tags: Mapping[str, str]) -> None:
        self.settings: AutologConfig = config() or AutologConfig()
        self.client = client()
        current = active_run()
        self.owned: ActiveRun | None = None
        if current is None:
            self.owned = start_run(tags=tags)
            self.run_id = self.owned.run_id
        else:
            self.run_id = current.run_id
            self.client.set_tags(self.run_id, tags)

    def log_params(self, params: Mapping[Any, object]) -> None:
        values, clipped, skipped = param_values(params)
        items = list(values.items())
        for start in range(0, len(items), lim.MAX_BATCH_PARAMS):
            self.client.log_params(self.run_id, dict(items[start:start + lim.MAX_BATCH_PARAMS]))
        notes = {"shipyard.autolog.clipped_params": clipped,
                 "shipyard.autolog.skipped_params": skipped}
        for tag, keys in notes.items():
            if keys:
                log.info("autolog: %s: %s", tag.rsplit(".", 1)[1].replace("_", " "),
                         ", ".join(keys))
                text = ", ".join(keys)
                self.client.set_tags(self.run_id, {tag: text[: lim.MAX_TAG_VALUE]})

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        if metrics:
            self.client.log_metrics(self.run_id, {metric_key(k): v for k, v in metrics.items()},
                                    synchronous=True)

    def log_series(self, series: Mapping[str, Sequence[float]]) -> None:
        """Per-iteration values as metric series, the iteration as the step."""
        now = int(time.time() * 1000)
        points = [Metric(metric_key(key), float(value), step, now)
                  for key, values in series.items() for step, value in enumerate(values)]
        for start in range(0, len(points), lim.MAX_BATCH_METRICS):
            self.client.log_batch(self.run_id, points[start:start + lim.MAX_BATCH_METRICS])

    def log_model(self, model: Any, input_example: Any) -> None:
        """Package ``model`` into the run's artifacts (``model/``, or ``model-2/``... when the
        run holds one already) and register it when autolog was given a name."""
        if not self.settings.log_models:
            return
        from shipyard.models import save_model

        path = self._free_artifact_path("model")
        with tempfile.TemporaryDirectory(prefix="shipyard-autolog-") as folder:
            package = Path(folder) / "package"
            try:
                manifest = save_model(model, package, input_example=input_example,
                                      run_id=self.run_id)
            except InvalidInputError as exc:
                if input_example is None:
                    raise
                # an example that yields no signature must not cost the model itself
                log.info("autolog: saving the model without an input example: %s", exc)
                manifest = save_model(model, package, run_id=self.run_id)
            self.client.log_artifacts(self.run_id, package, path)
        self.client.set_tags(self.run_id, {"shipyard.autolog.model": path})
        name = self.settings.registered_model_name
        if name is not None:
            from shipyard.sdk.registry import registry

            registry.register_version(name, f"runs:/{self.run_id}/{path}", run_id=self.run_id,
                                      digest=manifest.digest, flavor=manifest.flavor)

    def _free_artifact_path(self, base: str) -> str:
        taken = {a.path for a in self.client.list_artifacts(self.run_id)}
        index = 1
        path = base
        while path in taken:
            index += 1
            path = f"{base}-{index}"
        return path

    def end(self, failed: bool) -> None:
        if self.owned is not None:
            self.owned.end(RunStatus.FAILED if failed else RunStatus.FINISHED)


def run_steps(steps: Iterable[tuple[str, Callable[[], Any]]]) -> None:
    """Each step on its own: one that fails is a warning, and the rest still run."""
    for what, step in steps:
        attempt(what, step)
