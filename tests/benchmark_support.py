"""What the benchmarks' smoke tests share: run ``benchmarks/<name>.py --quick`` in a clean
environment and read its result line (see ``benchmarks/_harness.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = {"benchmark", "machine", "ours", "peer", "ratios", "goals"}


def run_quick(script: str, *, env_prefixes: tuple[str, ...] = (),
              timeout: float = 120) -> dict[str, Any]:
    """The parsed last stdout line of ``benchmarks/<script> --quick``, checked to carry every
    key of the convention. Variables starting with ``SHIPYARD_`` or ``env_prefixes`` are left
    out, so the machine's settings cannot leak in; a quick run must never install a peer."""
    prefixes = ("SHIPYARD_", *env_prefixes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env,
                          check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "installing peer" not in done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines, f"no output; stderr:\n{done.stderr[-3000:]}"
    parsed = json.loads(lines[-1])
    assert isinstance(parsed, dict) and parsed.keys() >= REQUIRED, parsed
    return parsed


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def check_goals(goals: dict[str, Any]) -> None:
    """Each goal has a target, a value and met; a goal not measured is not met either way."""
    for name, goal in goals.items():
        assert {"target", "value", "met"} <= goal.keys(), name
        if goal["value"] is None:
            assert goal["met"] is None, name
