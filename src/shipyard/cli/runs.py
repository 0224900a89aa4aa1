"""``shipyard runs``: search, show, compare, delete and restore runs, and a metric's history.

A run is named by its full id or by an unambiguous prefix of it (tables show 8 characters).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag, client, resolve_experiment
from shipyard.entities.run import LifecycleStage, RunStatus, ViewType
from shipyard.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text

    from shipyard.entities import ArtifactInfo, Run
    from shipyard.sdk.client import Client

app = typer.Typer(name="runs", help="Search, show, compare, delete and restore runs.",
                  no_args_is_help=True)

RunRef = Annotated[str, typer.Argument(metavar="RUN_ID", help="A run id or a unique prefix.")]
RunRefs = Annotated[list[str], typer.Argument(metavar="RUN_ID",
                                              help="Run ids or unique prefixes.")]
ViewOption = Annotated[
    ViewType, typer.Option("--view", case_sensitive=False,
                           help="Search active runs, deleted runs or all of them."),
]

AUTO_COLUMNS = 8  # at most this many metric and param columns chosen for `runs list`
MAX_ARTIFACTS = 1000  # entries `runs show` lists
_ENTITIES = {"metric": "metrics", "metrics": "metrics", "param": "params", "params": "params",
             "tag": "tags", "tags": "tags"}
_STATUS_STYLE = {RunStatus.FINISHED: "green", RunStatus.FAILED: "red",
                 RunStatus.RUNNING: "yellow", RunStatus.KILLED: "magenta"}


# -- Looking runs up ---------------------------------------------------------------------------


def resolve_run(c: Client, ref: str) -> Run:
    """The run with this id, or the one run whose id starts with ``ref``."""
    try:
        return c.get_run(ref)
    except NotFoundError:
        prefix = ref.lower()
        if not 0 < len(prefix) < 32 or any(ch not in "0123456789abcdef" for ch in prefix):
            raise
        found = c.search_runs(None, f"attributes.run_id LIKE '{prefix}%'", max_results=2,
                              view=ViewType.ALL)
        if len(found) == 1:
            return found[0]
        if not found:
            raise
        raise InvalidInputError(
            f"run id prefix {ref!r} matches several runs; give more characters",
            field="run_id") from None


def experiment_names(c: Client) -> dict[str, str]:
    return {e.experiment_id: e.name for e in c.search_experiments(ViewType.ALL)}


def _duration(run: Run) -> int | None:
    end = run.info.end_time
    return None if end is None else end - run.info.start_time


def _status(run: Run) -> Text:
    return output.styled(str(run.info.status), _STATUS_STYLE.get(run.info.status))


# -- Columns: what varies across runs, or what --columns names ---------------------------------


def varying_keys(values: Sequence[Mapping[str, object]]) -> list[str]:
    """Keys whose value (or presence) differs between runs; every key for a single run."""
    keys = sorted({key for mapping in values for key in mapping})
    if len(values) <= 1:
        return keys
    return [key for key in keys
            if len({repr(m[key]) if key in m else None for m in values}) > 1]  # NaN == NaN


def auto_columns(runs: Sequence[Run], budget: int = AUTO_COLUMNS) -> tuple[list[str], int]:
    """The varying metrics and params as ``metrics.k``/``params.k`` columns, at most
    ``budget`` of them shared fairly, and how many were left out."""
    metrics = varying_keys([r.data.metrics for r in runs])
    params = varying_keys([r.data.params for r in runs])
    take_metrics = min(len(metrics), max((budget + 1) // 2, budget - len(params)))
    take_params = min(len(params), budget - take_metrics)
    chosen = [f"metrics.{k}" for k in metrics[:take_metrics]]
    chosen += [f"params.{k}" for k in params[:take_params]]
    return chosen, len(metrics) + len(params) - len(chosen)


def auto_budget(width: int) -> int:
    """How many varying columns a terminal this wide has room for: 1 at 80, 8 from 160."""
    return min(AUTO_COLUMNS, max(1, (width - 80) // 10))


def parse_columns(specs: Sequence[str]) -> list[str]:
    """``--columns`` values (comma-separated, repeatable) to canonical ``entity.key`` names."""
    columns: list[str] = []
    for spec in specs:
        for item in filter(None, (part.strip() for part in spec.split(","))):
            entity, dot, key = item.partition(".")
            if not dot or not key or entity.lower() not in _ENTITIES:
                raise InvalidInputError(
                    f"column {item!r} must be metrics.KEY, params.KEY or tags.KEY "
                    "(for example --columns metrics.f1,params.C)", field="--columns")
            columns.append(f"{_ENTITIES[entity.lower()]}.{key}")
    return columns


def cell(run: Run, column: str) -> str:
    entity, _, key = column.partition(".")
    if entity == "metrics":
        return output.number_text(run.data.metrics.get(key))
    source = run.data.params if entity == "params" else run.data.tags
    return source.get(key, output.MISSING)


# -- runs list ---------------------------------------------------------------------------------


@app.command("list")
def list_runs(
    experiment: Annotated[list[str] | None, typer.Option(
        "--experiment", "-e", metavar="NAME_OR_ID",
        help="Only runs of this experiment (name or id); repeat for several. "
             "Default: every experiment.")] = None,
    filter_string: Annotated[str | None, typer.Option(
        "--filter", "-f", metavar="FILTER",
        help="Search filter, e.g. \"metrics.f1 > 0.9 and params.C = '1'\" (docs/search.md).",
    )] = None,
    order_by: Annotated[list[str] | None, typer.Option(
        "--order-by", "-o", metavar="KEY [ASC|DESC]",
        help="Sort key such as \"metrics.f1 DESC\"; repeat to break ties. Default: newest "
             "first.")] = None,
    max_results: Annotated[int, typer.Option(
        "--max-results", "-n", help="Show at most this many runs.")] = 50,
    columns: Annotated[list[str] | None, typer.Option(
        "--columns", "-c", metavar="COLUMNS",
        help="Comma-separated metrics.KEY, params.KEY or tags.KEY columns for the table, "
             "instead of the metrics and params that vary across the runs.")] = None,
    view: ViewOption = ViewType.ACTIVE_ONLY,
    as_json: JsonFlag = False,
) -> None:
    """List runs matching a filter, newest first unless --order-by says otherwise."""
    c = client()
    chosen = parse_columns(columns or [])
    experiment_ids = None
    if experiment:
        experiment_ids = [resolve_experiment(c, ref).experiment_id for ref in experiment]
    page = c.search_runs(experiment_ids, filter_string, order_by, max_results, view=view)
    names = experiment_names(c)
    truncated = page.next_page_token is not None
    if as_json:
        output.emit_json({
            "runs": [output.run_json(run, names.get(run.info.experiment_id)) for run in page],
            "truncated": truncated,
        })
        return
    if not page.items:
        output.note("No runs match.")
        return
    left_out = 0
    if not chosen:
        chosen, left_out = auto_columns(page.items, auto_budget(output.stdout_console().width))
    experiments = {run.info.experiment_id for run in page}
    one = names.get(experiments.pop(), "?") if len(experiments) == 1 else None
    fixed = ["Run", "Name", "Status", "Started", "Duration"]
    if one is None:
        fixed.insert(2, "Experiment")
    headers = [column.replace(".", "\n", 1) for column in chosen]  # narrow: entity over key
    table = output.new_table(*fixed, *headers, no_wrap=("Run", "Status", "Started", "Duration"),
                             title=f"Runs of {one}" if one else "Runs")
    for run in page:
        info = run.info
        cells: list[str | Text] = [output.short_id(info.run_id), info.run_name, _status(run),
                                   output.local_time(info.start_time, seconds=False),
                                   output.duration_text(_duration(run))]
        if one is None:
            cells.insert(2, names.get(info.experiment_id, info.experiment_id))
        output.add_row(
            table, *cells, *(cell(run, column) for column in chosen),
            style="dim" if info.lifecycle_stage == LifecycleStage.DELETED else None,
        )
    output.print_table(table)
    if left_out:
        output.note(f"{left_out} more varying metric/param columns not shown; "
                    "pick columns with --columns.")
    if truncated:
        output.note(f"Showing the first {max_results} runs; raise --max-results for more.")


# -- runs show ---------------------------------------------------------------------------------


def all_artifacts(c: Client, run_id: str, limit: int = MAX_ARTIFACTS) -> list[ArtifactInfo]:
    """Every file of the run's artifact tree (folders are walked), in path order."""
    files: list[ArtifactInfo] = []
    folders: list[str | None] = [None]
    while folders and len(files) < limit:
        for entry in c.list_artifacts(run_id, folders.pop()):
            if entry.is_dir:
                folders.append(entry.path)
            else:
                files.append(entry)
    return sorted(files, key=lambda a: a.path)[:limit]


