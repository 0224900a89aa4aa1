"""``shipyard data``: add, list, show, compare, restore and trace dataset versions.

A version is named ``name@v3``, ``name@latest`` (or just ``name``), or ``name@<digest
prefix>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shipyard.cli import output
from shipyard.cli.experiments import JsonFlag

if TYPE_CHECKING:
    from shipyard.entities.dataset import DatasetVersion, RunDataset
    from shipyard.services.data.diff import DatasetDiff
    from shipyard.services.data.service import DatasetService
    from shipyard.services.data.status import DataStatus

app = typer.Typer(name="data", help="Version datasets: add, list, diff, restore, trace lineage.",
                  no_args_is_help=True)

Ref = Annotated[str, typer.Argument(metavar="REF",
                                    help="A version: name@v3, name@latest or name@<digest>.")]
NameOption = Annotated[str, typer.Option("--name", "-n", help="The dataset's name.")]


def service() -> DatasetService:
    from shipyard.services.data.service import open_dataset_service

    return open_dataset_service()


def version_json(v: DatasetVersion, *, profile: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": v.name, "version": v.version, "ref": v.ref, "digest": v.digest,
        "kind": str(v.kind), "size": v.size, "file_count": v.file_count,
        "row_count": v.row_count, "parent": v.parent, "created_by": v.created_by,
        **output.time_fields("created", v.created_time), "description": v.description,
        "columns": None if v.columns is None else [
            {"name": c.name, "type": c.type, "nullable": c.nullable} for c in v.columns],
    }
    if profile:
        body["profile"] = v.profile
    return body


def _usage_json(u: RunDataset) -> dict[str, Any]:
    return {"run_id": u.run_id, "ref": u.ref, "digest": u.digest, "role": str(u.role)}


@app.command("add")
def add(
    path: Annotated[Path, typer.Argument(help="A file or folder.")],
    name: NameOption,
    description: Annotated[str | None, typer.Option(help="What this version holds.")] = None,
    profile: Annotated[bool, typer.Option(
        help="Profile the columns of a CSV/Parquet file (schema and row count are always "
             "recorded).")] = True,
    as_json: JsonFlag = False,
) -> None:
    """Store a new version of a dataset from a file or folder; prints name@vN.

    Only content not stored before is read and sent; adding what the latest version already
    holds prints that version.
    """
    from shipyard.cli.data_progress import ByteProgress

    with ByteProgress() as progress:
        result = service().add(str(path), name, description=description, profile=profile,
                               progress=progress)
    if as_json:
        output.emit_json({**version_json(result.version), "created": result.created,
                          "files_hashed": result.files_hashed,
                          "blobs_stored": result.blobs_stored,
                          "bytes_stored": result.bytes_stored})
        return
    v = result.version
    if result.created:
        output.note(f"{v.file_count} file(s), {output.size_text(v.size)}; stored "
                    f"{result.blobs_stored} new blob(s), {output.size_text(result.bytes_stored)}")
        output.done(v.ref)
    else:
        output.note("unchanged: the latest version already holds this content")
        output.done(v.ref)


@app.command("ls")
def list_datasets(
    name: Annotated[str | None, typer.Argument(help="List this dataset's versions.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List datasets with their latest version, or one dataset's versions."""
    svc = service()
    if name is None:
        found = svc.list_datasets()
        if as_json:
            output.emit_json({"datasets": [{**version_json(v), "versions": n}
                                           for v, n in found]})
            return
        table = output.new_table("name", "latest", "versions", "kind", "size", "rows",
                                 "created", no_wrap=("latest",))
        for v, n in found:
            output.add_row(table, v.name, f"v{v.version}", str(n), str(v.kind),
                           output.size_text(v.size), _rows(v.row_count),
                           output.local_time(v.created_time, seconds=False))
        output.print_table(table)
        return
    versions = svc.list_versions(name)
    if as_json:
        output.emit_json({"name": name, "versions": [version_json(v) for v in versions]})
        return
    table = output.new_table("version", "digest", "kind", "files", "size", "rows", "created",
                             "by", "description", no_wrap=("version", "digest"))
    for v in versions:
        output.add_row(table, v.ref, v.digest[:12], str(v.kind), str(v.file_count),
                       output.size_text(v.size), _rows(v.row_count),
                       output.local_time(v.created_time, seconds=False), v.created_by,
                       output.clip(v.description or "", 80))
    output.print_table(table)


def _rows(count: int | None) -> str:
    return "" if count is None else f"{count:,}"


