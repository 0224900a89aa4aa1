"""``runs reproduce``: everything needed to re-run a run, written into one folder.

The folder holds the exact input data (each dataset version the run read, restored and
checked against its digest), the uncommitted code changes as a patch over the recorded commit,
the requirements lock and environment record, the params, and ``reproduce.sh`` that clones the
code, checks out the commit, applies the patch, installs the lock and runs the command.
``reproduce.json`` lists what was restored, with digests, for machines.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.entities import run_tags as rt
from shipyard.entities.dataset import DatasetRole, RunDataset
from shipyard.errors import InvalidInputError, NotFoundError
from shipyard.services.data.service import DatasetService
from shipyard.store.tracking.protocol import TrackingStore

PATCH_FILE = "code.patch"
SCRIPT_FILE = "reproduce.sh"
SUMMARY_FILE = "reproduce.json"


@dataclass(frozen=True)
class Reproduction:
    folder: Path
    run_id: str
    commit: str | None
    patch: bool
    datasets: list[RunDataset] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


def reproduce_run(tracking: TrackingStore, datasets: DatasetService, run_id: str,
                  dest: str | Path) -> Reproduction:
    run = tracking.get_run(run_id)
    folder = Path(dest).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InvalidInputError(f"{dest} exists and is not an empty folder; pick a new one",
                                field="output")
    folder.mkdir(parents=True, exist_ok=True)
    tags = run.data.tags
    written: list[str] = []

    def keep(name: str, data: bytes | str) -> None:
        target = folder / name
        target.write_bytes(data.encode() if isinstance(data, str) else data)
        written.append(name)

    patch = _artifact(tracking, run_id, rt.GIT_DIFF_FILE)
    if patch:
        keep(PATCH_FILE, patch)
    for artifact, name in ((rt.REQUIREMENTS_FILE, "requirements.lock"),
                           (rt.ENVIRONMENT_FILE, "environment.json")):
        data = _artifact(tracking, run_id, artifact)
        if data is not None:
            keep(name, data)
    keep("params.json", json.dumps(dict(sorted(run.data.params.items())), indent=1) + "\n")

    inputs = [u for u in datasets.run_datasets(run_id) if u.role is DatasetRole.INPUT]
    for usage in inputs:
        target = folder / "data" / usage.name
        datasets.download(usage.ref, target)
        written.append(f"data/{usage.name}/")

    commit = tags.get(rt.TAG_GIT_COMMIT)
    keep(SCRIPT_FILE, _script(run_id, tags, bool(patch), inputs,
                              (folder / "requirements.lock").exists()))
    (folder / SCRIPT_FILE).chmod(0o755)
    summary: dict[str, Any] = {
        "run_id": run_id, "run_name": run.info.run_name,
        "experiment_id": run.info.experiment_id,
        "code": {"commit": commit, "branch": tags.get(rt.TAG_GIT_BRANCH),
                 "remote": tags.get(rt.TAG_GIT_REMOTE),
                 "patch": PATCH_FILE if patch else None},
        "command": tags.get(rt.TAG_COMMAND),
        "datasets": [{"ref": u.ref, "digest": u.digest, "path": f"data/{u.name}"}
                     for u in inputs],
    }
    keep(SUMMARY_FILE, json.dumps(summary, indent=1) + "\n")
    return Reproduction(folder, run_id, commit, bool(patch), inputs, written)


def _artifact(tracking: TrackingStore, run_id: str, path: str) -> bytes | None:
    try:
        with tracking.open_artifact(run_id, path) as reader:
            return reader.read()
    except NotFoundError:
        return None


def _script(run_id: str, tags: dict[str, str], patch: bool, inputs: list[RunDataset],
            lock: bool) -> str:
    commit = tags.get(rt.TAG_GIT_COMMIT)
    remote = tags.get(rt.TAG_GIT_REMOTE)
    command = tags.get(rt.TAG_COMMAND)
    lines = ["#!/usr/bin/env bash", f"# Re-run Shipyard run {run_id}.",
             "# Input data is restored under data/<dataset name>; see reproduce.json.",
             "set -euo pipefail", 'here="$(cd "$(dirname "$0")" && pwd)"', ""]
    if commit:
        if remote:
            lines.append(f"[ -d code ] || git clone {shlex.quote(remote)} code")
        else:
            lines.append("# No remote was recorded: copy the repository into ./code first.")
        lines += ["cd code", f"git checkout --quiet {shlex.quote(commit)}"]
        if patch:
            lines.append('git apply "$here/code.patch"')
    else:
        lines.append("# The run recorded no git commit: bring its code into ./code yourself.")
        lines.append("mkdir -p code && cd code")
    if lock:
        lines += ["python3 -m venv .venv", '.venv/bin/pip install -r "$here/requirements.lock"',
                  'export PATH="$PWD/.venv/bin:$PATH"']
    for usage in inputs:
        lines.append(f"# {usage.ref} ({usage.digest[:12]}) -> $here/data/{usage.name}")
    if command and command.endswith(" # shipyard: command truncated"):
        lines.append("# The recorded command line was cut to fit a tag; complete it by hand:")
        command = f"# {command}"
    elif command and command.split(" ", 1)[0].endswith(".py"):
        command = f"python {command}"  # argv[0] was a script run by the interpreter
    lines.append(command if command else "# The run recorded no command line.")
    return "\n".join(lines) + "\n"
