"""What the two MLflow sources share: turning MLflow's records into Shipyard's entities.

MLflow and Shipyard agree on most of a run: 32-hex run ids, the five statuses, lifecycle
stages, millisecond times. The differences handled here:

- MLflow keeps a run's parent in the tag ``mlflow.parentRunId``; Shipyard has a field (the tag
  is copied too).
- MLflow's SQL store cannot hold infinities and writes ±inf as ±1.7976931348623157e308 (the
  largest double), which its API then returns; that value is read back as ±inf. NaN arrives as
  NaN (the REST API spells it ``"NaN"``, the database has an ``is_nan`` flag).
"""

from __future__ import annotations

import math
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit
from urllib.request import url2pathname

from shipyard.entities import ArtifactInfo, LifecycleStage, Run, RunData, RunInfo, RunStatus
from shipyard.services.sync_source import COPY_CHUNK

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
_MAX_DOUBLE = sys.float_info.max


def metric_value(raw: object) -> float:
    """A metric value from MLflow: a number, or ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    value = float(raw)  # type: ignore[arg-type]
    if value == _MAX_DOUBLE:
        return math.inf
    if value == -_MAX_DOUBLE:
        return -math.inf
    return value


def optional_int(raw: object) -> int | None:
    """An int64 field: MLflow's JSON has numbers, proto3's JSON mapping strings."""
    if raw is None or raw == "":
        return None
    return int(raw)  # type: ignore[call-overload, no-any-return]


def mlflow_run(
    *,
    run_id: str,
    experiment_id: str,
    run_name: str | None,
    user: str | None,
    status: str | None,
    start_time: int | None,
    end_time: int | None,
    lifecycle_stage: str | None,
    params: Mapping[str, str],
    tags: Mapping[str, str],
    metrics: Mapping[str, float],
) -> Run:
    """A Shipyard run from the fields MLflow keeps for one."""
    name = run_name or tags.get(RUN_NAME_TAG) or ""
    info = RunInfo(
        run_id=run_id,
        experiment_id=experiment_id,
        run_name=name,
        user=user or "",
        status=RunStatus(status or RunStatus.RUNNING),
        start_time=start_time or 0,
        end_time=end_time,
        lifecycle_stage=LifecycleStage(lifecycle_stage or LifecycleStage.ACTIVE),
        parent_run_id=tags.get(PARENT_TAG) or None,
    )
    return Run(info, RunData(params=dict(params), metrics=dict(metrics), tags=dict(tags)))


# -- Artifacts in a local folder (an MLflow database's file:// artifact roots) -----------------


def local_folder(uri: str) -> Path | None:
    """The folder a ``file://`` URI or a plain path names; ``None`` for any other scheme."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(url2pathname(parts.path))
    if parts.scheme == "" or (len(parts.scheme) == 1 and os.name == "nt"):  # C:\...
        return Path(uri)
    return None


def walk_folder(root: Path) -> Iterator[ArtifactInfo]:
    """Every file under ``root`` (none when it does not exist: MLflow creates it on the
    first artifact), with paths relative to it."""
    if not root.is_dir():
        return
    for folder, subfolders, files in os.walk(root):
        subfolders.sort()
        for name in sorted(files):
            path = Path(folder) / name
            yield ArtifactInfo(path.relative_to(root).as_posix(), False, path.stat().st_size)


def copy_file(path: Path, out: BinaryIO) -> None:
    with path.open("rb") as stream:
        shutil.copyfileobj(stream, out, COPY_CHUNK)
