"""``shipyard env``: the Python environment a run recorded, and how two runs' environments differ.

Top-level runs record their interpreter, platform and installed packages unless
SHIPYARD_CAPTURE_ENVIRONMENT is off (docs/environments.md).
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag, client
from shipyard.cli.runs import RunRef, resolve_run
from shipyard.services.environment_diff import (
    FACTS,
    Environment,
    diff_environments,
    load_environment,
    load_requirements,
)

app = typer.Typer(name="env", help="Show a run's Python environment or compare two runs'.",
                  no_args_is_help=True)

_FACT_NAMES = {"python": "Python", "implementation": "Implementation", "platform": "Platform",
               "machine": "Machine"}


def _environment_json(environment: Environment) -> dict[str, Any]:
    return {"run_id": environment.run_id,
            **{key: environment.facts.get(key) for key in FACTS},
            "package_count": len(environment.packages),
            "packages": environment.packages}


@app.command("show")
def show(
    ref: RunRef,
    requirements: Annotated[bool, typer.Option(
        "--requirements", help="Print the run's requirements.lock (name==version lines) "
                               "instead, ready for `pip install -r`.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show the Python version, platform and packages a run recorded."""
    c = client()
    run = resolve_run(c, ref)
    if requirements:
        typer.echo(load_requirements(c.store, run.run_id), nl=False)
        return
    environment = load_environment(c.store, run.run_id)
    if as_json:
        output.emit_json({"environment": _environment_json(environment)})
        return
    summary = output.new_table("Field", "Value", title=f"Environment of run {run.info.run_name}")
    output.add_row(summary, "Run id", run.run_id)
    for key in FACTS:
        output.add_row(summary, _FACT_NAMES[key], environment.facts.get(key, output.MISSING))
    output.add_row(summary, "Packages", str(len(environment.packages)))
    output.print_table(summary)
    if environment.packages:
        table = output.new_table("Package", "Version", title="Packages")
        for name, version in environment.packages.items():
            output.add_row(table, name, version)
        output.print_table(table)


@app.command("diff")
def diff(
    ref_a: Annotated[str, typer.Argument(metavar="RUN_A", help="The first run (id or prefix).")],
    ref_b: Annotated[str, typer.Argument(metavar="RUN_B",
                                         help="The second run (id or prefix).")],
    as_json: JsonFlag = False,
) -> None:
    """Compare two runs' environments: packages added, removed, changed; Python and platform.

    Added packages are those only RUN_B has, removed those only RUN_A has. Differences are
    reported, not treated as failure: the exit code is 0."""
    c = client()
    run_a, run_b = resolve_run(c, ref_a), resolve_run(c, ref_b)
    result = diff_environments(load_environment(c.store, run_a.run_id),
                               load_environment(c.store, run_b.run_id))
    if as_json:
        output.emit_json({
            "run_a": run_a.run_id, "run_b": run_b.run_id, "identical": result.identical,
            "facts": [{"field": f.name, "a": f.a, "b": f.b} for f in result.facts],
            "added": [{"name": n, "version": v} for n, v in result.added],
            "removed": [{"name": n, "version": v} for n, v in result.removed],
            "changed": [{"name": ch.name, "a": ch.a, "b": ch.b} for ch in result.changed],
            "unchanged_count": result.unchanged,
        })
        return
    a_head = f"A {output.short_id(run_a.run_id)}"
    b_head = f"B {output.short_id(run_b.run_id)}"
    if result.facts:
        table = output.new_table("Field", a_head, b_head, title="Interpreter and platform")
        for fact in result.facts:
            output.add_row(table, _FACT_NAMES[fact.name], fact.a or output.MISSING,
                           fact.b or output.MISSING)
        output.print_table(table)
    if result.added or result.removed or result.changed:
        table = output.new_table("", "Package", a_head, b_head, title="Packages")
        for name, version in result.added:
            output.add_row(table, "+", name, output.MISSING, version, style="green")
        for name, version in result.removed:
            output.add_row(table, "-", name, version, output.MISSING, style="red")
        for change in result.changed:
            output.add_row(table, "≠", change.name, change.a, change.b, style="yellow")
        output.print_table(table)
    if result.identical:
        output.done(f"The environments of runs {output.short_id(run_a.run_id)} and "
                    f"{output.short_id(run_b.run_id)} are identical "
                    f"({result.unchanged} packages).")
        return
    output.note(f"{len(result.added)} added, {len(result.removed)} removed, "
                f"{len(result.changed)} changed, {result.unchanged} unchanged packages.")
