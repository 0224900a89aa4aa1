"""``shipyard runs data`` and ``runs reproduce``: the data behind a run, and re-running it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag, client
from shipyard.cli.runs import RunRef, resolve_run


def run_data(ref: RunRef, as_json: JsonFlag = False) -> None:
    """The dataset versions a run read (inputs) and wrote (outputs)."""
    c = client()
    run = resolve_run(c, ref)
    usage = c.datasets.run_datasets(run.info.run_id)
    if as_json:
        output.emit_json({"run_id": run.info.run_id, "datasets": [
            {"ref": u.ref, "digest": u.digest, "role": str(u.role)} for u in usage]})
        return
    table = output.new_table("dataset", "role", "digest", no_wrap=("dataset", "digest"))
    for u in usage:
        output.add_row(table, u.ref, str(u.role), u.digest[:12])
    output.print_table(table)


def reproduce(
    ref: RunRef,
    output_dir: Annotated[Path, typer.Option("--output", "-o",
                                             help="An empty or new folder to write into.")],
) -> None:
    """Write what a run needs to run again: input data, code patch, lock and reproduce.sh.

    The folder gets each input dataset version under data/, the uncommitted diff as
    code.patch, requirements.lock, environment.json, params.json, and reproduce.sh (clone,
    checkout the commit, apply the patch, install the lock, run the command).
    """
    from shipyard.services.reproduce import reproduce_run

    c = client()
    run = resolve_run(c, ref)
    done = reproduce_run(c.store, c.datasets, run.info.run_id, output_dir)
    for name in done.files:
        output.note(f"  {name}")
    commit = done.commit[:12] if done.commit else "no commit recorded"
    output.done(f"run {run.info.run_id}: {len(done.datasets)} dataset(s), code at {commit}"
                f"{' + patch' if done.patch else ''} -> {output_dir}/reproduce.sh")
