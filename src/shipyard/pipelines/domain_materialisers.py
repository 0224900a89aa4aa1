"""Materialisers for Shipyard's own objects: model packages and dataset versions."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from shipyard.artifacts.content import ContentStore
from shipyard.errors import ConflictError


def _named(tp: type, module: str, name: str) -> bool:
    return any(c.__module__ == module and c.__name__ == name for c in getattr(tp, "__mro__", ()))


def _tar_folder(root: Path) -> bytes:
    """A reproducible tar of ``root``: sorted names, no times or owners, so one package
    always has one digest."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            info = tarfile.TarInfo(path.relative_to(root).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    return buffer.getvalue()


class ModelPackage:
    """A :class:`~shipyard.models.LoadedModel` stored as a tar of its package folder and loaded
    back with :func:`shipyard.models.load_model` (digests checked, no untrusted code)."""

    kind = "shipyard.model-package"

    def handles(self, tp: type) -> bool:
        return _named(tp, "shipyard.models.loaded", "LoadedModel")

    def save(self, value: Any, store: ContentStore) -> str:
        return store.put_bytes(_tar_folder(Path(value.path))).digest

    def load(self, digest: str, store: ContentStore) -> Any:
        from shipyard import settings
        from shipyard.models import load_model

        target = settings.cache_dir() / "pipeline-models" / digest
        if not target.is_dir():
            partial = target.with_name(target.name + ".partial")
            with tarfile.open(fileobj=io.BytesIO(store.read_bytes(digest))) as tar:
                tar.extractall(partial, filter="data")  # refuses links and absolute names
            partial.replace(target)
        return load_model(target)


class DatasetVersionRef:
    """A :class:`~shipyard.entities.DatasetVersion` stored as its reference and digest (the
    data already lives in the dataset store); loading checks the digest is unchanged."""

    kind = "shipyard.dataset-version"

    def handles(self, tp: type) -> bool:
        return _named(tp, "shipyard.entities.dataset", "DatasetVersion")

    def save(self, value: Any, store: ContentStore) -> str:
        text = json.dumps({"ref": value.ref, "digest": value.digest}, sort_keys=True)
        return store.put_bytes(text.encode()).digest

    def load(self, digest: str, store: ContentStore) -> Any:
        from shipyard.sdk.datasets import get_dataset

        stored = json.loads(store.read_bytes(digest))
        version = get_dataset(stored["ref"])
        if version.digest != stored["digest"]:
            raise ConflictError(f"dataset {stored['ref']} now has digest {version.digest}, not "
                                f"the {stored['digest']} the pipeline stored", field="dataset")
        return version