@app.command("show")
def show(ref: Ref, as_json: JsonFlag = False) -> None:
    """A version's digest, size, schema, column profile summary and the runs that used it."""
    svc = service()
    v = svc.resolve(ref)
    usage = svc.dataset_runs(v.ref)
    if as_json:
        output.emit_json({**version_json(v, profile=True),
                          "runs": [_usage_json(u) for u in usage]})
        return
    out = output.stdout_console()
    out.print(output.styled(v.ref, "bold"))
    facts = [("digest", v.digest), ("kind", str(v.kind)), ("files", str(v.file_count)),
             ("size", output.size_text(v.size)), ("rows", _rows(v.row_count)),
             ("parent", "" if v.parent is None else f"{v.name}@v{v.parent}"),
             ("created", f"{output.local_time(v.created_time)} by {v.created_by}"),
             ("description", v.description or "")]
    for label, value in facts:
        if value:
            out.print(output.styled(f"  {label:<12}{value}"))
    if v.columns:
        from shipyard.cli.data_render import columns_table

        output.print_table(columns_table(v))
    if usage:
        table = output.new_table("run", "role", title="Runs")
        for u in usage:
            output.add_row(table, u.run_id, str(u.role))
        output.print_table(table)


@app.command("status")
def status(
    path: Annotated[Path, typer.Argument(help="The local file or folder.")],
    name: NameOption,
    as_json: JsonFlag = False,
) -> None:
    """What changed in a local file or folder since the dataset's latest version."""
    from concurrent.futures import ThreadPoolExecutor

    from shipyard.services.data.scan import scan

    with ThreadPoolExecutor(1) as pool:
        walking = pool.submit(scan, str(path))  # overlaps the walk with opening the store
        svc = service()
        found = svc.status(walking.result(), name)
    if as_json:
        output.emit_json(_status_json(found))
        return
    out = output.stdout_console()
    if found.version is None:
        out.print(output.styled(f"{name} has no version yet: {len(found.added)} file(s) would "
                                f"be added by `shipyard data add {path} --name {name}`"))
        return
    if found.clean:
        out.print(output.styled(f"up to date with {found.version.ref} "
                                f"({found.unchanged} file(s))"))
        return
    out.print(output.styled(f"changed since {found.version.ref}:"))
    from shipyard.cli.data_render import print_changes

    print_changes(found.added, found.modified, found.removed)


def _status_json(found: DataStatus) -> dict[str, Any]:
    return {"version": None if found.version is None else found.version.ref,
            "clean": found.clean, "added": found.added, "modified": found.modified,
            "removed": found.removed, "unchanged": found.unchanged,
            "files_hashed": found.files_hashed}


@app.command("diff")
def diff(old: Ref, new: Ref, as_json: JsonFlag = False) -> None:
    """Compare two versions: files, schema, row count and per-column profile drift."""
    result = service().diff(old, new)
    if as_json:
        output.emit_json(_diff_json(result))
        return
    from shipyard.cli.data_render import print_diff

    print_diff(result)


def _diff_json(d: DatasetDiff) -> dict[str, Any]:
    def col(c: Any) -> dict[str, Any]:
        return {"name": c.name, "type": c.type}

    return {
        "old": d.old.ref, "new": d.new.ref, "identical": d.identical,
        "files": {"added": d.files_added, "removed": d.files_removed,
                  "modified": d.files_modified},
        "schema": {"added": [col(c) for c in d.schema.added],
                   "removed": [col(c) for c in d.schema.removed],
                   "retyped": [{"name": a.name, "old": a.type, "new": b.type}
                               for a, b in d.schema.retyped]},
        "rows": {"old": d.rows_before, "new": d.rows_after},
        "columns": d.columns,
    }


@app.command("get")
def get(
    ref: Ref,
    output_dir: Annotated[Path, typer.Option("--output", "-o", help="Folder to write into.")],
) -> None:
    """Write a version's files into a folder (created if missing)."""
    from shipyard.cli.data_progress import ByteProgress

    with ByteProgress() as progress:
        svc = service()
        version = svc.resolve(ref)
        written = svc.download(version.ref, output_dir, progress)
    output.done(f"{version.ref}: wrote {len(written)} file(s) to {output_dir}")


@app.command("runs")
def runs_using(ref: Annotated[str, typer.Argument(
        metavar="REF", help="A version (name@v2), or a name for runs of any version.")],
               as_json: JsonFlag = False) -> None:
    """The runs that read or wrote a dataset version."""
    usage = service().dataset_runs(ref)
    if as_json:
        output.emit_json({"ref": ref, "runs": [_usage_json(u) for u in usage]})
        return
    table = output.new_table("run", "version", "role", no_wrap=("run",))
    for u in usage:
        output.add_row(table, u.run_id, u.ref, str(u.role))
    output.print_table(table)
