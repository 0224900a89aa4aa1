"""``shipyard pipelines``: run a pipeline function from a file; schedule, trigger and list
queued runs (docs/pipelines.md)."""

from __future__ import annotations

import json
from types import TracebackType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

    from shipyard.pipelines.queue import QueuedRun
    from shipyard.pipelines.runner import StepEvent
    from shipyard.pipelines.schedules import Schedule

app = typer.Typer(name="pipelines", help="Run pipelines of steps, cached and tracked.",
                  no_args_is_help=True)


class StepProgress:
    """Progress of a running pipeline, fed by ``run_pipeline``'s step events: on a terminal a
    live bar with the counts done, running, cached and failed and the running steps' names;
    elsewhere (a pipe, a log file, tests) one plain line per event."""

    NAMES_SHOWN = 3  # running steps named on the bar; the rest are counted

    def __init__(self, console: Console) -> None:
        self.console = console
        self.total = 0
        self.done = 0  # ran to the end, cache hits not included
        self.cached = 0
        self.failed = 0
        self.running: dict[str, None] = {}  # insertion-ordered: the oldest first
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> StepProgress:
        if self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self._bar = Progress(
                SpinnerColumn(), TextColumn("steps"), BarColumn(), MofNCompleteColumn(),
                TextColumn("{task.fields[counts]}"), TimeElapsedColumn(),
                TextColumn("{task.fields[names]}"), console=self.console)
            self._bar.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()

    @property
    def finished(self) -> int:
        """Steps that will not run again in this pipeline run."""
        return self.done + self.cached + self.failed

    def counts(self) -> str:
        return (f"done {self.done}  running {len(self.running)}  cached {self.cached}  "
                f"failed {self.failed}")

    def names(self) -> str:
        names = list(self.running)
        shown = ", ".join(names[:self.NAMES_SHOWN])
        more = len(names) - self.NAMES_SHOWN
        return shown + (f" +{more} more" if more > 0 else "")

    def __call__(self, event: StepEvent) -> None:
        self.total = event.total
        if event.kind == "started":
            self.running[event.step] = None
        else:
            self.running.pop(event.step, None)
            if event.kind == "finished":
                self.done += 1
            elif event.kind == "cached":
                self.cached += 1
            else:
                self.failed += 1
        if self._bar is not None:
            self._draw()
        else:
            self.console.print(self._line(event), markup=False, highlight=False,
                               soft_wrap=True)

    def _draw(self) -> None:
        assert self._bar is not None
        if self._task is None:
            self._task = self._bar.add_task("steps", total=self.total, counts="", names="")
        self._bar.update(self._task, total=self.total, completed=self.finished,
                         counts=self.counts(), names=self.names())

    def _line(self, event: StepEvent) -> str:
        where = f"[{self.finished}/{self.total}]"
        if event.kind == "started":
            return f"{where} {event.step} started"
        if event.kind == "finished" and event.result is not None:
            return f"{where} {event.step} finished in {event.result.duration_s:.3f} s"
        if event.kind == "failed" and event.error is not None:
            return f"{where} {event.step} failed: {type(event.error).__name__}: {event.error}"
        return f"{where} {event.step} {event.kind}"


@app.command("run")
def run(
    ref: Annotated[str, typer.Argument(help="The pipeline: path/to/file.py:function.")],
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="A pipeline parameter, name=value (repeatable).")] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Run every step even when a cached result exists.")] = False,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", "-e", help="Experiment of the pipeline run (default: Default).")] = None,
    executor: Annotated[str, typer.Option(
        "--executor", help="Where steps run: local, or dask://host:port.")] = "local",
    as_json: JsonFlag = False,
) -> None:
    """Check and run a pipeline; print each step's run, cache hit and duration."""
    from shipyard.pipelines.loading import load_pipeline, parse_params
    from shipyard.pipelines.runner import run_pipeline

    pipe = load_pipeline(ref)
    values = parse_params(pipe, param or [])
    if as_json:  # stdout holds the JSON document alone
        result = run_pipeline(pipe, values, cache=not no_cache, experiment=experiment,
                              executor=executor)
    else:
        with StepProgress(output.stdout_console()) as progress:
            result = run_pipeline(pipe, values, cache=not no_cache, experiment=experiment,
                                  executor=executor, on_step=progress)
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


ParamOption = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="A pipeline parameter, name=value (repeatable).")]


def _loose_params(pairs: list[str]) -> dict[str, Any]:
    """``name=value`` pairs: JSON where the value parses as JSON, text otherwise."""
    from shipyard.errors import InvalidInputError

    params: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"--param {pair!r} is not name=value", field="param")
        try:
            params[key] = json.loads(text)
        except ValueError:
            params[key] = text
    return params


