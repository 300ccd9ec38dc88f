"""The health card's key table and diversification factors (facts sheet §4.1-4.4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cardservice.errors import CodecError
from cardservice.healthcard._keys import (
    HEALTH_KEYS,
    CardFactorSource,
    KeyRole,
    card_factor,
    city_factor,
    health_key,
)
from simulators.cardos import build_atr
from tests.conftest import unhex


def test_table_is_consistent() -> None:
    names = [key.name for key in HEALTH_KEYS]
    assert len(names) == len(set(names))
    sam_indices = [key.sam_index for key in HEALTH_KEYS]
    assert len(sam_indices) == len(set(sam_indices))
    for key in HEALTH_KEYS:
        assert key.name.endswith(key.df)
        assert key.levels == key.sam_p1 >> 5  # high nibble 2 -> one level, 4 -> two
        # DF-local keys carry bit 8 in their reference; DDF1's do not (§4.3).
        assert bool(key.card_ref & 0x80) == (key.df != "DDF1")
        # One card reference per DF and role slot.
    pairs = [(key.df, key.card_ref) for key in HEALTH_KEYS]
    assert len(pairs) == len(set(pairs))


def test_observed_rows() -> None:
    """Rows seen on real cards in trace B."""
    rk = health_key("RK1DF03")
    assert (rk.card_ref, rk.sam_p1, rk.sam_index, rk.levels) == (0x84, 0x47, 0x34, 2)
    uk = health_key("UK1DF03")
    assert (uk.card_ref, uk.sam_p1, uk.sam_index) == (0x85, 0x47, 0x2F)
    assert health_key("RK1DDF1").card_ref == 0x04
    assert health_key("STKDF02").role is KeyRole.SECURE_MESSAGING


def test_unknown_key_name() -> None:
    with pytest.raises(CodecError, match="RK9DF09"):
        health_key("RK9DF09")


@pytest.mark.parametrize("protocols", ["T=1", "T=0", "T=0,T=1"])
@given(serial=st.binary(min_size=8, max_size=8))
def test_card_factor_is_the_serial_in_every_atr_form(protocols: str, serial: bytes) -> None:
    assert card_factor(build_atr(serial, protocols)) == serial


def test_card_factor_bytes_5_to_12() -> None:
    atr = unhex("3B 8C 01 43 53 4F 53 00 81 86 6B 00 00 10 15 1D")
    assert card_factor(atr, CardFactorSource.BYTES_5_TO_12) == unhex("53 4F 53 00 81 86 6B 00")


@pytest.mark.parametrize(
    "atr", ["", "3B", "3B 8C 01 43 53", "3B 8C 01 43 53 4F 53 01 02 03 04 05 06 07 08 09 0A"]
)
def test_card_factor_rejects_malformed_atr(atr: str) -> None:
    with pytest.raises(CodecError):
        card_factor(unhex(atr))


def test_card_factor_needs_eight_historical_bytes() -> None:
    with pytest.raises(CodecError, match="historical"):
        card_factor(unhex("3B 02 01 02"))


def test_city_factor() -> None:
    assert city_factor("130185") == b"13000000"
    assert city_factor("210000") == unhex("32 31 30 30 30 30 30 30")


@pytest.mark.parametrize("code", ["", "1", "A30185", "１３0185"])
def test_city_factor_refuses_what_would_burn_a_try(code: str) -> None:
    with pytest.raises(CodecError, match="YYCSDM"):
        city_factor(code)
