"""``shipyard pipelines``: run a pipeline function from a file (docs/pipelines.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag

app = typer.Typer(name="pipelines", help="Run pipelines of steps, cached and tracked.",
                  no_args_is_help=True)


@app.command("run")
def run(
    ref: Annotated[str, typer.Argument(help="The pipeline: path/to/file.py:function.")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A pipeline parameter, name=value (repeatable).")] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Run every step even when a cached result exists.")] = False,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", help="Experiment of the pipeline run (default: Default).")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check and run a pipeline; print each step's run, cache hit and duration."""
    from shipyard.pipelines.loading import load_pipeline, parse_params
    from shipyard.pipelines.runner import run_pipeline

    pipe = load_pipeline(ref)
    result = run_pipeline(pipe, parse_params(pipe, param or []), cache=not no_cache,
                          experiment=experiment)
    if as_json:
        output.emit_json({"pipeline_run": {
            "name": result.name, "run_id": result.run_id, "status": result.status,
            "steps": [{"name": s.name, "run_id": s.run_id, "cache_hit": s.cache_hit,
                       "duration_s": round(s.duration_s, 3), "attempts": s.attempts,
                       "output_kind": s.output_kind, "output_digest": s.output_digest}
                      for s in result.steps.values()]}})
        return
    table = output.new_table("Step", "Cached", "Duration (s)", "Run id",
                             title=f"Pipeline {result.name} ({result.run_id}): {result.status}")
    for s in result.steps.values():
        output.add_row(table, s.name, "yes" if s.cache_hit else "no", f"{s.duration_s:.3f}",
                       s.run_id)
    output.print_table(table)