@app.command("schedule")
def schedule(
    name: Annotated[str, typer.Argument(
        help="The schedule's name; without --ref, also the pipeline's name.")],
    ref: Annotated[str | None, typer.Option(
        "--ref", help="The pipeline: path/to/file.py:function or module:function (default: "
        "the file of the newest run of the pipeline NAME).")] = None,
    cron: Annotated[str | None, typer.Option(
        "--cron", help="A cron expression in UTC, e.g. '0 3 * * *'.")] = None,
    every: Annotated[str | None, typer.Option(
        "--every", help="A fixed interval: 30s, 10m, 2h, 1d.")] = None,
    param: ParamOption = None,
    missed: Annotated[str, typer.Option(
        "--missed", help="Runs missed while no scheduler ran: skip (run once) or catch-up.")
    ] = "skip",
    as_json: JsonFlag = False,
) -> None:
    """Run a pipeline on a cron schedule or every fixed interval (needs `shipyard scheduler`
    and `shipyard worker`)."""
    from shipyard import settings
    from shipyard.errors import InvalidInputError
    from shipyard.pipelines.api import store_content, store_engine
    from shipyard.pipelines.code_package import store_package
    from shipyard.pipelines.loading import parse_params
    from shipyard.pipelines.schedules import check_cron, create_schedule, parse_every
    from shipyard.pipelines.worker import load_ref

    if (cron is None) == (every is None):
        raise InvalidInputError("give exactly one of --cron and --every", field="cron")
    if cron is not None:
        check_cron(cron)  # before loading any code
    if every is not None:
        parse_every(every)
    if ref is None:
        from shipyard.pipelines.history import latest_ref
        from shipyard.sdk.fluent import client

        ref = latest_ref(client(), name)
    pipe = load_ref(ref, None, None)
    digest = store_package(ref, store_content())
    created = create_schedule(store_engine(), name, ref, params=parse_params(pipe, param or []),
                              cron=cron, every=every, missed=missed, code_digest=digest,
                              created_by=settings.current_user())
    if as_json:
        output.emit_json({"schedule": _schedule_json(created)})
        return
    due = output.local_time(created.next_due_time)
    output.done(f"Scheduled {name}: {ref}, first run due {due}")


def _schedule_json(s: Schedule) -> dict[str, Any]:
    return {"name": s.name, "pipeline_ref": s.pipeline_ref, "params": s.params, "cron": s.cron,
            "interval_s": s.interval_s, "missed": s.missed, "code_digest": s.code_digest,
            "active": s.active, "created_by": s.created_by,
            **output.time_fields("next_due", s.next_due_time),
            **output.time_fields("created", s.created_time)}


@app.command("schedules")
def list_schedules_cmd(as_json: JsonFlag = False) -> None:
    """List the pipeline schedules."""
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.schedules import list_schedules

    found = list_schedules(store_engine())
    if as_json:
        output.emit_json({"schedules": [_schedule_json(s) for s in found]})
        return
    table = output.new_table("Name", "Pipeline", "When", "Missed", "Next due")
    for s in found:
        when = f"cron {s.cron}" if s.cron else f"every {s.interval_s}s"
        output.add_row(table, s.name, s.pipeline_ref, when, s.missed,
                       output.local_time(s.next_due_time))
    output.print_table(table)


@app.command("unschedule")
def unschedule(name: Annotated[str, typer.Argument(help="The schedule's name.")]) -> None:
    """Remove a schedule (runs already queued stay queued)."""
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.schedules import delete_schedule

    delete_schedule(store_engine(), name)
    output.done(f"Removed schedule {name}")


def _queued_json(r: QueuedRun) -> dict[str, Any]:
    return {"id": r.id, "schedule": r.schedule_name, "pipeline_ref": r.pipeline_ref,
            "params": r.params, "code_digest": r.code_digest, "reason": r.reason,
            "status": r.status, "claimed_by": r.claimed_by,
            "pipeline_run_id": r.pipeline_run_id, "error": r.error,
            **output.time_fields("due", r.due_time),
            **output.time_fields("heartbeat", r.heartbeat_time)}


@app.command("trigger")
def trigger_cmd(
    name: Annotated[str, typer.Argument(help="The schedule whose pipeline to run now.")],
    reason: Annotated[str, typer.Option("--reason", help="Why it runs (recorded).")],
    param: ParamOption = None,
    as_json: JsonFlag = False,
) -> None:
    """Queue a run of a scheduled pipeline now, recording why."""
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.queue import trigger

    queued = trigger(store_engine(), name, _loose_params(param or []), reason)
    if as_json:
        output.emit_json({"queued_run": _queued_json(queued)})
        return
    output.done(f"Queued run {queued.id} of {name}")


@app.command("queue")
def queue_cmd(
    status: Annotated[str | None, typer.Option(
        "--status", help="Only runs in this status: queued, claimed, running, succeeded, "
                         "failed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List queued and recent runs taken by workers (newest due first, 100 at most)."""
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.queue import list_queue

    found = list_queue(store_engine(), status)
    if as_json:
        output.emit_json({"queued_runs": [_queued_json(r) for r in found]})
        return
    table = output.new_table("Id", "Schedule", "Due", "Status", "Reason", "Pipeline run",
                             "Error", no_wrap=("Id", "Due", "Status"))
    for r in found:
        output.add_row(table, r.id, r.schedule_name or "", output.local_time(r.due_time),
                       r.status, r.reason, r.pipeline_run_id or "", output.clip(r.error or ""))
    output.print_table(table)


@app.command("requeue")
def requeue_cmd(run_id: Annotated[str, typer.Argument(help="A failed queued run's id.")]) -> None:
    """Queue a failed run again (its finished steps come from the cache)."""
    from shipyard.pipelines.api import store_engine
    from shipyard.pipelines.queue import requeue

    requeue(store_engine(), run_id)
    output.done(f"Queued {run_id} again")


from shipyard.cli.pipeline_runs import register as _register_runs  # noqa: E402

_register_runs(app)
