"""Tables for ``shipyard data show`` and ``data diff``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.cli import output

if TYPE_CHECKING:
    from rich.table import Table

    from shipyard.entities.dataset import DatasetVersion
    from shipyard.services.data.diff import DatasetDiff

LIST_LIMIT = 50


def columns_table(v: DatasetVersion) -> Table:
    """The schema, with a one-line profile summary per column where there is a profile."""
    summaries = column_summaries(v.profile) if v.profile else {}
    table = output.new_table("column", "type", "nullable", "profile", title="Columns",
                             no_wrap=("column", "type"))
    for c in v.columns or ():
        output.add_row(table, c.name, c.type, "yes" if c.nullable else "no",
                       summaries.get(c.name, ""))
    return table


def print_diff(d: DatasetDiff) -> None:
    out = output.stdout_console()
    out.print(output.styled(f"{d.old.ref} -> {d.new.ref}", "bold"))
    if d.identical:
        out.print(output.styled("identical content (same digest)"))
        return
    if d.rows_before is not None or d.rows_after is not None:
        out.print(output.styled(f"rows: {_count(d.rows_before)} -> {_count(d.rows_after)}"
                                f"{_change(d.rows_before, d.rows_after)}"))
    if not d.schema.empty:
        table = output.new_table("column", "change", "type", title="Schema")
        for c in d.schema.added:
            output.add_row(table, c.name, "added", c.type, style="green")
        for c in d.schema.removed:
            output.add_row(table, c.name, "removed", c.type, style="red")
        for a, b in d.schema.retyped:
            output.add_row(table, a.name, "retyped", f"{a.type} -> {b.type}", style="yellow")
        output.print_table(table)
    if d.columns:
        output.print_table(_drift_table(d.columns))
    changes = len(d.files_added) + len(d.files_removed) + len(d.files_modified)
    out.print(output.styled(f"files: {len(d.files_added)} added, {len(d.files_removed)} "
                            f"removed, {len(d.files_modified)} modified"))
    if changes:
        print_changes(d.files_added, d.files_modified, d.files_removed)


def print_changes(added: list[str], modified: list[str], removed: list[str]) -> None:
    """Changed paths by kind, at most :data:`LIST_LIMIT` of each."""
    out = output.stdout_console()
    for label, paths, style in (("added", added, "green"), ("modified", modified, "yellow"),
                                ("removed", removed, "red")):
        for item in paths[:LIST_LIMIT]:
            out.print(output.styled(f"  {label + ':':<10}{item}", style))
        if len(paths) > LIST_LIMIT:
            out.print(output.styled(f"  ... and {len(paths) - LIST_LIMIT} more {label}", style))


def _drift_table(columns: list[dict[str, Any]]) -> Table:
    table = output.new_table("column", "status", "missing", "mean", "PSI", "drift",
                             title="Columns", no_wrap=("column",))
    for entry in columns:
        cells = drift_cells(entry)
        output.add_row(table, *cells, style="yellow" if cells[-1] == "DRIFT" else None)
    return table


def column_summaries(profile: dict[str, Any]) -> dict[str, str]:
    """One line per column from a profile's JSON form: missing share, then numbers or top
    values (a chart-free glance; ``data show --json`` has everything)."""
    lines: dict[str, str] = {}
    for column in profile.get("columns", []):
        count = column.get("count") or 0
        parts = []
        if count:
            parts.append(f"missing {column.get('missing', 0) / count:.1%}")
        numeric = column.get("numeric") or {}
        if numeric.get("n"):
            q = numeric.get("quantiles") or {}
            parts.append(f"mean {_num(numeric.get('mean'))} sd {_num(numeric.get('std'))}")
            parts.append(f"min {_num(numeric.get('min'))} median {_num(q.get('p50'))} "
                         f"max {_num(numeric.get('max'))}")
        text = column.get("string") or {}
        if text.get("top"):
            top = ", ".join(f"{value} ({n})" for value, n in text["top"][:3])
            parts.append(f"~{text.get('distinct', '?')} distinct; top {top}")
        lines[column.get("name", "")] = "; ".join(parts)
    return lines


def drift_cells(entry: dict[str, Any]) -> tuple[str, ...]:
    """column, status, missing rate change, mean change, PSI, verdict."""
    def rate(key: str) -> str:
        value = entry.get(key)
        return "" if value is None else f"{value:.1%}"

    missing = f"{rate('missing_rate_reference')} -> {rate('missing_rate_current')}"
    mean = ""
    if entry.get("mean_reference") is not None and entry.get("mean_current") is not None:
        mean = f"{_num(entry['mean_reference'])} -> {_num(entry['mean_current'])}"
    psi = "" if entry.get("psi") is None else f"{entry['psi']:.3f}"
    return (str(entry.get("column", "")), str(entry.get("status", "")), missing, mean, psi,
            "DRIFT" if entry.get("drifted") else "ok")


def _num(value: object) -> str:
    return output.number_text(value) if isinstance(value, int | float) else "?"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _change(before: int | None, after: int | None) -> str:
    if before is None or after is None or before == after:
        return ""
    delta = after - before
    share = f", {delta / before:+.1%}" if before else ""
    return f" ({delta:+,}{share})"
