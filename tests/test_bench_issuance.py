"""bench_issuance runs with tiny numbers: every card of both phases is issued and live, one per person, the
service's time splits into waiting for the kiosk and its own work, and its CPU is part of the process's
(times are not asserted; what is asserted would break if the measuring did)."""

from __future__ import annotations

import pytest

from bench.bench_issuance import run_bench


def test_one_kiosk_then_two_at_once_issue_every_card_and_the_service_share_adds_up() -> None:
    r = run_bench(cards=2, kiosks=2)
    assert (r["one.kiosks"], r["one.cards"]) == (1, 2)
    assert (r["many.kiosks"], r["many.cards"]) == (2, 4)
    for tag in ("one", "many"):
        # one relay session per card, each a few hundred operations (the APDUs of a personalisation)
        assert r[f"{tag}.sessions"] == r[f"{tag}.cards"]
        assert r[f"{tag}.frames_per_card"] > 100
        assert 0 < r[f"{tag}.own_ms"] < r[f"{tag}.relay_ms"]
        assert r[f"{tag}.own_ms"] + r[f"{tag}.waiting_ms"] == pytest.approx(r[f"{tag}.relay_ms"])
        assert r[f"{tag}.relay_ms"] <= r[f"{tag}.p95_ms"] * 1.01  # inside what the kiosk waited
        assert 0 < r[f"{tag}.service_cpu_ms"] <= r[f"{tag}.process_cpu_ms"]
        assert 0 < r[f"{tag}.loop_cpu_ms"] < r[f"{tag}.service_cpu_ms"]
        assert r[f"{tag}.cards_per_hour"] == pytest.approx(r[f"{tag}.cards"] / r[f"{tag}.seconds"] * 3600)
    assert r["ratio"] == pytest.approx(r["many.cards_per_hour"] / r["one.cards_per_hour"])
    assert r["postgresql"] == 0.0
