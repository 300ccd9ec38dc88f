"""bench_issuance runs with tiny numbers: every card of both phases is issued and live, one per person, by
kiosks that each ran in a process of their own (not the service's); the service's time splits into waiting
for the kiosk and its own work, and what its threads spent is part of its process's CPU (times are not
asserted; what is asserted would break if the measuring did)."""

from __future__ import annotations

import os

import pytest

from bench.bench_issuance import run_bench


def test_one_kiosk_then_two_at_once_issue_every_card_from_processes_of_their_own() -> None:
    r = run_bench(cards=2, kiosks=2)
    assert (r["one.kiosks"], r["one.cards"]) == (1, 2)
    assert (r["many.kiosks"], r["many.cards"]) == (2, 4)
    # one process per kiosk, none of them the service's
    assert (r["one.kiosk_processes"], r["many.kiosk_processes"]) == (1, 2)
    assert r["cores"] == len(os.sched_getaffinity(0))
    for tag in ("one", "many"):
        # one relay session per card, each a few hundred operations (the APDUs of a personalisation)
        assert r[f"{tag}.sessions"] == r[f"{tag}.cards"]
        assert r[f"{tag}.frames_per_card"] > 100
        assert 0 < r[f"{tag}.own_ms"] < r[f"{tag}.relay_ms"]
        assert r[f"{tag}.own_ms"] + r[f"{tag}.waiting_ms"] == pytest.approx(r[f"{tag}.relay_ms"])
        assert r[f"{tag}.relay_ms"] <= r[f"{tag}.p95_ms"] * 1.01  # inside what the kiosk waited
        # the threads measured one by one are the service's process's, so within its CPU
        assert 0 < r[f"{tag}.loop_cpu_ms"] < r[f"{tag}.threads_cpu_ms"] <= r[f"{tag}.service_cpu_ms"]
        assert 0 < r[f"{tag}.relay_cpu_ms"] < r[f"{tag}.threads_cpu_ms"]
        # the kiosks' card OS, driver and relay ran elsewhere and spent CPU there
        assert r[f"{tag}.kiosk_cpu_ms"] > 0
        assert 0 < r[f"{tag}.service_cpu_share"] < 1
        # this machine's busy time holds the bench's (up to the kernel's tick)
        assert r[f"{tag}.machine_busy_cores"] >= 0.8 * r[f"{tag}.busy_cores"] > 0
        assert r[f"{tag}.ceiling_cards_per_hour"] == pytest.approx(3600_000 / r[f"{tag}.service_cpu_ms"])
        assert r[f"{tag}.cards_per_hour"] == pytest.approx(r[f"{tag}.cards"] / r[f"{tag}.seconds"] * 3600)
    assert r["ratio"] == pytest.approx(r["many.cards_per_hour"] / r["one.cards_per_hour"])
    assert r["postgresql"] == 0.0
