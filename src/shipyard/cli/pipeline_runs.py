"""``shipyard pipelines runs / show / resume``: a pipeline's past runs, one run's steps, and
resuming a failed run from its failed step (docs/pipelines.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag, client
from shipyard.cli.runs import resolve_run

if TYPE_CHECKING:
    from shipyard.entities import Run
    from shipyard.pipelines.history import StepRecord

RunIdArg = Annotated[str, typer.Argument(help="A pipeline run's id (or a unique prefix).")]


def _duration_ms(run: Run) -> int | None:
    end = run.info.end_time
    return None if end is None else end - run.info.start_time


def _seconds(value: float | None) -> str:
    return output.MISSING if value is None else f"{value:.3f}"


def _step_json(step: StepRecord) -> dict[str, Any]:
    return {"name": step.name, "run_id": step.run_id, "status": step.status,
            "cache_hit": step.cache_hit,
            "duration_s": None if step.duration_s is None else round(step.duration_s, 3),
            "output_kind": step.output_kind, "upstream": list(step.upstream)}


def _run_json(run: Run, steps: list[StepRecord]) -> dict[str, Any]:
    from shipyard.pipelines.history import step_counts
    from shipyard.pipelines.runner import TAG_PIPELINE, TAG_PIPELINE_REF, TAG_RESUMED_FROM

    tags = run.data.tags
    return {"run_id": run.info.run_id, "name": tags.get(TAG_PIPELINE),
            "status": str(run.info.status),
            **output.time_fields("start_time", run.info.start_time),
            **output.time_fields("end_time", run.info.end_time),
            "duration_ms": _duration_ms(run), "ref": tags.get(TAG_PIPELINE_REF),
            "resumed_from": tags.get(TAG_RESUMED_FROM), "params": dict(run.data.params),
            "steps_count": step_counts(steps)}


def runs_cmd(
    name: Annotated[str, typer.Argument(help="The pipeline's name.")],
    as_json: JsonFlag = False,
) -> None:
    """List a pipeline's runs, newest first (100 at most), with their step counts."""
    from shipyard.pipelines.history import pipeline_runs, step_counts, step_records

    c = client()
    found = [(run, step_records(c, run)) for run in pipeline_runs(c, name)]
    if as_json:
        output.emit_json({"pipeline_runs": [_run_json(run, steps) for run, steps in found]})
        return
    table = output.new_table("Run id", "Status", "Started", "Duration (s)", "Done", "Cached",
                             "Failed", no_wrap=("Run id", "Status", "Started"))
    for run, steps in found:
        counts = step_counts(steps)
        ms = _duration_ms(run)
        output.add_row(table, output.short_id(run.info.run_id), str(run.info.status),
                       output.local_time(run.info.start_time),
                       _seconds(None if ms is None else ms / 1000), str(counts["done"]),
                       str(counts["cached"]), str(counts["failed"]))
    output.print_table(table)


def show_cmd(run_id: RunIdArg, as_json: JsonFlag = False) -> None:
    """Show a pipeline run's steps as a tree in dependency order (each under the step it takes
    input from): status, cache hit, duration, output kind."""
    from rich.text import Text
    from rich.tree import Tree

    from shipyard.pipelines.history import require_pipeline_run, step_records

    c = client()
    run = resolve_run(c, run_id)
    name = require_pipeline_run(run)
    steps = step_records(c, run)
    if as_json:
        output.emit_json({"pipeline_run": {**_run_json(run, steps),
                                           "steps": [_step_json(s) for s in steps]}})
        return
    tree = Tree(Text(f"Pipeline {name} ({run.info.run_id}): {run.info.status}"))
    branches: dict[str, Tree] = {}
    for s in steps:  # dependency order: a step's upstream steps come before it
        parent = next((branches[u] for u in s.upstream if u in branches), tree)
        needs = f"  needs {', '.join(s.upstream)}" if len(s.upstream) > 1 else ""
        branches[s.name] = parent.add(Text(
            f"{s.name}  {s.status}  cached={'yes' if s.cache_hit else 'no'}  "
            f"{_seconds(s.duration_s)}s  output={s.output_kind or output.MISSING}  "
            f"run {output.short_id(s.run_id)}{needs}"))
    output.stdout_console().print(tree)


def resume_cmd(run_id: RunIdArg, as_json: JsonFlag = False) -> None:
    """Resume a failed pipeline run: same pipeline and params, its successful steps from the
    cache, so only the failed and downstream steps run."""
    from shipyard.cli.pipelines import StepProgress
    from shipyard.pipelines.history import resume
    from shipyard.pipelines.runner import step_events

    c = client()
    original = resolve_run(c, run_id)
    if as_json:  # stdout holds the JSON document alone
        result = resume(c, original)
    else:
        with StepProgress(output.stdout_console()) as progress, step_events(progress):
            result = resume(c, original)
    if as_json:
        output.emit_json({"pipeline_run": {
            "name": result.name, "run_id": result.run_id, "status": result.status,
            "resumed_from": original.info.run_id,
            "steps": [{"name": s.name, "run_id": s.run_id, "cache_hit": s.cache_hit,
                       "duration_s": round(s.duration_s, 3), "output_kind": s.output_kind}
                      for s in result.steps.values()]}})
        return
    output.done(f"Resumed as pipeline run {result.run_id}: {result.status} (ran "
                f"{sum(not s.cache_hit for s in result.steps.values())} of "
                f"{len(result.steps)} steps)")


def register(app: typer.Typer) -> None:
    app.command("runs")(runs_cmd)
    app.command("show")(show_cmd)
    app.command("resume")(resume_cmd)