def _pairs_table(title: str, pairs: Mapping[str, str]) -> Table:
    table = output.new_table("Key", "Latest value" if title == "Metrics" else "Value",
                             title=title)
    for name in sorted(pairs):
        output.add_row(table, name, output.clip(pairs[name]))
    return table


@app.command("show")
def show_run(ref: RunRef, as_json: JsonFlag = False) -> None:
    """Show a run: its info, params, latest metrics, tags, artifacts and parent."""
    c = client()
    run = resolve_run(c, ref)
    info = run.info
    experiment = c.get_experiment(info.experiment_id)
    parent_name = None
    if info.parent_run_id is not None:
        try:
            parent_name = c.get_run(info.parent_run_id).info.run_name
        except NotFoundError:
            parent_name = None
    artifacts = all_artifacts(c, info.run_id)
    if as_json:
        document = output.run_json(run, experiment.name)
        document["parent"] = None if info.parent_run_id is None else {
            "run_id": info.parent_run_id, "run_name": parent_name}
        document["artifacts"] = [output.artifact_json(a) for a in artifacts]
        output.emit_json({"run": document})
        return
    parent = output.MISSING
    if info.parent_run_id is not None:
        parent = f"{info.parent_run_id} ({parent_name or 'not found'})"
    summary = {
        "Run id": info.run_id, "Name": info.run_name,
        "Experiment": f"{experiment.name} ({experiment.experiment_id})",
        "Status": str(info.status), "Stage": str(info.lifecycle_stage), "User": info.user,
        "Started": output.local_time(info.start_time), "Ended": output.local_time(info.end_time),
        "Duration": output.duration_text(_duration(run)), "Parent": parent,
    }
    summary_table = output.new_table("Field", "Value", title=f"Run {info.run_name}")
    for name, value in summary.items():  # in this order, not sorted
        output.add_row(summary_table, name, value)
    output.print_table(summary_table)
    sections = (
        ("Params", dict(run.data.params)),
        ("Metrics", {k: output.number_text(v) for k, v in run.data.metrics.items()}),
        ("Tags", dict(run.data.tags)),
    )
    for title, pairs in sections:
        if pairs:
            output.print_table(_pairs_table(title, pairs))
        else:
            output.done(f"{title}: none")
    if artifacts:
        table = output.new_table("Path", "Size", title="Artifacts")
        for artifact in artifacts:
            output.add_row(table, artifact.path, output.size_text(artifact.size))
        output.print_table(table)
    else:
        output.done("Artifacts: none")


