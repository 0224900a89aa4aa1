"""``benchmarks/audit_verify.py --quick`` runs and prints one well-formed JSON line (a smoke
check of the benchmark, not a timing: speed is never a unit test)."""

from __future__ import annotations

from tests.benchmark_support import run_quick


def test_audit_verify_quick_prints_one_well_formed_json_line() -> None:
    result = run_quick("audit_verify.py")
    assert result["benchmark"] == "audit_verify"
    assert result["peer"] is None and result["ratios"] == {} and result["goals"] == {}
    ours = result["ours"]
    assert ours["checks"] == {"verified": True}
    assert ours["events"] == 2_000 and ours["verify"]["median_s"] > 0
    assert ours["verify_cli"]["median_s"] > 0
