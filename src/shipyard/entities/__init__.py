"""Plain frozen records shared by every layer. No I/O happens here."""

from shipyard.entities.artifact import ArtifactInfo
from shipyard.entities.dataset import (
    ColumnType,
    DatasetFile,
    DatasetKind,
    DatasetRef,
    DatasetRole,
    DatasetVersion,
    RunDataset,
)
from shipyard.entities.experiment import Experiment
from shipyard.entities.metric import Metric
from shipyard.entities.page import Page
from shipyard.entities.run import LifecycleStage, Run, RunData, RunInfo, RunStatus, ViewType

__all__ = [
    "ArtifactInfo",
    "ColumnType",
    "DatasetFile",
    "DatasetKind",
    "DatasetRef",
    "DatasetRole",
    "DatasetVersion",
    "Experiment",
    "LifecycleStage",
    "Metric",
    "Page",
    "Run",
    "RunData",
    "RunInfo",
    "RunDataset",
    "RunStatus",
    "ViewType",
]