# -- runs compare ------------------------------------------------------------------------------


def _compare_rows(runs: Sequence[Run], entity: str) -> list[tuple[str, list[Any], bool]]:
    """(key, one value per run or None, differs) for every param or metric key."""
    values: list[Mapping[str, Any]] = [
        r.data.params if entity == "params" else r.data.metrics for r in runs]
    differing = set(varying_keys(values)) if len(runs) > 1 else set()
    keys = sorted({key for mapping in values for key in mapping})
    return [(key, [m.get(key) for m in values], key in differing) for key in keys]


@app.command("compare")
def compare_runs(refs: RunRefs, as_json: JsonFlag = False) -> None:
    """Compare runs side by side: params and latest metrics, rows that differ highlighted."""
    if len(refs) < 2:
        raise InvalidInputError("give at least two run ids to compare", field="RUN_ID")
    c = client()
    runs = [resolve_run(c, ref) for ref in refs]
    names = experiment_names(c)
    params = _compare_rows(runs, "params")
    metrics = _compare_rows(runs, "metrics")
    if as_json:
        output.emit_json({
            "runs": [output.run_json(r, names.get(r.info.experiment_id)) for r in runs],
            "params": [{"key": k, "values": v, "differs": d} for k, v, d in params],
            "metrics": [{"key": k, "differs": d, "values": [
                None if x is None else output.json_number(x) for x in v]}
                for k, v, d in metrics],
        })
        return
    table = output.new_table("", "", *(f"{output.short_id(r.run_id)}\n{r.info.run_name}"
                                       for r in runs), title="Run comparison")
    attributes = (
        ("experiment", [names.get(r.info.experiment_id, r.info.experiment_id) for r in runs]),
        ("status", [str(r.info.status) for r in runs]),
        ("started", [output.local_time(r.info.start_time) for r in runs]),
        ("duration", [output.duration_text(_duration(r)) for r in runs]),
    )
    for key, texts in attributes:
        output.add_row(table, "", key, *texts, style="dim")
    for prefix, rows in (("params", params), ("metrics", metrics)):
        table.add_section()
        for key, values, differs in rows:
            texts = [output.MISSING if v is None else
                     output.number_text(v) if prefix == "metrics" else str(v) for v in values]
            output.add_row(table, "≠" if differs else "", f"{prefix}.{key}", *texts,
                           style="bold yellow" if differs else None)
    output.print_table(table)
    changed = sum(d for _, _, d in params + metrics)
    output.note(f"{changed} of {len(params) + len(metrics)} params and metrics differ (≠).")


