"""``benchmarks/audit_verify.py --quick`` runs and prints one well-formed JSON line (a smoke
check of the benchmark, not a timing: speed is never a unit test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_audit_verify_quick_prints_one_well_formed_json_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "audit_verify.py"), "--quick"],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=env, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result.keys() >= {"benchmark", "machine", "ours", "peer", "ratios", "goals"}
    assert result["benchmark"] == "audit_verify"
    assert result["peer"] is None and result["ratios"] == {} and result["goals"] == {}
    ours = result["ours"]
    assert ours["checks"] == {"verified": True}
    assert ours["events"] == 2_000 and ours["verify"]["median_s"] > 0
    assert ours["verify_cli"]["median_s"] > 0
