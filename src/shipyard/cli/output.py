"""Printing for the CLI: rich tables for people, one JSON document for programs.

Every ``--json`` output follows these rules:

- One JSON object on stdout and nothing else there; notes and errors go to stderr.
- Strict JSON: ``json.loads`` parses it with no extension, so no bare ``NaN`` or ``Infinity``.
- Times: ``<name>`` is an ISO-8601 UTC string (``2024-05-01T12:00:00.123Z``) and
  ``<name>_ms`` the raw milliseconds since the epoch; both are ``null`` when unset.
- Metric values: finite numbers are JSON numbers; NaN, +inf and -inf are the strings ``"NaN"``,
  ``"Infinity"`` and ``"-Infinity"`` (the spelling of JavaScript and of protobuf's JSON mapping).
  Strings rather than ``null`` keep the difference between the three, and Python's ``float()``
  reads each of them back.
- Run ids are given in full (tables show the first 8 characters).
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import typer

from shipyard.entities import ArtifactInfo, Experiment, Metric, Run

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

SHORT_ID = 8
MISSING = "—"
_BLOCKS = "▁▂▃▄▅▆▇█"

# -- JSON --------------------------------------------------------------------------------------


def json_number(value: float) -> float | str:
    """A metric value as strict JSON allows: non-finite values become strings."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def iso_time(ms: int | None) -> str | None:
    if ms is None:
        return None
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def time_fields(name: str, ms: int | None) -> dict[str, Any]:
    return {name: iso_time(ms), f"{name}_ms": ms}


def emit_json(document: Mapping[str, Any]) -> None:
    """Print one strict JSON document on stdout (``allow_nan=False`` guards the rule)."""
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False))


def experiment_json(experiment: Experiment) -> dict[str, Any]:
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "lifecycle_stage": str(experiment.lifecycle_stage),
        **time_fields("creation_time", experiment.creation_time),
        **time_fields("last_update_time", experiment.last_update_time),
        "tags": dict(experiment.tags),
    }


def run_json(run: Run, experiment_name: str | None) -> dict[str, Any]:
    info = run.info
    duration = None if info.end_time is None else info.end_time - info.start_time
    return {
        "run_id": info.run_id,
        "run_name": info.run_name,
        "experiment_id": info.experiment_id,
        "experiment_name": experiment_name,
        "user": info.user,
        "status": str(info.status),
        "lifecycle_stage": str(info.lifecycle_stage),
        **time_fields("start_time", info.start_time),
        **time_fields("end_time", info.end_time),
        "duration_ms": duration,
        "parent_run_id": info.parent_run_id,
        "params": dict(run.data.params),
        "metrics": {key: json_number(value) for key, value in run.data.metrics.items()},
        "tags": dict(run.data.tags),
    }


def artifact_json(artifact: ArtifactInfo) -> dict[str, Any]:
    return {"path": artifact.path, "is_dir": artifact.is_dir, "size": artifact.size,
            "digest": artifact.digest}


def metric_json(point: Metric) -> dict[str, Any]:
    return {"step": point.step, "value": json_number(point.value),
            **time_fields("timestamp", point.timestamp)}


# -- Text for tables ---------------------------------------------------------------------------


def short_id(run_id: str) -> str:
    return run_id[:SHORT_ID]


def local_time(ms: int | None, seconds: bool = True) -> str:
    """A time for people: local time, to the second or the minute."""
    if ms is None:
        return MISSING
    moment = datetime.fromtimestamp(ms / 1000).astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def duration_text(ms: int | None) -> str:
    if ms is None:
        return MISSING
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours:02d}h"


def number_text(value: float | None) -> str:
    if value is None:
        return MISSING
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.6g}"


def size_text(size: int | None) -> str:
    if size is None:
        return ""
    amount = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if amount < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """Unicode blocks for a series, averaged into at most ``width`` buckets; gaps for NaN."""
    if not values:
        return ""
    buckets: list[list[float]] = [[] for _ in range(min(width, len(values)))]
    for index, value in enumerate(values):
        buckets[index * len(buckets) // len(values)].append(value)
    means: list[float | None] = []
    for bucket in buckets:
        finite = [v for v in bucket if math.isfinite(v)]
        means.append(sum(finite) / len(finite) if finite else None)
    known = [m for m in means if m is not None]
    if not known:
        return " " * len(means)
    low, high = min(known), max(known)
    span = high - low
    top = len(_BLOCKS) - 1
    return "".join(
        " " if m is None else _BLOCKS[0 if span == 0 else round((m - low) / span * top)]
        for m in means
    )


# -- Consoles ----------------------------------------------------------------------------------


def stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_table(table: Table) -> None:
    stdout_console().print(table)


def note(message: str) -> None:
    """A remark for people (on stderr, so stdout stays clean for pipes)."""
    stderr_console().print(message, style="dim", markup=False, soft_wrap=True)


def done(message: str) -> None:
    """Confirm a change on stdout."""
    stdout_console().print(message, markup=False, soft_wrap=True)


def styled(text: str, style: str | None = None) -> Text:
    """Literal text (never read as rich markup) in a style."""
    from rich.text import Text

    return Text(text, style=style or "")


def new_table(*columns: str, title: str | None = None, no_wrap: Collection[str] = ()
              ) -> Table:
    """A table whose title and headers are literal text; ``no_wrap`` columns keep their width
    when the terminal is narrow (the others wrap)."""
    from rich.table import Table

    table = Table(title=None if title is None else styled(title), header_style="bold",
                  title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(styled(column), overflow="fold", no_wrap=column in no_wrap)
    return table


def clip(text: str, limit: int = 300) -> str:
    """Long values (a git diff in a tag) cut for a table; ``--json`` has them whole."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def add_row(table: Table, *cells: str | Text, style: str | None = None) -> None:
    """Add a row; plain strings are literal text, so user data cannot inject markup."""
    table.add_row(*(styled(c) if isinstance(c, str) else c for c in cells), style=style)