# -- runs delete / restore ---------------------------------------------------------------------


@app.command("delete")
def delete_runs(refs: RunRefs) -> None:
    """Delete runs (they can be restored). Nothing is deleted if any id is unknown."""
    c = client()
    runs = [resolve_run(c, ref) for ref in refs]
    for run in runs:
        c.delete_run(run.run_id)
        output.done(f"Deleted run {run.run_id} ({run.info.run_name}).")


@app.command("restore")
def restore_runs(refs: RunRefs) -> None:
    """Restore deleted runs. Nothing is restored if any id is unknown."""
    c = client()
    runs = [resolve_run(c, ref) for ref in refs]
    for run in runs:
        c.restore_run(run.run_id)
        output.done(f"Restored run {run.run_id} ({run.info.run_name}).")


# -- runs metric -------------------------------------------------------------------------------


@app.command("metric")
def metric_history(
    ref: RunRef,
    key: Annotated[str, typer.Argument(metavar="KEY", help="The metric's key, e.g. f1.")],
    tail: Annotated[int, typer.Option(
        "--tail", min=0, help="Points the table shows, the latest ones; 0 shows all.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """Show every point of one metric of a run, with a sparkline."""
    c = client()
    run = resolve_run(c, ref)
    history = c.get_metric_history(run.run_id, key)
    if not history:
        known = ", ".join(sorted(run.data.metrics)) or "none"
        raise NotFoundError(f"run {run.run_id!r} has no metric {key!r} (its metrics: {known})",
                            field="metric key")
    if as_json:
        output.emit_json({"run_id": run.run_id, "key": key,
                          "history": [output.metric_json(point) for point in history]})
        return
    values = [point.value for point in history]
    finite = [v for v in values if math.isfinite(v)]
    summary = f"{key}: {len(values)} points"
    if finite:
        summary += (f", min {output.number_text(min(finite))}, "
                    f"max {output.number_text(max(finite))}")
    summary += f", last {output.number_text(values[-1])}"
    output.done(summary)
    if finite:
        output.done(output.sparkline(values))
    shown = history[-tail:] if tail else history
    table = output.new_table("Step", "Value", "Time")
    for point in shown:
        output.add_row(table, str(point.step), output.number_text(point.value),
                       output.local_time(point.timestamp))
    output.print_table(table)
    if len(shown) < len(history):
        output.note(f"Showing the last {len(shown)} of {len(history)} points; --tail 0 shows all.")
