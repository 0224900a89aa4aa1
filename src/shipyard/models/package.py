"""Save a model as a package folder; load it back after checking every file's digest.

Layout::

    <package>/shipyard-model.json       the manifest (shipyard.models.manifest)
    <package>/model/...                 the flavor's files
    <package>/input_example.parquet     (or .npy / .npz) when an example was given
    <package>/extra/...                 extra_files, copied as given

A package is written into a hidden sibling folder and renamed into place at the end, so an
interrupted save leaves no half-written package at the path.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.artifacts.content import hash_file
from shipyard.errors import AlreadyExistsError, InvalidInputError
from shipyard.models import requirements
from shipyard.models.batch import ColumnBatch
from shipyard.models.errors import CorruptedPackageError
from shipyard.models.flavors import Flavor, FlavorOptions, detect_flavor, get_flavor
from shipyard.models.loaded import LoadedModel
from shipyard.models.manifest import (
    MANIFEST_NAME,
    PackageFile,
    PackageManifest,
    read_manifest,
    write_manifest,
)
from shipyard.models.signature import ColumnSpec, Schema, Signature, infer_schema
from shipyard.models.validate import check_input

log = logging.getLogger("shipyard.models")

MODEL_FOLDER = "model"
EXTRA_FOLDER = "extra"


def save_model(model: Any, path: str | os.PathLike[str], *, input_example: Any = None,
               signature: Signature | None = None, flavor: str | None = None,
               run_id: str | None = None,
               extra_files: Iterable[str | os.PathLike[str]] | None = None,
               init_kwargs: Mapping[str, Any] | None = None) -> PackageManifest:
    """Write ``model`` as a package at ``path`` (which must not exist, or be empty).

    ``flavor`` defaults to the one detected from the model's class. With an ``input_example``
    and no ``signature``, the signature is inferred from the example and from the model's
    predictions on it (so the model is asked to predict its example once). ``init_kwargs`` are
    the constructor arguments of a torch module.
    """
    from shipyard.services.run_context import capture_environment

    root = Path(path)
    _check_free(root)
    name = flavor or detect_flavor(model)
    module = get_flavor(name)
    staging = root.parent / f".{root.name}.partial-{uuid.uuid4().hex[:8]}"
    staging.mkdir(parents=True)
    try:
        info = module.save(model, staging / MODEL_FOLDER, FlavorOptions(init_kwargs))
        signature, example_name = _signature_and_example(module, model, staging, input_example,
                                                         signature)
        for extra in extra_files or ():
            _copy_extra(Path(extra), staging / EXTRA_FOLDER)
        environment = capture_environment()
        installed = environment.get("packages")
        packages = requirements.runtime_packages(
            module.RUNTIME_PACKAGES, info.runtime_modules,
            installed if isinstance(installed, Mapping) else {})
        unpackaged = requirements.missing_modules(info.runtime_modules)
        if unpackaged:
            log.warning("model package %s needs modules no installed distribution provides "
                        "(%s): install that code wherever the package is loaded", root,
                        ", ".join(unpackaged))
        manifest = PackageManifest(
            flavor=info.name, loader=info.loader, files=_list_files(staging),
            environment=environment, runtime_packages=packages,
            requires_trust=info.requires_trust, created_time=int(time.time() * 1000),
            signature=signature, input_example=example_name, run_id=run_id)
        write_manifest(staging, manifest)
        if root.is_dir():
            root.rmdir()  # empty, checked above
        try:
            staging.rename(root)
        except OSError:  # another save got there first
            raise AlreadyExistsError(f"{root} was created while this package was being "
                                     "saved", field="path") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("saved %s model package %s (digest %s)", info.name, root, manifest.digest)
    return manifest


def load_model(path: str | os.PathLike[str], *, trust: bool = False) -> LoadedModel:
    """Load a package after :func:`verify_package`. Refuses, with
    :class:`~shipyard.models.errors.UntrustedModelError`, any package whose loading would run
    code it carries (a pickle, types skops does not trust) unless ``trust=True``."""
    root = Path(path)
    manifest = verify_package(root)
    predictor = get_flavor(manifest.flavor).load(root / MODEL_FOLDER, manifest.loader, trust)
    if trust and manifest.requires_trust:
        log.warning("loaded model package %s (digest %s, flavor %s) with trust=True: its "
                    "loading ran code from the package", root, manifest.digest, manifest.flavor)
    else:
        log.info("loaded model package %s (digest %s, flavor %s, trust=%s)", root,
                 manifest.digest, manifest.flavor, trust)
    return LoadedModel(path=root, manifest=manifest, predictor=predictor, trusted=trust)


def verify_package(path: str | os.PathLike[str]) -> PackageManifest:
    """The package's manifest, once every file it lists is present with its recorded size and
    BLAKE3 digest; else :class:`~shipyard.models.errors.CorruptedPackageError` naming the file.
    A file in ``model/`` that the manifest does not list is refused too (loaders read only
    there); unlisted files elsewhere, and hidden files, are ignored."""
    root = Path(path)
    manifest = read_manifest(root)
    base = root.resolve()
    for found_path in sorted((root / MODEL_FOLDER).rglob("*")):
        relative = found_path.relative_to(root).as_posix()
        hidden = any(part.startswith(".") for part in found_path.relative_to(root).parts)
        if not hidden and not found_path.is_dir() and relative not in manifest.by_path:
            raise CorruptedPackageError(f"corrupted package: {relative} is not in the manifest",
                                        field=relative)
    for entry in manifest.files:
        where = (root / entry.path).resolve()
        if entry.path.startswith("/") or not where.is_relative_to(base) or where == base:
            raise CorruptedPackageError(f"corrupted package: file path {entry.path!r} leaves "
                                        "the package", field=entry.path)
        if not where.is_file():
            raise CorruptedPackageError(f"corrupted package: {entry.path} is missing",
                                        field=entry.path)
        found = hash_file(where)
        if found.size != entry.size or found.digest != entry.digest:
            raise CorruptedPackageError(
                f"corrupted package: {entry.path} has BLAKE3 digest {found.digest[:16]}... "
                f"({found.size} bytes) but the manifest records {entry.digest[:16]}... "
                f"({entry.size} bytes)", field=entry.path)
    return manifest


def _check_free(root: Path) -> None:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise AlreadyExistsError(f"{root} already exists; save a package to a new or empty "
                                 "folder", field="path")


def _signature_and_example(module: Flavor, model: Any, staging: Path, example: Any,
                           signature: Signature | None) -> tuple[Signature | None, str | None]:
    if example is None:
        describe = getattr(module, "describe", None)  # flavors whose format declares inputs
        if signature is None and describe is not None:
            signature = describe(model)
        return signature, None
    inputs = signature.inputs if signature is not None else infer_schema(example, "input")
    prepared = check_input(inputs, example)
    if signature is None:
        try:
            output = module.wrap(model).predict(prepared)
        except Exception as exc:  # any library's error: the example and model do not fit
            raise InvalidInputError(f"the model cannot predict its own input example: {exc!r}",
                                    field="input_example") from exc
        signature = Signature(inputs, _output_schema(output))
    return signature, _write_example(staging, prepared)


def _output_schema(output: Any) -> Schema | None:
    try:
        return infer_schema(output, "output")
    except InvalidInputError:
        pass
    array = np.asarray(output) if isinstance(output, list | np.ndarray) else None
    if array is not None and array.ndim == 1:  # labels: text or other non-tensor values
        import pyarrow as pa

        from shipyard.models import dtypes

        try:
            name = dtypes.name_of_arrow(pa.array(array.tolist()).type)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            name = None
        if name is not None:
            return Schema(columns=(ColumnSpec("prediction", name),))
    return None  # outputs are recorded where they can be, never enforced


def _write_example(staging: Path, prepared: Any) -> str:
    if isinstance(prepared, ColumnBatch):
        import pyarrow.parquet as pq

        pq.write_table(prepared.table, staging / "input_example.parquet")
        return "input_example.parquet"
    if isinstance(prepared, dict):
        np.savez(staging / "input_example.npz", **prepared)
        return "input_example.npz"
    np.save(staging / "input_example.npy", prepared, allow_pickle=False)
    return "input_example.npy"


def _copy_extra(source: Path, folder: Path) -> None:
    target = folder / source.name
    if target.exists():
        raise InvalidInputError(f"two extra files are named {source.name!r}", field="extra_files")
    folder.mkdir(exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, target)
    elif source.is_file():
        shutil.copy2(source, target)
    else:
        raise InvalidInputError(f"extra file {source} does not exist", field="extra_files")


def _list_files(staging: Path) -> tuple[PackageFile, ...]:
    files = []
    for path in sorted(staging.rglob("*")):
        relative = path.relative_to(staging).as_posix()
        if relative == MANIFEST_NAME or path.is_dir():
            continue
        if path.is_symlink():
            raise InvalidInputError(f"{relative} is a symbolic link; a package holds files only",
                                    field="extra_files")
        blob = hash_file(path)
        files.append(PackageFile(relative, blob.digest, blob.size))
    return tuple(files)
