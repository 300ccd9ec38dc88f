"""bench_pboc runs in process and meets its target: the kernel's card APDUs at most 60 % of the
straightforward terminal's, and every sale — kernel, baseline, whole sale with the pty PIN pad and the ISO
8583 acquirer — ends in a TC (counts are deterministic; times are not asserted)."""

from __future__ import annotations

from bench.bench_pboc import run_bench


def test_the_kernel_takes_at_most_60_percent_of_the_baseline_card_apdus_and_every_sale_ends_in_a_tc() -> None:
    results = run_bench(pcsc=False, rounds=2, sales=2)
    assert results["card.ratio"] <= 0.6
    assert results["card.project.apdus"] <= 0.6 * results["card.baseline.apdus"]
    assert results["card.project.tcs"] == results["card.baseline.tcs"] == 2
    # The kernel asks nothing with GET DATA; the baseline asks every object it knows.
    assert "card.project.ins_CA" not in results
    assert results["card.baseline.ins_CA"] > 0
    assert results["sale.approved"] == 2
