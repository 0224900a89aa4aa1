"""On a machine with an NVIDIA GPU: a tracked run with system metrics records GPU series.

    PYTHONPATH=src python scripts/gpu_run_check.py

Prints one JSON object with the GPU metric keys the run recorded and their sample counts;
exits 1 when none were recorded.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ["SHIPYARD_HOME"] = tempfile.mkdtemp(prefix="shipyard-gpu-")
os.environ["SHIPYARD_SYSTEM_METRICS_INTERVAL"] = "0.5"

import shipyard as sy


def main() -> int:
    with sy.start_run(experiment="gpu-check", system_metrics=True) as run:
        time.sleep(2.2)
    data = sy.get_run(run.run_id).data
    gpu = {key: len(sy.get_metric_history(run.run_id, key))
           for key in sorted(data.metrics) if key.startswith("system/gpu_")}
    print(json.dumps({"run_id": run.run_id, "gpu_series": gpu,
                      "latest": {k: data.metrics[k] for k in gpu}}, indent=2))
    return 0 if gpu else 1


if __name__ == "__main__":
    sys.exit(main())
