"""What the compare page shows, worked out from the runs: the param and metric tables with
the rows that differ, and each run's series of one metric for the overlaid charts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shipyard.entities import LifecycleStage, Metric, Run
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.server.ui.downsample import min_max
from shipyard.store.tracking.protocol import TrackingStore

MIN_RUNS = 2
MAX_RUNS = 10
COLOURS = ("#0b5cad", "#c2410c", "#15803d", "#7e22ce", "#b91c1c",
           "#0e7490", "#a16207", "#be185d", "#4d7c0f", "#475569")
"""One colour per run, in the order the URL lists them (charts, table headings, legend)."""


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    values: list[Any]  # one per run; None where the run lacks the key
    differs: bool


def run_ids(given: Sequence[str]) -> list[str]:
    """The run ids of the URL, each once, in order; 2 to 10 of them."""
    ids = list(dict.fromkeys(r.strip() for r in given if r.strip()))
    if not MIN_RUNS <= len(ids) <= MAX_RUNS:
        raise InvalidInputError(
            f"compare needs {MIN_RUNS} to {MAX_RUNS} different runs, got {len(ids)}: choose "
            "them with the checkboxes of an experiment's runs table, or repeat run=<run id> "
            "in the URL",
            field="run",
        )
    return ids


def load_runs(store: TrackingStore, ids: Sequence[str]) -> list[Run]:
    """The runs, each checked to be there and not deleted (a deleted experiment's runs are
    deleted with it)."""
    runs = []
    for run_id in ids:
        run = store.get_run(run_id)  # NotFoundError names the id
        if run.info.lifecycle_stage != LifecycleStage.ACTIVE:
            raise NotFoundError(
                f"run {run_id} is deleted (it or its experiment was deleted); restore it to "
                "compare it, or leave it out of the comparison",
                field="run",
            )
        runs.append(run)
    return runs


def _differs(values: Sequence[Any]) -> bool:
    return len({repr(v) for v in values}) > 1


def param_rows(runs: Sequence[Run]) -> list[Row]:
    keys = sorted({k for run in runs for k in run.data.params})
    rows = []
    for key in keys:
        values = [run.data.params.get(key) for run in runs]
        rows.append(Row(key, values, _differs(values)))
    return rows


def metric_rows(runs: Sequence[Run]) -> list[Row]:
    keys = sorted({k for run in runs for k in run.data.metrics})
    rows = []
    for key in keys:
        values = [run.data.metrics.get(key) for run in runs]
        rows.append(Row(key, values, _differs(values)))
    return rows


def without_steps(history: Sequence[Metric]) -> bool:
    """Whether a metric was logged without steps (every point at the same step)."""
    return len(history) > 1 and history[0].step == history[-1].step


def series(run: Run, total: int, history: Sequence[Metric], points: int, by_time: bool
           ) -> dict[str, Any]:
    """One run's points of a metric, at most ``points`` of them (the store has already
    downsampled a long series; non-finite values become gaps).

    ``x`` is the step or, ``by_time``, the seconds since the run's first point of the metric,
    so runs started at different times still overlay."""
    if by_time and history:
        first = history[0].timestamp
        xs = [(m.timestamp - first) / 1000 for m in history]
    else:
        xs = [float(m.step) for m in history]
    x, y = min_max(xs, [m.value for m in history], points)
    return {"run_id": run.info.run_id, "name": run.info.run_name or run.info.run_id,
            "x": x, "y": y, "total": total, "shown": len(x)}
