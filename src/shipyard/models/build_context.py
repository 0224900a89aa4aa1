"""A Docker build context that scores one model package.

``write_build_context(package, dest)`` writes::

    dest/Dockerfile            python:<major.minor>-slim, non-root user, no pip cache
    dest/requirements.txt      the model's runtime packages, pinned to the saved versions
    dest/model/...             the package, digests verified before copying
    dest/build-context.json    python version, flavor, package digest, and the command

Requirements are **not** the training environment: they are the flavor's runtime packages and
the distributions of the model's own classes (the manifest's ``runtime_packages``), plus what
the scoring command needs (numpy, pyarrow, blake3, and pandas where it was installed), each
pinned to the version recorded when the model was saved. pip resolves their dependencies; we
do not pin the dependency closure, because the closure is only known for the packages installed
where the context is built, which need not be where the model was saved.

Shipyard itself is installed after them with ``--no-deps`` (what it needs to score is already in
the requirements), from the index as ``shipyard-mlops==<version>``, or from a wheel copied into
the context (``shipyard_wheel=``) for a version no index serves.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path

from shipyard.errors import AlreadyExistsError, InvalidInputError
from shipyard.models.errors import UntrustedModelError
from shipyard.models.manifest import PackageManifest
from shipyard.models.package import verify_package
from shipyard.models.requirements import SCORING_PACKAGES

CONTEXT_FILE = "build-context.json"
MODEL_MOUNT = "/model"
_PYTHON_RE = re.compile(r"3\.[0-9]+")


def write_build_context(package_dir: str | os.PathLike[str], dest_dir: str | os.PathLike[str],
                        *, python_version: str | None = None,
                        shipyard_wheel: str | os.PathLike[str] | None = None,
                        trust: bool = False) -> Path:
    """Write the build context of the package at ``package_dir`` into ``dest_dir`` (new or
    empty) and return ``dest_dir``. ``python_version`` (``"3.11"``) defaults to the Python the
    model was saved with. A package that needs trust (a pickle) is refused unless
    ``trust=True``, which then makes the container load it with ``--trust``."""
    manifest = verify_package(package_dir)
    if manifest.requires_trust and not trust:
        raise UntrustedModelError(
            f"the {manifest.flavor} package {package_dir} runs its own code when loaded; pass "
            "trust=True (--trust) to build a container that loads it anyway", field="trust")
    dest = Path(dest_dir)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise AlreadyExistsError(f"{dest} already exists and is not empty", field="output")
    python = _python(python_version, manifest)
    pins = requirement_pins(manifest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(package_dir, dest / "model", ignore=shutil.ignore_patterns(".*"))
    install = f"shipyard-mlops=={_shipyard_version()}"
    if shipyard_wheel is not None:
        wheel = Path(shipyard_wheel)
        (dest / "wheels").mkdir()
        shutil.copy2(wheel, dest / "wheels" / wheel.name)
        install = f"/tmp/wheels/{wheel.name}"
    command = ["python", "-m", "shipyard.models.score", "--model", MODEL_MOUNT,
               "--input", "/data/in.parquet", "--output", "/data/out.parquet",
               *(["--trust"] if trust else [])]
    (dest / "requirements.txt").write_text(_requirements_text(manifest, pins))
    (dest / "Dockerfile").write_text(_dockerfile(manifest, python, install, command,
                                                 with_wheels=shipyard_wheel is not None))
    context = {"python": python, "flavor": manifest.flavor, "model_digest": manifest.digest,
               "model_dir": "model", "model_mount": MODEL_MOUNT, "shipyard": install,
               "command": command, "trust": trust}
    (dest / CONTEXT_FILE).write_text(json.dumps(context, indent=2) + "\n")
    return dest


def requirement_pins(manifest: PackageManifest) -> dict[str, str | None]:
    """``{distribution: version}`` to install; None where no version was recorded."""
    recorded = manifest.environment.get("packages")
    installed: Mapping[str, str] = recorded if isinstance(recorded, Mapping) else {}
    pins: dict[str, str | None] = dict(manifest.runtime_packages)
    for name in SCORING_PACKAGES:
        if name in installed:
            pins[name] = str(installed[name])
        elif name != "pandas":  # pandas only where the model was saved with it
            pins.setdefault(name, None)
    pins.pop("shipyard-mlops", None)  # installed on its own, without its dependencies
    return dict(sorted(pins.items()))


def _requirements_text(manifest: PackageManifest, pins: Mapping[str, str | None]) -> str:
    lines = [f"# runtime packages of model package {manifest.digest} ({manifest.flavor}),",
             "# pinned to the versions it was saved with (see docs/models.md)"]
    lines += [f"{name}=={version}" if version else name for name, version in pins.items()]
    return "\n".join(lines) + "\n"


def _dockerfile(manifest: PackageManifest, python: str, install: str, command: list[str],
                *, with_wheels: bool) -> str:
    entry, args = command[:5], command[5:]
    wheels = "COPY wheels/ /tmp/wheels/\n" if with_wheels else ""
    return f"""\
# Scores model package {manifest.digest} ({manifest.flavor}); written by Shipyard.
FROM python:{python}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN useradd --create-home --uid 10001 model
COPY requirements.txt /tmp/requirements.txt
{wheels}RUN pip install --no-cache-dir -r /tmp/requirements.txt \\
 && pip install --no-cache-dir --no-deps {install} \\
 && rm -rf /tmp/requirements.txt /tmp/wheels
# root owns the model files: the serving user can read them, never change them
COPY model/ {MODEL_MOUNT}/
USER model
WORKDIR /home/model
ENTRYPOINT {json.dumps(entry)}
CMD {json.dumps(args)}
"""


def _python(version: str | None, manifest: PackageManifest) -> str:
    found = version or ".".join(str(manifest.environment.get("python", "")).split(".")[:2])
    if not _PYTHON_RE.fullmatch(found):
        raise InvalidInputError(f"python version {found!r} is not MAJOR.MINOR (e.g. 3.11)",
                                field="python_version")
    return found


def _shipyard_version() -> str:
    import shipyard

    return shipyard.__version__
