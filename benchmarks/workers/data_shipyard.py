"""Shipyard's side of ``benchmarks/data_versioning.py``; run with ``.venv``'s Python.

Each request names the store (``SHIPYARD_HOME``) and the file-digest cache
(``SHIPYARD_CACHE_DIR``) to use, so every trial starts from an empty store and a cold cache in
the same long-lived process. Only ``DatasetService.add`` itself is timed; opening the service
is not (DVC's side opens its ``Repo`` untimed too).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import serve


def info() -> dict[str, Any]:
    from importlib.metadata import version

    import shipyard

    return {"shipyard": shipyard.__version__, "blake3": version("blake3"),
            "python": sys.version.split()[0]}


def add(home: str, cache_dir: str, path: str, name: str) -> dict[str, Any]:
    """``open_dataset_service().add(path, name)`` against the store in ``home``."""
    os.environ["SHIPYARD_HOME"] = home
    os.environ["SHIPYARD_CACHE_DIR"] = cache_dir
    from shipyard.services.data.service import open_dataset_service

    svc = open_dataset_service()
    try:
        start = time.perf_counter()
        result = svc.add(path, name)
        seconds = time.perf_counter() - start
    finally:
        svc.cache.close()
        engine = getattr(svc.store, "engine", None)
        if engine is not None:
            engine.dispose()
    return {"seconds": seconds, "ref": result.version.ref, "created": result.created,
            "files": result.version.file_count, "files_hashed": result.files_hashed,
            "blobs_stored": result.blobs_stored, "bytes_stored": result.bytes_stored}


HANDLERS: dict[str, Callable[..., Any]] = {"info": info, "add": add}

if __name__ == "__main__":
    serve(HANDLERS)
