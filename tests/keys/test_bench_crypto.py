"""bench/bench_crypto.py runs, cross-checks gmssl and reports positive rates (short budget)."""

from __future__ import annotations

import pytest

from bench import bench_crypto


def test_run_reports_all_rates() -> None:
    results = bench_crypto.run(budget=0.02)
    assert set(results) == {
        "sm4_mac_native_mbps",
        "sm4_mac_gmssl_mbps",
        "sm4_mac_ratio",
        "sm2_native_per_s",
        "sm2_gmssl_per_s",
        "sm2_ratio",
    }
    assert all(value > 0 for value in results.values())
    assert results["sm4_mac_ratio"] == pytest.approx(
        results["sm4_mac_native_mbps"] / results["sm4_mac_gmssl_mbps"]
    )
    # Native SM4 is orders of magnitude faster than pure Python, even on a loaded CI machine.
    assert results["sm4_mac_ratio"] > 10
