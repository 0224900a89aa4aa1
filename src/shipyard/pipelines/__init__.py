"""Pipelines: typed step functions wired by a pipeline function, checked before they run,
cached by content, tracked as a parent run with one child run per step. See docs/pipelines.md.

    import shipyard as sy

    @sy.step
    def load(n: int) -> pd.DataFrame: ...

    @sy.step(retries=2)
    def train(df: pd.DataFrame, alpha: float) -> dict[str, float]: ...

    @sy.pipeline(name="train")
    def training(n: int = 100) -> None:
        train(load(n), alpha=0.5)

    run = run_pipeline(training, {"n": 200})
"""

from __future__ import annotations

from shipyard.pipelines.decorators import Pipeline, Step, StepOutput, pipeline, step
from shipyard.pipelines.executor import Executor, LocalExecutor
from shipyard.pipelines.materialisers import Materialiser, find_materialiser, register_materialiser
from shipyard.pipelines.process_step import StepTimeoutError
from shipyard.pipelines.runner import PipelineRun, StepResult, run_pipeline


def trigger(name: str, params: dict[str, object] | None = None, reason: str = "") -> object:
    """Queue a run of schedule ``name`` now with ``reason``; see docs/pipelines.md."""
    from shipyard.pipelines.api import trigger as _trigger

    return _trigger(name, params, reason)


__all__ = [
    "Executor", "LocalExecutor", "Materialiser", "Pipeline", "PipelineRun", "Step",
    "StepOutput", "StepResult", "StepTimeoutError", "find_materialiser", "pipeline",
    "register_materialiser", "run_pipeline", "step", "trigger",
]
