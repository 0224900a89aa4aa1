"""``sy.log_model`` and ``sy.load_model``: model packages stored with runs, versions in the
registry, and loading by ``models:/`` URI.

A package (see :mod:`shipyard.models`) is logged as the run's artifacts under ``model/`` and
registered as a version whose digest is the package manifest's. Loading fetches the files into
a cache keyed by that digest, checks every file, and runs no pickled code unless
``trust=True`` -- a choice written to the audit log.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shipyard import settings
from shipyard.entities.registry import ModelVersion
from shipyard.errors import InvalidInputError, InvalidStateError
from shipyard.sdk.fluent import _run_stack, client, start_run

if TYPE_CHECKING:
    from shipyard.models.loaded import LoadedModel

_RUNS_URI = re.compile(r"runs:/([0-9a-f]{32})/(.+)")


def log_model(model: Any, name: str, *, input_example: Any = None, signature: Any = None,
              flavor: str | None = None, artifact_path: str = "model",
              description: str | None = None, tags: Mapping[str, str] | None = None,
              run_id: str | None = None) -> ModelVersion:
    """Save ``model`` as a package in the active run (one is started if none is) and
    register it as the next version of ``name``; the signature is inferred from
    ``input_example`` when not given."""
    from shipyard.sdk.registry import registry

    stack = _run_stack.get()
    target = run_id or (stack[-1].run_id if stack else None)
    if target is None:
        with start_run() as run:
            return log_model(model, name, input_example=input_example, signature=signature,
                             flavor=flavor, artifact_path=artifact_path,
                             description=description, tags=tags, run_id=run.run_id)
    from shipyard.models import save_model

    sdk = client()
    with tempfile.TemporaryDirectory(prefix="shipyard-model-") as folder:
        package = Path(folder) / "package"
        manifest = save_model(model, package, input_example=input_example,
                              signature=signature, flavor=flavor, run_id=target)
        sdk.log_artifacts(target, package, artifact_path)
    return registry.register_version(name, f"runs:/{target}/{artifact_path}", run_id=target,
                                     digest=manifest.digest, flavor=manifest.flavor,
                                     description=description, tags=tags)


def package_path(uri: str) -> tuple[Path, ModelVersion | None]:
    """A local folder holding the package ``uri`` names (``models:/…``, ``runs:/…`` or a
    path), fetched into the cache when remote, and the registry version if there is one."""
    from shipyard.models import read_manifest
    from shipyard.models.errors import CorruptedPackageError
    from shipyard.sdk.registry import registry

    version = registry.resolve(uri) if uri.startswith("models:/") else None
    source = version.source if version is not None else uri
    match = _RUNS_URI.fullmatch(source)
    if match is None:
        local = Path(source).expanduser()
        if not local.is_dir():
            raise InvalidInputError(f"{uri!r} names no model package: use models:/name/3, "
                                    "models:/name@alias, runs:/<run id>/model or a folder",
                                    field="model_uri")
        return local, version
    run_id, path = match.groups()
    cache = settings.cache_dir() / "models"
    folder = cache / version.digest if version is not None and version.digest else None
    if folder is None or not folder.is_dir():
        cache.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache))
        fetched = client().download_artifacts(run_id, path, staging)
        if folder is None:
            folder = cache / read_manifest(fetched).digest
        if folder.is_dir():
            shutil.rmtree(staging)
        else:
            fetched.rename(folder)
            shutil.rmtree(staging, ignore_errors=True)
    if version is not None and version.digest and read_manifest(folder).digest != version.digest:
        raise CorruptedPackageError(
            f"the package of {version.uri} does not match the digest it was registered with",
            field="model_uri")
    return folder, version


def load_model(uri: str, *, trust: bool = False) -> LoadedModel:
    """Load the model ``uri`` names; every file is checked against its digest, and pickled
    code runs only with ``trust=True`` (recorded in the audit log)."""
    from shipyard.models import load_model as load_package

    engine = getattr(client().store, "engine", None)
    if trust and engine is None:  # refused before any pickled code could run
        raise InvalidStateError(
            "a trusted load is recorded in the audit log, which a server does not yet accept "
            "over REST; load without trust=True, or set SHIPYARD_TRACKING_URI to the "
            "server's database URL (and SHIPYARD_ARTIFACTS_URI to its artifact store)",
            field="trust")
    folder, version = package_path(uri)
    model = load_package(folder, trust=trust)
    if trust:
        from shipyard.services.audit.log import AuditLog

        assert engine is not None  # a server's client was refused above
        AuditLog(engine).record(
            actor=settings.current_user(), action="model.load_trusted",
            entity_type="model_version",
            entity_id=f"{version.name}/{version.version}" if version else str(folder),
            after={"uri": uri, "digest": model.digest, "flavor": model.flavor}, reason=None)
    return model


def build_context(uri: str, dest: str | Path, *, trust: bool = False,
                  python_version: str | None = None) -> Path:
    """Write a Docker build context for the model ``uri`` names (see
    :func:`shipyard.models.write_build_context`)."""
    from shipyard.models import write_build_context

    folder, _ = package_path(uri)
    return write_build_context(folder, dest, trust=trust, python_version=python_version)
