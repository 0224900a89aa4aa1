"""Check Shipyard's GPU metrics on a machine with a real NVIDIA GPU.

Run from the repository root (needs only the stdlib, psutil and Shipyard's source)::

    PYTHONPATH=src python scripts/gpu_check.py

Prints one JSON object: the GPUs as NVML sees them (``null`` when ``nvidia-ml-py`` is not
installed or the driver does not answer), as ``nvidia-smi`` sees them (``null`` without it), the
raw ``nvidia-smi`` CSV (to record as a test fixture), and one ``sample_system()``. Exits 1 when
that sample holds no ``system/gpu_*`` key, 0 otherwise.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import re
import shutil
import subprocess
import sys

from shipyard.services.system_metrics import (
    NVIDIA_SMI_QUERY,
    GpuSample,
    read_gpus,
    read_gpus_nvidia_smi,
    read_gpus_nvml,
    sample_system,
)

_GPU_KEY = re.compile(r"^system/gpu_\d+_")


def _as_json(gpus: list[GpuSample] | None) -> list[dict[str, object]] | None:
    return None if gpus is None else [dataclasses.asdict(gpu) for gpu in gpus]


def _raw_nvidia_smi() -> str | None:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, NVIDIA_SMI_QUERY, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"<failed: {exc}>"
    return done.stdout if done.returncode == 0 else f"<exit {done.returncode}: {done.stderr}>"


def main() -> int:
    sample = sample_system()
    gpu_keys = sorted(key for key in sample if _GPU_KEY.match(key))
    report = {
        "python": platform.python_version(),
        "nvml": _as_json(read_gpus_nvml()),
        "nvidia_smi": _as_json(read_gpus_nvidia_smi()),
        "nvidia_smi_raw": _raw_nvidia_smi(),
        "read_gpus": _as_json(read_gpus()),
        "sample_system": sample,
        "gpu_keys": gpu_keys,
        "ok": bool(gpu_keys),
    }
    print(json.dumps(report, indent=2))
    if not gpu_keys:
        print("gpu_check: no system/gpu_* metric in sample_system()", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
