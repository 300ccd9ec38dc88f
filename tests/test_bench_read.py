"""bench_read runs and its APDU counts meet the target (counts are deterministic; times are not asserted)."""

from __future__ import annotations

from bench.bench_read import run_bench


def test_identity_read_takes_at_most_half_the_vendor_style_apdus() -> None:
    results = run_bench(in_process=True, rounds=1)
    assert results["identity.project.card_apdus"] * 2 <= results["identity.baseline.card_apdus"]
    assert results["full.project.card_apdus"] < results["full.baseline.card_apdus"]
    # One authentication per DF instead of one per file: fewer SAM round trips too.
    assert results["full.project.sam_apdus"] < results["full.baseline.sam_apdus"]
