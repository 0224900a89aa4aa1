"""DVC's side of ``benchmarks/data_versioning.py``; run with the Python of
``.bench/dvc-3.67.1``.

The repository is a fresh ``git init`` + ``dvc init`` per trial (the benchmark removes the
previous one's metadata), with the default cache in ``.dvc/cache`` and DVC's state database
(the digests of unchanged files) in a site cache folder of its own per trial, so no trial
finds another's digests. Only ``Repo.add`` itself is timed; opening the ``Repo`` is not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import serve


def info() -> dict[str, Any]:
    from importlib.metadata import version

    return {"dvc": version("dvc"), "dvc-data": version("dvc-data"),
            "python": sys.version.split()[0]}


def init(root: str) -> dict[str, Any]:
    """``git init`` and ``dvc init`` in ``root`` (not timed as a workload)."""
    from dvc.repo import Repo

    subprocess.run(["git", "init", "-q", root], check=True)
    Repo.init(root).close()
    return {"root": root}


def add(root: str, target: str, site_cache_dir: str) -> dict[str, Any]:
    """``Repo(root).add(target)``, as ``dvc add`` runs it, with the default link type
    (``target`` is relative to ``root``)."""
    os.environ["DVC_SITE_CACHE_DIR"] = site_cache_dir
    from dvc.repo import Repo

    repo = Repo(root)
    try:
        start = time.perf_counter()
        stages = repo.add(os.path.join(root, target))
        seconds = time.perf_counter() - start
        link_types = repo.cache.local.cache_types
    finally:
        repo.close()
    return {"seconds": seconds, "stages": [str(s) for s in stages],
            "cache_types": list(link_types)}


HANDLERS: dict[str, Callable[..., Any]] = {"info": info, "init": init, "add": add}

if __name__ == "__main__":
    serve(HANDLERS)
